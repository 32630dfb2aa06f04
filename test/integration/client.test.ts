import { createServer as createHttpServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createSutroClient,
  DEFAULT_RETRY_POLICY,
  MalformedResponseError,
  parseRetryAfter,
  ResponseTooLargeError,
  SutroApiError,
  SutroNetworkError,
  type RequestObservation,
} from '../../src/sutro/client.js';
import { retryDelayMs } from '../../src/sutro/retry.js';
import { MAX_RESPONSE_BYTES } from '../helpers/limits.js';
import { freePort } from '../helpers/ports.js';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';

const KEY = 'sk_test_client';
let sim: RunningSimulator;
let observations: RequestObservation[];

function client(
  overrides: {
    apiKey?: string;
    apiUrl?: string;
    timeoutMs?: number;
    retries?: number;
    maxResponseBytes?: number;
  } = {},
) {
  return createSutroClient({
    apiUrl: overrides.apiUrl ?? sim.url,
    apiKey: overrides.apiKey ?? KEY,
    pageLimit: 100,
    timeoutMs: overrides.timeoutMs ?? 5_000,
    maxResponseBytes: overrides.maxResponseBytes ?? MAX_RESPONSE_BYTES,
    retry: { retries: overrides.retries ?? 3, minTimeoutMs: 10, maxTimeoutMs: 50 },
    observe: (o) => observations.push(o),
  });
}

