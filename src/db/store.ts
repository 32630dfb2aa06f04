import { hostname } from 'node:os';
import { and, eq, sql } from 'drizzle-orm';
import type pg from 'pg';
import type { Logger } from '../log.js';
import type { Job } from '../sutro/job.js';
import type { Db } from './connect.js';
import { fullPassSeen, syncRuns, syncState } from './schema.js';

/**
 * Every SQL statement of the sync, behind the small interface the engine uses (`SyncStore`).
 * Statements that move many rows are hand-written SQL; the rest use drizzle's builder.
 */

export type RunMode = 'incremental' | 'full';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted' | 'abandoned';
export type StopReason = 'end_of_list' | 'below_floor' | 'interrupted' | 'error';

export interface RejectedRow {
  readonly raw: unknown;
  readonly reason: string;
  readonly jobId: string | null;
  readonly position: number;
}

export interface PageWrite {
  readonly source: string;
  readonly runId: number;
  readonly page: number;
  readonly jobs: readonly Job[];
  readonly rejected: readonly RejectedRow[];
  /** Jobs listed on the page, counting repeats; the `seen` counter of the run. */
  readonly listed: number;
  /** Jobs fetched one by one (GET jobs/{id}) rather than listed: not a page of the run's count. */
  readonly fetchedById?: boolean;
  /** Set during a full pass: the pass whose sightings this page adds to, and where it continues. */
  readonly pass: { readonly runId: number; readonly nextCursor: string | null } | null;
}

export interface PageResult {
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly rejected: number;
  readonly historyRows: number;
}

export interface SyncStateRow {
  readonly resumeCursor: string | null;
  readonly resumePassRunId: number | null;
  readonly resumePages: number;
  readonly lastSuccessAt: Date | null;
  readonly lastFullPassAt: Date | null;
}

export interface IncrementalPlanOptions {
  readonly safetyMarginSeconds: number;
  /** An unsettled job this much older than the newest stored job is a straggler. */
  readonly stragglerAgeSeconds: number;
  /** Up to this many stragglers are fetched by id; more, and paging down to them is cheaper. */
  readonly maxStragglers: number;
}

export interface IncrementalPlan {
  /** Stop after a page whose jobs are all older than this; null when nothing is stored yet. */
  readonly floor: Date | null;
  /** Unsettled jobs to fetch one by one instead of paging down to them. */
  readonly refreshById: readonly string[];
}

export interface RunOutcome {
  readonly status: Exclude<RunStatus, 'running'>;
  readonly mode: RunMode;
  readonly stopReason: StopReason;
  readonly error: string | null;
  /** A complete full pass clears the checkpoint; a failed one keeps it so the next run resumes. */
  readonly fullPassCompleted: boolean;
}

/** A held per-source lock; the session that holds it is dedicated to it. */
export interface SourceLock {
  release(): Promise<void>;
}

export interface SyncStore {
  tryLockSource(source: string): Promise<SourceLock | null>;
  lockSource(source: string, signal?: AbortSignal): Promise<SourceLock>;
  /** With the lock held: marks runs a dead process left running, drops sightings of dead passes. */
  recoverStaleRuns(source: string): Promise<number[]>;
  readState(source: string): Promise<SyncStateRow | null>;
  startRun(input: {
    source: string;
    mode: RunMode;
    requestedMode: RunMode;
    trigger: string;
    resumedFromRunId: number | null;
    floor: Date | null;
  }): Promise<number>;
  /** What an incremental run reads: see `planIncremental`. */
  planIncremental(source: string, options: IncrementalPlanOptions): Promise<IncrementalPlan>;
  writePage(write: PageWrite): Promise<PageResult>;
  /** Forgets an unfinished pass (its cursor was rejected): its sightings and checkpoint go. */
  discardPass(source: string, passRunId: number): Promise<void>;
  setRunMode(runId: number, mode: RunMode): Promise<void>;
  finishRun(source: string, runId: number, passRunId: number | null, outcome: RunOutcome): Promise<number>;
}

interface Queryable {
  query: pg.Pool['query'];
}

