import { hostname } from 'node:os';
import { redactSecrets } from '../../redact.js';
import type { Lease, RunMode, RunOutcome, RunStart, SyncStateRow } from '../../sync/port.js';
import type { Database } from '../infra/connect.js';
import { fencedTransaction, RELEASE_LEASE } from './lease.js';
import { ROLLUP_INPUTS } from '../schema/rollup-measures.js';
import { applyChangesSql } from './rollups.js';
import type { RowOf } from '../schema/rows.js';
import type { syncRuns, syncState } from '../schema/tables.js';

/**
 * The bookkeeping of runs: sutro.sync_runs, the checkpoint in sutro.sync_state, and the sightings
 * of full passes. Every write here is fenced by the run's lease (see lease.ts).
 */

/**
 * An error as a text column can hold it: no credential (redact.ts), and no U+0000, which PostgreSQL
 * refuses in text and which an API's error body can carry; it would fail the run's last write.
 */
function storableError(error: string | null): string | null {
  return error === null ? null : redactSecrets(error).replaceAll('\0', '\uFFFD');
}

/** What a run left `running` is said to have become, when the next run finds it. */
const ABANDONED =
  'its process stopped, or lost the database, before finishing it: its lease lapsed and a later run took the source over';

/**
 * Marks the jobs a complete pass did not list, and counts them missing in the rollups, in one
 * statement (rollups.ts). $1 source, $2 the pass's run id.
 */
export const MARK_MISSING = `
WITH marked AS (
  UPDATE sutro.jobs j SET missing_since = now()
   WHERE j.source = $1 AND j.missing_since IS NULL
     AND (j.first_run_id IS NULL OR j.first_run_id < $2)
     AND NOT EXISTS (SELECT 1 FROM sutro.full_pass_seen s WHERE s.pass_run_id = $2 AND s.job_id = j.job_id)
  RETURNING ${ROLLUP_INPUTS.map((f) => `j.${f}`).join(', ')}
),
changes AS (
  SELECT 1 AS sign, ${ROLLUP_INPUTS.map((f) => `m.${f}`).join(', ')} FROM marked m
  UNION ALL
  SELECT -1, ${ROLLUP_INPUTS.map((f) => (f === 'missing_since' ? 'NULL::timestamptz' : `m.${f}`)).join(', ')} FROM marked m
),
usage AS (${applyChangesSql('SELECT * FROM changes').usage}
)
SELECT count(*)::int AS marked FROM marked`;

/** Called with the lease just taken, so any run still marked running for the source is dead. */
export function recoverStaleRuns(db: Database, lease: Lease): Promise<number[]> {
  return fencedTransaction(db, lease, 'recovering runs left running', async (client) => {
    // Sightings of passes that can no longer be resumed (a crash after the last page, before the
    // run's end was recorded) go with them.
    await client.query(
      `DELETE FROM sutro.full_pass_seen
        WHERE pass_run_id IN (SELECT id FROM sutro.sync_runs WHERE source = $1)
          AND pass_run_id IS DISTINCT FROM (SELECT resume_pass_run_id FROM sutro.sync_state WHERE source = $1)`,
      [lease.source],
    );
    const rows = await client.query<Pick<RowOf<typeof syncRuns>, 'id'>>(
      `UPDATE sutro.sync_runs
          SET status = 'abandoned', finished_at = now(), stop_reason = 'error', error = coalesce(error, $2)
        WHERE source = $1 AND status = 'running'
       RETURNING id`,
      [lease.source, ABANDONED],
    );
    return rows.rows.map((r) => r.id);
  });
}

export async function readState(db: Database, source: string): Promise<SyncStateRow | null> {
  const what = `reading the checkpoint of source "${source}"`;
  const row = await db.transaction({ what, readOnly: true }, async (client) => {
    const state = await client.query<
      Pick<
        RowOf<typeof syncState>,
        'resume_cursor' | 'resume_pass_run_id' | 'resume_pages' | 'last_success_at' | 'last_full_pass_at'
      >
    >(
      `SELECT resume_cursor, resume_pass_run_id, resume_pages, last_success_at, last_full_pass_at
         FROM sutro.sync_state WHERE source = $1`,
      [source],
    );
    return state.rows[0];
  });
  return row === undefined
    ? null
    : {
        resumeCursor: row.resume_cursor,
        resumePassRunId: row.resume_pass_run_id,
        resumePages: row.resume_pages,
        lastSuccessAt: row.last_success_at,
        lastFullPassAt: row.last_full_pass_at,
      };
}

