import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJob } from '../../src/sutro/job.js';
import { runSync } from '../../src/sync/engine.js';
import { Random } from '../../src/simulator/account/random.js';
import { SimulatedAccount, type ApiJob, type RunningSimulator } from '../../src/simulator/index.js';
import { createTestDatabase, silentLog, type Route, type TestDatabase } from '../helpers/database.js';
import { LEASE_SECONDS } from '../helpers/limits.js';
import { Simulators, syncOnce, testApi } from '../helpers/sync.js';
import { diffAgainstTruth } from '../helpers/truth.js';

/**
 * The incremental sync against a model of the API, through one route: incremental.test.ts runs it
 * directly, incremental-pooler.test.ts through PgBouncer in transaction mode, two files that run side
 * by side.
 */

let db: TestDatabase;
const simulators = new Simulators();

const simulator = (account: SimulatedAccount) => simulators.start(account);
const sync = (sim: RunningSimulator, source: string, options: Parameters<typeof syncOnce>[3] = {}) =>
  syncOnce(db.store, sim, source, options);

const TRACKED = [
  'status',
  'datetimeCreated',
  'datetimeStarted',
  'datetimeCompleted',
  'inputTokens',
  'outputTokens',
  'numRows',
  'jobCost',
  'costEstimate',
  'failureReason',
] as const;

