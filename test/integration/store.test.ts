import { NO_DRIFT } from '../../src/sync/drift.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LeaseLostError, type Lease, type PageWrite, type RunOutcome } from '../../src/sync/port.js';
import { parseJob, type Job } from '../../src/sutro/job.js';
import { createSyncStore } from '../../src/db/store.js';
import type { DatabaseLimits } from '../../src/db/errors.js';
import pg from 'pg';
import pino from 'pino';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { DEFAULT_LIMITS } from '../helpers/limits.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const SOURCE = 'store-test';

function apiJob(id: string, patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    job_id: id,
    status: 'RUNNING',
    model: 'llama-3.1-8b',
    system_prompt: null,
    job_priority: 0,
    datetime_created: '2026-10-01T10:00:00Z',
    datetime_started: '2026-10-01T10:01:00Z',
    datetime_completed: null,
    json_schema: null,
    sampling_params: { temperature: 0.2 },
    name: 'eval-nightly',
    description: null,
    dataset_id: 'ds_1',
    input_tokens: null,
    output_tokens: null,
    job_cost: null,
    num_rows: 10,
    failure_reason: null,
    cost_estimate: '0.50',
    ...patch,
  };
}

function job(raw: Record<string, unknown>): Job {
  const parsed = parseJob(raw);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.job;
}

/** The lease of SOURCE, taken afresh before each test and after each finished run (which frees it). */
let lease: Lease;

async function takeLease(source = SOURCE, holder = 'store-test:1:aa', seconds = 3_600): Promise<Lease> {
  const taken = await db.store.acquireLease({ source, holder, seconds });
  if (!('lease' in taken)) throw new Error(`the lease of ${source} is held`);
  return taken.lease;
}

const createSyncStoreWith = (limits: DatabaseLimits) => createSyncStore(db.pool, limits);

/** The store's writes, with the current lease. */
const store = {
  writePage: (write: PageWrite) => db.store.writePage(lease, write),
  recoverStaleRuns: () => db.store.recoverStaleRuns(lease),
  async finishRun(runId: number, passRunId: number | null, outcome: RunOutcome): Promise<number> {
    const marked = await db.store.finishRun(lease, runId, passRunId, outcome);
    lease = await takeLease();
    return marked;
  },
};

async function newRun(mode: 'incremental' | 'full' = 'incremental'): Promise<number> {
  return db.store.startRun(lease, {
    mode,
    requestedMode: mode,
    trigger: 'test',
    resumedFromRunId: null,
    floor: null,
  });
}

/** Stores jobs through a finished incremental run, so that a later full pass finds them stored. */
async function storeEarlier(ids: string[]): Promise<void> {
  const runId = await newRun();
  await store.writePage(
    page(
      runId,
      ids.map((id) => job(apiJob(id))),
    ),
  );
  await store.finishRun(runId, null, {
    status: 'succeeded',
    mode: 'incremental',
    stopReason: 'below_floor',
    error: null,
    fullPassCompleted: false,
    drift: NO_DRIFT,
  });
}

function page(runId: number, jobs: Job[], extra: Partial<PageWrite> = {}): PageWrite {
  return { runId, page: 0, jobs, rejected: [], listed: jobs.length, pass: null, ...extra };
}

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const result = await db.pool.query<{ n: number }>(sql, values);
  return result.rows[0]?.n ?? -1;
}

beforeEach(async () => {
  await db.pool.query(
    'TRUNCATE sutro.jobs, sutro.job_history, sutro.sync_runs, sutro.sync_state, sutro.rejected_jobs, sutro.full_pass_seen, sutro.sync_leases',
  );
  lease = await takeLease();
});

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
    expect(await store.writePage(write)).toMatchObject({ inserted: 1, rejected: 1, unchanged: 0 });
    await store.writePage({ ...write, jobs: [] });
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
    expect(result).toMatchObject({ inserted: 2, rejected: 1, unchanged: 0 });
    expect(result.refused).toEqual([
      {
        jobId: 'no-status',
        reason: expect.stringMatching(/^PostgreSQL refused it: null value in column "status"/) as unknown,
      },
    ]);
    const rows = await db.pool.query(
      `SELECT job_id, reason, raw->>'job_id' AS raw_id, position_on_page FROM sutro.rejected_jobs`,
    );
    expect(rows.rows).toMatchObject([{ job_id: 'no-status', raw_id: 'no-status', position_on_page: null }]);
    expect(await count('SELECT jobs_rejected AS n FROM sutro.sync_runs WHERE id = $1', [runId])).toBe(1);
  });
});

