import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { runCli, startCli } from '../helpers/cli.js';
import { diffAgainstTruth } from '../helpers/truth.js';

const KEY = 'sk_live_e2e_0123456789';
let db: TestDatabase;
let sim: RunningSimulator;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: 1_000, seed: 2026 }),
    apiKey: KEY,
    port: 0,
  });
});
afterAll(async () => {
  await sim.close();
  await db.drop();
});
beforeEach(() => {
  sim.faults.clear();
});

const env = (extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  SUTRO_API_URL: sim.url,
  SUTRO_API_KEY: KEY,
  SUTRO_SOURCE: 'e2e',
  SUTRO_MAX_RETRIES: '1',
  ...extra,
});

async function lastRun(source = 'e2e') {
  const result = await db.pool.query(
    `SELECT mode, status, pages, jobs_seen, jobs_inserted, jobs_updated, jobs_unchanged, jobs_rejected, history_rows, error
       FROM sutro.sync_runs WHERE source = $1 ORDER BY id DESC LIMIT 1`,
    [source],
  );
  return result.rows[0] as Record<string, unknown>;
}

describe('sutro-sync sync against the simulator', () => {
  it('stores 1,000 jobs equal to the API, then a second run changes nothing', async () => {
    const first = await runCli(['sync'], env());
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(await lastRun()).toMatchObject({
      mode: 'full',
      status: 'succeeded',
      pages: 10,
      jobs_inserted: 1_000,
    });
    expect(await diffAgainstTruth(db.pool, 'e2e', sim.account.snapshot())).toEqual([]);
    const summary = first.logs.find((l) => l.msg === 'sync run succeeded');
    expect(summary).toMatchObject({
      mode: 'full',
      pages: 10,
      inserted: 1_000,
      updated: 0,
      rejected: 0,
      stopReason: 'end_of_list',
    });

    const history: unknown = (
      await db.pool.query(`SELECT count(*)::int AS n FROM sutro.job_history WHERE source = 'e2e'`)
    ).rows[0];
    const second = await runCli(['sync', '--full'], env());
    expect(second.code).toBe(0);
    expect(await lastRun()).toMatchObject({
      status: 'succeeded',
      jobs_inserted: 0,
      jobs_updated: 0,
      jobs_unchanged: 1_000,
      history_rows: 0,
    });
    expect(
      (await db.pool.query(`SELECT count(*)::int AS n FROM sutro.job_history WHERE source = 'e2e'`)).rows[0],
    ).toEqual(history);
    expect(second.stdout).not.toContain(KEY);
  });

  it('exits 1 with the API detail and what to do on 401, and never prints the key', async () => {
    const result = await runCli(
      ['sync'],
      env({ SUTRO_API_KEY: 'sk_live_wrong_key_42', SUTRO_SOURCE: 'e2e-401' }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /sync failed: Sutro API answered 401 .*Invalid API key.*request_id req_.*Check SUTRO_API_KEY/,
    );
    expect(result.stdout + result.rawStderr).not.toContain('sk_live_wrong_key_42');
    expect(await lastRun('e2e-401')).toMatchObject({ status: 'failed', pages: 0 });
  });

  it('records a failure whose error text holds U+0000, which PostgreSQL refuses in text, and goes on', async () => {
    sim.faults.add({ kind: 'status', status: 401, body: { detail: 'bad\u0000key', code: 'unauthorized' } });
    const failed = await runCli(['sync'], env({ SUTRO_SOURCE: 'e2e-nul' }));
    expect(failed.code).toBe(1);
    expect(await lastRun('e2e-nul')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('bad\uFFFDkey') as unknown,
    });
    const next = await runCli(['sync'], env({ SUTRO_SOURCE: 'e2e-nul' }));
    expect(next.code, next.stderr).toBe(0);
  });

  it('says to set SUTRO_API_URL on a 410, and on a 404 from a server that is not a deployment', async () => {
    sim.faults.add({ kind: 'status', status: 410 });
    const gone = await runCli(['sync'], env({ SUTRO_SOURCE: 'e2e-410' }));
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("set SUTRO_API_URL to your deployment's URL");
    // A server that answers, but not under /v1: an older gateway, another service on the port.
    const elsewhere = await startSimulator({
      account: sim.account,
      apiKey: KEY,
      port: 0,
      pathPrefix: '/api',
    });
    try {
      const wrong = await runCli(['sync'], env({ SUTRO_SOURCE: 'e2e-404', SUTRO_API_URL: elsewhere.origin }));
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/answered 404 .*\/v1\/list-jobs.*Check SUTRO_API_URL/);
    } finally {
      await elsewhere.close();
    }
  });

  it('retries a 500, a 429 and a 524 and succeeds', async () => {
    sim.faults.add({ kind: 'status', status: 500, matchPage: 1 });
    sim.faults.add({ kind: 'status', status: 429, retryAfter: 0, matchPage: 2 });
    sim.faults.add({ kind: 'status', status: 524, matchPage: 3 });
    const result = await runCli(['sync', '--full'], env({ SUTRO_SOURCE: 'e2e-retry' }));
    expect(result.code).toBe(0);
    expect(await lastRun('e2e-retry')).toMatchObject({ status: 'succeeded', jobs_inserted: 1_000 });
  });

  it('fails on a page that stays malformed, keeping the pages before it', async () => {
    sim.faults.add({ kind: 'malformed', variant: 'not-json', matchPage: 4 }, 5);
    const result = await runCli(['sync', '--full'], env({ SUTRO_SOURCE: 'e2e-malformed' }));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/body that is not JSON .*\(run \d+, page 4, cursor /);
    expect(await lastRun('e2e-malformed')).toMatchObject({ status: 'failed', pages: 4, jobs_inserted: 400 });
  });

  it('stores bad rows in sutro.rejected_jobs with the reason and loses nothing else', async () => {
    const bad = await startSimulator({
      account: new SimulatedAccount({ jobs: 120, seed: 1 }),
      apiKey: KEY,
      port: 0,
    });
    try {
      bad.account.insertRaw(0, { status: 'RUNNING' });
      bad.account.insertRaw(50, {
        ...bad.account.jobAt(60),
        job_id: 'job_bad_date',
        datetime_started: 'tuesday',
      });
      bad.account.insertRaw(110, { ...bad.account.jobAt(111), job_id: 'job_neg', output_tokens: -1 });
      const result = await runCli(['sync'], env({ SUTRO_SOURCE: 'e2e-bad', SUTRO_API_URL: bad.url }));
      expect(result.code).toBe(0);
      expect(await lastRun('e2e-bad')).toMatchObject({
        status: 'succeeded',
        jobs_inserted: 120,
        jobs_rejected: 3,
      });
      const reasons = await db.pool.query(
        `SELECT reason FROM sutro.rejected_jobs WHERE source = 'e2e-bad' ORDER BY reason`,
      );
      expect(reasons.rows.map((r: { reason: string }) => r.reason)).toEqual([
        'datetime_started: is not an ISO 8601 datetime PostgreSQL can store (got "tuesday")',
        'job_id: is missing',
        'output_tokens: must not be negative (got -1)',
      ]);
      const warnings = result.logs.filter(
        (l) => l.msg === 'job rejected by validation; stored in sutro.rejected_jobs',
      );
      expect(warnings).toHaveLength(3);
    } finally {
      await bad.close();
    }
  });
});

