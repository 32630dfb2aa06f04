import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SimulatedAccount,
  startSimulator,
  type ApiJob,
  type RunningSimulator,
} from '../../src/simulator/index.js';

const created = (job: ApiJob) => Date.parse(String(job.datetime_created));

describe('SimulatedAccount', () => {
  it('is deterministic for a seed and lists newest first', () => {
    const a = new SimulatedAccount({ jobs: 500, seed: 1 }).snapshot();
    const b = new SimulatedAccount({ jobs: 500, seed: 1 }).snapshot();
    const c = new SimulatedAccount({ jobs: 500, seed: 2 }).snapshot();
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const times = a.filter((j) => j.datetime_created !== null).map(created);
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(new Set(a.map((j) => j.job_id)).size).toBe(500);
  });

  it('makes every status consistent with its figures', () => {
    const jobs = new SimulatedAccount({ jobs: 3_000, seed: 3, quirks: false }).snapshot();
    const statuses = new Set(jobs.map((j) => j.status));
    for (const status of ['SUCCEEDED', 'FAILED', 'CANCELLED', 'RUNNING'])
      expect(statuses.has(status)).toBe(true);
    for (const job of jobs) {
      if (job.status === 'SUCCEEDED') {
        expect(job.job_cost).toEqual(expect.any(Number));
        expect(job.datetime_completed).toEqual(expect.any(String));
        expect(job.input_tokens).toEqual(expect.any(Number));
      }
      if (job.status === 'FAILED')
        expect(typeof (job.failure_reason as { code?: unknown }).code).toBe('string');
      if (job.status === 'RUNNING') {
        expect(job.datetime_started).toEqual(expect.any(String));
        expect(job.job_cost).toBeNull();
      }
    }
    expect(new Set(jobs.map((j) => j.model)).size).toBeGreaterThanOrEqual(4);
  });

  it('has the API quirks only when asked to', () => {
    const quirky = new SimulatedAccount({ jobs: 5_000, seed: 4 }).snapshot();
    expect(quirky.some((j) => j.status !== String(j.status).toUpperCase())).toBe(true);
    expect(quirky.some((j) => typeof j.job_cost === 'string')).toBe(true);
    expect(quirky.some((j) => j.datetime_created === null)).toBe(true);
    expect(quirky.some((j) => 'region' in j)).toBe(true);
    const clean = new SimulatedAccount({ jobs: 5_000, seed: 4, quirks: false }).snapshot();
    expect(
      clean.every((j) => j.datetime_created !== null && typeof j.job_cost !== 'string' && !('region' in j)),
    ).toBe(true);
  });

  it('advances time: arrivals at the head, transitions with costs, drop-outs past the retention', () => {
    const account = new SimulatedAccount({ jobs: 1_000, seed: 5, quirks: false });
    const before = new Map(account.snapshot().map((j) => [j.job_id, j]));
    const summary = account.advance({ seconds: 6 * 3_600, newJobs: 12 });
    const after = account.snapshot();
    expect(
      after
        .slice(0, 12)
        .map((j) => j.job_id)
        .sort(),
    ).toEqual([...summary.added].sort());
    expect(summary.changed.length).toBeGreaterThan(0);
    for (const id of summary.changed) expect(after.find((j) => j.job_id === id)).not.toEqual(before.get(id));
    const unchanged = after.filter(
      (j) => !summary.added.includes(j.job_id) && !summary.changed.includes(j.job_id),
    );
    for (const job of unchanged) expect(job).toEqual(before.get(job.job_id));

    const dropped = account.advance({ seconds: 30 * 86_400, newJobs: 0, transitions: false });
    expect(dropped.dropped.length).toBeGreaterThan(200);
    const horizon = account.currentTime.getTime() - 90 * 86_400_000;
    expect(account.snapshot().every((j) => created(j) >= horizon)).toBe(true);
  });

  it('finds jobs by id, mutates them and inserts raw rows at a position', () => {
    const account = new SimulatedAccount({ jobs: 50, seed: 6 });
    const job = account.jobAt(7);
    expect(account.getById(job.job_id)).toEqual(job);
    expect(account.getById('job_nope')).toBeUndefined();
    account.mutate(job.job_id, { description: 'changed' });
    expect(account.jobAt(7).description).toBe('changed');
    account.insertRaw(3, { broken: true });
    expect(account.count()).toBe(51);
    expect(account.jobAt(3)).toEqual({ broken: true });
    expect(account.jobAt(8)).toEqual(account.getById(job.job_id));
  });

  it('serves a million jobs without materializing them', () => {
    const account = new SimulatedAccount({ jobs: 1_000_000, seed: 7 });
    expect(account.count()).toBe(1_000_000);
    expect(account.page(999_950, 100)).toHaveLength(50);
    expect(created(account.jobAt(0))).toBeGreaterThan(created(account.jobAt(999_999)));
  });
});

