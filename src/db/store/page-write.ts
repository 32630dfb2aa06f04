import type pg from 'pg';
import {
  JOB_FIELD_NAMES,
  JOB_FIELDS,
  TRACKED_FIELD_NAMES,
  type Job,
  type JobFieldName,
} from '../../sutro/job-fields.js';
import type { Lease, PageResult, PageWrite } from '../../sync/port.js';
import type { Database } from '../infra/connect.js';
import { recordValue, SQL_TYPE } from './job-records.js';
import { fencedTransaction } from './lease.js';
import { ROLLUP_INPUTS } from '../schema/rollup-measures.js';
import { applyChangesSql } from './rollups.js';
import { latestTransitionAt } from '../schema/status-transitions.js';
import type { HistoryChange } from '../schema/vocabulary.js';

/**
 * The fields parseJob takes from the raw job unchanged: text kept as sent and any JSON value, with
 * null for JSON null or absent. When every job of a page has them so, they are not sent a second
 * time: the statement reads them from `raw`, which PostgreSQL has to parse anyway, and the page it
 * parses shrinks by a third.
 */
const FROM_RAW = JOB_FIELD_NAMES.filter((name) => ['text', 'json'].includes(JOB_FIELDS[name].kind));
const SENT_WHEN_SLIM = JOB_FIELD_NAMES.filter((name) => !FROM_RAW.includes(name));

const recordset = (names: readonly JobFieldName[]) =>
  [...names.map((name) => `${name} ${SQL_TYPE[JOB_FIELDS[name].kind]}`), 'raw jsonb'].join(', ');

/** Columns of sutro.jobs filled from the API, the key aside. */
const API_COLUMNS = [...JOB_FIELD_NAMES.filter((name) => name !== 'job_id'), 'raw'];

/** The fields whose change is history: what a job did and what it cost. */
const TRACKED = TRACKED_FIELD_NAMES;

/** What the statement reads of a job before and after its write: its history and its rollups. */
const JOB_STATE = [...new Set<string>([...TRACKED, ...ROLLUP_INPUTS])];

const ROLLUP_CHANGES = applyChangesSql('SELECT * FROM changes');

const FIRST_SEEN: HistoryChange = 'first_seen';
const CHANGED: HistoryChange = 'changed';

const changedFields = TRACKED.map((f) => `CASE WHEN p.${f} IS DISTINCT FROM w.${f} THEN '${f}' END`).join(
  ', ',
);

/**
 * A page is ONE statement, so the page, its history, its rejected rows, its sightings, the run's
 * counters and the checkpoint are written together or not at all, in one round trip; the transaction
 * around it adds the lease's fence (with BEGIN, one round trip) and the COMMIT. Data-modifying CTEs
 * all run to completion and all read the snapshot the statement started with, so `previous` holds
 * the jobs as they were before this page.
 *
 * - `previous` looks each listed job up by primary key (the LATERAL … LIMIT 1 keeps it a nested
 *   loop of index probes whatever the statistics say: a hash join over every stored job of the
 *   source would make each page cost as much as the whole table).
 * - `written` only offers the upsert the jobs that are new, changed (raw JSON differs) or coming
 *   back from missing. An unchanged job is never touched: no new tuple, no row lock, no WAL, which
 *   is what keeps a no-change run at zero writes. The DO UPDATE's WHERE repeats the test for a row
 *   that another transaction changed in between. `xmax = 0` tells an inserted row from an updated one.
 * - `history` appends a row per job first seen or whose tracked fields changed; one that changes the
 *   status also gets when the job entered the status it leaves (status-transitions.ts).
 * - `changes`, `usage` and `run_time` move each written job's contribution to the rollups from its
 *   old group to its new one (rollups.ts), so that they change with the jobs or not at all.
 * - `seen` records, when the page belongs to a full pass, the ids it listed of jobs stored before
 *   the page: only those can be marked missing when the pass ends (see finishRun), so a first load
 *   writes no sightings at all. Rejected rows count as listed. `checkpoint` saves where the pass
 *   continues, `run` adds the page to the run's counters.
 *
 * - `rejected` dead-letters the rows validation or PostgreSQL refused, once per distinct raw row;
 *   `first_rejected` says which rows it did not hold before, the ones worth a warning.
 *
 * Parameters: $1 source, $2 jobs (jsonb array of records), $3 run id, $4 rejected rows (jsonb
 * array, each with its index in the write), $5 pass run id or null, $6 ids of rejected rows, $7 next
 * cursor, $8 page number, $9 jobs listed, $10 pages to count (0 for jobs fetched by id), $11 rejected
 * rows.
 */