export function createSyncStore(db: Db, pool: pg.Pool, log: Logger): SyncStore {
  /**
   * Session-level advisory locks live as long as the connection: if the process dies, Postgres
   * drops the connection and the lock with it, so a crash can never leave a source locked.
   */
  async function lockWith(source: string, wait: boolean, signal?: AbortSignal): Promise<SourceLock | null> {
    const client = await pool.connect();
    // A checked-out client whose server goes away emits 'error'; unheard, it would kill the process.
    // The lock goes with the connection, and the run's own writes then fail and end the run.
    const onLost = (error: Error) =>
      log.warn({ error: error.message, source }, 'lost the connection holding the source lock');
    client.on('error', onLost);
    const key = `sutro-sync:source:${source}`;
    try {
      if (wait) {
        const onAbort = () => {
          void pool.query('SELECT pg_cancel_backend($1)', [
            (client as unknown as { processID: number }).processID,
          ]);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      } else {
        const result = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked',
          [key],
        );
        if (result.rows[0]?.locked !== true) {
          client.off('error', onLost);
          client.release();
          return null;
        }
      }
    } catch (error) {
      client.off('error', onLost);
      client.release(error as Error);
      throw error;
    }
    let released = false;
    return {
      async release() {
        if (released) return;
        released = true;
        client.off('error', onLost);
        try {
          await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
          client.release();
        } catch (error) {
          // The connection is gone (database restart): so is the lock. Destroy the client.
          client.release(error as Error);
        }
      },
    };
  }

  return {
    tryLockSource: (source) => lockWith(source, false),
    lockSource: async (source, signal) => (await lockWith(source, true, signal)) as SourceLock,

    /**
     * Called with the source lock held, so any run still marked running for this source belongs to
     * a process that died without finishing it. Sightings of passes that can no longer be resumed
     * (a crash after the last page, before the run's end was recorded) are dropped with them.
     */
    async recoverStaleRuns(source) {
      await pool.query(
        `DELETE FROM sutro.full_pass_seen
          WHERE pass_run_id IN (SELECT id FROM sutro.sync_runs WHERE source = $1)
            AND pass_run_id IS DISTINCT FROM (SELECT resume_pass_run_id FROM sutro.sync_state WHERE source = $1)`,
        [source],
      );
      const rows = await db
        .update(syncRuns)
        .set({
          status: 'abandoned',
          finishedAt: sql`now()`,
          stopReason: 'error',
          error: sql`coalesce(${syncRuns.error}, 'the process running it stopped without finishing it')`,
        })
        .where(and(eq(syncRuns.source, source), eq(syncRuns.status, 'running')))
        .returning({ id: syncRuns.id });
      return rows.map((r) => r.id);
    },

    async readState(source) {
      const [row] = await db.select().from(syncState).where(eq(syncState.source, source));
      return row ?? null;
    },

    async startRun(input) {
      const [row] = await db
        .insert(syncRuns)
        .values({
          source: input.source,
          mode: input.mode,
          requestedMode: input.requestedMode,
          trigger: input.trigger,
          resumedFromRunId: input.resumedFromRunId,
          floor: input.floor,
          host: hostname(),
          pid: process.pid,
        })
        .returning({ id: syncRuns.id });
      if (row === undefined) throw new Error('INSERT INTO sutro.sync_runs returned no row');
      await db
        .insert(syncState)
        .values({ source: input.source, lastRunId: row.id })
        .onConflictDoUpdate({ target: syncState.source, set: { lastRunId: row.id, updatedAt: sql`now()` } });
      return row.id;
    },

    planIncremental: (source, options) => planIncremental(pool, source, options),

    writePage: (write) => writePage(pool, write),

    async discardPass(source, passRunId) {
      await db.transaction(async (tx) => {
        await tx.delete(fullPassSeen).where(eq(fullPassSeen.passRunId, passRunId));
        await tx
          .update(syncState)
          .set({ resumeCursor: null, resumePassRunId: null, resumePages: 0, updatedAt: sql`now()` })
          .where(eq(syncState.source, source));
      });
    },

    async setRunMode(runId, mode) {
      await db.update(syncRuns).set({ mode }).where(eq(syncRuns.id, runId));
    },

    finishRun: (source, runId, passRunId, outcome) => finishRun(pool, source, runId, passRunId, outcome),
  };
}

