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
  /** Index on its page; null for a job PostgreSQL refused, known to the store by its id only. */
  readonly position: number | null;
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
  /** Jobs PostgreSQL refused to store, dead-lettered (and counted in `rejected`) with its error. */
  readonly refused: readonly { readonly jobId: string; readonly reason: string }[];
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
  /** Jobs per list-jobs page, to price paging against fetching by id. */
  readonly pageLimit: number;
  /** Never fetch more unsettled jobs by id than this in one run. */
  readonly maxById: number;
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
 * the margin: below it nothing can have changed. But reaching an unsettled job by paging costs a
 * request per page above it, while `GET jobs/{id}` costs one request per job. So the plan picks a
 * cut: page down to it, and fetch the unsettled jobs older than the cut by id, choosing the cut with
 * the fewest requests (ties: fewer pages). One job stuck RUNNING for a week thus costs one request
 * instead of every page above it, and a burst of fresh jobs is still read by paging. A job with no
 * creation time cannot be placed at all and is always fetched by id.
 * Counting the jobs above a cut stops at 2 x (maxById + 1) pages' worth, so planning stays cheap
 * however deep an unsettled job lies: a cut that deep is priced as unknown, and when every cut is,
 * the run pages down to the oldest unsettled job as the plain floor rule says. The count reads the
 * newest jobs once, through jobs_created_idx, into `top`, and every cut counts within it: asked per
 * cut with a LIMIT, the planner chose a sequential scan of sutro.jobs for each of the 51 cuts (it
 * expects a third of the table to match), which took 27 s on a million jobs whose newest rows lay
 * at the end of the heap; this takes 40 ms. Whatever the cut, every unsettled job is read, by
 * paging or by id: the choice only changes the cost.
 */
