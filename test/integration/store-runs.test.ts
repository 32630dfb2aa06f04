import { NO_DRIFT } from '../../src/sync/drift.js';
import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../../src/sync/port.js';
import {
  apiJob,
  count,
  createSyncStoreWith,
  db,
  job,
  lease,
  newRun,
  page,
  SOURCE,
  store,
  storeEarlier,
  takeLease,
  useStoreDatabase,
} from '../helpers/store.js';

/** The incremental plan (db/store/incremental-plan.ts), the runs and the leases (db/store/runs.ts, db/store/lease.ts). */

useStoreDatabase();

describe('planIncremental', () => {
  const plan = (margin: number, maxById = 50, pageLimit = 100) =>
    db.store.planIncremental(SOURCE, { safetyMarginSeconds: margin, pageLimit, maxById });

  it('floors at the oldest unsettled job, else the newest job, minus the margin', async () => {
    const runId = await newRun();
    expect(await plan(60)).toEqual({ floor: null, refreshById: [] });
    await store.writePage(
      page(runId, [
        job(
          apiJob('new', {
            status: 'SUCCEEDED',
            datetime_created: '2026-10-05T00:00:00Z',
            datetime_completed: '2026-10-05T01:00:00Z',
            job_cost: 1,
          }),
        ),
        job(apiJob('running', { datetime_created: '2026-10-04T12:00:00Z' })),
        job(apiJob('old', { status: 'FAILED', datetime_created: '2026-10-01T00:00:00Z' })),
      ]),
    );
    expect(await plan(60)).toEqual({ floor: new Date('2026-10-04T11:59:00Z'), refreshById: [] });
    await store.writePage(
      page(runId, [
        job(apiJob('running', { status: 'CANCELLED', datetime_created: '2026-10-04T12:00:00Z' })),
      ]),
    );
    expect(await plan(0)).toEqual({ floor: new Date('2026-10-05T00:00:00Z'), refreshById: [] });
  });

  it('fetches unsettled jobs by id where that takes fewer requests than paging down to them', async () => {
    const runId = await newRun();
    const settled = (day: number) =>
      job(apiJob(`settled-${day}`, { status: 'FAILED', datetime_created: `2026-10-0${day}T00:00:00Z` }));
    await store.writePage(
      page(runId, [
        job(apiJob('recent', { datetime_created: '2026-10-10T00:00:00Z' })),
        ...[4, 5, 6, 7, 8, 9].map(settled),
        job(apiJob('nodate', { datetime_created: null })),
        job(apiJob('stuck-1', { datetime_created: '2026-10-02T00:00:00Z' })),
        job(apiJob('stuck-2', { datetime_created: '2026-10-03T00:00:00Z' })),
      ]),
    );
    // One job per page: reaching stuck-1 costs 9 pages, fetching the two stuck jobs 2 requests.
    expect(await plan(0, 50, 1)).toEqual({
      floor: new Date('2026-10-10T00:00:00Z'),
      refreshById: ['nodate', 'stuck-1', 'stuck-2'],
    });
    // At most one by id, and every allowed cut too deep to be worth counting: the plain floor.
    expect(await plan(0, 1, 1)).toEqual({ floor: new Date('2026-10-02T00:00:00Z'), refreshById: ['nodate'] });
    // With 100 jobs a page, one page reaches them all: nothing but the unplaceable job by id.
    expect(await plan(0)).toEqual({ floor: new Date('2026-10-02T00:00:00Z'), refreshById: ['nodate'] });
  });

  it('stops waiting for a cost that will never come: a dry run, or a FULL run completed a day ago', async () => {
    const runId = await newRun();
    const succeeded = (id: string, completed: Date, extra: Record<string, unknown> = {}) =>
      job(
        apiJob(id, {
          status: 'SUCCEEDED',
          datetime_created: '2026-10-01T00:00:00Z',
          datetime_completed: completed.toISOString(),
          ...extra,
        }),
      );
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000);
    await store.writePage(
      page(runId, [
        job(apiJob('newest', { status: 'FAILED', datetime_created: '2026-10-20T00:00:00Z' })),
        succeeded('dry-run', hoursAgo(1), { run_type: 'DRY_RUN' }),
        succeeded('billed-soon', hoursAgo(1), { run_type: 'FULL' }),
        succeeded('untyped-soon', hoursAgo(1)),
        succeeded('never-billed', hoursAgo(25), { run_type: 'FULL' }),
      ]),
    );
    // Only the FULL runs that completed within the day are still waited for (here: fetched by id).
    expect((await plan(0, 50, 1)).refreshById).toEqual(['billed-soon', 'untyped-soon']);
  });
});