/**
 * The floor of an incremental run is the creation time of the oldest stored job that can still
 * change (unsettled and still listed), or of the newest stored job when every job is settled, minus
 * the margin: below it nothing can have changed. Two kinds of unsettled job would make that floor
 * useless, and are fetched by id instead (GET jobs/{id}):
 *  - a job with no creation time cannot be placed in the listing at all;
 *  - a few stragglers far below the rest (one job stuck RUNNING for a week) would drag every run
 *    down to them; when there are more than `maxStragglers`, paging is the cheaper way to reach them.
 * "Far below" is measured from the newest stored job, not the clock, so that it does not depend on
 * the worker's clock agreeing with the API's. All three lookups use jobs_unsettled_idx or
 * jobs_created_idx, so planning costs the same with a thousand jobs as with millions.
 */
async function planIncremental(
  q: Queryable,
  source: string,
  options: IncrementalPlanOptions,
): Promise<IncrementalPlan> {
  const result = await q.query<{ floor: Date | null; refresh: string[] | null }>(
    `WITH newest AS (SELECT max(datetime_created) AS at FROM sutro.jobs WHERE source = $1),
          unsettled AS (
            SELECT job_id, datetime_created FROM sutro.jobs
             WHERE source = $1 AND NOT settled AND missing_since IS NULL),
          stragglers AS (
            SELECT u.job_id, u.datetime_created FROM unsettled u, newest
             WHERE u.datetime_created < newest.at - make_interval(secs => $3)),
          by_id AS (
            SELECT job_id FROM unsettled WHERE datetime_created IS NULL
            UNION ALL
            SELECT job_id FROM stragglers WHERE (SELECT count(*) FROM stragglers) <= $4)
     SELECT coalesce(
              (SELECT min(datetime_created) FROM unsettled
                WHERE datetime_created IS NOT NULL AND job_id NOT IN (SELECT job_id FROM by_id)),
              (SELECT at FROM newest)
            ) - make_interval(secs => $2) AS floor,
            (SELECT array_agg(job_id ORDER BY job_id) FROM by_id) AS refresh`,
    [source, options.safetyMarginSeconds, options.stragglerAgeSeconds, options.maxStragglers],
  );
  const row = result.rows[0];
  return { floor: row?.floor ?? null, refreshById: row?.refresh ?? [] };
}

/** Columns of sutro.jobs filled from the API, in the order of the recordset below. */
const RECORDSET = `job_id text, status text, model text, system_prompt text, job_priority integer,
  datetime_created timestamptz, datetime_started timestamptz, datetime_completed timestamptz,
  json_schema jsonb, sampling_params jsonb, name text, description text, dataset_id text,
  input_tokens bigint, output_tokens bigint, job_cost numeric, num_rows bigint,
  failure_reason jsonb, cost_estimate numeric, run_type text, raw jsonb`;

const API_COLUMNS = [
  'status',
  'model',
  'system_prompt',
  'job_priority',
  'datetime_created',
  'datetime_started',
  'datetime_completed',
  'json_schema',
  'sampling_params',
  'name',
  'description',
  'dataset_id',
  'input_tokens',
  'output_tokens',
  'job_cost',
  'num_rows',
  'failure_reason',
  'cost_estimate',
  'run_type',
  'raw',
] as const;

/** The fields whose change is history: what a job did and what it cost. */
const TRACKED = [
  'status',
  'datetime_created',
  'datetime_started',
  'datetime_completed',
  'input_tokens',
  'output_tokens',
  'num_rows',
  'job_cost',
  'cost_estimate',
  'failure_reason',
] as const;

const changedFields = TRACKED.map((f) => `CASE WHEN p.${f} IS DISTINCT FROM w.${f} THEN '${f}' END`).join(
  ', ',
);

/**
 * One statement per page: upsert, then history for the rows that really changed, reading the old
 * values from the snapshot the statement started with. The DO UPDATE's WHERE leaves a job whose
 * raw JSON is unchanged untouched (no new tuple, no WAL), which is what keeps a no-change run at
 * zero writes. `xmax = 0` is the usual way to tell an inserted row from an updated one.
 */
