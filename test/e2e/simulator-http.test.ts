import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  SimulatedAccount,
  startSimulator,
  type ApiJob,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../src/simulator/index.js';

const KEY = 'sk_sim_http';

interface Page {
  jobs: ApiJob[];
  next_cursor: string | null;
}

const started: RunningSimulator[] = [];
async function simulator(
  account: SimulatedAccount,
  options: Partial<SimulatorOptions> = {},
): Promise<RunningSimulator> {
  const sim = await startSimulator({ account, apiKey: KEY, port: 0, ...options });
  started.push(sim);
  return sim;
}

function get(sim: RunningSimulator, path: string, key: string | null = KEY): Promise<Response> {
  return fetch(`${sim.url}${path}`, key === null ? {} : { headers: { authorization: `Key ${key}` } });
}

async function page(sim: RunningSimulator, cursor: string | null, limit = 100): Promise<Page> {
  const response = await get(sim, `/list-jobs?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Page;
}

async function pageAll(sim: RunningSimulator): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const next = await page(sim, cursor);
    ids.push(...next.jobs.map((j) => j.job_id));
    cursor = next.next_cursor;
  } while (cursor !== null);
  return ids;
}

async function control(
  sim: RunningSimulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  return fetch(`${sim.url}/_sim/${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
}

let sim: RunningSimulator;

beforeAll(async () => {
  sim = await simulator(new SimulatedAccount({ jobs: 1_234, seed: 8 }));
});
afterEach(() => {
  sim.faults.clear();
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

describe('list-jobs over HTTP', () => {
  it('requires the key, and answers with a request id', async () => {
    for (const key of [null, 'sk_wrong']) {
      const response = await get(sim, '/list-jobs?limit=10', key);
      expect(response.status).toBe(401);
      const body = (await response.json()) as Record<string, string>;
      expect(body).toMatchObject({ detail: 'Invalid API key', code: 'unauthorized' });
      expect(body.request_id).toMatch(/^req_/);
      expect(response.headers.get('x-request-id')).toBe(body.request_id);
    }
    const bearer = await fetch(`${sim.url}/list-jobs`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(bearer.status).toBe(401);
    const ok = await get(sim, '/list-jobs?limit=1');
    expect(ok.headers.get('x-request-id')).toMatch(/^req_/);
    expect(ok.headers.get('content-type')).toBe('application/json');
  });

  it('accepts a limit of 1 to 100 only', async () => {
    for (const limit of ['0', '101', '-1', 'abc', '1.5', '']) {
      const response = await get(sim, `/list-jobs?limit=${limit}`);
      expect(response.status, limit).toBe(400);
      expect(await response.json()).toMatchObject({
        detail: 'limit must be between 1 and 100',
        code: 'invalid_limit',
        request_id: expect.stringMatching(/^req_/) as unknown,
      });
    }
    expect((await page(sim, null, 1)).jobs).toHaveLength(1);
    expect((await page(sim, null, 100)).jobs).toHaveLength(100);
  });

  it('pages through every job, newest first, exactly as the account lists them', async () => {
    const pages: Page[] = [];
    let cursor: string | null = null;
    do {
      const next = await page(sim, cursor);
      pages.push(next);
      cursor = next.next_cursor;
    } while (cursor !== null);
    expect(pages.map((p) => p.jobs.length)).toEqual([...Array<number>(12).fill(100), 34]);
    expect(pages.flatMap((p) => p.jobs)).toEqual(sim.account.snapshot());
    const small = await page(sim, null, 7);
    expect(small.jobs).toEqual(sim.account.snapshot().slice(0, 7));
    expect((await page(sim, small.next_cursor, 7)).jobs).toEqual(sim.account.snapshot().slice(7, 14));
  });

  it('serves all jobs without a limit, with the message and no cursor', async () => {
    const body = (await (await get(sim, '/list-jobs')).json()) as Record<string, unknown>;
    expect(body.message).toBe('Jobs retrieved successfully.');
    expect(body.jobs).toEqual(sim.account.snapshot());
    expect(body).not.toHaveProperty('next_cursor');
  });

  it('lists a legacy account with the legacy message after its jobs', async () => {
    const legacy = await simulator(new SimulatedAccount({ jobs: 30, seed: 5, jobShape: 'legacy' }));
    const text = await (await get(legacy, '/list-jobs')).text();
    expect(text.endsWith('],"message":"Successfully retrieved 30 jobs"}')).toBe(true);
    const body = JSON.parse(text) as { jobs: Record<string, unknown>[] };
    expect(Object.keys(body)).toEqual(['jobs', 'message']);
    expect(body.jobs).toEqual(legacy.account.snapshot());
    expect(body.jobs[0]).toHaveProperty('created_at');
    expect((await page(legacy, null, 10)).jobs).toEqual(legacy.account.snapshot().slice(0, 10));
  });

  it('streams a large unpaginated listing whole', async () => {
    const big = await simulator(new SimulatedAccount({ jobs: 20_000, seed: 2 }));
    const body = (await (await get(big, '/list-jobs')).json()) as { jobs: ApiJob[] };
    expect(body.jobs).toHaveLength(20_000);
    expect(body.jobs[19_999]).toEqual(big.account.jobAt(19_999));
  });

  it('rejects a cursor that was tampered with', async () => {
    const { next_cursor: cursor } = await page(sim, null);
    if (cursor === null) throw new Error('expected a next page');
    const [payload, signature] = cursor.split('.') as [string, string];
    const moved = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), o: 500 }),
    ).toString('base64url');
    const flipped = `${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [`${moved}.${signature}`, `${payload}.${flipped}`, 'not-a-cursor', `${cursor}.x`]) {
      const response = await get(sim, `/list-jobs?limit=100&cursor=${encodeURIComponent(bad)}`);
      expect(response.status, bad).toBe(400);
      expect(await response.json()).toMatchObject({ detail: 'Invalid cursor', code: 'invalid_cursor' });
    }
    expect((await page(sim, cursor)).jobs[0]).toEqual(sim.account.jobAt(100));
  });

  it('shows a job twice when new jobs arrive between pages, as offsets do', async () => {
    const account = new SimulatedAccount({ jobs: 300, seed: 12 });
    const moving = await simulator(account);
    const first = await page(moving, null);
    const added = account.advance({ seconds: 60, newJobs: 3, transitions: false }).added;
    const second = await page(moving, first.next_cursor);
    expect(second.jobs.slice(0, 3)).toEqual(first.jobs.slice(97));
    const seen = [...first.jobs, ...second.jobs].map((j) => j.job_id);
    expect(seen.length - new Set(seen).size).toBe(3);
    expect(seen.some((id) => added.includes(id))).toBe(false);
  });

  it('serves jobs/{id}, and 404 for an unknown job or path', async () => {
    const job = sim.account.jobAt(5);
    const found = await get(sim, `/jobs/${job.job_id}`);
    expect(await found.json()).toEqual({ job });
    const missing = await get(sim, '/jobs/job_missing');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: 'Job not found' });
    expect((await get(sim, `/jobs/${job.job_id}`, 'sk_wrong')).status).toBe(401);
    for (const path of ['/', '/list-jobs/', '/jobs/', '/v1/list-jobs', '/list_jobs']) {
      const response = await get(sim, path);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toMatchObject({ code: 'not_found' });
    }
    const post = await fetch(`${sim.url}/list-jobs`, {
      method: 'POST',
      headers: { authorization: `Key ${KEY}` },
    });
    expect(post.status).toBe(405);
  });

  it('serves under another path prefix, 404 outside it, and 410 on a retired path', async () => {
    const prefixed = await simulator(new SimulatedAccount({ jobs: 150, seed: 1 }), {
      pathPrefix: '/api/v2/',
      retiredPaths: ['/list-jobs'],
    });
    expect(prefixed.url).toBe(`${prefixed.origin}/api/v2`);
    expect(await pageAll(prefixed)).toEqual(prefixed.account.snapshot().map((j) => j.job_id));
    const outside = await fetch(`${prefixed.origin}/jobs/${prefixed.account.jobAt(0).job_id}`, {
      headers: { authorization: `Key ${KEY}` },
    });
    expect(outside.status).toBe(404);
    const retired = await fetch(`${prefixed.origin}/list-jobs?limit=10`, {
      headers: { authorization: `Key ${KEY}` },
    });
    expect(retired.status).toBe(410);
    expect(await retired.json()).toMatchObject({
      detail: expect.stringContaining('SUTRO_API_URL') as unknown,
      code: 'retired_host',
    });
    expect((await fetch(`${prefixed.origin}/_sim/state`)).status).toBe(200);
    expect((await control(prefixed, 'GET', 'state')).status).toBe(200);
  });
});

describe('faults', () => {
  it('answers a queued status, with its Retry-After and default body, then recovers', async () => {
    sim.faults.add({ kind: 'status', status: 429, retryAfter: 3 }, 2);
    for (let i = 0; i < 2; i += 1) {
      const response = await get(sim, '/list-jobs?limit=10');
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('3');
      expect(await response.json()).toMatchObject({
        code: 'rate_limited',
        request_id: expect.any(String) as unknown,
      });
    }
    expect((await get(sim, '/list-jobs?limit=10')).status).toBe(200);
    expect(sim.faults.pending()).toBe(0);

    sim.faults.add({ kind: 'status', status: 500 });
    const error = await get(sim, '/list-jobs?limit=10');
    expect(error.headers.get('retry-after')).toBeNull();
    expect(await error.json()).toEqual({
      detail: 'An unexpected error occurred',
      code: 'internal_error',
      request_id: error.headers.get('x-request-id'),
    });

    const body = { error: 'Forbidden', message: 'key lacks jobs:read' };
    sim.faults.add({ kind: 'status', status: 403, body });
    expect(await (await get(sim, '/list-jobs')).json()).toEqual(body);

    for (const status of [408, 400, 401, 404, 410, 502, 503, 524]) {
      sim.faults.add({ kind: 'status', status });
      const response = await get(sim, '/list-jobs?limit=10');
      expect(response.status).toBe(status);
      const json = (await response.json()) as Record<string, unknown>;
      expect(typeof json.detail).toBe('string');
      expect(typeof json.code).toBe('string');
      expect(json.request_id).toBe(response.headers.get('x-request-id'));
    }
  });

  it('applies a fault to the page it names only', async () => {
    sim.faults.add({ kind: 'status', status: 500, matchPage: 3 });
    let cursor: string | null = null;
    const statuses: number[] = [];
    for (let n = 0; n < 5; n += 1) {
      const response = await get(sim, `/list-jobs?limit=100${cursor === null ? '' : `&cursor=${cursor}`}`);
      statuses.push(response.status);
      if (response.status !== 200) continue; // the client retries the same cursor
      cursor = ((await response.json()) as Page).next_cursor;
    }
    expect(statuses).toEqual([200, 200, 200, 500, 200]);
  });

  it('targets one endpoint when asked to', async () => {
    sim.faults.add({ kind: 'status', status: 503, endpoint: 'jobs' });
    expect((await get(sim, '/list-jobs?limit=1')).status).toBe(200);
    expect((await get(sim, `/jobs/${sim.account.jobAt(0).job_id}`)).status).toBe(503);
  });

  it('delays one answer', async () => {
    sim.faults.add({ kind: 'latency', ms: 300 });
    const before = performance.now();
    expect((await get(sim, '/list-jobs?limit=5')).status).toBe(200);
    expect(performance.now() - before).toBeGreaterThanOrEqual(290);
    const after = performance.now();
    await get(sim, '/list-jobs?limit=5');
    expect(performance.now() - after).toBeLessThan(290);
  });

  it('delays every answer with the server-wide latency', async () => {
    sim.setLatency(150);
    try {
      const before = performance.now();
      await get(sim, '/list-jobs?limit=5');
      expect(performance.now() - before).toBeGreaterThanOrEqual(140);
    } finally {
      sim.setLatency(0);
    }
  });

  it.each([
    ['not-json', (text: string) => expect(() => JSON.parse(text) as unknown).toThrow()],
    ['truncated', (text: string) => expect(() => JSON.parse(text) as unknown).toThrow()],
    ['no-jobs', (text: string) => expect(JSON.parse(text)).not.toHaveProperty('jobs')],
    ['jobs-not-array', (text: string) => expect(Array.isArray((JSON.parse(text) as Page).jobs)).toBe(false)],
  ] as const)('serves a malformed 200 (%s)', async (variant, check) => {
    sim.faults.add({ kind: 'malformed', variant });
    const response = await get(sim, '/list-jobs?limit=10');
    expect(response.status).toBe(200);
    check(await response.text());
  });

  it('drops the connection', async () => {
    sim.faults.add({ kind: 'reset' });
    await expect(get(sim, '/list-jobs?limit=10')).rejects.toThrow();
    expect((await get(sim, '/list-jobs?limit=10')).status).toBe(200);
    expect(sim.requests.entries.at(-2)).toMatchObject({ status: 0 });
  });

  it('expires the cursors issued before it, and only those', async () => {
    const first = await page(sim, null);
    sim.faults.add({ kind: 'expire-cursors' });
    const fresh = await page(sim, null);
    const expired = await get(sim, `/list-jobs?limit=100&cursor=${first.next_cursor}`);
    expect(expired.status).toBe(400);
    expect(await expired.json()).toMatchObject({ detail: 'Cursor expired', code: 'invalid_cursor' });
    expect((await page(sim, fresh.next_cursor)).jobs[0]).toEqual(sim.account.jobAt(100));
  });

  it('expires cursors at the page it names, that request included', async () => {
    sim.faults.add({ kind: 'expire-cursors', matchPage: 2 });
    const zero = await page(sim, null);
    const one = await page(sim, zero.next_cursor);
    const two = await get(sim, `/list-jobs?limit=100&cursor=${one.next_cursor}`);
    expect(two.status).toBe(400);
    expect(await pageAll(sim)).toHaveLength(1_234);
  });

  it('serves a page out of order, then goes back for the skipped one', async () => {
    sim.faults.add({ kind: 'out-of-order', matchPage: 1 });
    const head = await page(sim, null);
    const skippedAhead = await page(sim, head.next_cursor);
    expect(skippedAhead.jobs).toEqual(sim.account.page(200, 100));
    const back = await page(sim, skippedAhead.next_cursor);
    expect(back.jobs).toEqual(sim.account.page(100, 100));
    const onward = await page(sim, back.next_cursor);
    expect(onward.jobs).toEqual(sim.account.page(300, 100));
    // A later page holds jobs newer than an earlier page's oldest: what a sync must notice.
    const oldestSeen = Date.parse(String(skippedAhead.jobs.at(-1)?.datetime_created));
    expect(back.jobs.some((j) => Date.parse(String(j.datetime_created)) > oldestSeen)).toBe(true);
  });

  it('applies queued faults in order, one per request', async () => {
    sim.faults.add({ kind: 'reset' });
    sim.faults.add({ kind: 'status', status: 502 });
    expect(sim.faults.pending()).toBe(2);
    await expect(get(sim, '/list-jobs?limit=1')).rejects.toThrow();
    expect((await get(sim, '/list-jobs?limit=1')).status).toBe(502);
    expect((await get(sim, '/list-jobs?limit=1')).status).toBe(200);
    expect(() => sim.faults.add({ kind: 'reset' }, 0)).toThrow(RangeError);
  });
});

describe('the control API and the request log', () => {
  it('reports state, advances time, mutates and inserts rows', async () => {
    const account = new SimulatedAccount({ jobs: 200, seed: 21, quirks: false });
    const controlled = await simulator(account);
    const state = (await (await control(controlled, 'GET', 'state')).json()) as Record<string, unknown>;
    expect(state).toMatchObject({ now: '2026-11-01T00:00:00.000Z', count: 200, seed: 21, pendingFaults: 0 });

    const summary = (await (
      await control(controlled, 'POST', 'advance', { seconds: 60, newJobs: 2 })
    ).json()) as {
      added: string[];
    };
    expect(summary.added).toHaveLength(2);
    expect(account.count()).toBe(202);
    expect(account.jobAt(0).job_id).toBe(summary.added[1]);

    const target = account.jobAt(10).job_id;
    const mutated = await control(controlled, 'POST', 'mutate', {
      jobId: target,
      patch: { job_cost: '1.5' },
    });
    expect(await mutated.json()).toMatchObject({ job_id: target, job_cost: '1.5' });
    expect(account.getById(target)?.job_cost).toBe('1.5');

    const inserted = await control(controlled, 'POST', 'insert-raw', {
      position: 2,
      raw: { input_tokens: -5 },
    });
    expect(await inserted.json()).toEqual({ count: 203 });
    const jobs = (await (await control(controlled, 'GET', 'jobs')).json()) as unknown[];
    expect(jobs).toEqual(account.snapshot());
    expect(jobs[2]).toEqual({ input_tokens: -5 });
  });

  it('replaces the queued faults and sets the latency', async () => {
    const controlled = await simulator(new SimulatedAccount({ jobs: 50, seed: 22 }));
    controlled.faults.add({ kind: 'status', status: 500 }, 5);
    const set = await control(controlled, 'POST', 'faults', [
      { fault: { kind: 'status', status: 503 }, times: 2 },
      { kind: 'malformed', variant: 'no-jobs' },
    ]);
    expect(await set.json()).toEqual({ pending: 3 });
    expect((await get(controlled, '/list-jobs?limit=10')).status).toBe(503);
    expect((await get(controlled, '/list-jobs?limit=10')).status).toBe(503);
    expect(await (await get(controlled, '/list-jobs?limit=10')).json()).not.toHaveProperty('jobs');
    expect((await get(controlled, '/list-jobs?limit=10')).status).toBe(200);

    expect(await (await control(controlled, 'POST', 'latency', { ms: 5 })).json()).toEqual({ latencyMs: 5 });
    expect(await (await control(controlled, 'GET', 'state')).json()).toMatchObject({ latencyMs: 5 });
  });

  it('answers 400 to a bad control request and 404 to an unknown one', async () => {
    const controlled = await simulator(new SimulatedAccount({ jobs: 50, seed: 23 }));
    const bad: [string, string, unknown][] = [
      ['POST', 'advance', { seconds: -5 }],
      ['POST', 'advance', 'x'],
      ['POST', 'faults', [{ kind: 'explode' }]],
      ['POST', 'faults', { kind: 'reset' }],
      ['POST', 'mutate', { jobId: 'job_unknown', patch: {} }],
      ['POST', 'insert-raw', { position: 999, raw: {} }],
      ['POST', 'latency', { ms: 'slow' }],
    ];
    for (const [method, path, body] of bad) {
      const response = await control(controlled, method, path, body);
      expect(response.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(await response.json()).toMatchObject({
        code: 'invalid_request',
        detail: expect.any(String) as unknown,
      });
    }
    const notJson = await fetch(`${controlled.url}/_sim/advance`, { method: 'POST', body: '{' });
    expect(notJson.status).toBe(400);
    expect((await control(controlled, 'GET', 'nothing')).status).toBe(404);
  });

  it('logs every request without the key, and counts them by endpoint', async () => {
    const logged = await simulator(new SimulatedAccount({ jobs: 120, seed: 24 }));
    await pageAll(logged);
    await get(logged, `/jobs/${logged.account.jobAt(0).job_id}`);
    await get(logged, '/list-jobs?limit=500');
    await control(logged, 'GET', 'state');
    expect(logged.requests.count('list-jobs')).toBe(3);
    expect(logged.requests.count('jobs')).toBe(1);
    expect(logged.requests.count('control')).toBe(1);
    expect(logged.requests.entries.map((e) => e.status)).toEqual([200, 200, 200, 400, 200]);
    expect(logged.requests.entries[1]).toMatchObject({
      method: 'GET',
      path: '/v1/list-jobs',
      query: { limit: '100', cursor: expect.any(String) as unknown },
      at: expect.stringMatching(/Z$/) as unknown,
    });
    const remote = (await (await control(logged, 'GET', 'requests')).json()) as unknown[];
    expect(remote).toHaveLength(5);
    expect(JSON.stringify(remote)).not.toContain(KEY);
    await control(logged, 'DELETE', 'requests');
    expect(logged.requests.entries.map((e) => `${e.method} ${e.path}`)).toEqual(['DELETE /v1/_sim/requests']);
    expect(logged.requests.count('list-jobs')).toBe(0);
  });
});

describe('closing', () => {
  it('closes promptly with keep-alive connections and answers still waiting', async () => {
    const closing = await startSimulator({
      account: new SimulatedAccount({ jobs: 10, seed: 1 }),
      apiKey: KEY,
    });
    await get(closing, '/list-jobs?limit=5');
    closing.faults.add({ kind: 'latency', ms: 10_000 });
    const waiting = get(closing, '/list-jobs?limit=5').catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = performance.now();
    await closing.close();
    expect(performance.now() - before).toBeLessThan(1_000);
    expect(await waiting).toBeInstanceOf(Error);
    await expect(get(closing, '/list-jobs?limit=5')).rejects.toThrow();
  });
});

describe('several accounts on one deployment', () => {
  it('serves each key its own account, its own faults and requests, and refuses other keys', async () => {
    const second = new SimulatedAccount({ jobs: 30, seed: 8 });
    const sim = await simulator(new SimulatedAccount({ jobs: 20, seed: 7 }), {
      moreAccounts: [{ apiKey: 'sk_second', account: second }],
    });
    expect(sim.accounts.map((a) => a.apiKey)).toEqual([KEY, 'sk_second']);
    const ids = async (key: string) =>
      ((await (await get(sim, '/list-jobs?limit=100', key)).json()) as Page).jobs.map((j) => j.job_id);
    expect(await ids(KEY)).toEqual(sim.account.snapshot().map((j) => j.job_id));
    expect(await ids('sk_second')).toEqual(second.snapshot().map((j) => j.job_id));
    expect((await get(sim, '/list-jobs', 'sk_third')).status).toBe(401);

    // A fault of one account is met by its requests only.
    sim.accountOf('sk_second').faults.add({ kind: 'status', status: 503 }, Number.POSITIVE_INFINITY);
    expect((await get(sim, '/list-jobs', 'sk_second')).status).toBe(503);
    expect((await get(sim, '/list-jobs', KEY)).status).toBe(200);
    expect(sim.accountOf('sk_second').requests.count('list-jobs')).toBe(2);

    // The control API names an account by key or by place.
    const state = async (account: string) =>
      (await (await fetch(`${sim.origin}/_sim/state?account=${account}`)).json()) as { count: number };
    expect((await state('2')).count).toBe(30);
    expect((await state('sk_second')).count).toBe(30);
    expect((await state('1')).count).toBe(20);
    expect((await fetch(`${sim.origin}/_sim/state?account=9`)).status).toBe(400);
  });
});
