import type pg from 'pg';
import type { DatabaseLimits } from './errors.js';
import { inTransaction } from './transaction.js';

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
export function readStatus(
  pool: pg.Pool,
  limits: DatabaseLimits,
  source: string,
  runs = 10,
): Promise<StatusReport> {
  const options = {
    what: `reading the status of source "${source}"`,
    limits,
    readOnly: true,
    repeatableRead: true,
  };
  return inTransaction(pool, options, async (client) => {
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

export interface ModelSpend {
  model: string;
  jobs: number;
  succeeded: number;
  input_tokens: string;
  output_tokens: string;
  cost_usd: string;
}

export function spendByModel(pool: pg.Pool, limits: DatabaseLimits, source: string): Promise<ModelSpend[]> {
  const options = { what: 'reading the spend per model', limits, readOnly: true };
  return inTransaction(pool, options, async (client) => {
    const result = await client.query<ModelSpend>(
      `SELECT coalesce(model, '(none)') AS model, count(*)::int AS jobs,
              count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS succeeded,
              coalesce(sum(input_tokens), 0)::text AS input_tokens,
              coalesce(sum(output_tokens), 0)::text AS output_tokens,
              coalesce(sum(job_cost), 0)::numeric(20, 2)::text AS cost_usd
         FROM sutro.jobs WHERE source = $1 GROUP BY 1 ORDER BY sum(job_cost) DESC NULLS LAST`,
      [source],
    );
    return result.rows;
  });
}

/**
 * Deletes everything stored for a source: the demo starts each tour from an empty account. Not while
 * a run holds the source: its lease row is locked first, so none can start meanwhile, and it stays,
 * so that the fencing token keeps rising.
 */
export function forgetSource(pool: pg.Pool, limits: DatabaseLimits, source: string): Promise<void> {
  return inTransaction(pool, { what: `forgetting source "${source}"`, limits }, async (client) => {
    const lease = await client.query<{ holder: string | null; live: boolean }>(
      'SELECT holder, expires_at > now() AS live FROM sutro.sync_leases WHERE source = $1 FOR UPDATE',
      [source],
    );
    const held = lease.rows[0];
    if (held?.live === true && held.holder !== null) {
      throw new Error(
        `source "${source}" is being synced right now (held by ${held.holder}); try again once that run is over`,
      );
    }
    await client.query(
      'DELETE FROM sutro.full_pass_seen WHERE pass_run_id IN (SELECT id FROM sutro.sync_runs WHERE source = $1)',
      [source],
    );
    for (const table of ['jobs', 'job_history', 'sync_runs', 'sync_state', 'rejected_jobs']) {
      await client.query(`DELETE FROM sutro.${table} WHERE source = $1`, [source]);
    }
  });
}
