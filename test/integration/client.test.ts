import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createSutroClient,
  MalformedResponseError,
  parseRetryAfter,
  SutroApiError,
  SutroNetworkError,
  type RequestObservation,
} from '../../src/sutro/client.js';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';

const KEY = 'sk_test_client';
let sim: RunningSimulator;
let observations: RequestObservation[];

function client(overrides: { apiKey?: string; apiUrl?: string; timeoutMs?: number; retries?: number } = {}) {
  return createSutroClient({
    apiUrl: overrides.apiUrl ?? sim.url,
    apiKey: overrides.apiKey ?? KEY,
    pageLimit: 100,
    timeoutMs: overrides.timeoutMs ?? 5_000,
    retry: { retries: overrides.retries ?? 3, minTimeoutMs: 10, maxTimeoutMs: 50 },
    observe: (o) => observations.push(o),
  });
}

beforeAll(async () => {
  sim = await startSimulator({ account: new SimulatedAccount({ jobs: 250, seed: 7 }), apiKey: KEY, port: 0 });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.faults.clear();
  observations = [];
});

describe('list-jobs paging', () => {
  it('follows next_cursor to the end, newest first', async () => {
    const api = client();
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await api.listJobs(cursor);
      ids.push(...page.jobs.map((j) => (j as { job_id: string }).job_id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(ids).toEqual(sim.account.snapshot().map((j) => j.job_id));
  });

  it('works under a path prefix such as /v1', async () => {
    const prefixed = await startSimulator({
      account: new SimulatedAccount({ jobs: 5, seed: 1 }),
      apiKey: KEY,
      port: 0,
      pathPrefix: '/v1',
    });
    try {
      expect(prefixed.url.endsWith('/v1')).toBe(true);
      expect((await client({ apiUrl: prefixed.url }).listJobs(null)).jobs).toHaveLength(5);
    } finally {
      await prefixed.close();
    }
  });
});

describe('retries', () => {
  it.each([429, 500, 502, 503, 524, 408])('retries %i and then succeeds', async (status) => {
    sim.faults.add({ kind: 'status', status }, 2);
    const page = await client().listJobs(null);
    expect(page.jobs).toHaveLength(100);
    expect(observations.map((o) => [o.outcome, o.willRetry])).toEqual([
      [String(status), true],
      [String(status), true],
      ['200', false],
    ]);
  });

  it('waits at least as long as Retry-After says', async () => {
    sim.faults.add({ kind: 'status', status: 429, retryAfter: 1 });
    const started = performance.now();
    await client().listJobs(null);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('retries a reset connection and a timeout', async () => {
    sim.faults.add({ kind: 'reset' });
    sim.faults.add({ kind: 'latency', ms: 1_500 });
    const page = await client({ timeoutMs: 300 }).listJobs(null);
    expect(page.jobs).toHaveLength(100);
    expect(observations.map((o) => o.outcome)).toEqual(['network', 'timeout', '200']);
  });

  it.each(['not-json', 'no-jobs', 'jobs-not-array', 'truncated'] as const)(
    'retries a malformed page (%s), then fails with a clear error',
    async (variant) => {
      sim.faults.add({ kind: 'malformed', variant }, 10);
      const error = await client({ retries: 2 })
        .listJobs(null)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MalformedResponseError);
      expect((error as Error).message).toMatch(
        /list-jobs answered 200 (with a body that is not JSON|without a "jobs" array)/,
      );
      expect(observations).toHaveLength(3);
    },
  );

  it('gives up after the retry budget with the last error', async () => {
    sim.faults.add({ kind: 'status', status: 503 }, 10);
    const error = await client({ retries: 2 })
      .listJobs(null)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SutroApiError);
    expect((error as SutroApiError).status).toBe(503);
    expect(observations).toHaveLength(3);
  });

  it('reports a network failure when nothing listens', async () => {
    const error = await client({ apiUrl: 'http://127.0.0.1:9', retries: 1 })
      .listJobs(null)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SutroNetworkError);
    expect((error as Error).message).toMatch(/GET http:\/\/127\.0\.0\.1:9\/list-jobs failed/);
  });
});

describe('errors that are not retried', () => {
  it('401: quotes the API detail and request id, and says to check the key', async () => {
    const error = (await client({ apiKey: 'sk_wrong' })
      .listJobs(null)
      .catch((e: unknown) => e)) as SutroApiError;
    expect(error).toBeInstanceOf(SutroApiError);
    expect(error.status).toBe(401);
    expect(error.message).toMatch(/answered 401/);
    expect(error.message).toContain('Invalid API key');
    expect(error.message).toMatch(/request_id req_/);
    expect(error.message).toContain('Check SUTRO_API_KEY');
    expect(error.message).not.toContain('sk_wrong');
    expect(observations).toHaveLength(1);
  });

  it.each([
    [400, 'The request was refused'],
    [403, 'not allowed to list jobs'],
    [404, 'Check SUTRO_API_URL'],
    [410, 'set SUTRO_API_URL to your deployment'],
  ])('%i fails at once with what to do', async (status, hint) => {
    sim.faults.add({ kind: 'status', status });
    const error = (await client()
      .listJobs(null)
      .catch((e: unknown) => e)) as SutroApiError;
    expect(error.status).toBe(status);
    expect(error.message).toContain(hint);
    expect(observations).toHaveLength(1);
  });

  it('surfaces error/message bodies as well as detail', async () => {
    sim.faults.add({
      kind: 'status',
      status: 403,
      body: { error: 'Forbidden', message: 'key lacks jobs:read' },
    });
    const error = (await client()
      .listJobs(null)
      .catch((e: unknown) => e)) as SutroApiError;
    expect(error.message).toContain('key lacks jobs:read');
  });

  it('recognises a rejected cursor', async () => {
    const error = (await client()
      .listJobs('not-a-real-cursor')
      .catch((e: unknown) => e)) as SutroApiError;
    expect(error.status).toBe(400);
    expect(error.isCursorRejected).toBe(true);
  });
});

describe('jobs/{id}', () => {
  it('returns the job, or null when the API does not have it', async () => {
    const first = sim.account.snapshot()[0];
    expect(await client().getJob(first?.job_id ?? '')).toEqual(first);
    expect(await client().getJob('job_does_not_exist')).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });
});
