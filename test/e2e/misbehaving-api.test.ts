import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SimulatedAccount,
  startSimulator,
  type Fault,
  type RunningSimulator,
} from '../../src/simulator/index.js';
import { startCli, type CliResult, type RunningCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { diffAgainstTruth } from '../helpers/truth.js';

/**
 * The API as it misbehaves in the field, against the real CLI: each run must end as failed within
 * 90 s with one line that says why, and once the API behaves again the next run must complete,
 * every job stored exactly.
 */

const KEY = 'sk_test_misbehaving';
const JOBS = 1_200;
const DEADLINE_MS = 90_000;
let db: TestDatabase;
let sim: RunningSimulator;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: JOBS, seed: 81 }),
    apiKey: KEY,
    port: 0,
  });
});
afterAll(async () => {
  await sim.close();
  await db.drop();
});

const env = (source: string, extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  SUTRO_API_URL: sim.url,
  SUTRO_API_KEY: KEY,
  SUTRO_SOURCE: source,
  ...extra,
});

async function endsWithin(running: RunningCli, ms: number): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      running.child.kill('SIGKILL');
      reject(new Error(`still running after ${ms} ms:\n${running.output().stderr.slice(-2_000)}`));
    }, ms);
  });
  try {
    return await Promise.race([running.done, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `sync` against the misbehaving API, then against the API behaving again. */
async function failsThenRecovers(
  source: string,
  fault: Fault,
  line: RegExp,
  extra: Record<string, string> = {},
): Promise<CliResult> {
  sim.faults.add(fault, Infinity);
  let failed: CliResult;
  try {
    failed = await endsWithin(startCli(['sync'], env(source, extra)), DEADLINE_MS);
  } finally {
    sim.faults.clear();
  }
  expect(failed.code).toBe(1);
  // One line on stderr, besides the JSON log lines: what failed and why.
  expect(failed.stderr.trim().split('\n')).toHaveLength(1);
  expect(failed.stderr).toMatch(line);
  const next = await endsWithin(startCli(['sync'], env(source)), DEADLINE_MS);
  expect(next.code, next.stderr).toBe(0);
  expect(await diffAgainstTruth(db.pool, source, sim.account.snapshot())).toEqual([]);
  const stored = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1',
    [source],
  );
  expect(stored.rows[0]?.n).toBe(JOBS);
  return failed;
}

describe('an API whose paging makes no progress', () => {
  it.each([
    [
      'a cursor cycle (A, B, A, …)',
      { kind: 'cursor-cycle', matchPage: 3 },
      /page \d+ gave a next cursor the run had already followed: the paging loops/,
    ],
    [
      'a cursor that returns itself',
      { kind: 'self-cursor', matchPage: 3 },
      /page \d+ gave as its next cursor the one it was asked with/,
    ],
    [
      'empty pages with fresh cursors',
      { kind: 'empty-pages', matchPage: 3 },
      /3 pages in a row came back empty, each with a next cursor/,
    ],
    [
      'the same page for ever',
      { kind: 'same-page', matchPage: 3 },
      /3 pages in a row brought no job the run had not already seen/,
    ],
  ] as const)('stops on %s, and the next run starts again from the head', async (_, fault, reason) => {
    const source = `loop-${fault.kind}`;
    const failed = await failsThenRecovers(source, fault, reason);
    expect(failed.stderr).toMatch(/^sutro-sync: sync failed: list-jobs makes no progress: /);
    // The looping pass was forgotten, not resumed: the second run read the list from its head.
    const runs = await db.pool.query<{ status: string; resumed: boolean; pages: number }>(
      `SELECT status, resumed_from_run_id IS NOT NULL AS resumed, pages FROM sutro.sync_runs WHERE source = $1 ORDER BY id`,
      [source],
    );
    expect(runs.rows.map((r) => [r.status, r.resumed])).toEqual([
      ['failed', false],
      ['succeeded', false],
    ]);
    expect(runs.rows[1]?.pages).toBe(JOBS / 100);
  });
});

describe('an API that answers what it should not', () => {
  it('fails at once when SUTRO_API_URL serves a web page', async () => {
    const started = Date.now();
    const failed = await failsThenRecovers(
      'web-page',
      { kind: 'web-page' },
      /^sutro-sync: sync failed: SUTRO_API_URL points at a web page, not the API: GET http:\/\/127\.0\.0\.1:\d+\/v1\/list-jobs answered 200 with text\/html/,
    );
    // No retry: the log holds no retry line.
    expect(failed.logs.filter((l) => String(l.msg).includes('retrying in'))).toEqual([]);
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS);
  });

  it('stops reading a 300 MB page at the size limit', async () => {
    const failed = await failsThenRecovers(
      'huge-page',
      { kind: 'huge-page', megabytes: 300 },
      /list-jobs answered more than 32 MB, more than the 32 MB a response may have \(SUTRO_MAX_RESPONSE_MB\)/,
    );
    expect(failed.logs.filter((l) => String(l.msg).includes('retrying in'))).toEqual([]);
  });

  it('names a body that stops arriving as a timeout, once per attempt, within the retry budget', async () => {
    // 3 attempts of 1 s, and waits of at most 1 + 2 s between them (SUTRO_MAX_RETRIES=2): within 6 s.
    const failed = await failsThenRecovers(
      'hang-body',
      { kind: 'hang-body' },
      /timed out, the answer's body stopped arriving: still incomplete 1 s after the request \(SUTRO_REQUEST_TIMEOUT_MS\)/,
      { SUTRO_REQUEST_TIMEOUT_MS: '1000', SUTRO_MAX_RETRIES: '2' },
    );
    const retries = failed.logs.filter((l) => String(l.msg).includes('retrying in'));
    expect(retries.map((l) => [l.attempt, l.attempts])).toEqual([
      [1, 3],
      [2, 3],
    ]);
    expect(String(retries[0]?.msg)).toMatch(
      /timed out, the answer's body stopped arriving.*; attempt 1 of 3 failed, retrying in \d+\.\d s$/,
    );
  });
});
