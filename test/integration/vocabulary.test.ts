import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLE_CONFIGS } from '../../src/db/schema/table-list.js';
import { HISTORY_CHANGES } from '../../src/db/schema/vocabulary.js';
import { NOTICE_KINDS, RUN_MODES, RUN_STATUSES, RUN_TRIGGERS, STOP_REASONS } from '../../src/sync/port.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/**
 * The database states the vocabulary the code speaks (db/schema/vocabulary.ts): a run's mode,
 * trigger, status and stop reason, a history row's kind of change and a notice's kind, each a CHECK
 * built from the TypeScript list, so PostgreSQL refuses a word the code does not know and accepts
 * every one it does.
 */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const RUN_COLUMNS = {
  mode: RUN_MODES,
  requested_mode: RUN_MODES,
  trigger: RUN_TRIGGERS,
  status: RUN_STATUSES,
};

async function insertRun(overrides: Record<string, string>): Promise<unknown> {
  const values = { mode: 'full', requested_mode: 'full', trigger: 'cli', status: 'running', ...overrides };
  const columns = Object.keys(values);
  return db.pool
    .query(
      `INSERT INTO sutro.sync_runs (source, ${columns.join(', ')}) VALUES ('vocabulary', ${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
      Object.values(values),
    )
    .then(
      () => 'stored',
      (error: Error & { code?: string; constraint?: string }) => ({
        code: error.code,
        constraint: error.constraint,
      }),
    );
}

describe('sutro.sync_runs', () => {
  for (const [column, words] of Object.entries(RUN_COLUMNS)) {
    it(`accepts every ${column} the code speaks and refuses any other`, async () => {
      for (const word of words) expect(await insertRun({ [column]: word }), word).toBe('stored');
      expect(await insertRun({ [column]: 'bogus-status' })).toEqual({
        code: '23514',
        constraint: `sync_runs_${column}_check`,
      });
    });
  }

  it('accepts every stop reason and none, and refuses any other', async () => {
    for (const reason of STOP_REASONS)
      expect(await insertRun({ status: 'failed', stop_reason: reason })).toBe('stored');
    expect(await insertRun({ status: 'running' })).toBe('stored');
    expect(await insertRun({ status: 'failed', stop_reason: 'gave_up' })).toEqual({
      code: '23514',
      constraint: 'sync_runs_stop_reason_check',
    });
  });
});

describe('sutro.job_history', () => {
  it('accepts the kinds of change the page write records, and refuses any other', async () => {
    const insert = (change: string) =>
      db.pool
        .query(
          `INSERT INTO sutro.job_history (source, job_id, change, changed_fields, status) VALUES ('vocabulary', 'j', $1, '{}', 'RUNNING')`,
          [change],
        )
        .then(
          () => 'stored',
          (error: Error & { constraint?: string }) => error.constraint,
        );
    for (const change of HISTORY_CHANGES) expect(await insert(change)).toBe('stored');
    expect(await insert('deleted')).toBe('job_history_change_check');
  });
});

describe('sutro.notices', () => {
  it('accepts the kinds of notice a run records, and refuses any other', async () => {
    const insert = (kind: string) =>
      db.pool
        .query(`INSERT INTO sutro.notices (source, kind, subject) VALUES ('vocabulary', $1, 'x')`, [kind])
        .then(
          () => 'stored',
          (error: Error & { constraint?: string }) => error.constraint,
        );
    for (const kind of NOTICE_KINDS) expect(await insert(kind)).toBe('stored');
    expect(await insert('shouted')).toBe('notices_kind_check');
  });
});

describe('the CHECK constraints', () => {
  it('are those the schema declares, and there are no others', async () => {
    const live = await db.pool.query<{ name: string }>(
      `SELECT c.conname AS name FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = 'sutro' AND c.contype = 'c' ORDER BY 1`,
    );
    const declared = TABLE_CONFIGS.flatMap((table) => table.checks.map((check) => check.name)).sort();
    expect(live.rows.map((row) => row.name)).toEqual(declared);
    expect(declared).toHaveLength(7);
  });
});
