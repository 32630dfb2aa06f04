import type { Database } from '../infra/connect.js';

/** Read-only queries behind `sutro-sync status` and the demo's summary. */

export interface RunRow {
  id: number;
  mode: string;
  trigger: string;
  status: string;
  started_at: Date;
  finished_at: Date | null;
  pages: number;
  jobs_seen: number;
  jobs_inserted: number;
  jobs_updated: number;
  jobs_unchanged: number;
  jobs_rejected: number;
  stop_reason: string | null;
  error: string | null;
  jobs_with_unknown_fields: number;
  jobs_with_missing_fields: number;
  jobs_in_legacy_shape: number;
  unknown_fields: string[];
  missing_fields: string[];
}

export interface StatusReport {
  source: string;
  state: {
    last_success_at: Date | null;
    last_full_pass_at: Date | null;
    resume_cursor: string | null;
    resume_pages: number;
    last_error: string | null;
    last_error_at: Date | null;
  } | null;
  /** The source's lease while a run holds it (or held it and stopped without releasing it). */
  lease: { holder: string | null; run_id: number | null; expires_in_seconds: number } | null;
  jobsByStatus: { status: string; jobs: number; missing: number }[];
  rejected: number;
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
    const state = await client.query(
      `SELECT last_success_at, last_full_pass_at, resume_cursor, resume_pages, last_error, last_error_at
         FROM sutro.sync_state WHERE source = $1`,
      [source],
    );
    const lease = await client.query<NonNullable<StatusReport['lease']>>(
      `SELECT holder, run_id::int, extract(epoch FROM expires_at - now())::float8 AS expires_in_seconds
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
    const recent = await client.query<RunRow>(
      `SELECT id::int, mode, trigger, status, started_at, finished_at, pages, jobs_seen, jobs_inserted,
              jobs_updated, jobs_unchanged, jobs_rejected, stop_reason, error, jobs_with_unknown_fields,
              jobs_with_missing_fields, jobs_in_legacy_shape, unknown_fields, missing_fields
         FROM sutro.sync_runs WHERE source = $1 ORDER BY id DESC LIMIT $2`,
      [source, runs],
    );
    return {
      source,
      state: (state.rows[0] as StatusReport['state']) ?? null,
      lease: lease.rows[0] ?? null,
      jobsByStatus: counts.rows,
      rejected: rejected.rows[0]?.n ?? 0,
      runs: recent.rows,
    };
  });
}
