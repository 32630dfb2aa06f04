import type { FinalRunStatus, Lease, RunMode } from '../../sync/port.js';
import type { Database } from '../infra/connect.js';

/**
 * The schedule replicas share (sutro.source_schedules): which sources are due, claimed with their
 * lease in one short transaction, so that N replicas of `start` run each source once per due time
 * and any replica may run any source. Polling only, no LISTEN: it works through a transaction pooler.
 */

/** A source as the configuration schedules it. */
export interface ScheduledSource {
  readonly source: string;
  readonly schedule: string;
  readonly fullSchedule: string;
  /**
   * When its next incremental run would be due if it were claimed now, and the time after that: a
   * claim that lands just past the first (the clock moved on between reading the schedule and the
   * claim) takes the second, so that one due time is never served twice.
   */
  readonly followingRunAt: Date;
  readonly thenRunAt: Date;
  /** Likewise for its full passes. */
  readonly followingFullAt: Date;
  readonly thenFullAt: Date;
}

/**
 * Makes each source known to the schedule and gives it a lease row. A new source is first due at
 * `firstRunAt(source)`; one whose cron expressions changed (a reload) is next due when the new ones
 * say; any other keeps the due times the replicas agreed on.
 */
const REGISTER = `
WITH wanted AS (
  SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[])
    AS w(source, first_run_at, next_run_at, next_full_at, schedule, full_schedule)
),
leases AS (
  INSERT INTO sutro.sync_leases (source, token, expires_at)
  SELECT source, 0, '-infinity' FROM wanted
  ON CONFLICT (source) DO NOTHING
  RETURNING 1
)
INSERT INTO sutro.source_schedules AS s (source, next_run_at, next_full_at, schedule, full_schedule)
SELECT source, first_run_at, next_full_at, schedule, full_schedule FROM wanted
ON CONFLICT (source) DO UPDATE SET
  next_run_at = CASE WHEN s.schedule = excluded.schedule THEN s.next_run_at
                     ELSE (SELECT w.next_run_at FROM wanted w WHERE w.source = s.source) END,
  next_full_at = CASE WHEN s.full_schedule = excluded.full_schedule THEN s.next_full_at ELSE excluded.next_full_at END,
  schedule = excluded.schedule,
  full_schedule = excluded.full_schedule,
  updated_at = now()
WHERE s.schedule <> excluded.schedule OR s.full_schedule <> excluded.full_schedule`;

export async function registerSources(
  db: Database,
  sources: readonly ScheduledSource[],
  firstRunAt: (source: ScheduledSource) => Date,
): Promise<void> {
  await db.transaction({ what: `registering ${sources.length} sources in the schedule` }, (client) =>
    client.query(REGISTER, [
      sources.map((s) => s.source),
      sources.map(firstRunAt),
      sources.map((s) => s.followingRunAt),
      sources.map((s) => s.followingFullAt),
      sources.map((s) => s.schedule),
      sources.map((s) => s.fullSchedule),
    ]),
  );
}

/** A due source this replica now holds. */
export interface ClaimedSource {
  readonly lease: Lease;
  readonly mode: RunMode;
  /** The due time this run serves: the schedule's, or for a run whose holder died, its lease's end. */
  readonly dueAt: Date;
  /** Seconds from the due time to the claim. */
  readonly lagSeconds: number;
  /** The run before this one died with its process: this run takes its work over. */
  readonly orphaned: boolean;
}

/**
 * Claims up to $4 due sources of the configured ones ($1, with $2 and $3 their next due times if
 * claimed now), oldest due first, skipping any another replica is claiming: their schedule rows and
 * leases are locked SKIP LOCKED, and taken together. A source is due when its time has come, or when
 * its lease expired while held: that run's process died, and this one continues its work (in the
 * mode it had, so that a full pass stays a full pass). Claiming moves the due times on, to the
 * first of $2 or $7 (and $3 or $8) still to come, so the same due time is not served twice; a source
 * that keeps failing is not claimed before its retry time. $5 holder, $6 lease seconds.
 *
 * A dead holder's source takes its place in the queue from the due time its claim served
 * (`last_due_at`), not from its lease's end: behind the sources due since, it would wait for the
 * whole queue under load (bench/README.md, many sources). The run still records the lease's end as
 * the due time it serves, so that no due time is served twice.
 */