describe('named statements', () => {
  it('are dropped for good, and the page written unnamed, once a session does not hold them', async () => {
    // One connection, so that a statement dropped behind the client's back is found missing, as a
    // transaction pooler makes it when it hands the next transaction another server session.
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const store = createSyncStore(pool, DEFAULT_LIMITS, log);
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
      await pool.end();
    }
  });
});

describe('planIncremental', () => {
  const plan = (margin: number, maxById = 50, pageLimit = 100) =>
    db.store.planIncremental(SOURCE, { safetyMarginSeconds: margin, pageLimit, maxById });

  it('floors at the oldest unsettled job, else the newest job, minus the margin', async () => {
    const runId = await newRun();
    expect(await plan(60)).toEqual({ floor: null, refreshById: [] });
    await store.writePage(
      page(runId, [
        job(
          apiJob('new', {
            status: 'SUCCEEDED',
            datetime_created: '2026-10-05T00:00:00Z',
            datetime_completed: '2026-10-05T01:00:00Z',
            job_cost: 1,
          }),
        ),
        job(apiJob('running', { datetime_created: '2026-10-04T12:00:00Z' })),
        job(apiJob('old', { status: 'FAILED', datetime_created: '2026-10-01T00:00:00Z' })),
      ]),
    );
    expect(await plan(60)).toEqual({ floor: new Date('2026-10-04T11:59:00Z'), refreshById: [] });
    await store.writePage(
      page(runId, [
        job(apiJob('running', { status: 'CANCELLED', datetime_created: '2026-10-04T12:00:00Z' })),
      ]),
    );
    expect(await plan(0)).toEqual({ floor: new Date('2026-10-05T00:00:00Z'), refreshById: [] });
  });

  it('fetches unsettled jobs by id where that takes fewer requests than paging down to them', async () => {
    const runId = await newRun();
    const settled = (day: number) =>
      job(apiJob(`settled-${day}`, { status: 'FAILED', datetime_created: `2026-10-0${day}T00:00:00Z` }));
    await store.writePage(
      page(runId, [
        job(apiJob('recent', { datetime_created: '2026-10-10T00:00:00Z' })),
        ...[4, 5, 6, 7, 8, 9].map(settled),
        job(apiJob('nodate', { datetime_created: null })),
        job(apiJob('stuck-1', { datetime_created: '2026-10-02T00:00:00Z' })),
        job(apiJob('stuck-2', { datetime_created: '2026-10-03T00:00:00Z' })),
      ]),
    );
    // One job per page: reaching stuck-1 costs 9 pages, fetching the two stuck jobs 2 requests.
    expect(await plan(0, 50, 1)).toEqual({
      floor: new Date('2026-10-10T00:00:00Z'),
      refreshById: ['nodate', 'stuck-1', 'stuck-2'],
    });
    // At most one by id, and every allowed cut too deep to be worth counting: the plain floor.
    expect(await plan(0, 1, 1)).toEqual({ floor: new Date('2026-10-02T00:00:00Z'), refreshById: ['nodate'] });
    // With 100 jobs a page, one page reaches them all: nothing but the unplaceable job by id.
    expect(await plan(0)).toEqual({ floor: new Date('2026-10-02T00:00:00Z'), refreshById: ['nodate'] });
  });

  it('stops waiting for a cost that will never come: a dry run, or a FULL run completed a day ago', async () => {
    const runId = await newRun();
    const succeeded = (id: string, completed: Date, extra: Record<string, unknown> = {}) =>
      job(
        apiJob(id, {
          status: 'SUCCEEDED',
          datetime_created: '2026-10-01T00:00:00Z',
          datetime_completed: completed.toISOString(),
          ...extra,
        }),
      );
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000);
    await store.writePage(
      page(runId, [
        job(apiJob('newest', { status: 'FAILED', datetime_created: '2026-10-20T00:00:00Z' })),
        succeeded('dry-run', hoursAgo(1), { run_type: 'DRY_RUN' }),
        succeeded('billed-soon', hoursAgo(1), { run_type: 'FULL' }),
        succeeded('untyped-soon', hoursAgo(1)),
        succeeded('never-billed', hoursAgo(25), { run_type: 'FULL' }),
      ]),
    );
    // Only the FULL runs that completed within the day are still waited for (here: fetched by id).
    expect((await plan(0, 50, 1)).refreshById).toEqual(['billed-soon', 'untyped-soon']);
  });
});

