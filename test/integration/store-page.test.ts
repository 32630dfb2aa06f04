import { describe, expect, it } from 'vitest';
import { SQL_TYPE } from '../../src/db/store/job-records.js';
import { JOB_FIELD_NAMES, JOB_FIELDS, type FieldKind } from '../../src/sutro/job-fields.js';
import { createSyncStore } from '../../src/db/store/store.js';
import { connect } from '../../src/db/infra/connect.js';
import pino from 'pino';
import { DEFAULT_LIMITS } from '../helpers/limits.js';
import {
  apiJob,
  count,
  db,
  job,
  lease,
  newRun,
  page,
  SOURCE,
  store,
  storeEarlier,
  useStoreDatabase,
} from '../helpers/store.js';

/** The page write (db/store/page-write.ts) and its named statements, on a real PostgreSQL. */

useStoreDatabase();

describe('writePage', () => {
  it('inserts new jobs with one first_seen history row each, and counts the run', async () => {
    const runId = await newRun();
    const result = await store.writePage(page(runId, [job(apiJob('a')), job(apiJob('b'))]));
    expect(result).toEqual({
      inserted: 2,
      updated: 0,
      unchanged: 0,
      rejected: 0,
      historyRows: 2,
      refused: [],
      firstRejected: [],
    });
    expect(await count(`SELECT count(*)::int AS n FROM sutro.job_history WHERE change = 'first_seen'`)).toBe(
      2,
    );
    const run = await db.pool.query(
      'SELECT pages, jobs_seen, jobs_inserted, history_rows FROM sutro.sync_runs WHERE id = $1',
      [runId],
    );
    expect(run.rows[0]).toEqual({ pages: 1, jobs_seen: 2, jobs_inserted: 2, history_rows: 2 });
  });

  it('leaves unchanged jobs untouched: no update, no new tuple, no history', async () => {
    const runId = await newRun();
    await store.writePage(page(runId, [job(apiJob('a')), job(apiJob('b'))]));
    const before = await db.pool.query(
      `SELECT job_id, xmin::text, last_changed_at FROM sutro.jobs ORDER BY job_id`,
    );
    const again = await store.writePage(page(runId, [job(apiJob('a')), job(apiJob('b'))]));
    expect(again).toEqual({
      inserted: 0,
      updated: 0,
      unchanged: 2,
      rejected: 0,
      historyRows: 0,
      refused: [],
      firstRejected: [],
    });
    const after = await db.pool.query(
      `SELECT job_id, xmin::text, last_changed_at FROM sutro.jobs ORDER BY job_id`,
    );
    expect(after.rows).toEqual(before.rows);
    expect(await count('SELECT count(*)::int AS n FROM sutro.job_history')).toBe(2);
  });

  it('records a change of a tracked field as history with the fields that changed', async () => {
    const runId = await newRun();
    await store.writePage(page(runId, [job(apiJob('a'))]));
    const finished = apiJob('a', {
      status: 'succeeded',
      datetime_completed: '2026-10-01T11:00:00Z',
      input_tokens: 3_000_000_000,
      output_tokens: '12345',
      job_cost: '0.1234567890123456789',
    });
    const result = await store.writePage(page(runId, [job(finished)]));
    expect(result).toMatchObject({ inserted: 0, updated: 1, historyRows: 1 });
    const history = await db.pool.query(
      `SELECT change, changed_fields, previous_status, status, input_tokens::text, job_cost::text
         FROM sutro.job_history WHERE change = 'changed'`,
    );
    expect(history.rows).toEqual([
      {
        change: 'changed',
        changed_fields: ['status', 'datetime_completed', 'input_tokens', 'output_tokens', 'job_cost'],
        previous_status: 'RUNNING',
        status: 'SUCCEEDED',
        input_tokens: '3000000000',
        job_cost: '0.1234567890123456789',
      },
    ]);
    const stored = await db.pool.query(
      `SELECT input_tokens::text, job_cost::text, settled, raw->>'status' AS raw_status FROM sutro.jobs`,
    );
    expect(stored.rows[0]).toEqual({
      input_tokens: '3000000000',
      job_cost: '0.1234567890123456789',
      settled: true,
      raw_status: 'succeeded',
    });
  });

  it('updates a change of an untracked field without a history row', async () => {
    const runId = await newRun();
    await store.writePage(page(runId, [job(apiJob('a'))]));
    const result = await store.writePage(page(runId, [job(apiJob('a', { description: 'renamed' }))]));
    expect(result).toMatchObject({ updated: 1, historyRows: 0 });
    expect(await count(`SELECT count(*)::int AS n FROM sutro.jobs WHERE description = 'renamed'`)).toBe(1);
  });

  it('stores rejected rows once per distinct raw row, with the reason, beside the valid jobs', async () => {
    const runId = await newRun();
    const bad = { job_id: 'bad', status: 'RUNNING', input_tokens: -5 };
    const write = page(runId, [job(apiJob('a'))], {
      rejected: [
        { raw: bad, reason: 'input_tokens: must not be negative (got -5)', jobId: 'bad', position: 1 },
      ],
      listed: 2,
    });
    // The row is new to sutro.rejected_jobs the first time only: what the run warns of once.
    expect(await store.writePage(write)).toMatchObject({
      inserted: 1,
      rejected: 1,
      unchanged: 0,
      firstRejected: [0],
    });
    expect(await store.writePage({ ...write, jobs: [] })).toMatchObject({ rejected: 1, firstRejected: [] });
    const rows = await db.pool.query(
      `SELECT job_id, reason, raw, times_seen, position_on_page FROM sutro.rejected_jobs`,
    );
    expect(rows.rows).toEqual([
      {
        job_id: 'bad',
        reason: 'input_tokens: must not be negative (got -5)',
        raw: bad,
        times_seen: 2,
        position_on_page: 1,
      },
    ]);
  });

  it('commits the page, sightings and checkpoint together, or none of them', async () => {
    await storeEarlier(['a']);
    const runId = await newRun('full');
    await store.writePage(page(runId, [job(apiJob('a'))], { pass: { runId, nextCursor: 'c1' } }));
    const state = await db.store.readState(SOURCE);
    expect(state).toMatchObject({ resumeCursor: 'c1', resumePassRunId: runId, resumePages: 1 });
    // A page that fails half-way (here: a trigger raising an error after job b is inserted) leaves
    // everything as it was, job b included.
    await db.pool.query(`
      CREATE FUNCTION public.fail_on_c() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refusing job c'; END $$;
      CREATE TRIGGER fail_on_c AFTER INSERT ON sutro.jobs FOR EACH ROW WHEN (NEW.job_id = 'c')
        EXECUTE FUNCTION public.fail_on_c();`);
    try {
      await expect(
        store.writePage(
          page(runId, [job(apiJob('b')), job(apiJob('c'))], { page: 1, pass: { runId, nextCursor: 'c2' } }),
        ),
      ).rejects.toThrow('refusing job c');
    } finally {
      await db.pool.query('DROP TRIGGER fail_on_c ON sutro.jobs; DROP FUNCTION public.fail_on_c()');
    }
    expect(await db.store.readState(SOURCE)).toMatchObject({ resumeCursor: 'c1', resumePages: 1 });
    expect(await count('SELECT count(*)::int AS n FROM sutro.jobs')).toBe(1);
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(1);
    expect(await count('SELECT pages AS n FROM sutro.sync_runs WHERE id = $1', [runId])).toBe(1);
  });

  it('fails the page, rather than dead-lettering it whole, when every job is refused for a fault they share', async () => {
    const runId = await newRun('full');
    await db.pool.query('ALTER TABLE sutro.job_history ADD CONSTRAINT drift CHECK (run_id < 0) NOT VALID');
    try {
      await expect(
        store.writePage(
          page(runId, [job(apiJob('x')), job(apiJob('y'))], { pass: { runId, nextCursor: 'c1' } }),
        ),
      ).rejects.toThrow(/violates check constraint "drift"/);
    } finally {
      await db.pool.query('ALTER TABLE sutro.job_history DROP CONSTRAINT drift');
    }
    expect(await count('SELECT count(*)::int AS n FROM sutro.jobs')).toBe(0);
    expect(await count('SELECT count(*)::int AS n FROM sutro.rejected_jobs')).toBe(0);
    expect(await db.store.readState(SOURCE)).toMatchObject({ resumeCursor: null });
  });

  it('dead-letters a job the table refuses, with the error, and writes the rest of the page', async () => {
    const runId = await newRun('full');
    const refused = { ...job(apiJob('no-status')), status: null as unknown as string };
    const result = await store.writePage(
      page(runId, [job(apiJob('a')), refused, job(apiJob('b'))], { pass: { runId, nextCursor: null } }),
    );
    expect(result).toMatchObject({ inserted: 2, rejected: 1, unchanged: 0, firstRejected: [] });
    expect(result.refused).toEqual([
      {
        jobId: 'no-status',
        reason: expect.stringMatching(/^PostgreSQL refused it: null value in column "status"/) as unknown,
        first: true,
      },
    ]);
    const rows = await db.pool.query(
      `SELECT job_id, reason, raw->>'job_id' AS raw_id, position_on_page FROM sutro.rejected_jobs`,
    );
    expect(rows.rows).toMatchObject([{ job_id: 'no-status', raw_id: 'no-status', position_on_page: null }]);
    expect(await count('SELECT jobs_rejected AS n FROM sutro.sync_runs WHERE id = $1', [runId])).toBe(1);
    const again = await store.writePage(
      page(runId, [refused], { page: 1, pass: { runId, nextCursor: null } }),
    );
    expect(again.refused).toMatchObject([{ jobId: 'no-status', first: false }]);
  });
});