export function startRun(db: Database, lease: Lease, start: RunStart): Promise<number> {
  return fencedTransaction(db, lease, 'recording the start of a run', async (client) => {
    const inserted = await client.query<Pick<RowOf<typeof syncRuns>, 'id'>>(
      `INSERT INTO sutro.sync_runs (source, mode, requested_mode, trigger, resumed_from_run_id, floor, due_at, host, pid)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       RETURNING id`,
      [
        lease.source,
        start.mode,
        start.requestedMode,
        start.trigger,
        start.resumedFromRunId,
        start.floor,
        start.dueAt,
        hostname(),
        process.pid,
      ],
    );
    const runId = inserted.rows[0]?.id;
    if (runId === undefined) throw new Error('INSERT INTO sutro.sync_runs returned no row');
    await client.query(
      `INSERT INTO sutro.sync_state (source, last_run_id) VALUES ($1, $2)
       ON CONFLICT (source) DO UPDATE SET last_run_id = excluded.last_run_id, updated_at = now()`,
      [lease.source, runId],
    );
    await client.query('UPDATE sutro.sync_leases SET run_id = $2 WHERE source = $1', [lease.source, runId]);
    return runId;
  });
}

export function discardPass(db: Database, lease: Lease, passRunId: number): Promise<void> {
  return fencedTransaction(db, lease, `discarding the pass of run ${passRunId}`, async (client) => {
    await client.query('DELETE FROM sutro.full_pass_seen WHERE pass_run_id = $1', [passRunId]);
    await client.query(
      `UPDATE sutro.sync_state
          SET resume_cursor = NULL, resume_pass_run_id = NULL, resume_pages = 0, updated_at = now()
        WHERE source = $1`,
      [lease.source],
    );
  });
}

export function setRunMode(db: Database, lease: Lease, runId: number, mode: RunMode): Promise<void> {
  return fencedTransaction(db, lease, `recording run ${runId} as ${mode}`, async (client) => {
    await client.query('UPDATE sutro.sync_runs SET mode = $2 WHERE id = $1', [runId, mode]);
  });
}

/** The run's end, the jobs a complete pass did not list, the checkpoint and the lease's release. */
export function finishRun(
  db: Database,
  lease: Lease,
  runId: number,
  passRunId: number | null,
  outcome: RunOutcome,
): Promise<number> {
  const { source } = lease;
  const error = storableError(outcome.error);
  return fencedTransaction(db, lease, `recording the end of run ${runId}`, async (client) => {
    let markedMissing = 0;
    if (outcome.fullPassCompleted && passRunId !== null) {
      // Jobs a complete pass did not list have left the API's window; they stay, marked. A job
      // first stored by a run of this pass (run ids grow, and no other run of the source happens
      // until the pass ends) was listed by it, so only older jobs have sightings to check.
      const marked = await client.query<{ marked: number }>(MARK_MISSING, [source, passRunId]);
      markedMissing = marked.rows[0]?.marked ?? 0;
    }
    const succeeded = outcome.status === 'succeeded';
    if (succeeded && passRunId !== null) {
      await client.query('DELETE FROM sutro.full_pass_seen WHERE pass_run_id = $1', [passRunId]);
    }
    const { drift } = outcome;
    await client.query(
      `UPDATE sutro.sync_runs
          SET status = $2, mode = $3, stop_reason = $4, error = $5, jobs_marked_missing = $6, finished_at = now(),
              jobs_with_unknown_fields = $7, jobs_with_missing_fields = $8, jobs_in_legacy_shape = $9,
              unknown_fields = $10, missing_fields = $11
        WHERE id = $1`,
      [
        runId,
        outcome.status,
        outcome.mode,
        outcome.stopReason,
        error,
        markedMissing,
        drift.jobsWithUnknownFields,
        drift.jobsWithMissingFields,
        drift.jobsInLegacyShape,
        drift.unknownFields,
        drift.missingFields,
      ],
    );
    // A success ends any pass; a failure or interruption keeps the checkpoint for the next run.
    await client.query(
      `UPDATE sutro.sync_state SET
         last_success_at = CASE WHEN $2 THEN now() ELSE last_success_at END,
         last_success_run_id = CASE WHEN $2 THEN $3::bigint ELSE last_success_run_id END,
         last_full_pass_at = CASE WHEN $4 THEN now() ELSE last_full_pass_at END,
         resume_cursor = CASE WHEN $2 THEN NULL ELSE resume_cursor END,
         resume_pass_run_id = CASE WHEN $2 THEN NULL ELSE resume_pass_run_id END,
         resume_pages = CASE WHEN $2 THEN 0 ELSE resume_pages END,
         last_error = CASE WHEN $2 THEN NULL ELSE $5 END,
         last_error_at = CASE WHEN $2 THEN last_error_at ELSE now() END,
         updated_at = now()
       WHERE source = $1`,
      [source, succeeded, runId, outcome.fullPassCompleted, error],
    );
    await client.query(RELEASE_LEASE, [lease.source, lease.token, lease.holder]);
    return markedMissing;
  });
}