async function planIncremental(
  q: Queryable,
  source: string,
  options: IncrementalPlanOptions,
): Promise<IncrementalPlan> {
  const result = await q.query<{ floor: Date | null; refresh: string[] | null }>(
    `WITH newest AS (SELECT max(datetime_created) AS at FROM sutro.jobs WHERE source = $1),
          unsettled AS MATERIALIZED (
            SELECT job_id, datetime_created FROM sutro.jobs
             WHERE source = $1 AND NOT settled AND missing_since IS NULL),
          top AS MATERIALIZED (
            SELECT datetime_created AS at FROM sutro.jobs
             WHERE source = $1 AND datetime_created IS NOT NULL
             ORDER BY datetime_created DESC
             LIMIT $3::int * 2 * ($4::int + 1)),
          cuts AS (
            SELECT u.datetime_created AS cut,
                   (count(*) OVER (ORDER BY u.datetime_created) - 1) AS by_id
              FROM unsettled u WHERE u.datetime_created IS NOT NULL
            UNION ALL
            SELECT newest.at, (SELECT count(*) FROM unsettled WHERE datetime_created < newest.at)
              FROM newest WHERE newest.at IS NOT NULL),
          priced AS MATERIALIZED (
            SELECT c.cut, c.by_id,
                   ceil((SELECT count(*) FROM top WHERE top.at >= c.cut - make_interval(secs => $2))::numeric / $3) AS pages
              FROM cuts c WHERE c.by_id <= $4),
          chosen AS (
            SELECT cut FROM priced
             ORDER BY CASE WHEN pages < 2 * ($4::int + 1) THEN pages + by_id END NULLS LAST, by_id, pages, cut DESC
             LIMIT 1)
     SELECT (SELECT cut FROM chosen) - make_interval(secs => $2) AS floor,
            (SELECT array_agg(job_id ORDER BY job_id) FROM unsettled
              WHERE datetime_created IS NULL OR datetime_created < (SELECT cut FROM chosen)) AS refresh`,
    [source, options.safetyMarginSeconds, options.pageLimit, options.maxById],
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

/**
 * The fields parseJob takes from the raw job unchanged (any string, or any JSON value with null for
 * JSON null or absent). When every job of a page has them so, they are not sent a second time:
 * the statement reads them from `raw`, which Postgres has to parse anyway, and the page it parses
 * shrinks by a third. Columns are in the order of RECORDSET.
 */
const FROM_RAW = {
  model: 'text',
  system_prompt: 'text',
  json_schema: 'jsonb',
  sampling_params: 'jsonb',
  name: 'text',
  description: 'text',
  dataset_id: 'text',
  failure_reason: 'jsonb',
  run_type: 'text',
} as const;

const SLIM_RECORDSET = `job_id text, status text, job_priority integer,
  datetime_created timestamptz, datetime_started timestamptz, datetime_completed timestamptz,
  input_tokens bigint, output_tokens bigint, job_cost numeric, num_rows bigint,
  cost_estimate numeric, raw jsonb`;

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
 * A page is ONE statement: its own transaction, so the page, its history, its rejected rows, its
 * sightings, the run's counters and the checkpoint are committed together or not at all, in one
 * round trip and one commit. Data-modifying CTEs all run to completion and all read the snapshot the
 * statement started with, so `previous` holds the jobs as they were before this page.
 *
 * - `previous` looks each listed job up by primary key (the LATERAL … LIMIT 1 keeps it a nested
 *   loop of index probes whatever the statistics say: a hash join over every stored job of the
 *   source would make each page cost as much as the whole table).
 * - `written` only offers the upsert the jobs that are new, changed (raw JSON differs) or coming
 *   back from missing. An unchanged job is never touched: no new tuple, no row lock, no WAL, which
 *   is what keeps a no-change run at zero writes. The DO UPDATE's WHERE repeats the test for a row
 *   that another transaction changed in between. `xmax = 0` tells an inserted row from an updated one.
 * - `history` appends a row per job first seen or whose tracked fields changed.
 * - `seen` records, when the page belongs to a full pass, the ids it listed of jobs stored before
 *   the page: only those can be marked missing when the pass ends (see finishRun), so a first load
 *   writes no sightings at all. Rejected rows count as listed. `checkpoint` saves where the pass
 *   continues, `run` adds the page to the run's counters.
 *
 * Parameters: $1 source, $2 jobs (jsonb array of records), $3 run id, $4 rejected rows (jsonb
 * array), $5 pass run id or null, $6 ids of rejected rows, $7 next cursor, $8 page number,
 * $9 jobs listed, $10 pages to count (0 for jobs fetched by id), $11 rejected rows.
 */
const writePageSql = (incoming: string) => `
WITH incoming AS (${incoming}),
previous AS (
  SELECT p.job_id, p.raw, p.missing_since, ${TRACKED.map((f) => `p.${f}`).join(', ')}
  FROM incoming i
  CROSS JOIN LATERAL (SELECT * FROM sutro.jobs j WHERE j.source = $1 AND j.job_id = i.job_id LIMIT 1) p
),
written AS (
  INSERT INTO sutro.jobs AS j (source, job_id, ${API_COLUMNS.join(', ')}, first_run_id, last_changed_run_id)
  SELECT $1, i.job_id, ${API_COLUMNS.map((c) => `i.${c}`).join(', ')}, $3, $3
  FROM incoming i
  LEFT JOIN previous p ON p.job_id = i.job_id
  WHERE p.job_id IS NULL OR p.raw IS DISTINCT FROM i.raw OR p.missing_since IS NOT NULL
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
),
rejected AS (
  INSERT INTO sutro.rejected_jobs AS r (source, job_id, reason, raw, raw_hash, first_run_id, last_run_id, page, position_on_page)
  SELECT DISTINCT ON (md5(x.raw::text)) $1, x.job_id, x.reason, x.raw, md5(x.raw::text), $3, $3, $8::int, x.position
  -- A row that is JSON null arrives from the recordset as SQL NULL; it is kept as the JSON it was.
  FROM (SELECT job_id, reason, coalesce(raw, 'null') AS raw, position
          FROM jsonb_to_recordset($4::jsonb) AS r(job_id text, reason text, raw jsonb, position int)) x
  ON CONFLICT (source, raw_hash) DO UPDATE SET
    reason = excluded.reason, last_run_id = excluded.last_run_id, page = excluded.page,
    position_on_page = excluded.position_on_page, last_seen_at = now(), times_seen = r.times_seen + 1
  RETURNING 1
),
seen AS (
  INSERT INTO sutro.full_pass_seen (pass_run_id, job_id)
  SELECT $5::bigint, s.job_id
  FROM (SELECT job_id FROM previous
        UNION ALL
        -- A rejected row keeps its stored job from being marked missing. One that was never stored
        -- needs no sighting, and may not fit one: PostgreSQL refused a job_id too long to index.
        SELECT r.job_id FROM unnest($6::text[]) AS r(job_id)
        WHERE EXISTS (SELECT 1 FROM sutro.jobs j WHERE j.source = $1 AND j.job_id = r.job_id)) s
  WHERE $5::bigint IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
),
-- After the last page there is nothing to resume: the pass is complete once the run's end is
-- recorded, and a crash before that leaves the marking to the next full pass.
checkpoint AS (
  UPDATE sutro.sync_state
     SET resume_cursor = $7::text,
         resume_pass_run_id = CASE WHEN $7::text IS NULL THEN NULL ELSE $5::bigint END,
         resume_pages = CASE WHEN $7::text IS NULL THEN 0 ELSE $8::int + 1 END,
         updated_at = now()
   WHERE source = $1 AND $5::bigint IS NOT NULL
  RETURNING 1
),
counts AS (
  SELECT (SELECT count(*) FROM written WHERE inserted)::int AS inserted,
         (SELECT count(*) FROM written WHERE NOT inserted)::int AS updated,
         (SELECT count(*) FROM history)::int AS history_rows
),
run AS (
  UPDATE sutro.sync_runs r
     SET pages = r.pages + $10::int, jobs_seen = r.jobs_seen + $9::int,
         jobs_inserted = r.jobs_inserted + c.inserted, jobs_updated = r.jobs_updated + c.updated,
         jobs_unchanged = r.jobs_unchanged + ($9::int - $11::int - c.inserted - c.updated),
         jobs_rejected = r.jobs_rejected + $11::int, history_rows = r.history_rows + c.history_rows,
         heartbeat_at = now()
    FROM counts c
   WHERE r.id = $3
  RETURNING 1
)
SELECT inserted, updated, history_rows FROM counts`;

const WRITE_PAGE = writePageSql(`SELECT * FROM jsonb_to_recordset($2::jsonb) AS i(${RECORDSET})`);

const WRITE_SLIM_PAGE = writePageSql(`
  SELECT i.*, ${Object.entries(FROM_RAW)
    .map(([f, type]) =>
      type === 'text' ? `i.raw->>'${f}' AS ${f}` : `nullif(i.raw->'${f}', 'null') AS ${f}`,
    )
    .join(', ')}
  FROM jsonb_to_recordset($2::jsonb) AS i(${SLIM_RECORDSET})`);

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

/** toRecord less the FROM_RAW fields. */
function toSlimRecord(job: Job): Record<string, unknown> {
  return {
    job_id: job.jobId,
    status: job.status,
    job_priority: job.jobPriority,
    datetime_created: job.datetimeCreated?.toISOString() ?? null,
    datetime_started: job.datetimeStarted?.toISOString() ?? null,
    datetime_completed: job.datetimeCompleted?.toISOString() ?? null,
    input_tokens: job.inputTokens?.toString() ?? null,
    output_tokens: job.outputTokens?.toString() ?? null,
    job_cost: job.jobCost,
    num_rows: job.numRows?.toString() ?? null,
    cost_estimate: job.costEstimate,
    raw: job.raw,
  };
}

/** Whether the statement may read the FROM_RAW fields of `job` from its raw JSON (see FROM_RAW). */
function fieldsAreRaw(job: Job): boolean {
  const raw = job.raw;
  const same = (value: unknown, key: keyof typeof FROM_RAW) => value === (raw[key] ?? null);
  return (
    same(job.model, 'model') &&
    same(job.systemPrompt, 'system_prompt') &&
    same(job.jsonSchema, 'json_schema') &&
    same(job.samplingParams, 'sampling_params') &&
    same(job.name, 'name') &&
    same(job.description, 'description') &&
    same(job.datasetId, 'dataset_id') &&
    same(job.failureReason, 'failure_reason') &&
    same(job.runType, 'run_type')
  );
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

/**
 * Whether the page may run as a named (prepared) statement. Planning the statement costs about as
 * much as a third of executing it, and a prepared statement is planned once for all (PostgreSQL
 * switches to a generic plan after five executions). But a generic plan fixed while sutro.jobs holds
 * a few hundred rows looks jobs up through jobs_created_idx by source alone, so that every page then
 * reads every job of the source: the first full pass of an empty database would take quadratic time.
 * So pages are planned one by one (unnamed) until the pass has listed enough jobs that the table is
 * known to be past that size; incremental runs, a few pages each, are always planned afresh.
 */
function preparedIsSafe(write: PageWrite): boolean {
  return write.pass !== null && (write.page + 1) * write.listed >= 5_000;
}

/**
 * The page, its sightings, the run's counters and the checkpoint: all or nothing, as one statement
 * (see WRITE_PAGE). pool.query discards a client whose statement failed rather than reusing it.
 *
 * parseJob rejects every value it knows PostgreSQL would refuse, but not all: a job_id too long for
 * the primary key's index, say. Such a job would fail its page on every run, and a full pass could
 * never get past it, so when PostgreSQL refuses the page for its data, each job is tried alone, and
 * the page is written again with the refused ones dead-lettered under PostgreSQL's own words.
 */
async function writePage(pool: pg.Pool, write: PageWrite): Promise<PageResult> {
  try {
    return await writePageOnce(pool, write);
  } catch (error) {
    if (!isRefusedData(error) || write.jobs.length === 0) throw error;
    // A probe that fails in turn (the connection went, or the page fails without any job) or finds
    // every job storable alone leaves the page's own error as the one to report. So does one that
    // refuses every job of a page of several: a fault they share (a constraint or trigger added to
    // the tables, a defect of the statement) must fail the run, not empty the page into
    // rejected_jobs and move the checkpoint on.
    const refused = await findRefusedJobs(pool, write).catch(() => []);
    if (refused.length === 0 || (refused.length === write.jobs.length && write.jobs.length > 1)) throw error;
    const refusedIds = new Set(refused.map((r) => r.jobId));
    const result = await writePageOnce(pool, {
      ...write,
      jobs: write.jobs.filter((job) => !refusedIds.has(job.jobId)),
      rejected: [
        ...write.rejected,
        ...refused.map((r) => ({ raw: r.raw, reason: r.reason, jobId: r.jobId, position: null })),
      ],
    });
    return { ...result, refused: refused.map(({ jobId, reason }) => ({ jobId, reason })) };
  }
}

/**
 * SQLSTATE classes of a statement refused for the values it carries: 22 data exception (a value out
 * of range, invalid JSON), 23 integrity constraint violation, 54 program limit exceeded (an index
 * row too large). Anything else (a lost connection, a shutdown) says nothing about the jobs.
 */
function isRefusedData(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && ['22', '23', '54'].includes(code.slice(0, 2));
}

/**
 * Tries the page without its jobs, then each job alone, in a transaction rolled back at the end.
 * The page without jobs must pass: if it fails too, the fault is the page's, not a job's.
 */
async function findRefusedJobs(
  pool: pg.Pool,
  write: PageWrite,
): Promise<{ jobId: string; reason: string; raw: unknown }[]> {
  const client = await pool.connect();
  // As in inTransaction: an error between two statements arrives as an event, the next one fails.
  const ignore = () => undefined;
  client.on('error', ignore);
  const refused: { jobId: string; reason: string; raw: unknown }[] = [];
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query(pageQuery({ ...write, jobs: [], rejected: [], listed: 0 }, false));
    for (const job of write.jobs) {
      await client.query('SAVEPOINT probe');
      try {
        await client.query(pageQuery({ ...write, jobs: [job], rejected: [], listed: 1 }, false));
      } catch (error) {
        if (!isRefusedData(error)) throw error;
        refused.push({
          jobId: job.jobId,
          reason: `PostgreSQL refused it: ${(error as Error).message}`,
          raw: job.raw,
        });
      }
      // ROLLBACK TO keeps the savepoint; releasing it keeps the next one from nesting inside it,
      // each level holding a transaction id until the probe ends.
      await client.query('ROLLBACK TO SAVEPOINT probe');
      await client.query('RELEASE SAVEPOINT probe');
    }
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.off('error', ignore);
    client.release(broken);
  }
  return refused;
}

async function writePageOnce(pool: pg.Pool, write: PageWrite): Promise<PageResult> {
  const result = await pool.query<{ inserted: number; updated: number; history_rows: number }>(
    pageQuery(write, preparedIsSafe(write)),
  );
  const row = result.rows[0];
  const inserted = row?.inserted ?? 0;
  const updated = row?.updated ?? 0;
  return {
    inserted,
    updated,
    unchanged: write.listed - write.rejected.length - inserted - updated,
    rejected: write.rejected.length,
    historyRows: row?.history_rows ?? 0,
    refused: [],
  };
}

function pageQuery(write: PageWrite, prepared: boolean): pg.QueryConfig {
  const rejectedIds = write.rejected.flatMap((r) => (r.jobId === null ? [] : [r.jobId]));
  const slim = write.jobs.every(fieldsAreRaw);
  return {
    ...(prepared ? { name: slim ? 'sutro-sync.write-slim-page' : 'sutro-sync.write-page' } : {}),
    text: slim ? WRITE_SLIM_PAGE : WRITE_PAGE,
    values: [
      write.source,
      JSON.stringify(write.jobs.map(slim ? toSlimRecord : toRecord)),
      write.runId,
      JSON.stringify(
        write.rejected.map((r) => ({
          job_id: r.jobId,
          reason: r.reason,
          raw: r.raw ?? null,
          position: r.position,
        })),
      ),
      write.pass?.runId ?? null,
      rejectedIds,
      write.pass?.nextCursor ?? null,
      write.page,
      write.listed,
      write.fetchedById === true ? 0 : 1,
      write.rejected.length,
    ],
  };
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
      // Jobs a complete pass did not list have left the API's window; they stay, marked. A job
      // first stored by a run of this pass (run ids grow, and no other run of the source happens
      // until the pass ends) was listed by it, so only older jobs have sightings to check.
      const marked = await client.query(
        `UPDATE sutro.jobs j SET missing_since = now()
          WHERE j.source = $1 AND j.missing_since IS NULL
            AND (j.first_run_id IS NULL OR j.first_run_id < $2)
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