describe('named statements', () => {
  it('are dropped for good, and the page written unnamed, once a session does not hold them', async () => {
    // One connection, so that a statement dropped behind the client's back is found missing, as a
    // transaction pooler makes it when it hands the next transaction another server session.
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const database = connect({ connectionString: db.url, ssl: false }, log, {
      limits: DEFAULT_LIMITS,
      max: 1,
    });
    const { pool } = database;
    const store = createSyncStore(database);
    try {
      const runId = await newRun('full');
      const write = (n: number) =>
        store.writePage(
          lease,
          page(runId, [job(apiJob(`n${n}`))], { page: n, listed: 100, pass: { runId, nextCursor: `c${n}` } }),
        );
      // Page 49 of 100 jobs: past the size where the page runs as a named statement.
      await write(49);
      const named = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_statements');
      expect(named.rows[0]?.n).toBe(1);
      await pool.query('DEALLOCATE ALL');
      expect(await write(50)).toMatchObject({ inserted: 1 });
      expect(warnings.join('')).toContain('does not keep prepared statements');
      await write(51);
      const after = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_statements');
      expect(after.rows[0]?.n).toBe(0);
      expect(
        await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE job_id IN ($1, $2, $3)', [
          'n49',
          'n50',
          'n51',
        ]),
      ).toBe(3);
    } finally {
      await database.close();
    }
  });
});

