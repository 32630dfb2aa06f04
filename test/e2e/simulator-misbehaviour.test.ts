import { request as httpRequest } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SimulatedAccount,
  startSimulator,
  type ApiJob,
  type RunningSimulator,
} from '../../src/simulator/index.js';

/** Misbehaviours a client of a real deployment can meet, each over real HTTP. */

const KEY = 'sk_live_misbehaviour_7f3a';
const started: RunningSimulator[] = [];

interface Page {
  jobs: ApiJob[];
  next_cursor: string | null;
}

async function simulator(jobs = 450): Promise<RunningSimulator> {
  const sim = await startSimulator({ account: new SimulatedAccount({ jobs, seed: 17 }), apiKey: KEY });
  started.push(sim);
  return sim;
}

function get(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { authorization: `Key ${KEY}` } });
}

async function page(sim: RunningSimulator, cursor: string | null, limit = 100): Promise<Page> {
  const response = await get(
    `${sim.url}/list-jobs?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`,
  );
  expect(response.status).toBe(200);
  return (await response.json()) as Page;
}

/** Resolves to 'pending' if `promise` has not settled once the event loop has turned `turns` times. */
async function stillPending(promise: Promise<unknown>, turns = 20): Promise<'pending' | 'settled'> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < turns && !settled; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  return settled ? 'settled' : 'pending';
}

async function logged(sim: RunningSimulator, count: number): Promise<void> {
  for (let tries = 0; sim.requests.entries.length < count && tries < 500; tries += 1)
    await new Promise((resolve) => setTimeout(resolve, 10));
}

afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

describe('echo-auth', () => {
  it('repeats the Authorization header verbatim in a JSON error, 401 by default', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'echo-auth' });
    const response = await get(`${sim.url}/list-jobs?limit=10`);
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      detail: 'Invalid API key',
      request_id: response.headers.get('x-request-id'),
      headers: { authorization: `Key ${KEY}` },
    });
  });

  it.each([
    [500, 'text', 'text/plain; charset=utf-8'],
    [403, 'html', 'text/html; charset=utf-8'],
    [502, 'json', 'application/json'],
  ] as const)('answers %i as %s with the key in the body', async (status, contentType, mime) => {
    const sim = await simulator();
    sim.faults.add({ kind: 'echo-auth', status, contentType, endpoint: 'jobs' });
    expect((await get(`${sim.url}/list-jobs?limit=1`)).status).toBe(200);
    const response = await get(`${sim.url}/jobs/${sim.account.jobAt(0).job_id}`);
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe(mime);
    const text = await response.text();
    expect(text).toContain(`Key ${KEY}`);
    if (contentType !== 'json') expect(text).toMatch(new RegExp(`authorization: Key ${KEY}`, 'i'));
  });

  it('can be queued over the control API, which refuses a status that is no error', async () => {
    const sim = await simulator();
    const queue = (fault: unknown) =>
      fetch(`${sim.origin}/_sim/faults`, { method: 'POST', body: JSON.stringify([fault]) });
    expect((await queue({ kind: 'echo-auth', status: 503, contentType: 'html' })).status).toBe(200);
    const echoed = await get(`${sim.url}/list-jobs`);
    expect(echoed.status).toBe(503);
    expect(await echoed.text()).toContain(`Key ${KEY}`);
    expect((await queue({ kind: 'echo-auth', status: 200 })).status).toBe(400);
    expect((await queue({ kind: 'echo-auth', contentType: 'xml' })).status).toBe(400);
  });
});

describe('cursors that lead nowhere', () => {
  it('cycles between two cursors for ever, once a cycle has begun', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'cursor-cycle', matchPage: 1 });
    const head = await page(sim, null);
    const first = await page(sim, head.next_cursor);
    expect(sim.faults.pending()).toBe(0);
    const a = first.next_cursor;
    const seen: (string | null)[] = [];
    let cursor = a;
    const pages: Page[] = [];
    for (let i = 0; i < 6; i += 1) {
      const next = await page(sim, cursor);
      pages.push(next);
      seen.push(next.next_cursor);
      cursor = next.next_cursor;
    }
    const b = seen[0];
    expect(a).not.toBe(b);
    expect(seen).toEqual([b, a, b, a, b, a]);
    expect(first.jobs).toEqual(sim.account.page(100, 100));
    expect(pages[0]?.jobs).toEqual(sim.account.page(200, 100));
    expect(pages[1]?.jobs).toEqual(sim.account.page(100, 100));
  });

  it('answers with the very cursor it was sent, and only to a request that sent one', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'self-cursor' }, Number.POSITIVE_INFINITY);
    const head = await page(sim, null);
    expect(head.jobs).toEqual(sim.account.page(0, 100));
    const cursor = head.next_cursor;
    for (let i = 0; i < 3; i += 1) {
      const again = await page(sim, cursor);
      expect(again.next_cursor).toBe(cursor);
      expect(again.jobs).toEqual(sim.account.page(100, 100));
    }
    expect(sim.faults.pending()).toBe(Number.POSITIVE_INFINITY);
  });

  it('serves empty pages with a fresh cursor each time, then the listing again once it stops', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'empty-pages' }, 5);
    const cursors = new Set<string>();
    let cursor: string | null = null;
    for (let i = 0; i < 5; i += 1) {
      const empty = await page(sim, cursor);
      expect(empty.jobs).toEqual([]);
      expect(empty.next_cursor).toEqual(expect.any(String));
      cursor = empty.next_cursor;
      cursors.add(String(cursor));
    }
    expect(cursors.size).toBe(5);
    expect((await page(sim, cursor)).jobs).toEqual(sim.account.page(0, 100));
  });

  it('serves the same page with a fresh cursor each time', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'same-page', matchPage: 2 }, Number.POSITIVE_INFINITY);
    const one = await page(sim, (await page(sim, null)).next_cursor);
    const cursors = new Set<string>();
    let cursor = one.next_cursor;
    for (let i = 0; i < 4; i += 1) {
      const same = await page(sim, cursor);
      expect(same.jobs).toEqual(sim.account.page(200, 100));
      cursor = same.next_cursor;
      cursors.add(String(cursor));
    }
    expect(cursors.size).toBe(4);
  });
});