describe('the simulator over HTTP', () => {
  const KEY = 'sk_sim';
  let sim: RunningSimulator;
  const get = (path: string, key: string | null = KEY) =>
    fetch(`${sim.url}${path}`, key === null ? {} : { headers: { authorization: `Key ${key}` } });

  beforeAll(async () => {
    sim = await startSimulator({
      account: new SimulatedAccount({ jobs: 1_234, seed: 8 }),
      apiKey: KEY,
      port: 0,
    });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('requires the key', async () => {
    const response = await get('/list-jobs?limit=10', null);
    expect(response.status).toBe(401);
    const body = (await response.json()) as { detail: string; request_id: string };
    expect(body.detail).toBe('Invalid API key');
    expect(body.request_id).toMatch(/^req_/);
  });

  it('enforces limit 1..100 and serves the unpaginated form with a message', async () => {
    expect((await get('/list-jobs?limit=0')).status).toBe(400);
    expect((await get('/list-jobs?limit=101')).status).toBe(400);
    const all = (await (await get('/list-jobs')).json()) as {
      message: string;
      jobs: unknown[];
      next_cursor?: unknown;
    };
    expect(all.message).toBe('Jobs retrieved successfully.');
    expect(all.jobs).toHaveLength(1_234);
    expect(all).not.toHaveProperty('next_cursor');
  });

  it('pages with an opaque cursor that cannot be forged', async () => {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await get(`/list-jobs?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).json()) as {
        jobs: ApiJob[];
        next_cursor: string | null;
      };
      ids.push(...page.jobs.map((j) => j.job_id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(ids).toEqual(sim.account.snapshot().map((j) => j.job_id));
    const forged = Buffer.from(JSON.stringify({ o: 500, t: 0 })).toString('base64url') + '.AAAA';
    const response = await get(`/list-jobs?limit=100&cursor=${forged}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'invalid_cursor' });
  });

  it('expires cursors on request and serves pages out of order on request', async () => {
    const first = (await (await get('/list-jobs?limit=100')).json()) as { next_cursor: string };
    sim.faults.add({ kind: 'expire-cursors' });
    await get('/list-jobs?limit=100');
    expect((await get(`/list-jobs?limit=100&cursor=${first.next_cursor}`)).status).toBe(400);

    sim.faults.add({ kind: 'out-of-order', matchPage: 1 });
    const head = (await (await get('/list-jobs?limit=100')).json()) as { next_cursor: string };
    const skipped = (await (await get(`/list-jobs?limit=100&cursor=${head.next_cursor}`)).json()) as {
      jobs: ApiJob[];
      next_cursor: string;
    };
    expect(skipped.jobs[0]?.job_id).toBe(sim.account.jobAt(200).job_id);
    const back = (await (await get(`/list-jobs?limit=100&cursor=${skipped.next_cursor}`)).json()) as {
      jobs: ApiJob[];
      next_cursor: string;
    };
    expect(back.jobs[0]?.job_id).toBe(sim.account.jobAt(100).job_id);
    const onward = (await (await get(`/list-jobs?limit=100&cursor=${back.next_cursor}`)).json()) as {
      jobs: ApiJob[];
    };
    expect(onward.jobs[0]?.job_id).toBe(sim.account.jobAt(300).job_id);
  });

  it('serves jobs/{id} and a path prefix, and is controllable over /_sim', async () => {
    const job = sim.account.jobAt(0);
    expect(await (await get(`/jobs/${job.job_id}`)).json()).toEqual({ job });
    expect((await get('/jobs/job_missing')).status).toBe(404);
    const state = (await (await fetch(`${sim.url}/_sim/state`)).json()) as { count: number };
    expect(state.count).toBe(sim.account.count());
    const advanced = await fetch(`${sim.url}/_sim/advance`, {
      method: 'POST',
      body: JSON.stringify({ seconds: 60, newJobs: 2 }),
    });
    expect(((await advanced.json()) as { added: string[] }).added).toHaveLength(2);
    expect(sim.requests.count('list-jobs')).toBeGreaterThan(10);
  });
});