const writePageSql = (incoming: string) => `
WITH incoming AS (${incoming}),
previous AS (
  SELECT p.job_id, p.raw, ${JOB_STATE.map((f) => `p.${f}`).join(', ')}
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
  RETURNING j.job_id, (j.xmax = 0) AS inserted, ${JOB_STATE.map((f) => `j.${f}`).join(', ')}
),
-- What the rollups hold of each written job: its new state counts, its old one no longer does.
changes AS (
  SELECT 1 AS sign, ${ROLLUP_INPUTS.map((f) => `w.${f}`).join(', ')} FROM written w
  UNION ALL
  SELECT -1, ${ROLLUP_INPUTS.map((f) => `p.${f}`).join(', ')}
  FROM previous p JOIN written w ON w.job_id = p.job_id
),
usage AS (${ROLLUP_CHANGES.usage}
),
run_time AS (${ROLLUP_CHANGES.runTime}
),
history AS (
  INSERT INTO sutro.job_history (source, job_id, run_id, change, changed_fields, previous_status,
                                 previous_status_changed_at, ${TRACKED.join(', ')})
  SELECT $1, w.job_id, $3,
         CASE WHEN p.job_id IS NULL THEN '${FIRST_SEEN}' ELSE '${CHANGED}' END,
         CASE WHEN p.job_id IS NULL THEN '{}'::text[] ELSE c.fields END,
         p.status,
         CASE WHEN p.job_id IS NOT NULL AND p.status IS DISTINCT FROM w.status
              THEN ${latestTransitionAt('$1', 'w.job_id')} END,
         ${TRACKED.map((f) => `w.${f}`).join(', ')}
  FROM written w
  LEFT JOIN previous p ON p.job_id = w.job_id
  CROSS JOIN LATERAL (SELECT array_remove(ARRAY[${changedFields}], NULL) AS fields) c
  WHERE p.job_id IS NULL OR cardinality(c.fields) > 0
  RETURNING 1
),
-- A row that is JSON null arrives from the recordset as SQL NULL; it is kept as the JSON it was.
rejected_rows AS (
  SELECT job_id, reason, coalesce(raw, 'null') AS raw, md5(coalesce(raw, 'null')::text) AS raw_hash, position, idx
  FROM jsonb_to_recordset($4::jsonb) AS r(job_id text, reason text, raw jsonb, position int, idx int)
),
rejected AS (
  INSERT INTO sutro.rejected_jobs AS r (source, job_id, reason, raw, raw_hash, first_run_id, last_run_id, page, position_on_page)
  SELECT DISTINCT ON (x.raw_hash) $1, x.job_id, x.reason, x.raw, x.raw_hash, $3, $3, $8::int, x.position
  FROM rejected_rows x
  ON CONFLICT (source, raw_hash) DO UPDATE SET
    reason = excluded.reason, last_run_id = excluded.last_run_id, page = excluded.page,
    position_on_page = excluded.position_on_page, last_seen_at = now(), times_seen = r.times_seen + 1
  RETURNING r.raw_hash, (r.xmax = 0) AS is_new
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
SELECT inserted, updated, history_rows,
       (SELECT coalesce(array_agg(n.idx ORDER BY n.idx), '{}')
          FROM (SELECT min(x.idx) AS idx FROM rejected_rows x JOIN rejected j USING (raw_hash)
                 WHERE j.is_new GROUP BY x.raw_hash) n) AS first_rejected
  FROM counts`;

export const WRITE_PAGE = writePageSql(
  `SELECT * FROM jsonb_to_recordset($2::jsonb) AS i(${recordset(JOB_FIELD_NAMES)})`,
);

export const WRITE_SLIM_PAGE = writePageSql(`
  SELECT i.*, ${FROM_RAW.map((f) =>
    JOB_FIELDS[f].kind === 'text' ? `i.raw->>'${f}' AS ${f}` : `nullif(i.raw->'${f}', 'null') AS ${f}`,
  ).join(', ')}
  FROM jsonb_to_recordset($2::jsonb) AS i(${recordset(SENT_WHEN_SLIM)})`);

/** A job as the page's recordset reads it: `names` and `raw`. */
function toRecord(job: Job, names: readonly JobFieldName[]): Record<string, unknown> {
  const record: Record<string, unknown> = { raw: job.raw };
  for (const name of names) record[name] = recordValue(job, name);
  return record;
}

/** Whether the statement may read the FROM_RAW fields of `job` from its raw JSON (see FROM_RAW). */
function fieldsAreRaw(job: Job): boolean {
  return FROM_RAW.every((name) => recordValue(job, name) === (job.raw[name] ?? null));
}

