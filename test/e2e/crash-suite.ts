import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { createTestDatabase, type Route, type TestDatabase } from '../helpers/database.js';
import { runCli, startCli } from '../helpers/cli.js';
import { expectExactCopy as expectExactCopyOf } from '../helpers/crash.js';
import { diffAgainstTruth } from '../helpers/truth.js';

/**
 * Crashes, concurrent processes and signals against the real CLI, through one route: crash.test.ts
 * runs them directly, crash-pooler.test.ts through PgBouncer in transaction mode, two files that run
 * side by side. (kill -9 in the middle of a full pass: crash-kill.test.ts.)
 */

const KEY = 'sk_test_crash';
const JOBS = 1_200;
const PAGES = JOBS / 100;

export function crashTests(route: Route): void {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({
      account: new SimulatedAccount({ jobs: JOBS, seed: 31 }),
      apiKey: KEY,
      port: 0,
      latencyMs: 5,
    });
  });
  afterAll(async () => {
    await sim.close();
  });

  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ route });
  });
  afterAll(async () => {
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

  async function runs(source: string, database = db) {
    const result = await database.pool.query<{
      id: number;
      status: string;
      pages: number;
      resumed_from_run_id: number | null;
      jobs_inserted: number;
      jobs_updated: number;
      jobs_marked_missing: number;
      error: string | null;
    }>(
      `SELECT id::int, status, pages, resumed_from_run_id::int, jobs_inserted, jobs_updated, jobs_marked_missing, error
         FROM sutro.sync_runs WHERE source = $1 ORDER BY id`,
      [source],
    );
    return result.rows;
  }

  async function count(sql: string, source: string, database = db): Promise<number> {
    return (await database.pool.query<{ n: number }>(sql, [source])).rows[0]?.n ?? -1;
  }

  const expectExactCopy = (source: string, database = db) =>
    expectExactCopyOf(database, source, JOBS, sim.account.snapshot());

  describe('concurrent processes', () => {
    it.each([2, 8])(
      '%i full syncs of one source at once store every job once and mark none missing',
      async (n) => {
        const fresh = await createTestDatabase({ empty: true, route });
        try {
          // An unmigrated database: the processes also race to migrate it.
          const all = await Promise.all(
            Array.from({ length: n }, () =>
              runCli(['sync', '--full'], { ...env('together'), DATABASE_URL: fresh.url }),
            ),
          );
          expect(all.map((r) => [r.code, r.stderr])).toEqual(Array.from({ length: n }, () => [0, '']));
          // Each process either ran or found the source taken; whichever ran, one did the loading.
          const recorded = await runs('together', fresh);
          const skipped = all.filter((r) =>
            r.logs.some((l) => String(l.msg).startsWith('another sync of source "together" is in progress')),
          );
          expect(recorded.length + skipped.length).toBe(n);
          expect(recorded.map((r) => [r.status, r.jobs_marked_missing])).toEqual(
            recorded.map(() => ['succeeded', 0]),
          );
          // Exactly one run did the work, whenever the others came: those that found the source free
          // after it ended found every job stored already, and wrote nothing.
          const writers = recorded.filter((r) => r.jobs_inserted + r.jobs_updated > 0);
          expect(writers.map((r) => [r.jobs_inserted, r.jobs_updated])).toEqual([[JOBS, 0]]);
          await expectExactCopy('together', fresh);
        } finally {
          await fresh.drop();
        }
      },
      120_000,
    );

    it('two sources at once, long enough for pages to run as named statements, each stored exactly', async () => {
      // 6,000 jobs a source: from page 49 on, a full pass prepares its page statement (page-write.ts);
      // through PgBouncer before 1.21 the sessions do not keep them, and the pass goes on unnamed.
      const account = new SimulatedAccount({ jobs: 6_000, seed: 35 });
      const big = await startSimulator({ account, apiKey: KEY, port: 0 });
      try {
        const both = await Promise.all(
          ['big-a', 'big-b'].map((source) =>
            runCli(['sync', '--full'], { ...env(source), SUTRO_API_URL: big.url }),
          ),
        );
        expect(both.map((r) => [r.code, r.stderr])).toEqual([
          [0, ''],
          [0, ''],
        ]);
        for (const source of ['big-a', 'big-b']) {
          expect(await diffAgainstTruth(db.pool, source, account.snapshot())).toEqual([]);
        }
      } finally {
        await big.close();
      }
    }, 120_000);

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

    it('with --wait, gives up after the time asked and exits 1 naming who holds the source', async () => {
      await db.pool.query(
        `INSERT INTO sutro.sync_leases (source, token, holder, run_id, expires_at)
         VALUES ('held', 1, 'elsewhere:7:ff', 99, now() + interval '1 hour')`,
      );
      const result = await runCli(['sync', '--wait', '2'], env('held'));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^sutro-sync: sync did not run: another sync of source "held" is in progress \(run 99, held by elsewhere:7:ff, its lease expires in \d+ s unless renewed\); gave up waiting after 2 s \(--wait\)\n$/,
      );
    });

    it('an incremental run after the API moves on is exact', async () => {
      const account = new SimulatedAccount({ jobs: 1_200, seed: 33 });
      const moving = await startSimulator({ account, apiKey: KEY, port: 0 });
      try {
        const moved = { ...env('moving'), SUTRO_API_URL: moving.url };
        expect((await runCli(['sync'], moved)).code).toBe(0);
        const change = account.advance({ seconds: 3 * 3_600, newJobs: 150 });
        expect(change.changed.length).toBeGreaterThan(0);
        const incremental = await runCli(['sync'], moved);
        expect(incremental.code, incremental.stderr).toBe(0);
        expect(incremental.logs.find((l) => l.msg === 'sync run succeeded')).toMatchObject({
          mode: 'incremental',
          stopReason: 'below_floor',
        });
        expect(await diffAgainstTruth(db.pool, 'moving', account.snapshot())).toEqual([]);
      } finally {
        await moving.close();
      }
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
      // The lease went with it, released: the next run continues the pass at once, without waiting.
      const next = await runCli(['sync'], env('sigterm'));
      expect(next.code).toBe(0);
      expect((await runs('sigterm'))[1]).toMatchObject({ status: 'succeeded', resumed_from_run_id: run?.id });
    });

    it('start syncs on schedule, survives a failed run, never skips its own ticks, and stops on SIGTERM', async () => {
      sim.faults.add({ kind: 'status', status: 503 }, 4);
      const worker = startCli(
        ['start'],
        env('service', { SUTRO_SYNC_SCHEDULE: '* * * * * *', SUTRO_HTTP_PORT: '0' }),
      );
      await worker.waitForLog((l) => l.msg === 'sync run failed');
      let succeeded = 0;
      await worker.waitForLog((l) => l.msg === 'sync run succeeded' && (succeeded += 1) === 3, 60_000);
      worker.child.kill('SIGTERM');
      const result = await worker.done;
      expect(result.code).toBe(0);
      expect(result.logs.some((l) => l.msg === 'stopped')).toBe(true);
      // Its own lease never outlived its run: no tick found the source taken.
      expect(result.logs.filter((l) => String(l.msg).includes('another sync'))).toEqual([]);
      const statuses = (await runs('service')).map((r) => r.status);
      expect(statuses[0]).toBe('failed');
      expect(statuses.filter((s) => s === 'succeeded').length).toBeGreaterThanOrEqual(3);
      expect(await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1', 'service')).toBe(
        JOBS,
      );
    }, 90_000);
  });
}