describe('configuration and other commands', () => {
  it('names every bad variable and exits 2', async () => {
    const result = await runCli(
      ['sync'],
      env({ SUTRO_API_URL: 'not a url', SUTRO_PAGE_LIMIT: '0', SUTRO_SYNC_SCHEDULE: '99 * * * *' }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('SUTRO_API_URL');
    expect(result.stderr).toContain('SUTRO_PAGE_LIMIT');
    expect(result.stderr).toContain('SUTRO_SYNC_SCHEDULE');
  });

  it('asks for the API key when it is missing, together with every other bad variable', async () => {
    const result = await runCli(['sync'], { DATABASE_URL: db.url, SUTRO_SYNC_SCHEDULE: 'hourly' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('SUTRO_API_KEY: is required');
    expect(result.stderr).toContain('SUTRO_SYNC_SCHEDULE');
  });

  it('exits 3 when the database cannot be reached', async () => {
    const result = await runCli(
      ['sync'],
      env({ DATABASE_URL: 'postgresql://postgres:hunter2secret@127.0.0.1:1/nope' }),
    );
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Cannot connect to 127\.0\.0\.1:1\/nope/);
    expect(result.rawStderr + result.stdout).not.toContain('hunter2secret');
  });

  it('prints help, migrates idempotently and shows status', async () => {
    const help = await runCli(['--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('SUTRO_API_KEY');
    expect((await runCli(['migrate'], { DATABASE_URL: db.url })).code).toBe(0);
    expect((await runCli(['migrate'], { DATABASE_URL: db.url })).code).toBe(0);
    const status = await runCli(['status'], { DATABASE_URL: db.url, SUTRO_SOURCE: 'e2e' });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('jobs by status:');
    expect(status.stdout).toMatch(/SUCCEEDED\s+\d+/);
    const json = await runCli(['status', '--json'], { DATABASE_URL: db.url, SUTRO_SOURCE: 'e2e' });
    const parsed = JSON.parse(json.stdout) as { jobsByStatus: { jobs: number }[] };
    expect(parsed.jobsByStatus.reduce((sum, s) => sum + s.jobs, 0)).toBe(1_000);
  });
});

describe('sutro-sync simulate', () => {
  /** Starts the simulator CLI, reads the newest job it lists, and stops it with SIGTERM. */
  async function newestCreated(args: string[], env: Record<string, string> = {}): Promise<number> {
    const cli = startCli(['simulate', '--port', '0', '--jobs', '50', '--api-key', 'k', ...args], env);
    try {
      let url: string | undefined;
      for (let tries = 0; url === undefined && tries < 200; tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        url = /"url":"([^"]+)"/.exec(cli.output().stdout)?.[1];
      }
      if (url === undefined) throw new Error(`the simulator did not start: ${cli.output().stderr}`);
      const response = await fetch(`${url}/list-jobs?limit=1`, { headers: { authorization: 'Key k' } });
      const body = (await response.json()) as { jobs: { datetime_created: string }[] };
      return Date.parse(body.jobs[0]?.datetime_created ?? '');
    } finally {
      cli.child.kill('SIGTERM');
      expect((await cli.done).code).toBe(0);
    }
  }

  it('lives in the present by default, so reports over recent days show its jobs, or at --now', async () => {
    const newest = await newestCreated([]);
    expect(Date.now() - newest).toBeGreaterThanOrEqual(0);
    expect(Date.now() - newest).toBeLessThan(86_400_000);
    const at = Date.parse('2025-01-15T00:00:00Z');
    const then = await newestCreated(['--now', '2025-01-15T00:00:00Z']);
    expect(at - then).toBeGreaterThanOrEqual(0);
    expect(at - then).toBeLessThan(86_400_000);
    // Without an offset, --now is UTC whatever the machine's zone, as the API's datetimes are.
    expect(await newestCreated(['--now', '2025-01-15T00:00:00'], { TZ: 'Asia/Tokyo' })).toBe(then);
  });

  it('refuses a --now that is not a date, naming the flag', async () => {
    const result = await runCli(['simulate', '--now', 'yesterday'], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--now must be an ISO 8601 date');
    const offCalendar = await runCli(['simulate', '--now', '2026-02-30'], {});
    expect(offCalendar.code).toBe(2);
    expect(offCalendar.stderr).toContain('--now must be an ISO 8601 date or datetime on the calendar');
    expect(offCalendar.stderr).toContain('"2026-02-30"');
  });
});