describe('runs and leases', () => {
  it('lets one holder at a time take a source, frees it on release, and raises the token at each taking', async () => {
    expect(await db.store.acquireLease({ source: SOURCE, holder: 'other:2:bb', seconds: 60 })).toMatchObject({
      heldBy: { holder: 'store-test:1:aa', runId: null },
    });
    const other = await takeLease('another-source');
    expect(other.token).toBe(1);
    await db.store.releaseLease(lease);
    const again = await takeLease(SOURCE, 'other:2:bb');
    expect(again.token).toBe(lease.token + 1);
    expect(await db.store.renewLease(lease)).toBe(false);
    expect(await db.store.renewLease(again)).toBe(true);
  });

  it('lets a run take over an expired lease, and refuses every write of the run that lost it', async () => {
    await storeEarlier(['a']);
    const runId = await newRun('full');
    await store.writePage(page(runId, [job(apiJob('b'))], { pass: { runId, nextCursor: 'c1' } }));
    const before = await db.pool.query('SELECT * FROM sutro.sync_state');
    // Its holder stops renewing (paused, partitioned): the lease expires and another run takes it.
    await db.pool.query(`UPDATE sutro.sync_leases SET expires_at = now() WHERE source = $1`, [SOURCE]);
    const successor = await takeLease(SOURCE, 'successor:3:cc');
    expect(successor.token).toBe(lease.token + 1);

    const lost = lease;
    const refusals: [string, () => Promise<unknown>][] = [
      [
        'writePage',
        () =>
          db.store.writePage(
            lost,
            page(runId, [job(apiJob('c'))], { page: 1, pass: { runId, nextCursor: 'c2' } }),
          ),
      ],
      [
        'finishRun',
        () =>
          db.store.finishRun(lost, runId, runId, {
            status: 'succeeded',
            mode: 'full',
            stopReason: 'end_of_list',
            error: null,
            fullPassCompleted: true,
            drift: NO_DRIFT,
          }),
      ],
      ['discardPass', () => db.store.discardPass(lost, runId)],
      ['setRunMode', () => db.store.setRunMode(lost, runId, 'incremental')],
      ['recoverStaleRuns', () => db.store.recoverStaleRuns(lost)],
      [
        'startRun',
        () =>
          db.store.startRun(lost, {
            mode: 'full',
            requestedMode: 'full',
            trigger: 'cli',
            resumedFromRunId: null,
            floor: null,
            dueAt: null,
          }),
      ],
    ];
    for (const [name, refusal] of refusals) {
      const error = await refusal().catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(LeaseLostError);
      expect((error as Error).message, name).toMatch(
        /refused: this process lost the lease of source "store-test" to another run/,
      );
    }
    expect(await db.store.renewLease(lost)).toBe(false);
    // Nothing of it landed: no job c, no missing marks, the checkpoint and the run as they were.
    expect(
      (await db.pool.query('SELECT job_id, missing_since FROM sutro.jobs ORDER BY job_id')).rows,
    ).toEqual([
      { job_id: 'a', missing_since: null },
      { job_id: 'b', missing_since: null },
    ]);
    expect((await db.pool.query('SELECT * FROM sutro.sync_state')).rows).toEqual(before.rows);
    expect(await count(`SELECT count(*)::int AS n FROM sutro.sync_runs WHERE status = 'running'`)).toBe(1);
    expect((await db.pool.query('SELECT holder, token::int FROM sutro.sync_leases')).rows).toEqual([
      { holder: 'successor:3:cc', token: successor.token },
    ]);
  });

  it('keeps a live run its lease through a write that takes longer than the lease', async () => {
    const short = await (async () => {
      await db.store.releaseLease(lease);
      return takeLease(SOURCE, 'slow-writer:5:ee', 2);
    })();
    const runId = await db.store.startRun(short, {
      mode: 'full',
      requestedMode: 'full',
      trigger: 'cli',
      resumedFromRunId: null,
      floor: null,
      dueAt: null,
    });
    // Each job inserted takes 3 s: the page's transaction outlasts the 2 s lease.
    await db.pool.query(`
      CREATE FUNCTION public.slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$;
      CREATE TRIGGER slow_insert AFTER INSERT ON sutro.jobs FOR EACH ROW EXECUTE FUNCTION public.slow_insert();`);
    try {
      const writing = db.store.writePage(
        short,
        page(runId, [job(apiJob('slow'))], { pass: { runId, nextCursor: 'c1' } }),
      );
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      // Past the lease's length, while the write holds its row: the taker waits for the commit,
      // then finds the lease renewed from that moment.
      const taker = await db.store.acquireLease({ source: SOURCE, holder: 'taker:6:ff', seconds: 60 });
      expect(await writing).toMatchObject({ inserted: 1 });
      expect(taker).toMatchObject({ heldBy: { holder: 'slow-writer:5:ee' } });
      expect(await db.store.renewLease(short)).toBe(true);
    } finally {
      await db.pool.query('DROP TRIGGER slow_insert ON sutro.jobs; DROP FUNCTION public.slow_insert()');
    }
  });

  it('counts a lease whose row a write in flight holds as held, and does not wait lock_timeout for it', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE sutro.sync_leases SET expires_at = now() WHERE source = $1`, [SOURCE]);
      const started = Date.now();
      const attempt = await createSyncStoreWith({
        statementTimeoutMs: 5_000,
        lockTimeoutMs: 200,
      }).acquireLease({
        source: SOURCE,
        holder: 'impatient:4:dd',
        seconds: 60,
      });
      expect(attempt).toEqual({ heldBy: { holder: null, runId: null, expiresInSeconds: null } });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('marks runs left running as abandoned and drops sightings of passes that cannot resume', async () => {
    await storeEarlier(['a']);
    const dead = await newRun('full');
    await store.writePage(page(dead, [job(apiJob('a'))], { pass: { runId: dead, nextCursor: null } }));
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(1);
    expect(await store.recoverStaleRuns()).toEqual([dead]);
    const row = await db.pool.query('SELECT status, error FROM sutro.sync_runs WHERE id = $1', [dead]);
    expect(row.rows[0]).toEqual({
      status: 'abandoned',
      error:
        'its process stopped, or lost the database, before finishing it: its lease lapsed and a later run took the source over',
    });
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(0);
  });

  it('keeps the sightings of a pass that can resume', async () => {
    await storeEarlier(['a']);
    const dead = await newRun('full');
    await store.writePage(page(dead, [job(apiJob('a'))], { pass: { runId: dead, nextCursor: 'next' } }));
    await store.recoverStaleRuns();
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(1);
  });

  it('marks jobs a complete full pass did not list, and ends the pass', async () => {
    const first = await newRun('full');
    await store.writePage(
      page(first, [job(apiJob('a')), job(apiJob('b'))], { pass: { runId: first, nextCursor: null } }),
    );
    // Jobs the pass stores itself need no sightings: it listed them.
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(0);
    await store.finishRun(first, first, {
      status: 'succeeded',
      mode: 'full',
      stopReason: 'end_of_list',
      error: null,
      fullPassCompleted: true,
      drift: NO_DRIFT,
    });
    const second = await newRun('full');
    await store.writePage(
      page(second, [job(apiJob('a')), job(apiJob('c'))], { pass: { runId: second, nextCursor: null } }),
    );
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(1);
    const marked = await store.finishRun(second, second, {
      status: 'succeeded',
      mode: 'full',
      stopReason: 'end_of_list',
      error: null,
      fullPassCompleted: true,
      drift: NO_DRIFT,
    });
    expect(marked).toBe(1);
    expect(
      (await db.pool.query('SELECT job_id FROM sutro.jobs WHERE missing_since IS NOT NULL')).rows,
    ).toEqual([{ job_id: 'b' }]);
    expect(await db.store.readState(SOURCE)).toMatchObject({ resumeCursor: null, resumePassRunId: null });
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(0);

    // Listed again: cleared, as an update.
    const third = await newRun();
    expect(await store.writePage(page(third, [job(apiJob('b'))]))).toMatchObject({
      updated: 1,
      historyRows: 0,
    });
    expect(await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE missing_since IS NOT NULL')).toBe(0);
  });
});