const UPSERT_PAGE = `
WITH incoming AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS i(${RECORDSET})
),
previous AS (
  SELECT j.job_id, ${TRACKED.map((f) => `j.${f}`).join(', ')}
  FROM sutro.jobs j
  WHERE j.source = $1 AND j.job_id IN (SELECT job_id FROM incoming)
),
written AS (
  INSERT INTO sutro.jobs AS j (source, job_id, ${API_COLUMNS.join(', ')}, first_run_id, last_changed_run_id)
  SELECT $1, i.job_id, ${API_COLUMNS.map((c) => `i.${c}`).join(', ')}, $3, $3 FROM incoming i
  ON CONFLICT (source, job_id) DO UPDATE SET
    ${API_COLUMNS.map((c) => `${c} = excluded.${c}`).join(',\n    ')},
    last_changed_at = now(),
    last_changed_run_id = excluded.last_changed_run_id,
    missing_since = NULL
  WHERE j.raw IS DISTINCT FROM excluded.raw OR j.missing_since IS NOT NULL
  RETURNING j.job_id, (j.xmax = 0) AS inserted, ${TRACKED.map((f) => `j.${f}`).join(', ')}
),
history AS (
  INSERT INTO sutro.job_history (source, job_id, run_id, change, changed_fields, previous_status,
                                 ${TRACKED.join(', ')})
  SELECT $1, w.job_id, $3,
         CASE WHEN p.job_id IS NULL THEN 'first_seen' ELSE 'changed' END,
         CASE WHEN p.job_id IS NULL THEN '{}'::text[] ELSE c.fields END,
         p.status, ${TRACKED.map((f) => `w.${f}`).join(', ')}
  FROM written w
  LEFT JOIN previous p ON p.job_id = w.job_id
  CROSS JOIN LATERAL (SELECT array_remove(ARRAY[${changedFields}], NULL) AS fields) c
  WHERE p.job_id IS NULL OR cardinality(c.fields) > 0
  RETURNING 1
)
SELECT (SELECT count(*) FROM written WHERE inserted)::int AS inserted,
       (SELECT count(*) FROM written WHERE NOT inserted)::int AS updated,
       (SELECT count(*) FROM history)::int AS history_rows`;

const REJECT_ROWS = `
INSERT INTO sutro.rejected_jobs AS r (source, job_id, reason, raw, raw_hash, first_run_id, last_run_id, page, position_on_page)
SELECT DISTINCT ON (md5(x.raw::text)) $1, x.job_id, x.reason, x.raw, md5(x.raw::text), $2, $2, $3, x.position
FROM jsonb_to_recordset($4::jsonb) AS x(job_id text, reason text, raw jsonb, position int)
ON CONFLICT (source, raw_hash) DO UPDATE SET
  reason = excluded.reason, last_run_id = excluded.last_run_id, page = excluded.page,
  position_on_page = excluded.position_on_page, last_seen_at = now(), times_seen = r.times_seen + 1`;

function toRecord(job: Job): Record<string, unknown> {
  return {
    job_id: job.jobId,
    status: job.status,
    model: job.model,
    system_prompt: job.systemPrompt,
    job_priority: job.jobPriority,
    datetime_created: job.datetimeCreated?.toISOString() ?? null,
    datetime_started: job.datetimeStarted?.toISOString() ?? null,
    datetime_completed: job.datetimeCompleted?.toISOString() ?? null,
    json_schema: job.jsonSchema,
    sampling_params: job.samplingParams,
    name: job.name,
    description: job.description,
    dataset_id: job.datasetId,
    // As text: JSON numbers cannot carry a 64-bit count exactly, and Postgres casts text to bigint.
    input_tokens: job.inputTokens?.toString() ?? null,
    output_tokens: job.outputTokens?.toString() ?? null,
    job_cost: job.jobCost,
    num_rows: job.numRows?.toString() ?? null,
    failure_reason: job.failureReason,
    cost_estimate: job.costEstimate,
    run_type: job.runType,
    raw: job.raw,
  };
}

/**
 * BEGIN … COMMIT on one pooled client. A client whose transaction failed is destroyed rather than
 * returned to the pool: after a network error or a server restart it is no longer usable.
 */
async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // An error between two statements (the server restarting) arrives as an event; the next
  // statement then fails too, and the catch below rolls back and discards the client.
  const ignore = () => undefined;
  client.on('error', ignore);
  let result: T;
  try {
    await client.query('BEGIN');
    result = await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.off('error', ignore);
    client.release(error as Error);
    throw error;
  }
  client.off('error', ignore);
  client.release();
  return result;
}

