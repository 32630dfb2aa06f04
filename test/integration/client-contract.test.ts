import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSutroClient, SutroApiError, type JobsApi } from '../../src/sutro/client.js';
import { parseJob } from '../../src/sutro/job.js';
import { MAX_RESPONSE_BYTES } from '../helpers/limits.js';

/**
 * The documentation's example answers (test/fixtures/sutro-api, with their sources) served as they
 * are, over HTTP, to the real client and validation: each is read the way the docs mean it.
 */

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/sutro-api/${name}`, import.meta.url), 'utf8');

/** What the test server answers next: a status and a fixture's body. */
let next: { status: number; body: string } = { status: 200, body: '{}' };
let server: Server;
let api: JobsApi;

beforeAll(async () => {
  server = createServer((_, res) => {
    res.writeHead(next.status, { 'content-type': 'application/json', 'x-request-id': 'req_fixture' });
    res.end(next.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = createSutroClient({
    apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    apiKey: 'sk_contract',
    pageLimit: 100,
    timeoutMs: 5_000,
    maxResponseBytes: MAX_RESPONSE_BYTES,
    retry: { retries: 0 },
  });
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('the documented answers', () => {
  it('a paged list: its jobs, and its next cursor', async () => {
    next = { status: 200, body: fixture('list-jobs-paged.json') };
    const page = await api.listJobs(null);
    const documented = JSON.parse(next.body) as { jobs: unknown[]; next_cursor: string };
    expect(page.nextCursor).toBe(documented.next_cursor);
    expect(page.jobs).toEqual(documented.jobs);
    const parsed = parseJob(page.jobs[0]);
    expect(parsed).toMatchObject({
      ok: true,
      job: {
        jobId: 'batch_job_12345',
        status: 'SUCCEEDED',
        jobCost: '0.0234',
        costEstimate: '0.025',
        inputTokens: 15_420n,
        datetimeCreated: { text: '2024-01-15T10:30:00Z' },
        runType: 'FULL',
      },
      shape: { unknown: [], missing: [], legacy: false },
    });
  });

  it('the unpaged list: its jobs and no next cursor (its message is not a field of ours)', async () => {
    next = { status: 200, body: fixture('list-jobs-unpaged.json') };
    const page = await api.listJobs(null);
    expect(page.nextCursor).toBeNull();
    expect(page.jobs).toHaveLength(1);
    expect(parseJob(page.jobs[0]).ok).toBe(true);
  });

  it('fetch-job: the job, which lacks run_type in the example and is reported so', async () => {
    next = { status: 200, body: fixture('fetch-job.json') };
    const job = await api.getJob('batch_job_12345');
    expect(parseJob(job)).toMatchObject({ ok: true, shape: { missing: ['run_type'], legacy: false } });
    next = { status: 404, body: fixture('fetch-job-not-found.json') };
    expect(await api.getJob('gone')).toBeNull();
  });

  it('the legacy list: read as today’s fields, and flagged', async () => {
    next = { status: 200, body: fixture('list-jobs-legacy.json') };
    const page = await api.listJobs(null);
    const first = parseJob(page.jobs[0]);
    expect(first).toMatchObject({
      ok: true,
      job: {
        status: 'SUCCEEDED',
        datetimeCreated: { text: '2024-01-15T10:30:00Z' },
        datetimeCompleted: { text: '2024-01-15T10:32:15Z' },
        jobPriority: 0,
      },
      shape: { legacy: true, unknown: ['input_count'] },
    });
  });

  it.each([
    ['error-detail.json', 400],
    ['error-message.json', 503],
    ['error-error-details.json', 502],
  ])('an error body (%s) gives its text to the message', async (name, status) => {
    next = { status, body: fixture(name) };
    const error = (await api.listJobs(null).catch((e: unknown) => e)) as SutroApiError;
    expect(error).toBeInstanceOf(SutroApiError);
    const body = JSON.parse(next.body) as Record<string, string>;
    for (const text of [body.detail, body.message, body.error, body.details].filter(Boolean)) {
      expect(error.message).toContain(text);
    }
  });
});
