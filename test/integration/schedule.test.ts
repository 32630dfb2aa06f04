import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claimDueSources,
  recordScheduledEnd,
  registerSources,
  type ScheduledSource,
} from '../../src/db/store/schedule.js';
import { createTestDatabase, routes, type TestDatabase } from '../helpers/database.js';

/**
 * The schedule replicas share (db/store/schedule.ts), on a real PostgreSQL, directly and through
 * PgBouncer in transaction mode. State is set by SQL: a due time moved into the past, a lease made to
 * have expired; nothing waits for a clock.
 */

const HOUR = 3_600_000;
const later = (ms = HOUR) => new Date(Date.now() + ms);

const scheduled = (source: string, patch: Partial<ScheduledSource> = {}): ScheduledSource => ({
  source,
  schedule: '*/15 * * * *',
  fullSchedule: '17 3 * * *',
  followingRunAt: later(),
  thenRunAt: later(2 * HOUR),
  followingFullAt: later(24 * HOUR),
  thenFullAt: later(48 * HOUR),
  ...patch,
});

describe.each(routes())('through %s', (route) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ route });
  });
  afterAll(async () => {
    await db.drop();
  });

  const claim = (sources: readonly ScheduledSource[], limit = 10, holder = 'replica-a:1:aa') =>
    claimDueSources(db, sources, { limit, holder, leaseSeconds: 30 });
  const rowOf = async (source: string) =>
    (
      await db.pool.query<{ next_run_at: Date; next_full_at: Date; failures: number; retry_at: Date | null }>(
        'SELECT next_run_at, next_full_at, failures, retry_at FROM sutro.source_schedules WHERE source = $1',
        [source],
      )
    ).rows[0];
  const makeDue = (source: string, agoSeconds: number, full = false) =>
    db.pool.query(
      `UPDATE sutro.source_schedules
          SET next_run_at = now() - make_interval(secs => $2),
              next_full_at = CASE WHEN $3 THEN now() - make_interval(secs => $2) ELSE next_full_at END
        WHERE source = $1`,
      [source, agoSeconds, full],
    );

  it('registers each source with a lease row, due at once or at its first scheduled time', async () => {
    const sources = [scheduled('reg-now'), scheduled('reg-later')];
    await registerSources(db, sources, (s) => (s.source === 'reg-now' ? new Date(0) : s.followingRunAt));
    const leases = await db.pool.query<{ source: string; token: number; holder: string | null }>(
      `SELECT source, token, holder FROM sutro.sync_leases WHERE source LIKE 'reg-%' ORDER BY source`,
    );
    expect(leases.rows).toEqual([
      { source: 'reg-later', token: 0, holder: null },
      { source: 'reg-now', token: 0, holder: null },
    ]);
    expect((await claim(sources)).map((c) => c.lease.source)).toEqual(['reg-now']);

    // Registering again changes nothing; a changed schedule sets the next due time anew.
    const soon = new Date(Date.now() - 1_000);
    await registerSources(db, [scheduled('reg-later', { followingRunAt: later() })], () => new Date(0));
    expect((await claim([scheduled('reg-later')])).length).toBe(0);
    await registerSources(
      db,
      [scheduled('reg-later', { schedule: '*/5 * * * *', followingRunAt: soon })],
      () => new Date(0),
    );
    expect((await rowOf('reg-later'))?.next_run_at).toEqual(soon);
  });

  it('claims due sources oldest first, consumes their due times, and takes their leases', async () => {
    const sources = ['due-a', 'due-b', 'due-c', 'not-due'].map((s) => scheduled(s));
    await registerSources(db, sources, (s) => s.followingRunAt);
    await makeDue('due-b', 300);
    await makeDue('due-a', 60);
    await makeDue('due-c', 10, true);
    const claimed = await claim(sources, 2);
    expect(claimed.map((c) => [c.lease.source, c.mode, c.orphaned])).toEqual([
      ['due-b', 'incremental', false],
      ['due-a', 'incremental', false],
    ]);
    expect(claimed[0]?.lagSeconds).toBeGreaterThanOrEqual(300);
    expect(claimed[0]?.lease).toMatchObject({ token: 1, holder: 'replica-a:1:aa', seconds: 30 });
    const next = await claim(sources, 2);
    expect(next.map((c) => [c.lease.source, c.mode])).toEqual([['due-c', 'full']]);
    expect((await rowOf('due-c'))?.next_full_at.getTime()).toBeGreaterThan(Date.now() + HOUR);
    // Every due time is consumed and every lease held: nothing is left to claim.
    expect(await claim(sources)).toEqual([]);
  });

  it('moves the due time past now even when the next one came while claiming, so none is served twice', async () => {
    const soonest = new Date(Date.now() - 500);
    const then = later(2_000);
    const edge = scheduled('edge', { followingRunAt: soonest, thenRunAt: then });
    await registerSources(db, [edge], () => new Date(0));
    expect((await claim([edge])).length).toBe(1);
    expect((await rowOf('edge'))?.next_run_at).toEqual(then);
    await db.pool.query(
      `UPDATE sutro.sync_leases SET holder = NULL, expires_at = now() WHERE source = 'edge'`,
    );
    expect(await claim([edge])).toEqual([]);
  });

  it('lets two replicas claiming at once share the due sources without overlap', async () => {
    const sources = Array.from({ length: 12 }, (_, i) => scheduled(`race-${i}`));
    await registerSources(db, sources, () => new Date(0));
    const [a, b] = await Promise.all([
      claim(sources, 8, 'replica-a:1:aa'),
      claim(sources, 8, 'replica-b:2:bb'),
    ]);
    const names = [...(a ?? []), ...(b ?? [])].map((c) => c.lease.source).sort();
    expect(names).toEqual(sources.map((s) => s.source).sort());
    expect(new Set(names).size).toBe(12);
  });

  it('claims the source of a dead holder as soon as its lease expires, in the mode of its run', async () => {
    const source = scheduled('orphan');
    await registerSources(db, [source], () => new Date(0));
    const [first] = await claim([source]);
    expect(first?.mode).toBe('incremental');
    // The holder started a full pass and died: its lease is never renewed nor released.
    const run = await db.pool.query<{ id: number }>(
      `INSERT INTO sutro.sync_runs (source, mode, requested_mode, trigger) VALUES ('orphan', 'full', 'full', 'schedule-full') RETURNING id`,
    );
    await db.pool.query(`UPDATE sutro.sync_leases SET run_id = $1 WHERE source = 'orphan'`, [
      run.rows[0]?.id,
    ]);
    expect(await claim([source], 10, 'replica-b:2:bb')).toEqual([]);
    await db.pool.query(
      `UPDATE sutro.sync_leases SET expires_at = now() - interval '1 second' WHERE source = 'orphan'`,
    );
    const [taken] = await claim([source], 10, 'replica-b:2:bb');
    expect(taken).toMatchObject({
      mode: 'full',
      orphaned: true,
      lease: { token: 2, holder: 'replica-b:2:bb' },
    });
    expect((await rowOf('orphan'))?.failures).toBe(1);
  });

  it("queues a dead holder's source from the due time its claim served, not from its lease's end", async () => {
    const sources = ['dead-held', 'due-since-1', 'due-since-2'].map((s) => scheduled(s));
    await registerSources(db, sources, (s) => s.followingRunAt);
    await makeDue('dead-held', 300);
    expect((await claim(sources, 1)).map((c) => c.lease.source)).toEqual(['dead-held']);
    // Its holder dies; meanwhile two sources fall due, before its lease ends.
    await makeDue('due-since-1', 200);
    await makeDue('due-since-2', 100);
    await db.pool.query(
      `UPDATE sutro.sync_leases SET expires_at = now() - interval '1 second' WHERE source = 'dead-held'`,
    );
    const [taken] = await claim(sources, 1, 'replica-b:2:bb');
    expect(taken).toMatchObject({ lease: { source: 'dead-held' }, orphaned: true });
    // The due time it records is its lease's end: the one its dead run served stays that run's.
    expect(taken?.lagSeconds).toBeLessThan(100);
  });

  it('runs a source that failed once at its next due time, and puts back one that keeps failing, doubling', async () => {
    const failing = scheduled('failing');
    await registerSources(db, [failing], () => new Date(0));
    const fail = () =>
      recordScheduledEnd(db, { source: 'failing', status: 'failed', full: false, intervalSeconds: 900 });
    const retryIn = async () => (((await rowOf('failing'))?.retry_at?.getTime() ?? 0) - Date.now()) / 1000;
    await claim([failing]);
    await db.pool.query(
      `UPDATE sutro.sync_leases SET holder = NULL, expires_at = now() WHERE source = 'failing'`,
    );
    await fail();
    expect((await rowOf('failing'))?.failures).toBe(1);
    expect(await retryIn()).toBeLessThanOrEqual(0);
    await makeDue('failing', 10);
    expect((await claim([failing])).map((c) => c.lease.source)).toEqual(['failing']);
    await db.pool.query(
      `UPDATE sutro.sync_leases SET holder = NULL, expires_at = now() WHERE source = 'failing'`,
    );

    // A second failure in a row skips one due time, a third three: the others keep their slots.
    await fail();
    expect(await retryIn()).toBeGreaterThan(890);
    await makeDue('failing', 10);
    expect(await claim([failing])).toEqual([]);
    await fail();
    expect(await retryIn()).toBeGreaterThan(3 * 900 - 10);
    // However long it fails, it is tried once an hour.
    for (let i = 0; i < 5; i += 1) await fail();
    expect(await retryIn()).toBeLessThanOrEqual(3_600);

    await db.pool.query(`UPDATE sutro.source_schedules SET retry_at = now() WHERE source = 'failing'`);
    expect((await claim([failing])).map((c) => c.lease.source)).toEqual(['failing']);
    await recordScheduledEnd(db, {
      source: 'failing',
      status: 'succeeded',
      full: false,
      intervalSeconds: 900,
    });
    expect(await rowOf('failing')).toMatchObject({ failures: 0, retry_at: null });
  });

  it('makes a run stopped by a shutdown due again at once, and a failed full pass stay due', async () => {
    const source = scheduled('stopped');
    await registerSources(db, [source], () => new Date(0));
    await makeDue('stopped', 10, true);
    await claim([source]);
    await db.pool.query(
      `UPDATE sutro.sync_leases SET holder = NULL, expires_at = now() WHERE source = 'stopped'`,
    );
    await recordScheduledEnd(db, {
      source: 'stopped',
      status: 'interrupted',
      full: true,
      intervalSeconds: 900,
    });
    const [again] = await claim([source]);
    expect(again?.mode).toBe('full');
  });

  it('never claims a source that is not in the configuration asking', async () => {
    await registerSources(db, [scheduled('elsewhere')], () => new Date(0));
    expect(await claim([scheduled('other')])).toEqual([]);
    expect((await claim([scheduled('elsewhere')])).length).toBe(1);
  });
});
