import type { Database } from '../infra/connect.js';

import type { RowOf } from '../schema/rows.js';
import type { notices, rejectedJobs, syncLeases, syncRuns, syncState } from '../schema/tables.js';

/** The read-only query behind `sutro-sync status`. */

/** The columns of a run that `status` shows. */
const RUN_COLUMNS = [
  'id',
  'mode',
  'trigger',
  'status',
  'started_at',
  'finished_at',
  'pages',
  'jobs_seen',
  'jobs_inserted',
  'jobs_updated',
  'jobs_unchanged',
  'jobs_rejected',
  'stop_reason',
  'error',
  'jobs_with_unknown_fields',
  'jobs_with_missing_fields',
  'jobs_in_legacy_shape',
  'unknown_fields',
  'missing_fields',
] as const satisfies readonly (keyof RowOf<typeof syncRuns>)[];

export type RunRow = Pick<RowOf<typeof syncRuns>, (typeof RUN_COLUMNS)[number]>;

const STATE_COLUMNS = [
  'last_success_at',
  'last_full_pass_at',
  'resume_cursor',
  'resume_pages',
  'last_error',
  'last_error_at',
] as const satisfies readonly (keyof RowOf<typeof syncState>)[];

/** How many of the newest notices and rejected rows `status` lists; it counts them all. */
const LISTED = 20;

export type NoticeRow = Pick<
  RowOf<typeof notices>,
  'kind' | 'subject' | 'detail' | 'first_run_id' | 'first_seen_at' | 'last_seen_at' | 'runs_seen'
>;

export type RejectedRowSummary = Pick<
  RowOf<typeof rejectedJobs>,
  'job_id' | 'reason' | 'first_seen_at' | 'last_seen_at' | 'times_seen'
>;

export interface StatusReport {
  source: string;
  state: Pick<RowOf<typeof syncState>, (typeof STATE_COLUMNS)[number]> | null;
  /** The source's lease while a run holds it (or held it and stopped without releasing it). */
  lease: (Pick<RowOf<typeof syncLeases>, 'holder' | 'run_id'> & { expires_in_seconds: number }) | null;
  jobsByStatus: { status: string; jobs: number; missing: number }[];
  rejected: number;
  /** The newest of them, by when they were last listed. */
  rejectedRows: RejectedRowSummary[];
  /** What the sync has said once about the source's data (sync/port.ts's Notice), newest first. */
  notices: NoticeRow[];
  noticeCount: number;
  runs: RunRow[];
}

/** One read-only snapshot, so that the runs, the counts and the checkpoint agree with each other. */
export function readStatus(db: Database, source: string, runs = 10): Promise<StatusReport> {
  const options = {
    what: `reading the status of source "${source}"`,
    readOnly: true,
    repeatableRead: true,
  };
  return db.transaction(options, async (client) => {
    const state = await client.query<NonNullable<StatusReport['state']>>(
      `SELECT ${STATE_COLUMNS.join(', ')} FROM sutro.sync_state WHERE source = $1`,
      [source],
    );
    const lease = await client.query<NonNullable<StatusReport['lease']>>(
      `SELECT holder, run_id, extract(epoch FROM expires_at - now())::float8 AS expires_in_seconds
         FROM sutro.sync_leases WHERE source = $1 AND holder IS NOT NULL`,
      [source],
    );
    const counts = await client.query<{ status: string; jobs: number; missing: number }>(
      // From the rollup (rollups.ts): counting a million jobs by status would read every one.
      `SELECT status, sum(jobs)::int AS jobs, sum(missing_jobs)::int AS missing
         FROM sutro.usage_rollup WHERE source = $1 GROUP BY status HAVING sum(jobs) <> 0 ORDER BY jobs DESC, status`,
      [source],
    );
    const rejected = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sutro.rejected_jobs WHERE source = $1',
      [source],
    );
    const rejectedRows = await client.query<RejectedRowSummary>(
      `SELECT job_id, reason, first_seen_at, last_seen_at, times_seen FROM sutro.rejected_jobs
        WHERE source = $1 ORDER BY last_seen_at DESC, id DESC LIMIT ${LISTED}`,
      [source],
    );
    const said = await client.query<NoticeRow & { total: number }>(
      `SELECT kind, subject, detail, first_run_id, first_seen_at, last_seen_at, runs_seen,
              count(*) OVER ()::int AS total
         FROM sutro.notices WHERE source = $1 ORDER BY first_seen_at DESC, kind, subject LIMIT ${LISTED}`,
      [source],
    );
    const recent = await client.query<RunRow>(
      `SELECT ${RUN_COLUMNS.join(', ')} FROM sutro.sync_runs WHERE source = $1 ORDER BY id DESC LIMIT $2`,
      [source, runs],
    );
    return {
      source,
      state: state.rows[0] ?? null,
      lease: lease.rows[0] ?? null,
      jobsByStatus: counts.rows,
      rejected: rejected.rows[0]?.n ?? 0,
      rejectedRows: rejectedRows.rows,
      notices: said.rows.map(({ total: _, ...notice }) => notice),
      noticeCount: said.rows[0]?.total ?? 0,
      runs: recent.rows,
    };
  });
}

/** One line of `status` per source: what a person running many sources looks at first. */
export interface SourceOverview {
  source: string;
  /** In this process's configuration; false for a source with data that the configuration dropped. */
  configured: boolean;
  last_success_at: Date | null;
  seconds_since_last_success: number | null;
  last_error: string | null;
  last_error_at: Date | null;
  /** Who runs it now, and the run. */
  holder: string | null;
  run_id: number | null;
  /** When a `start` replica runs it next (the due time, or the retry time of a failing source). */
  next_due_at: Date | null;
  /** Failed runs in a row, as the schedule counts them. */
  failures: number | null;
  jobs: number;
}

/**
 * Every source of `configured` and every source the database holds data of, in one snapshot: the
 * sources a dropped configuration left behind are shown too, with their data.
 */
const SOURCES_OVERVIEW = `
WITH names AS (
  SELECT unnest($1::text[]) AS source
  UNION SELECT source FROM sutro.sync_state
  UNION SELECT source FROM sutro.source_schedules
)
SELECT n.source, n.source = ANY($1::text[]) AS configured,
       s.last_success_at, extract(epoch FROM now() - s.last_success_at)::float8 AS seconds_since_last_success,
       s.last_error, s.last_error_at,
       l.holder, l.run_id,
       greatest(least(sc.next_run_at, sc.next_full_at), sc.retry_at) AS next_due_at, sc.failures,
       coalesce((SELECT sum(u.jobs) FROM sutro.usage_rollup u WHERE u.source = n.source), 0)::bigint AS jobs
  FROM names n
  LEFT JOIN sutro.sync_state s ON s.source = n.source
  LEFT JOIN sutro.sync_leases l ON l.source = n.source AND l.holder IS NOT NULL AND l.expires_at > now()
  LEFT JOIN sutro.source_schedules sc ON sc.source = n.source
 ORDER BY n.source`;

export function readSourcesOverview(db: Database, configured: readonly string[]): Promise<SourceOverview[]> {
  return db.transaction({ what: 'reading the overview of the sources', readOnly: true }, async (client) => {
    const result = await client.query<SourceOverview>(SOURCES_OVERVIEW, [configured]);
    return result.rows;
  });
}