/** A client that has had one good answer: past first contact, a 200 that is not JSON is retried. */
async function answeredClient(overrides: Parameters<typeof client>[0] = {}) {
  const api = client(overrides);
  await api.listJobs(null);
  observations = [];
  return api;
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
    expect(observations.map((o) => [o.outcome, o.attempt, o.attempts, o.retry !== null])).toEqual([
      [String(status), 1, 4, true],
      [String(status), 2, 4, true],
      ['200', 3, 4, false],
    ]);
    // Each retry says why and how long it waits: the worker turns that into one warning line.
    expect(observations[0]?.retry?.reason).toMatch(new RegExp(`^Sutro API answered ${status} `));
    expect(observations[0]?.retry?.inMs).toBeGreaterThanOrEqual(10);
  });

  it('waits at least as long as Retry-After says', async () => {
    sim.faults.add({ kind: 'status', status: 429, retryAfter: 1 });
    const started = performance.now();
    await client().listJobs(null);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('retries a reset connection and a timeout, each said as what it was', async () => {
    sim.faults.add({ kind: 'reset' });
    sim.faults.add({ kind: 'latency', ms: 1_500 });
    const page = await client({ timeoutMs: 300 }).listJobs(null);
    expect(page.jobs).toHaveLength(100);
    expect(observations.map((o) => o.outcome)).toEqual(['network', 'timeout', '200']);
    expect(observations[0]?.retry?.reason).toMatch(
      /list-jobs: 127\.0\.0\.1 closed the connection before answering \(\w+\)$/,
    );
    expect(observations[1]?.retry?.reason).toMatch(
      /list-jobs: timed out, no answer within 0\.3 s \(SUTRO_REQUEST_TIMEOUT_MS\)$/,
    );
  });

  it('names a body that stops arriving as a timeout of the body, not a cut-off', async () => {
    sim.faults.add({ kind: 'hang-body' }, 10);
    const error = (await client({ timeoutMs: 400, retries: 1 })
      .listJobs(null)
      .catch((e: unknown) => e as Error)) as Error;
    expect(error).toBeInstanceOf(SutroNetworkError);
    expect(error.message).toMatch(
      /list-jobs: timed out, the answer's body stopped arriving: still incomplete 0\.4 s after the request \(SUTRO_REQUEST_TIMEOUT_MS\)$/,
    );
    expect(observations.map((o) => o.outcome)).toEqual(['timeout', 'timeout']);
  });

  it.each(['not-json', 'no-jobs', 'jobs-not-array', 'truncated'] as const)(
    'retries a malformed page (%s) once the API has answered before, then fails with a clear error',
    async (variant) => {
      const api = await answeredClient({ retries: 2 });
      sim.faults.add({ kind: 'malformed', variant }, 10);
      const error = await api.listJobs(null).catch((e: unknown) => e);
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

  it('says what to check when nothing listens, or the host does not resolve', async () => {
    const port = await freePort();
    const refused = (await client({ apiUrl: `http://127.0.0.1:${port}/v1`, retries: 1 })
      .listJobs(null)
      .catch((e: unknown) => e as Error)) as Error;
    expect(refused).toBeInstanceOf(SutroNetworkError);
    expect(refused.message).toBe(
      `GET http://127.0.0.1:${port}/v1/list-jobs: nothing accepts connections at 127.0.0.1:${port} (ECONNREFUSED): check SUTRO_API_URL, and that the deployment is up`,
    );
    const unknown = (await client({ apiUrl: 'https://no-such-deployment.invalid/v1', retries: 0 })
      .listJobs(null)
      .catch((e: unknown) => e as Error)) as Error;
    expect(unknown.message).toMatch(
      /^GET https:\/\/no-such-deployment\.invalid\/v1\/list-jobs: the host name no-such-deployment\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\): check SUTRO_API_URL$/,
    );
  });
});

describe('first contact and answers out of bounds', () => {
  it('fails at once, saying so, when SUTRO_API_URL serves a web page', async () => {
    sim.faults.add({ kind: 'web-page' }, 10);
    const error = (await client()
      .listJobs(null)
      .catch((e: unknown) => e as Error)) as Error;
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect(error.message).toMatch(
      /^SUTRO_API_URL points at a web page, not the API: GET http:\/\/127\.0\.0\.1:\d+\/v1\/list-jobs answered 200 with text\/html/,
    );
    expect(observations.map((o) => [o.outcome, o.retry])).toEqual([['malformed', null]]);
  });

  it('stops reading an answer past the size limit, and does not ask again', async () => {
    sim.faults.add({ kind: 'huge-page', megabytes: 5 }, 10);
    const error = (await client({ maxResponseBytes: 1024 * 1024 })
      .listJobs(null)
      .catch((e: unknown) => e as Error)) as Error;
    expect(error).toBeInstanceOf(ResponseTooLargeError);
    expect(error.message).toMatch(
      /list-jobs answered more than 1 MB, more than the 1 MB a response may have \(SUTRO_MAX_RESPONSE_MB\)/,
    );
    expect(observations.map((o) => [o.outcome, o.retry])).toEqual([['too-large', null]]);
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
    [410, "set SUTRO_API_URL to your deployment's URL"],
  ])('%i fails at once with what to do', async (status, hint) => {
    sim.faults.add({ kind: 'status', status });
    const error = (await client()
      .listJobs(null)
      .catch((e: unknown) => e)) as SutroApiError;
    expect(error.status).toBe(status);
    expect(error.message).toContain(hint);
    expect(observations).toHaveLength(1);
  });

  it.each([
    [
      { detail: 'key lacks jobs:read', code: 'forbidden', request_id: 'req_1' },
      ': key lacks jobs:read (code forbidden) [request_id req_1]',
    ],
    [{ message: 'key lacks jobs:read' }, '/v1/list-jobs: key lacks jobs:read ['],
    [
      { error: 'Forbidden', details: 'key lacks jobs:read' },
      '/v1/list-jobs: Forbidden: key lacks jobs:read [',
    ],
  ])('reads each shape of error body: %j', async (body, said) => {
    sim.faults.add({ kind: 'status', status: 403, body });
    const error = (await client()
      .listJobs(null)
      .catch((e: unknown) => e)) as SutroApiError;
    expect(error.message).toContain(said);
  });

  it('recognises a rejected cursor', async () => {
    const error = (await client()
      .listJobs('not-a-real-cursor')
      .catch((e: unknown) => e)) as SutroApiError;
    expect(error.status).toBe(400);
    expect(error.isCursorRejected).toBe(true);
  });
});

describe('what stands in front of the API', () => {
  /** A gateway at a port of its own: `answer` writes each response; `heard` keeps each request's headers. */
  async function gateway(answer: (response: ServerResponse) => void) {
    const heard: IncomingHttpHeaders[] = [];
    const server = createHttpServer((request, response) => {
      heard.push(request.headers);
      answer(response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/v1`,
      heard,
      onConnection: (listener: (socket: unknown) => void) => server.on('connection', listener),
      close: () => new Promise((resolve) => server.close(resolve)),
    };
  }
  const page = JSON.stringify({ jobs: [{ job_id: 'job_1' }], next_cursor: null });

  it.each([
    ['gzip', gzipSync],
    ['br', brotliCompressSync],
    ['deflate', deflateSync],
  ])('asks for compressed pages and reads a %s one', async (coding, compress) => {
    const server = await gateway((response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': coding });
      response.end(compress(page));
    });
    try {
      const listed = await client({ apiUrl: server.url }).listJobs(null);
      expect(listed.jobs).toEqual([{ job_id: 'job_1' }]);
      expect(server.heard[0]?.['accept-encoding']).toBe('gzip, deflate, br');
    } finally {
      await server.close();
    }
  });

  it('says that a compressed answer does not decode, and asks again', async () => {
    const server = await gateway((response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      response.end('not gzip at all');
    });
    try {
      const error = (await client({ apiUrl: server.url, retries: 1 })
        .listJobs(null)
        .catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(SutroNetworkError);
      expect(error.message).toMatch(
        /list-jobs: the compressed answer does not decode \(incorrect header check, Z_DATA_ERROR\): something between here and the API mangled it while reading the answer$/,
      );
      expect(server.heard).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('keeps one connection for every client of the process', async () => {
    const connections: unknown[] = [];
    const server = await gateway((response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(page);
    });
    server.onConnection((socket) => connections.push(socket));
    try {
      for (const api of [client({ apiUrl: server.url }), client({ apiUrl: server.url })]) {
        await api.listJobs(null);
        await api.listJobs(null);
      }
      expect(server.heard).toHaveLength(4);
      expect(connections).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('says where SUTRO_API_URL redirects, and does not follow it with the key', async () => {
    const server = await gateway((response) => {
      response.writeHead(301, { location: 'https://api.example.com/v1/list-jobs?limit=100' });
      response.end();
    });
    try {
      const error = (await client({ apiUrl: server.url })
        .listJobs(null)
        .catch((e: unknown) => e)) as SutroApiError;
      expect(error).toBeInstanceOf(SutroApiError);
      expect(error.message).toMatch(
        /answered 301 Moved Permanently for GET http:\/\/127\.0\.0\.1:\d+\/v1\/list-jobs\. SUTRO_API_URL redirects to https:\/\/api\.example\.com\/v1\/list-jobs\?limit=100: set it to the address it leads to$/,
      );
      expect(server.heard).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

describe('jobs/{id}', () => {
  it('returns the job, or null when the API does not have it', async () => {
    const first = sim.account.snapshot()[0];
    expect(await client().getJob(first?.job_id ?? '')).toEqual(first);
    expect(await client().getJob('job_does_not_exist')).toBeNull();
  });
});

describe('retryDelayMs', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, minTimeoutMs: 500, maxTimeoutMs: 30_000, factor: 2 };
  it('doubles from the minimum with up to as much again of jitter, capped, and honours a longer Retry-After', () => {
    expect(retryDelayMs(policy, 1, null, () => 0)).toBe(500);
    expect(retryDelayMs(policy, 1, null, () => 0.999)).toBe(1_000);
    expect(retryDelayMs(policy, 3, null, () => 0)).toBe(2_000);
    expect(retryDelayMs(policy, 10, null, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(policy, 1, 7_000, () => 0)).toBe(7_000);
    expect(retryDelayMs(policy, 1, 10 * 3_600_000, () => 0)).toBe(300_000);
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