/** What job_history tracks of a job, as comparable text. */
function trackedState(raw: ApiJob): string {
  const parsed = parseJob(raw);
  if (!parsed.ok) throw new Error(parsed.reason);
  return JSON.stringify(
    TRACKED.map((f) => parsed.job[f]),
    (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
  );
}

/**
 * Puts `count` jobs from index `from` (0 the oldest) back to RUNNING, so that the floor of an
 * incremental run sits that deep; twenty are too many to fetch one by one instead of paging.
 */
function leaveRunning(account: SimulatedAccount, from: number, count: number): void {
  for (let index = from; index < from + count; index += 1) {
    account.mutate(account.jobAt(index).job_id, {
      status: 'RUNNING',
      datetime_completed: null,
      job_cost: null,
    });
  }
}

export function incrementalTests(route: Route): void {
  afterAll(async () => {
    await simulators.closeAll();
  });
  beforeAll(async () => {
    db = await createTestDatabase({ route });
  });
  afterAll(async () => {
    await db.drop();
  });

  describe('the sync rule against a model', () => {
    it('keeps the table equal to the API and history to one row per observed change, over many rounds', async () => {
      const account = new SimulatedAccount({ jobs: 1_000, seed: 99 });
      const sim = await simulator(account);
      const source = 'model';
      const random = new Random(12345);
      /** job id -> tracked state at the last sync, and how many history rows it should have. */
      const observed = new Map<string, { state: string; rows: number }>();
      const everListed = new Set<string>();
      let fullPasses = 0;

      for (let round = 0; round < 40; round += 1) {
        if (round > 0) {
          account.advance({
            seconds: random.pick([60, 600, 3_600, 6 * 3_600, 86_400, 5 * 86_400]),
            newJobs: random.int(0, 120),
          });
        }
        const full = round === 0 || random.chance(0.15);
        const result = await sync(sim, source, { mode: full ? 'full' : 'incremental' });
        expect(result.status, `round ${round}`).toBe('succeeded');
        if (full) fullPasses += 1;

        const truth = account.snapshot();
        expect(await diffAgainstTruth(db.pool, source, truth), `round ${round}`).toEqual([]);
        const listed = new Set<string>();
        for (const job of truth) {
          listed.add(job.job_id);
          everListed.add(job.job_id);
          const state = trackedState(job);
          const before = observed.get(job.job_id);
          if (before === undefined) observed.set(job.job_id, { state, rows: 1 });
          else if (before.state !== state) observed.set(job.job_id, { state, rows: before.rows + 1 });
        }
        const history = await db.pool.query<{ job_id: string; n: number }>(
          'SELECT job_id, count(*)::int AS n FROM sutro.job_history WHERE source = $1 GROUP BY job_id',
          [source],
        );
        const rows = new Map(history.rows.map((r) => [r.job_id, r.n]));
        const wrong = [...observed]
          .filter(([id, o]) => rows.get(id) !== o.rows)
          .map(([id, o]) => `${id}: ${rows.get(id)} rows, expected ${o.rows}`);
        expect(wrong, `round ${round}`).toEqual([]);

        const stored = await db.pool.query<{ job_id: string; missing: boolean }>(
          'SELECT job_id, missing_since IS NOT NULL AS missing FROM sutro.jobs WHERE source = $1',
          [source],
        );
        expect(stored.rowCount, `round ${round}: nothing is ever deleted`).toBe(everListed.size);
        if (full) {
          const misplaced = stored.rows
            .filter((r) => r.missing === listed.has(r.job_id))
            .map((r) => r.job_id);
          expect(misplaced, `round ${round}: missing_since after a full pass`).toEqual([]);
        }
      }
      expect(fullPasses).toBeGreaterThan(1);
      expect(everListed.size).toBeGreaterThan(account.count());
    }, 240_000);

    it('reads in an incremental run only the pages near what changed', async () => {
      const account = new SimulatedAccount({ jobs: 10_000, seed: 5, quirks: false });
      const sim = await simulator(account);
      await sync(sim, 'cost');
      account.advance({ seconds: 600, newJobs: 50 });
      const result = await sync(sim, 'cost');
      expect(result).toMatchObject({ mode: 'incremental', stopReason: 'below_floor', inserted: 50 });
      // 50 new jobs and the recent unsettled ones fit in the first pages; the run stops right below.
      expect(result.pages).toBeLessThanOrEqual(3);
      const unchanged = await sync(sim, 'cost');
      expect(unchanged).toMatchObject({ inserted: 0, updated: 0, historyRows: 0 });
      expect(unchanged.pages).toBeLessThanOrEqual(2);
    });

    it('refreshes a job stuck deep in the history by id and stops near the head', async () => {
      const account = new SimulatedAccount({ jobs: 5_000, seed: 6, quirks: false });
      const stuck = account.jobAt(4_000);
      account.mutate(stuck.job_id, { status: 'RUNNING', datetime_completed: null, job_cost: null });
      const sim = await simulator(account);
      await sync(sim, 'straggler');
      account.mutate(stuck.job_id, {
        status: 'SUCCEEDED',
        datetime_completed: '2026-10-20T00:00:00Z',
        job_cost: 12.5,
      });
      const result = await sync(sim, 'straggler');
      expect(result).toMatchObject({ mode: 'incremental', refreshedById: 1, updated: 1 });
      expect(result.pages).toBeLessThanOrEqual(2);
      expect(sim.requests.count('jobs')).toBe(1);
      const row = await db.pool.query(
        `SELECT status, job_cost::text FROM sutro.jobs WHERE source = 'straggler' AND job_id = $1`,
        [stuck.job_id],
      );
      expect(row.rows[0]).toEqual({ status: 'SUCCEEDED', job_cost: '12.5' });
    });

    it('records a run stopped while fetching stragglers by id as interrupted, and the next run fetches them', async () => {
      const account = new SimulatedAccount({ jobs: 5_000, seed: 8, quirks: false });
      const stuck = [account.jobAt(3_000), account.jobAt(4_000)];
      for (const job of stuck)
        account.mutate(job.job_id, { status: 'RUNNING', datetime_completed: null, job_cost: null });
      const sim = await simulator(account);
      await sync(sim, 'stop-by-id');
      for (const job of stuck) {
        account.mutate(job.job_id, {
          status: 'SUCCEEDED',
          datetime_completed: '2026-10-20T00:00:00Z',
          job_cost: 3,
        });
      }
      const controller = new AbortController();
      const api = testApi(sim);
      const result = await runSync(
        {
          store: db.store,
          log: silentLog,
          api: {
            ...api,
            getJob(jobId, signal) {
              controller.abort(new Error('SIGTERM'));
              return api.getJob(jobId, signal);
            },
          },
        },
        {
          source: 'stop-by-id',
          mode: 'incremental',
          trigger: 'cli',
          safetyMarginSeconds: 0,
          leaseSeconds: LEASE_SECONDS,
          signal: controller.signal,
        },
      );
      expect(result).toMatchObject({
        status: 'interrupted',
        stopReason: 'interrupted',
        error: null,
        updated: 0,
      });
      if (result.skipped) throw new Error('the run was skipped');
      const run = await db.pool.query('SELECT status, error FROM sutro.sync_runs WHERE id = $1', [
        result.runId,
      ]);
      expect(run.rows[0]).toEqual({ status: 'interrupted', error: null });

      const next = await sync(sim, 'stop-by-id');
      expect(next).toMatchObject({ status: 'succeeded', refreshedById: 2, updated: 2 });
    });
  });

  describe('resuming a full pass', () => {
    it('continues from the checkpoint after a failed run, fetching fewer pages than a fresh pass', async () => {
      const account = new SimulatedAccount({ jobs: 2_000, seed: 7 });
      const sim = await simulator(account);
      sim.faults.add({ kind: 'status', status: 503, matchPage: 12 }, 10);
      const failed = await sync(sim, 'resume', { mode: 'full' });
      expect(failed).toMatchObject({ status: 'failed', pages: 12 });
      sim.faults.clear();
      const resumed = await sync(sim, 'resume', { mode: 'incremental' });
      expect(resumed).toMatchObject({
        status: 'succeeded',
        mode: 'full',
        resumedFromRunId: failed.runId,
        pages: 8,
        inserted: 800,
      });
      expect(await diffAgainstTruth(db.pool, 'resume', account.snapshot())).toEqual([]);
      const state = await db.store.readState('resume');
      expect(state).toMatchObject({ resumeCursor: null, resumePassRunId: null });
      expect(state?.lastFullPassAt).not.toBeNull();
    });

    it('starts again from the head when the API rejects the saved cursor', async () => {
      const account = new SimulatedAccount({ jobs: 1_000, seed: 8 });
      const sim = await simulator(account);
      sim.faults.add({ kind: 'status', status: 503, matchPage: 4 }, 10);
      await sync(sim, 'expired', { mode: 'full' });
      sim.faults.clear();
      sim.faults.add({ kind: 'expire-cursors' });
      const restarted = await sync(sim, 'expired');
      expect(restarted).toMatchObject({
        status: 'succeeded',
        mode: 'full',
        resumedFromRunId: null,
        pages: 10,
        unchanged: 400,
        inserted: 600,
      });
    });

    it('marks nothing missing after a pass that did not complete', async () => {
      const account = new SimulatedAccount({ jobs: 600, seed: 9 });
      const sim = await simulator(account);
      await sync(sim, 'incomplete', { mode: 'full' });
      account.advance({ seconds: 40 * 86_400, newJobs: 0, transitions: false });
      sim.faults.add({ kind: 'status', status: 503, matchPage: 2 }, 10);
      await sync(sim, 'incomplete', { mode: 'full' });
      const missing = await db.pool.query(
        `SELECT count(*)::int AS n FROM sutro.jobs WHERE source = 'incomplete' AND missing_since IS NOT NULL`,
      );
      expect(missing.rows[0]).toEqual({ n: 0 });
    });
  });

  describe('the order guard', () => {
    it('turns an incremental run into a full pass when pages come out of order', async () => {
      const account = new SimulatedAccount({ jobs: 1_500, seed: 10, quirks: false });
      // Jobs left running a few pages down, so that the run reads on to the page that comes back out
      // of order.
      leaveRunning(account, 1_000, 20);
      const sim = await simulator(account);
      await sync(sim, 'order');
      account.advance({ seconds: 600, newJobs: 5 });
      sim.faults.add({ kind: 'out-of-order', matchPage: 1 });
      // The page served in its place reaches back days, well beyond the margin.
      const result = await sync(sim, 'order', { safetyMarginSeconds: 300 });
      expect(result).toMatchObject({
        status: 'succeeded',
        requestedMode: 'incremental',
        mode: 'full',
        stopReason: 'end_of_list',
        pages: 16,
      });
      expect(await diffAgainstTruth(db.pool, 'order', account.snapshot())).toEqual([]);
    });

    it('stays incremental when new arrivals push jobs of one page onto the next, even with no margin', async () => {
      const account = new SimulatedAccount({ jobs: 600, seed: 14, quirks: false });
      // Jobs left running three pages down, so that the run reads past the page the arrivals shift.
      leaveRunning(account, 300, 20);
      const sim = await simulator(account);
      await sync(sim, 'shift');
      let pushed = false;
      const result = await sync(sim, 'shift', {
        safetyMarginSeconds: 0,
        onPage: ({ page }) => {
          if (page === 0 && !pushed) {
            pushed = true;
            account.advance({ seconds: 1, newJobs: 7, transitions: false });
          }
        },
      });
      expect(result).toMatchObject({
        status: 'succeeded',
        requestedMode: 'incremental',
        mode: 'incremental',
      });
      expect(result.pages).toBeGreaterThanOrEqual(3);
      // The arrivals landed above the pages this run had read; the next run picks them up.
      expect(await sync(sim, 'shift', { safetyMarginSeconds: 0 })).toMatchObject({ inserted: 7 });
    });
  });

  describe('runs of one source', () => {
    it('skips a run while another holds the source, and marks a run a dead process left running', async () => {
      const sim = await simulator(new SimulatedAccount({ jobs: 100, seed: 11 }));
      const held = await db.store.acquireLease({ source: 'busy', holder: 'elsewhere:1:ab', seconds: 60 });
      if (!('lease' in held)) throw new Error('the lease of a new source was not free');
      const api = testApi(sim);
      const skipped = await runSync(
        { store: db.store, api, log: silentLog },
        {
          source: 'busy',
          mode: 'full',
          trigger: 'cli',
          safetyMarginSeconds: 0,
          leaseSeconds: LEASE_SECONDS,
        },
      );
      expect(skipped).toMatchObject({ skipped: true, gaveUpWaiting: false });
      if (!skipped.skipped) throw new Error('the run was not skipped');
      expect(skipped.reason).toMatch(
        /^another sync of source "busy" is in progress \(held by elsewhere:1:ab, its lease expires in (59|60) s unless renewed\)$/,
      );

      // The holder starts a run and dies: its lease lapses, and the next run takes the source over.
      const dead = await db.store.startRun(held.lease, {
        mode: 'full',
        requestedMode: 'full',
        trigger: 'cli',
        resumedFromRunId: null,
        floor: null,
        dueAt: null,
      });
      await db.pool.query(`UPDATE sutro.sync_leases SET expires_at = now() WHERE source = 'busy'`);
      const next = await sync(sim, 'busy');
      expect(next.status).toBe('succeeded');
      const row = await db.pool.query<{ status: string; error: string }>(
        'SELECT status, error FROM sutro.sync_runs WHERE id = $1',
        [dead],
      );
      expect(row.rows[0]).toMatchObject({ status: 'abandoned' });
      expect(String(row.rows[0]?.error)).toMatch(/lease lapsed and a later run took the source over/);
    });

    it('stops after the current page when interrupted, records it, and releases the lock', async () => {
      const sim = await simulator(new SimulatedAccount({ jobs: 3_000, seed: 12 }));
      sim.setLatency(20);
      const controller = new AbortController();
      const api = testApi(sim);
      const result = await runSync(
        {
          store: db.store,
          api,
          log: silentLog,
          onPage: ({ page }) => page === 4 && controller.abort(new Error('SIGTERM')),
        },
        {
          source: 'stop',
          mode: 'full',
          trigger: 'cli',
          safetyMarginSeconds: 0,
          leaseSeconds: LEASE_SECONDS,
          signal: controller.signal,
        },
      );
      expect(result).toMatchObject({
        skipped: false,
        status: 'interrupted',
        stopReason: 'interrupted',
        pages: 5,
      });
      const lease = await db.pool.query(`SELECT holder FROM sutro.sync_leases WHERE source = 'stop'`);
      expect(lease.rows).toEqual([{ holder: null }]);
      sim.setLatency(0);
      const resumed = await sync(sim, 'stop');
      expect(resumed).toMatchObject({ status: 'succeeded', mode: 'full', pages: 25 });
    });
  });
}