describe('runs and leases', () => {
  it('lets one holder at a time take a source, frees it on release, and raises the token at each taking', async () => {
    expect(await db.store.acquireLease({ source: SOURCE, holder: 'other:2:bb', seconds: 60 })).toMatchObject({
      heldBy: { holder: 'store-test:1:aa', runId: null },
    });
    const other = await takeLease('another-source');
    expect(other.token).toBe(1);
    await db.store.releaseLease(lease);
    const again = await takeLease(SOURCE, 'other:2:bb');
    expect(again.token).toBe(lease.token + 1);
    expect(await db.store.renewLease(lease)).toBe(false);
    expect(await db.store.renewLease(again)).toBe(true);
  });

  it('lets a run take over an expired lease, and refuses every write of the run that lost it', async () => {
    await storeEarlier(['a']);
    const runId = await newRun('full');
    await store.writePage(page(runId, [job(apiJob('b'))], { pass: { runId, nextCursor: 'c1' } }));
    const before = await db.pool.query('SELECT * FROM sutro.sync_state');
    // Its holder stops renewing (paused, partitioned): the lease expires and another run takes it.
    await db.pool.query(`UPDATE sutro.sync_leases SET expires_at = now() WHERE source = $1`, [SOURCE]);
    const successor = await takeLease(SOURCE, 'successor:3:cc');
    expect(successor.token).toBe(lease.token + 1);

    const lost = lease;
    const refusals: [string, () => Promise<unknown>][] = [
      [
        'writePage',
        () =>
          db.store.writePage(
            lost,
            page(runId, [job(apiJob('c'))], { page: 1, pass: { runId, nextCursor: 'c2' } }),
          ),
      ],
      [
        'finishRun',
        () =>
          db.store.finishRun(lost, runId, runId, {
            status: 'succeeded',
            mode: 'full',
            stopReason: 'end_of_list',
            error: null,
            fullPassCompleted: true,
            drift: NO_DRIFT,
          }),
      ],
      ['discardPass', () => db.store.discardPass(lost, runId)],
      ['setRunMode', () => db.store.setRunMode(lost, runId, 'incremental')],
      ['recoverStaleRuns', () => db.store.recoverStaleRuns(lost)],
      [
        'startRun',
        () =>
          db.store.startRun(lost, {
            mode: 'full',
            requestedMode: 'full',
            trigger: 'test',
            resumedFromRunId: null,
            floor: null,
          }),
      ],
    ];
    for (const [name, refusal] of refusals) {
      const error = await refusal().catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(LeaseLostError);
      expect((error as Error).message, name).toMatch(
        /refused: this process lost the lease of source "store-test" to another run/,
      );
    }
    expect(await db.store.renewLease(lost)).toBe(false);
    // Nothing of it landed: no job c, no missing marks, the checkpoint and the run as they were.
    expect(
      (await db.pool.query('SELECT job_id, missing_since FROM sutro.jobs ORDER BY job_id')).rows,
    ).toEqual([
      { job_id: 'a', missing_since: null },
      { job_id: 'b', missing_since: null },
    ]);
    expect((await db.pool.query('SELECT * FROM sutro.sync_state')).rows).toEqual(before.rows);
    expect(await count(`SELECT count(*)::int AS n FROM sutro.sync_runs WHERE status = 'running'`)).toBe(1);
    expect((await db.pool.query('SELECT holder, token::int FROM sutro.sync_leases')).rows).toEqual([
      { holder: 'successor:3:cc', token: successor.token },
    ]);
  });

  it('keeps a live run its lease through a write that takes longer than the lease', async () => {
    const short = await (async () => {
      await db.store.releaseLease(lease);
      return takeLease(SOURCE, 'slow-writer:5:ee', 2);
    })();
    const runId = await db.store.startRun(short, {
      mode: 'full',
      requestedMode: 'full',
      trigger: 'test',
      resumedFromRunId: null,
      floor: null,
    });
    // Each job inserted takes 3 s: the page's transaction outlasts the 2 s lease.
    await db.pool.query(`
      CREATE FUNCTION public.slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$;
      CREATE TRIGGER slow_insert AFTER INSERT ON sutro.jobs FOR EACH ROW EXECUTE FUNCTION public.slow_insert();`);
    try {
      const writing = db.store.writePage(
        short,
        page(runId, [job(apiJob('slow'))], { pass: { runId, nextCursor: 'c1' } }),
      );
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      // Past the lease's length, while the write holds its row: the taker waits for the commit,
      // then finds the lease renewed from that moment.
      const taker = await db.store.acquireLease({ source: SOURCE, holder: 'taker:6:ff', seconds: 60 });
      expect(await writing).toMatchObject({ inserted: 1 });
      expect(taker).toMatchObject({ heldBy: { holder: 'slow-writer:5:ee' } });
      expect(await db.store.renewLease(short)).toBe(true);
    } finally {
      await db.pool.query('DROP TRIGGER slow_insert ON sutro.jobs; DROP FUNCTION public.slow_insert()');
    }
  });

  it('counts a lease whose row a write in flight holds as held, and does not wait lock_timeout for it', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE sutro.sync_leases SET expires_at = now() WHERE source = $1`, [SOURCE]);
      const started = Date.now();
      const attempt = await createSyncStoreWith({
        statementTimeoutMs: 5_000,
        lockTimeoutMs: 200,
      }).acquireLease({
        source: SOURCE,
        holder: 'impatient:4:dd',
        seconds: 60,
      });
      expect(attempt).toEqual({ heldBy: { holder: null, runId: null, expiresInSeconds: null } });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('marks runs left running as abandoned and drops sightings of passes that cannot resume', async () => {
    await storeEarlier(['a']);
    const dead = await newRun('full');
    await store.writePage(page(dead, [job(apiJob('a'))], { pass: { runId: dead, nextCursor: null } }));
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(1);
    expect(await store.recoverStaleRuns()).toEqual([dead]);
    const row = await db.pool.query('SELECT status, error FROM sutro.sync_runs WHERE id = $1', [dead]);
    expect(row.rows[0]).toEqual({
      status: 'abandoned',
      error:
        'its process stopped, or lost the database, before finishing it: its lease lapsed and a later run took the source over',
    });
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(0);
  });

  it('keeps the sightings of a pass that can resume', async () => {
    await storeEarlier(['a']);
    const dead = await newRun('full');
    await store.writePage(page(dead, [job(apiJob('a'))], { pass: { runId: dead, nextCursor: 'next' } }));
    await store.recoverStaleRuns();
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(1);
  });

  it('marks jobs a complete full pass did not list, and ends the pass', async () => {
    const first = await newRun('full');
    await store.writePage(
      page(first, [job(apiJob('a')), job(apiJob('b'))], { pass: { runId: first, nextCursor: null } }),
    );
    // Jobs the pass stores itself need no sightings: it listed them.
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(0);
    await store.finishRun(first, first, {
      status: 'succeeded',
      mode: 'full',
      stopReason: 'end_of_list',
      error: null,
      fullPassCompleted: true,
      drift: NO_DRIFT,
    });
    const second = await newRun('full');
    await store.writePage(
      page(second, [job(apiJob('a')), job(apiJob('c'))], { pass: { runId: second, nextCursor: null } }),
    );
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(1);
    const marked = await store.finishRun(second, second, {
      status: 'succeeded',
      mode: 'full',
      stopReason: 'end_of_list',
      error: null,
      fullPassCompleted: true,
      drift: NO_DRIFT,
    });
    expect(marked).toBe(1);
    expect(
      (await db.pool.query('SELECT job_id FROM sutro.jobs WHERE missing_since IS NOT NULL')).rows,
    ).toEqual([{ job_id: 'b' }]);
    expect(await db.store.readState(SOURCE)).toMatchObject({ resumeCursor: null, resumePassRunId: null });
    expect(await count('SELECT count(*)::int AS n FROM sutro.full_pass_seen')).toBe(0);

    // Listed again: cleared, as an update.
    const third = await newRun();
    expect(await store.writePage(page(third, [job(apiJob('b'))]))).toMatchObject({
      updated: 1,
      historyRows: 0,
    });
    expect(await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE missing_since IS NOT NULL')).toBe(0);
  });
});
