import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../../src/simulator/random.js';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { runCli, startCli } from '../helpers/cli.js';
import { diffAgainstTruth } from '../helpers/truth.js';

const KEY = 'sk_test_crash';
const JOBS = 3_000;
const PAGES = JOBS / 100;
let db: TestDatabase;
let sim: RunningSimulator;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: JOBS, seed: 31 }),
    apiKey: KEY,
    port: 0,
    latencyMs: 5,
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
  SUTRO_MAX_RETRIES: '1',
  ...extra,
});

async function runs(source: string) {
  const result = await db.pool.query<{
    id: number;
    status: string;
    pages: number;
    resumed_from_run_id: number | null;
    jobs_inserted: number;
  }>(
    'SELECT id::int, status, pages, resumed_from_run_id::int, jobs_inserted FROM sutro.sync_runs WHERE source = $1 ORDER BY id',
    [source],
  );
  return result.rows;
}

async function count(sql: string, source: string): Promise<number> {
  return (await db.pool.query<{ n: number }>(sql, [source])).rows[0]?.n ?? -1;
}

describe('kill -9 in the middle of a full pass', () => {
  it('loses and duplicates nothing, and the next run resumes (20 trials)', async () => {
    const random = new Random(2024);
    for (let trial = 0; trial < 20; trial += 1) {
      const source = `kill-${trial}`;
      const killAt = random.int(1, PAGES - 3);
      const victim = startCli(['sync', '--full'], env(source, { LOG_LEVEL: 'debug' }));
      await victim.waitForLog((l) => l.msg === 'page committed' && l.page === killAt);
      victim.child.kill('SIGKILL');
      const killed = await victim.done;
      expect(killed.signal).toBe('SIGKILL');

      const next = await runCli(['sync'], env(source));
      expect(next.code, next.stderr).toBe(0);
      const [dead, resumed] = await runs(source);
      expect(dead?.status).toBe('abandoned');
      expect(resumed?.status).toBe('succeeded');
      expect(resumed?.resumed_from_run_id).toBe(dead?.id);
      // The resumed run fetched only what the killed one had not committed.
      expect(resumed?.pages).toBeLessThan(PAGES);
      expect((dead?.pages ?? 0) + (resumed?.pages ?? 0)).toBe(PAGES);
      expect(await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1', source)).toBe(JOBS);
      expect(
        await count(
          `SELECT count(*)::int AS n FROM sutro.job_history WHERE source = $1 AND change = 'first_seen'`,
          source,
        ),
      ).toBe(JOBS);
      expect(
        await count(
          'SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1 AND missing_since IS NOT NULL',
          source,
        ),
      ).toBe(0);
      expect(await diffAgainstTruth(db.pool, source, sim.account.snapshot())).toEqual([]);
    }
  }, 240_000);
});

describe('concurrent processes', () => {
  it.each([2, 10])(
    '%i syncs of one source at once: one does the work, the others exit 0',
    async (n) => {
      const fresh = await createTestDatabase({ empty: true });
      try {
        // An unmigrated database: the processes also race to migrate it.
        const all = await Promise.all(
          Array.from({ length: n }, () =>
            runCli(['sync', '--full'], { ...env('together'), DATABASE_URL: fresh.url }),
          ),
        );
        expect(all.map((r) => r.code)).toEqual(Array.from({ length: n }, () => 0));
        const skipped = all.filter((r) =>
          r.logs.some((l) => String(l.msg).startsWith('another sync of source "together" is in progress')),
        );
        expect(skipped).toHaveLength(n - 1);
        const rows = await fresh.pool.query<{ status: string; jobs_inserted: number }>(
          'SELECT status, jobs_inserted FROM sutro.sync_runs',
        );
        expect(rows.rows).toEqual([{ status: 'succeeded', jobs_inserted: JOBS }]);
        expect((await fresh.pool.query('SELECT count(*)::int AS n FROM sutro.jobs')).rows[0]).toEqual({
          n: JOBS,
        });
      } finally {
        await fresh.drop();
      }
    },
    120_000,
  );

  it('with --wait, the second run waits and then finds nothing to change', async () => {
    const both = await Promise.all([
      runCli(['sync', '--full', '--wait'], env('waiting')),
      runCli(['sync', '--full', '--wait'], env('waiting')),
    ]);
    expect(both.map((r) => r.code)).toEqual([0, 0]);
    const rows = (await runs('waiting')).map((r) => [r.status, r.jobs_inserted]);
    expect(rows).toEqual([
      ['succeeded', JOBS],
      ['succeeded', 0],
    ]);
  }, 60_000);
});

describe('signals', () => {
  it('SIGTERM during a run stops after the current page, records it as interrupted and exits 0', async () => {
    const running = startCli(['sync', '--full'], env('sigterm', { LOG_LEVEL: 'debug' }));
    await running.waitForLog((l) => l.msg === 'page committed' && l.page === 3);
    const sentAt = performance.now();
    running.child.kill('SIGTERM');
    const result = await running.done;
    expect(result.code).toBe(0);
    expect(performance.now() - sentAt).toBeLessThan(15_000);
    const [run] = await runs('sigterm');
    expect(run?.status).toBe('interrupted');
    expect(run?.pages).toBeLessThan(PAGES);
    expect(await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1', 'sigterm')).toBe(
      (run?.pages ?? 0) * 100,
    );
    // The lock went with it: the next run continues the pass.
    const next = await runCli(['sync'], env('sigterm'));
    expect(next.code).toBe(0);
    expect((await runs('sigterm'))[1]).toMatchObject({ status: 'succeeded', resumed_from_run_id: run?.id });
  });

  it('start syncs on schedule, survives a failed run, and stops on SIGTERM', async () => {
    sim.faults.add({ kind: 'status', status: 503 }, 4);
    const worker = startCli(
      ['start'],
      env('service', { SUTRO_SYNC_SCHEDULE: '*/2 * * * * *', SUTRO_HTTP_PORT: '0' }),
    );
    await worker.waitForLog((l) => l.msg === 'sync run failed');
    await worker.waitForLog((l) => l.msg === 'sync run succeeded');
    worker.child.kill('SIGTERM');
    const result = await worker.done;
    expect(result.code).toBe(0);
    expect(result.logs.some((l) => l.msg === 'stopped')).toBe(true);
    const statuses = (await runs('service')).map((r) => r.status);
    expect(statuses[0]).toBe('failed');
    expect(statuses).toContain('succeeded');
    expect(await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1', 'service')).toBe(JOBS);
  });
});
