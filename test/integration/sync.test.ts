import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, type RunningSimulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { Simulators, syncOnce } from '../helpers/sync.js';
import { diffAgainstTruth } from '../helpers/truth.js';

let db: TestDatabase;
const simulators = new Simulators();

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await simulators.closeAll();
  await db.drop();
});

const simulator = (jobs: number, seed: number) => simulators.start(new SimulatedAccount({ jobs, seed }));
const sync = (sim: RunningSimulator, source: string, options: Parameters<typeof syncOnce>[3] = {}) =>
  syncOnce(db.store, sim, source, options);

async function count(sql: string, values: unknown[]): Promise<number> {
  return (await db.pool.query<{ n: number }>(sql, values)).rows[0]?.n ?? -1;
}

describe('a first sync', () => {
  it('stores every listed job with the fields the API gave, as a full pass', async () => {
    const sim = await simulator(1_234, 3);
    const result = await sync(sim, 'first');
    expect(result).toMatchObject({
      status: 'succeeded',
      mode: 'full',
      requestedMode: 'incremental',
      pages: 13,
      inserted: 1_234,
      stopReason: 'end_of_list',
    });
    expect(await diffAgainstTruth(db.pool, 'first', sim.account.snapshot())).toEqual([]);
    expect(await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1', ['first'])).toBe(1_234);
    expect(
      await count(
        `SELECT count(*)::int AS n FROM sutro.job_history WHERE source = $1 AND change = 'first_seen'`,
        ['first'],
      ),
    ).toBe(1_234);
  });

  it('changes nothing when run again on unchanged data', async () => {
    const sim = await simulator(300, 4);
    await sync(sim, 'rerun', { mode: 'full' });
    const history = await count('SELECT count(*)::int AS n FROM sutro.job_history WHERE source = $1', [
      'rerun',
    ]);
    const again = await sync(sim, 'rerun', { mode: 'full' });
    expect(again).toMatchObject({
      status: 'succeeded',
      inserted: 0,
      updated: 0,
      unchanged: 300,
      historyRows: 0,
    });
    expect(await count('SELECT count(*)::int AS n FROM sutro.job_history WHERE source = $1', ['rerun'])).toBe(
      history,
    );
  });
});

describe('paging while the account changes', () => {
  it('stores a job that new arrivals pushed onto a second page once', async () => {
    const sim = await simulator(500, 5);
    let pushed = false;
    const result = await sync(sim, 'shifted', {
      mode: 'full',
      onPage: ({ page }) => {
        if (page === 0 && !pushed) {
          pushed = true;
          sim.account.advance({ seconds: 1, newJobs: 7, transitions: false });
        }
      },
    });
    // The look-ahead may have fetched page 1 before the arrivals; either way no job is lost or doubled.
    expect(result.status).toBe('succeeded');
    expect(result.seen).toBeGreaterThanOrEqual(500);
    expect(result.inserted).toBe(result.seen - result.unchanged);
    const stored = await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1', ['shifted']);
    expect(stored).toBe(result.inserted);
  });

  it('reads the changes of an incremental run and records one history row per change', async () => {
    const sim = await simulator(2_000, 6);
    await sync(sim, 'incremental');
    const before = await count('SELECT count(*)::int AS n FROM sutro.job_history WHERE source = $1', [
      'incremental',
    ]);
    const change = sim.account.advance({ seconds: 3_600, newJobs: 30 });
    const result = await sync(sim, 'incremental');
    expect(result).toMatchObject({
      status: 'succeeded',
      mode: 'incremental',
      stopReason: 'below_floor',
      inserted: change.added.length,
    });
    expect(result.pages).toBeLessThan(20);
    expect(await diffAgainstTruth(db.pool, 'incremental', sim.account.snapshot())).toEqual([]);
    const after = await count('SELECT count(*)::int AS n FROM sutro.job_history WHERE source = $1', [
      'incremental',
    ]);
    expect(after - before).toBe(result.historyRows);
    expect(result.historyRows).toBeGreaterThanOrEqual(change.added.length);
  });
});

describe('bad input', () => {
  it('rejects malformed rows into sutro.rejected_jobs and stores the rest of the page', async () => {
    const sim = await simulator(150, 8);
    sim.account.insertRaw(3, { status: 'RUNNING', model: 'x' });
    sim.account.insertRaw(5, {
      ...sim.account.jobAt(10),
      job_id: 'job_bad_date',
      datetime_created: 'yesterday',
    });
    sim.account.insertRaw(120, { ...sim.account.jobAt(130), job_id: 'job_negative', input_tokens: -5 });
    const result = await sync(sim, 'rejects', { mode: 'full' });
    expect(result).toMatchObject({ status: 'succeeded', rejected: 3, inserted: 150 });
    const rows = await db.pool.query(
      'SELECT job_id, reason, page, position_on_page FROM sutro.rejected_jobs WHERE source = $1 ORDER BY page, position_on_page',
      ['rejects'],
    );
    expect(rows.rows).toEqual([
      { job_id: null, reason: 'job_id: is missing', page: 0, position_on_page: 3 },
      {
        job_id: 'job_bad_date',
        reason: 'datetime_created: is not an ISO 8601 datetime PostgreSQL can store (got "yesterday")',
        page: 0,
        position_on_page: 5,
      },
      {
        job_id: 'job_negative',
        reason: 'input_tokens: must not be negative (got -5)',
        page: 1,
        position_on_page: 20,
      },
    ]);
  });

  it('stores a job whose strings hold U+0000 with U+FFFD in its place, and a rejected one too', async () => {
    const sim = await simulator(120, 9);
    sim.account.insertRaw(2, {
      ...sim.account.jobAt(4),
      job_id: 'job_nul',
      description: 'before\u0000after',
      sampling_params: { 'stop\u0000': ['\u0000'] },
    });
    sim.account.insertRaw(7, {
      ...sim.account.jobAt(9),
      job_id: 'job_nul_bad',
      name: 'x\u0000',
      input_tokens: -1,
    });
    const first = await sync(sim, 'nul', { mode: 'full' });
    expect(first).toMatchObject({ status: 'succeeded', inserted: 121, rejected: 1 });
    const stored = await db.pool.query(
      `SELECT description, sampling_params, raw->>'description' AS raw_description
         FROM sutro.jobs WHERE source = 'nul' AND job_id = 'job_nul'`,
    );
    expect(stored.rows).toEqual([
      {
        description: 'before\uFFFDafter',
        sampling_params: { 'stop\uFFFD': ['\uFFFD'] },
        raw_description: 'before\uFFFDafter',
      },
    ]);
    const rejected = await db.pool.query(
      `SELECT reason, raw->>'name' AS name FROM sutro.rejected_jobs WHERE source = 'nul'`,
    );
    expect(rejected.rows).toEqual([
      { reason: 'input_tokens: must not be negative (got -1)', name: 'x\uFFFD' },
    ]);
    // The replacement is stable: the next run finds the job unchanged.
    const again = await sync(sim, 'nul', { mode: 'full' });
    expect(again).toMatchObject({ status: 'succeeded', inserted: 0, updated: 0, historyRows: 0 });
  });

  it('stores values at the edge of what PostgreSQL holds and dead-letters what lies beyond, page intact', async () => {
    const sim = await simulator(150, 12);
    const edge = { ...sim.account.jobAt(20), job_id: 'job_edge', job_priority: -(2 ** 31) };
    sim.account.insertRaw(21, { ...edge, name: 'lone \uD800 surrogate', job_cost: '0.1e-16382' });
    sim.account.insertRaw(30, { ...edge, job_id: 'job_year_one', datetime_started: '0001-01-01T00:00:00Z' });
    sim.account.insertRaw(40, null);
    sim.account.insertRaw(41, { ...edge, job_id: 'job_feb_30', datetime_created: '2026-02-30T00:00:00Z' });
    sim.account.insertRaw(42, { ...edge, job_id: 'job_year_zero', datetime_started: '0000-06-01T00:00:00Z' });
    sim.account.insertRaw(43, { ...edge, job_id: 'job_big_priority', job_priority: 2 ** 31 });
    sim.account.insertRaw(44, { ...edge, job_id: 'job_big_cost', job_cost: '1e200000' });
    sim.account.insertRaw(45, { ...edge, job_id: 'job_lone_key', ['key \uDC00']: 1, input_tokens: -1 });
    // PostgreSQL holds offsets up to 15:59; one beyond is rejected naming its field, not refused with the page.
    sim.account.insertRaw(46, {
      ...edge,
      job_id: 'job_offset_edge',
      datetime_started: '2026-01-01 00:00:00+15:59',
    });
    sim.account.insertRaw(47, {
      ...edge,
      job_id: 'job_offset_beyond',
      datetime_started: '2026-01-01T00:00:00+16:00',
    });

    const result = await sync(sim, 'edge', { mode: 'full' });
    expect(result).toMatchObject({ status: 'succeeded', inserted: 153, rejected: 7 });
    const stored = await db.pool.query<{ job_cost: string }>(
      `SELECT job_id, job_priority, name, job_cost::text AS job_cost, datetime_started
         FROM sutro.jobs WHERE source = 'edge' AND job_id IN ('job_edge', 'job_offset_edge', 'job_year_one')
        ORDER BY job_id`,
    );
    expect(stored.rows).toMatchObject([
      { job_id: 'job_edge', job_priority: -(2 ** 31), name: 'lone \uFFFD surrogate' },
      { job_id: 'job_offset_edge', datetime_started: new Date('2025-12-31T08:01:00Z') },
      { job_id: 'job_year_one', datetime_started: new Date('0001-01-01T00:00:00Z') },
    ]);
    expect(stored.rows[0]?.job_cost).toBe(`0.${'0'.repeat(16_382)}1`);
    const rejected = await db.pool.query<{ job_id: string | null; reason: string; raw: unknown }>(
      `SELECT job_id, reason, raw FROM sutro.rejected_jobs WHERE source = 'edge' ORDER BY job_id NULLS FIRST`,
    );
    expect(rejected.rows.map((r) => [r.job_id, r.reason.split(':')[0]])).toEqual([
      [null, 'job is not an object (got null)'],
      ['job_big_cost', 'job_cost'],
      ['job_big_priority', 'job_priority'],
      ['job_feb_30', 'datetime_created'],
      ['job_lone_key', 'input_tokens'],
      ['job_offset_beyond', 'datetime_started'],
      ['job_year_zero', 'datetime_started'],
    ]);
    expect(rejected.rows[0]?.raw).toBeNull();
    expect(Object.keys(rejected.rows[4]?.raw as object)).toContain('key \uFFFD');
  });

  it('dead-letters a job PostgreSQL refuses though it passed validation, and stores the rest of its page', async () => {
    const sim = await simulator(150, 13);
    // Random, so that compression cannot bring it under the limit of a btree index entry (~2.7 kB).
    const huge = randomBytes(6_000).toString('hex');
    sim.account.insertRaw(60, { ...sim.account.jobAt(61), job_id: huge });
    sim.account.insertRaw(70, { ...sim.account.jobAt(71), job_id: 'job_huge_model', model: huge });
    const result = await sync(sim, 'refused', { mode: 'full' });
    expect(result).toMatchObject({ status: 'succeeded', inserted: 150, rejected: 2, pages: 2 });
    const rejected = await db.pool.query<{ job_id: string; reason: string; raw_id: string }>(
      `SELECT job_id, reason, raw->>'job_id' AS raw_id FROM sutro.rejected_jobs
        WHERE source = 'refused' ORDER BY length(job_id)`,
    );
    expect(rejected.rows.map((r) => [r.job_id, r.raw_id])).toEqual([
      ['job_huge_model', 'job_huge_model'],
      [huge, huge],
    ]);
    for (const row of rejected.rows) expect(row.reason).toMatch(/^PostgreSQL refused it: index row/);
    // A stored job refused later keeps its stored row, which the pass sights: not marked missing.
    const stored = sim.account.jobAt(100);
    sim.account.mutate(stored.job_id, { model: huge });
    const again = await sync(sim, 'refused', { mode: 'full' });
    expect(again).toMatchObject({ status: 'succeeded', inserted: 0, rejected: 3, markedMissing: 0 });
    const row = await db.pool.query(
      `SELECT model, missing_since FROM sutro.jobs WHERE source = 'refused' AND job_id = $1`,
      [stored.job_id],
    );
    expect(row.rows).toEqual([{ model: stored.model, missing_since: null }]);
  });

  it('fails the run cleanly on a page that stays malformed, keeping what was committed', async () => {
    const sim = await simulator(600, 9);
    sim.faults.add({ kind: 'malformed', variant: 'no-jobs', matchPage: 3 }, 10);
    const result = await sync(sim, 'malformed', { mode: 'full' });
    expect(result.status).toBe('failed');
    expect(result.pages).toBe(3);
    expect(result.error?.message).toMatch(/without a "jobs" array \(run \d+, page 3, cursor /);
    expect(await count('SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1', ['malformed'])).toBe(
      300,
    );
    const run = await db.pool.query(
      'SELECT status, pages, jobs_inserted, error FROM sutro.sync_runs WHERE id = $1',
      [result.runId],
    );
    expect(run.rows[0]).toMatchObject({ status: 'failed', pages: 3, jobs_inserted: 300 });
    expect(await db.store.readState('malformed')).toMatchObject({ resumePages: 3 });
  });
});