export const CLAIM_DUE_SOURCES = `
WITH configured AS (
  SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $7::timestamptz[], $8::timestamptz[])
    AS c(source, following_run_at, following_full_at, then_run_at, then_full_at)
),
due AS (
  SELECT s.source,
         CASE WHEN c.following_run_at > now() THEN c.following_run_at ELSE c.then_run_at END AS following_run_at,
         CASE WHEN c.following_full_at > now() THEN c.following_full_at ELSE c.then_full_at END AS following_full_at,
         l.holder IS NOT NULL AS orphaned,
         CASE WHEN l.holder IS NOT NULL THEN coalesce(r.mode = 'full', false) ELSE s.next_full_at <= now() END AS full,
         CASE WHEN l.holder IS NOT NULL THEN l.expires_at
              ELSE greatest(least(s.next_run_at, s.next_full_at), s.retry_at) END AS due_at,
         CASE WHEN l.holder IS NOT NULL THEN least(s.last_due_at, l.expires_at)
              ELSE greatest(least(s.next_run_at, s.next_full_at), s.retry_at) END AS queued_at
    FROM configured c
    JOIN sutro.source_schedules s ON s.source = c.source
    JOIN sutro.sync_leases l ON l.source = c.source
    LEFT JOIN sutro.sync_runs r ON r.id = l.run_id
   WHERE l.expires_at <= now()
     AND (l.holder IS NOT NULL OR least(s.next_run_at, s.next_full_at) <= now())
     AND (s.retry_at IS NULL OR s.retry_at <= now())
   ORDER BY 7, 1
   LIMIT $4
   FOR UPDATE OF s, l SKIP LOCKED
),
taken AS (
  UPDATE sutro.sync_leases l
     SET token = l.token + 1, holder = $5, run_id = NULL, acquired_at = now(), renewed_at = now(),
         expires_at = now() + make_interval(secs => $6)
    FROM due d
   WHERE l.source = d.source
  RETURNING l.source, l.token
),
moved AS (
  UPDATE sutro.source_schedules s
     SET next_run_at = CASE WHEN d.orphaned THEN s.next_run_at ELSE d.following_run_at END,
         next_full_at = CASE WHEN d.full AND NOT d.orphaned THEN d.following_full_at ELSE s.next_full_at END,
         failures = s.failures + CASE WHEN d.orphaned THEN 1 ELSE 0 END,
         last_due_at = d.due_at, last_claimed_at = now(), updated_at = now()
    FROM due d
   WHERE s.source = d.source
  RETURNING s.source
)
SELECT t.source, t.token, d.full, d.orphaned, d.due_at,
       extract(epoch FROM now() - d.due_at)::float8 AS lag_seconds
  FROM taken t JOIN due d USING (source) JOIN moved m USING (source)
 ORDER BY d.due_at, t.source`;

export async function claimDueSources(
  db: Database,
  sources: readonly ScheduledSource[],
  request: { readonly limit: number; readonly holder: string; readonly leaseSeconds: number },
): Promise<ClaimedSource[]> {
  if (request.limit <= 0 || sources.length === 0) return [];
  const claimed = await db.transaction({ what: 'claiming due sources' }, (client) =>
    client.query<{
      source: string;
      token: number;
      full: boolean;
      orphaned: boolean;
      due_at: Date;
      lag_seconds: number;
    }>(CLAIM_DUE_SOURCES, [
      sources.map((s) => s.source),
      sources.map((s) => s.followingRunAt),
      sources.map((s) => s.followingFullAt),
      request.limit,
      request.holder,
      request.leaseSeconds,
      sources.map((s) => s.thenRunAt),
      sources.map((s) => s.thenFullAt),
    ]),
  );
  return claimed.rows.map((row) => ({
    lease: { source: row.source, token: row.token, holder: request.holder, seconds: request.leaseSeconds },
    mode: row.full ? 'full' : 'incremental',
    dueAt: row.due_at,
    lagSeconds: Math.max(0, row.lag_seconds),
    orphaned: row.orphaned,
  }));
}

/**
 * How a claimed run ended, for the next claim: a success clears the failures; a failure counts one
 * more and puts the next attempt back (see RETRY_MAX_SECONDS), a failed full pass staying due; a run
 * stopped by a shutdown is due again at once, for whichever replica is left. $1 source, $2 status,
 * $3 whether it was a full pass, $4 the seconds between two of the source's due times, $5 the cap.
 */
export const RECORD_SCHEDULED_END = `
UPDATE sutro.source_schedules SET
  failures = CASE WHEN $2 = 'succeeded' THEN 0 WHEN $2 = 'failed' THEN failures + 1 ELSE failures END,
  retry_at = CASE WHEN $2 = 'failed'
                  THEN now() + make_interval(secs => least($5::float8, $4::float8 * (2 ^ least(failures, 20) - 1)))
                  WHEN $2 = 'succeeded' THEN NULL ELSE retry_at END,
  next_run_at = CASE WHEN $2 = 'interrupted' THEN least(next_run_at, now()) ELSE next_run_at END,
  next_full_at = CASE WHEN $3 AND $2 <> 'succeeded' THEN least(next_full_at, now()) ELSE next_full_at END,
  updated_at = now()
WHERE source = $1`;

/**
 * A source that fails once runs again at its next due time; one that keeps failing skips one due
 * time, then three, seven, and so on (the time between them doubling), up to an hour: it keeps its
 * slot free for the others, and an outage of an hour costs a handful of runs, not one per tick.
 */
export const RETRY_MAX_SECONDS = 3_600;

export async function recordScheduledEnd(
  db: Database,
  end: {
    readonly source: string;
    readonly status: FinalRunStatus;
    readonly full: boolean;
    /** The seconds between two of its due times: the unit of its backoff. */
    readonly intervalSeconds: number;
  },
): Promise<void> {
  await db.transaction(
    { what: `recording the end of the scheduled run of source "${end.source}"` },
    (client) =>
      client.query(RECORD_SCHEDULED_END, [
        end.source,
        end.status,
        end.full,
        end.intervalSeconds,
        RETRY_MAX_SECONDS,
      ]),
  );
}