/**
 * A new value for each field, as the API would send it, whatever the kind; the base job (apiJob)
 * holds a different one for each.
 */
const CHANGED_VALUE: Readonly<Record<FieldKind, unknown>> = {
  id: 'never-changed',
  status: 'SUCCEEDED',
  text: 'changed text',
  integer: 7,
  datetime: '2026-10-02T08:09:10.123456Z',
  json: { changed: ['value', 1] },
  count: '12345678901',
  money: '0.042100',
};

/** The value as PostgreSQL holds it, for an IS NOT DISTINCT FROM against the stored column. */
const asSql = (kind: FieldKind, value: unknown) => (kind === 'json' ? JSON.stringify(value) : String(value));

describe('history, field by field (the table of fields in sutro/job-fields.ts)', () => {
  const changeable = JOB_FIELD_NAMES.filter((name) => JOB_FIELDS[name].kind !== 'id');

  it.each(changeable)('a change of %s alone: history exactly when the field is tracked', async (field) => {
    const { kind, tracked } = JOB_FIELDS[field];
    const id = `history-${field}`;
    const runId = await newRun();
    await store.writePage(page(runId, [job(apiJob(id))]));
    const result = await store.writePage(page(runId, [job(apiJob(id, { [field]: CHANGED_VALUE[kind] }))]));
    expect(result).toMatchObject({ inserted: 0, updated: 1, historyRows: tracked ? 1 : 0 });

    const type = SQL_TYPE[kind];
    const stored = await count(
      `SELECT count(*)::int AS n FROM sutro.jobs WHERE job_id = $1 AND ${field} IS NOT DISTINCT FROM $2::${type}`,
      [id, asSql(kind, CHANGED_VALUE[kind])],
    );
    expect(stored).toBe(1);
    const history = await db.pool.query<{
      change: string;
      changed_fields: string[];
      holds_new_value: boolean | null;
    }>(
      `SELECT change, changed_fields,
              ${tracked ? `${field} IS NOT DISTINCT FROM $2::${type}` : 'NULL::boolean'} AS holds_new_value
         FROM sutro.job_history WHERE job_id = $1 ORDER BY id`,
      tracked ? [id, asSql(kind, CHANGED_VALUE[kind])] : [id],
    );
    expect(history.rows).toEqual([
      { change: 'first_seen', changed_fields: [], holds_new_value: tracked ? false : null },
      ...(tracked ? [{ change: 'changed', changed_fields: [field], holds_new_value: true }] : []),
    ]);
  });
});