describe('a web page', () => {
  it('answers every path 200 text/html, key or no key, while the control API still answers', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'web-page' }, Number.POSITIVE_INFINITY);
    for (const url of [
      `${sim.url}/list-jobs?limit=10`,
      `${sim.url}/jobs/job_x`,
      `${sim.origin}/`,
      `${sim.origin}/v9`,
    ]) {
      const response = await fetch(url);
      expect(response.status, url).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const text = await response.text();
      expect(text).toMatch(/^<!DOCTYPE html>/);
      expect(() => JSON.parse(text) as unknown).toThrow();
    }
    expect((await fetch(`${sim.origin}/_sim/state`)).headers.get('content-type')).toBe('application/json');
  });
});

describe('a huge page', () => {
  it('is valid JSON of at least the size asked for: real jobs with very long prompts', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'huge-page', megabytes: 4 });
    const response = await get(`${sim.url}/list-jobs?limit=100`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.length).toBeGreaterThanOrEqual(4 * 1_048_576);
    const body = JSON.parse(text) as Page;
    expect(body.next_cursor).toBeNull();
    expect(body.jobs.length).toBeGreaterThanOrEqual(4);
    const newest = sim.account.jobAt(0);
    expect(body.jobs[0]).toEqual({ ...newest, system_prompt: expect.any(String) as unknown });
    expect(body.jobs[0]?.system_prompt?.length).toBe(1_048_576);
  });

  it('is streamed as the client reads, and stops when the client goes away', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'huge-page', megabytes: 300 });
    const controller = new AbortController();
    const response = await get(`${sim.url}/list-jobs`, { signal: controller.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let received = 0;
    let head = '';
    while (received < 3 * 1_048_576) {
      const { value } = await reader.read();
      if (value === undefined) break;
      if (head.length < 100) head += Buffer.from(value).toString();
      received += value.length;
    }
    expect(head).toMatch(/^\{"message":"Jobs retrieved successfully\.","jobs":\[\{/);
    controller.abort();
    await logged(sim, 1);
    expect(sim.requests.entries[0]).toMatchObject({ endpoint: 'list-jobs', status: 200 });
    expect((await page(sim, null)).jobs).toHaveLength(100);
  });
});

describe('answers that hang', () => {
  it('sends the status, headers and part of the body, then nothing, keeping the connection', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'hang-body' });
    const controller = new AbortController();
    const response = await get(`${sim.url}/list-jobs?limit=100`, { signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    const text = Buffer.from(first.value ?? new Uint8Array()).toString();
    expect(text.startsWith('{"jobs":[')).toBe(true);
    expect(() => JSON.parse(text) as unknown).toThrow();
    expect(await stillPending(reader.read())).toBe('pending');
    await logged(sim, 1);
    expect(sim.requests.entries[0]).toMatchObject({ endpoint: 'list-jobs', status: 200 });
    controller.abort();
  });

  it('accepts a request and never answers it, keeping the connection', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'hang-headers' });
    let socketClosed = false;
    const answered = new Promise((resolve, reject) => {
      const req = httpRequest(`${sim.url}/list-jobs?limit=5`, { headers: { authorization: `Key ${KEY}` } });
      req.on('response', resolve);
      req.on('error', reject);
      req.on('socket', (socket) => socket.on('close', () => (socketClosed = true)));
      req.end();
    });
    await logged(sim, 1);
    expect(sim.requests.entries[0]).toMatchObject({ endpoint: 'list-jobs', status: 0 });
    expect(await stillPending(answered)).toBe('pending');
    expect(socketClosed).toBe(false);
    expect((await page(sim, null)).jobs).toHaveLength(100);
  });
});