/**
 * Whether the page may run as a named (prepared) statement (see named-statements.ts). A prepared
 * statement is planned once for all after five executions, and a generic plan fixed while
 * sutro.jobs holds a few hundred rows looks jobs up through jobs_created_idx by source alone, so
 * that every page then reads every job of the source: the first full pass of an empty database
 * would take quadratic time. So pages are planned one by one (unnamed) until the pass has listed
 * enough jobs that the table is known to be past that size; incremental runs, a few pages each, are
 * always planned afresh.
 */
function preparedIsSafe(write: PageWrite): boolean {
  return write.pass !== null && (write.page + 1) * write.listed >= 5_000;
}

/**
 * The page, its sightings, the run's counters and the checkpoint: all or nothing, as one statement
 * (see WRITE_PAGE) in a transaction the lease's fence opens.
 *
 * parseJob rejects every value it knows PostgreSQL would refuse, but not all: a job_id too long for
 * the primary key's index, say. Such a job would fail its page on every run, and a full pass could
 * never get past it, so when PostgreSQL refuses the page for its data, each job is tried alone, and
 * the page is written again with the refused ones dead-lettered under PostgreSQL's own words.
 */
export async function writePage(db: Database, lease: Lease, write: PageWrite): Promise<PageResult> {
  try {
    return await writePageOnce(db, lease, write);
  } catch (error) {
    if (!isRefusedData(error) || write.jobs.length === 0) throw error;
    // A probe that fails in turn (the connection went, or the page fails without any job) or finds
    // every job storable alone leaves the page's own error as the one to report. So does one that
    // refuses every job of a page of several: a fault they share (a constraint or trigger added to
    // the tables, a defect of the statement) must fail the run, not empty the page into
    // rejected_jobs and move the checkpoint on.
    const refused = await findRefusedJobs(db, lease.source, write).catch(() => []);
    if (refused.length === 0 || (refused.length === write.jobs.length && write.jobs.length > 1)) throw error;
    const refusedIds = new Set(refused.map((r) => r.jobId));
    const result = await writePageOnce(db, lease, {
      ...write,
      jobs: write.jobs.filter((job) => !refusedIds.has(job.jobId)),
      rejected: [
        ...write.rejected,
        ...refused.map((r) => ({ raw: r.raw, reason: r.reason, jobId: r.jobId, position: null })),
      ],
    });
    // The refused rows were written after the write's own rejected ones.
    const first = new Set(result.firstRejected);
    const offset = write.rejected.length;
    return {
      ...result,
      firstRejected: result.firstRejected.filter((index) => index < offset),
      refused: refused.map(({ jobId, reason }, i) => ({ jobId, reason, first: first.has(offset + i) })),
    };
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
  db: Database,
  source: string,
  write: PageWrite,
): Promise<{ jobId: string; reason: string; raw: unknown }[]> {
  const what = `probing page ${write.page} job by job`;
  return db.transaction({ what, rollback: true }, async (client) => {
    const refused: { jobId: string; reason: string; raw: unknown }[] = [];
    await client.query(pageQuery(source, { ...write, jobs: [], rejected: [], listed: 0 }));
    for (const job of write.jobs) {
      await client.query('SAVEPOINT probe');
      try {
        await client.query(pageQuery(source, { ...write, jobs: [job], rejected: [], listed: 1 }));
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
    return refused;
  });
}

async function writePageOnce(db: Database, lease: Lease, write: PageWrite): Promise<PageResult> {
  const query = pageQuery(lease.source, write);
  type Row = { inserted: number; updated: number; history_rows: number; first_rejected: number[] };
  const run = (statement: pg.QueryConfig) =>
    fencedTransaction(db, lease, `writing page ${write.page}`, (client) => client.query<Row>(statement));
  let result: pg.QueryResult<Row>;
  try {
    result = await run(preparedIsSafe(write) ? db.statements.name(query) : query);
  } catch (error) {
    if (!db.statements.lostBy(error)) throw error;
    result = await run(query);
  }
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
    firstRejected: row?.first_rejected ?? [],
  };
}

function pageQuery(source: string, write: PageWrite): pg.QueryConfig {
  const rejectedIds = write.rejected.flatMap((r) => (r.jobId === null ? [] : [r.jobId]));
  const slim = write.jobs.every(fieldsAreRaw);
  return {
    text: slim ? WRITE_SLIM_PAGE : WRITE_PAGE,
    values: [
      source,
      JSON.stringify(write.jobs.map((job) => toRecord(job, slim ? SENT_WHEN_SLIM : JOB_FIELD_NAMES))),
      write.runId,
      JSON.stringify(
        write.rejected.map((r, idx) => ({
          job_id: r.jobId,
          reason: r.reason,
          raw: r.raw ?? null,
          position: r.position,
          idx,
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