/** The page, its sightings, the run's counters and the checkpoint: all or nothing. */
function writePage(pool: pg.Pool, write: PageWrite): Promise<PageResult> {
  return inTransaction(pool, async (client) => {
    let inserted = 0;
    let updated = 0;
    let historyRows = 0;
    if (write.jobs.length > 0) {
      const result = await client.query<{ inserted: number; updated: number; history_rows: number }>({
        name: 'sutro-sync.upsert-page',
        text: UPSERT_PAGE,
        values: [write.source, JSON.stringify(write.jobs.map(toRecord)), write.runId],
      });
      const row = result.rows[0];
      inserted = row?.inserted ?? 0;
      updated = row?.updated ?? 0;
      historyRows = row?.history_rows ?? 0;
    }
    if (write.rejected.length > 0) {
      await client.query(REJECT_ROWS, [
        write.source,
        write.runId,
        write.page,
        JSON.stringify(
          write.rejected.map((r) => ({
            job_id: r.jobId,
            reason: r.reason,
            raw: r.raw ?? null,
            position: r.position,
          })),
        ),
      ]);
    }
    const unchanged = write.listed - write.rejected.length - inserted - updated;
    if (write.pass !== null) {
      const seen = [
        ...write.jobs.map((j) => j.jobId),
        ...write.rejected.flatMap((r) => (r.jobId === null ? [] : [r.jobId])),
      ];
      if (seen.length > 0) {
        await client.query(
          `INSERT INTO sutro.full_pass_seen (pass_run_id, job_id)
           SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
          [write.pass.runId, seen],
        );
      }
      await client.query(
        // After the last page there is nothing to resume: the pass is complete once the run's end
        // is recorded, and a crash before that leaves the marking to the next full pass.
        `UPDATE sutro.sync_state
            SET resume_cursor = $2,
                resume_pass_run_id = CASE WHEN $2::text IS NULL THEN NULL ELSE $3::bigint END,
                resume_pages = CASE WHEN $2::text IS NULL THEN 0 ELSE $4 END,
                updated_at = now()
          WHERE source = $1`,
        [write.source, write.pass.nextCursor, write.pass.runId, write.page + 1],
      );
    }
    await client.query(
      `UPDATE sutro.sync_runs
          SET pages = pages + $8, jobs_seen = jobs_seen + $2, jobs_inserted = jobs_inserted + $3,
              jobs_updated = jobs_updated + $4, jobs_unchanged = jobs_unchanged + $5,
              jobs_rejected = jobs_rejected + $6, history_rows = history_rows + $7, heartbeat_at = now()
        WHERE id = $1`,
      [
        write.runId,
        write.listed,
        inserted,
        updated,
        unchanged,
        write.rejected.length,
        historyRows,
        write.fetchedById === true ? 0 : 1,
      ],
    );
    return { inserted, updated, unchanged, rejected: write.rejected.length, historyRows };
  });
}

function finishRun(
  pool: pg.Pool,
  source: string,
  runId: number,
  passRunId: number | null,
  outcome: RunOutcome,
): Promise<number> {
  return inTransaction(pool, async (client) => {
    let markedMissing = 0;
    if (outcome.fullPassCompleted && passRunId !== null) {
      // Jobs a complete pass did not list have left the API's window; they stay, marked.
      const marked = await client.query(
        `UPDATE sutro.jobs j SET missing_since = now()
          WHERE j.source = $1 AND j.missing_since IS NULL
            AND NOT EXISTS (SELECT 1 FROM sutro.full_pass_seen s WHERE s.pass_run_id = $2 AND s.job_id = j.job_id)`,
        [source, passRunId],
      );
      markedMissing = marked.rowCount ?? 0;
    }
    const succeeded = outcome.status === 'succeeded';
    if (succeeded && passRunId !== null) {
      await client.query('DELETE FROM sutro.full_pass_seen WHERE pass_run_id = $1', [passRunId]);
    }
    await client.query(
      `UPDATE sutro.sync_runs
          SET status = $2, mode = $3, stop_reason = $4, error = $5, jobs_marked_missing = $6, finished_at = now()
        WHERE id = $1`,
      [runId, outcome.status, outcome.mode, outcome.stopReason, outcome.error, markedMissing],
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
      [source, succeeded, runId, outcome.fullPassCompleted, outcome.error],
    );
    return markedMissing;
  });
}
