import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS_FOLDER } from '../../src/db/infra/migrate.js';
import { readStatus } from '../../src/db/read/status.js';
import { SimulatedAccount, type RunningSimulator } from '../../src/simulator/index.js';
import { runSync } from '../../src/sync/engine.js';
import { createTestDatabase, silentLog, type TestDatabase } from '../helpers/database.js';
import { LEASE_SECONDS, MIGRATION_LOCK_TIMEOUT_MS } from '../helpers/limits.js';
import { Simulators, testApi } from '../helpers/sync.js';

/**
 * What a sync says about a source's data (a field the API reference does not name, a rejected row,
 * characters PostgreSQL cannot store) it says once per source and thing, whichever process runs:
 * the database remembers it, and `status` lists it.
 */

let db: TestDatabase;
let sim: RunningSimulator;
const simulators = new Simulators();

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await simulators.start(new SimulatedAccount({ jobs: 250, seed: 31, quirks: false }));
  // Among the newest jobs, which every incremental run lists again.
  sim.account.insertRaw(1, { ...sim.account.jobAt(2), job_id: 'job_region', region: 'eu-west' });
  sim.account.insertRaw(3, { ...sim.account.jobAt(4), job_id: 'job_nul', description: 'a\u0000b' });
  sim.account.insertRaw(5, { ...sim.account.jobAt(6), job_id: 'job_negative', input_tokens: -1 });
});
afterAll(async () => {
  await simulators.closeAll();
  await db.drop();
});

/** One run as a new process would make it, with the warnings it logged. */
async function sync(source: string, mode: 'full' | 'incremental'): Promise<string[]> {
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
  const result = await runSync(
    { store: db.store, api: testApi(sim), log },
    { source, mode, trigger: 'cli', safetyMarginSeconds: 600, leaseSeconds: LEASE_SECONDS },
  );
  expect(result).toMatchObject({ skipped: false, status: 'succeeded' });
  return warnings.map((line) => (JSON.parse(line) as { msg: string }).msg);
}

const SAID = [
  'jobs carry a field the API reference does not name, kept in raw: region',
  'job held characters PostgreSQL cannot store (U+0000 or a lone surrogate); stored with U+FFFD in their place',
  'job rejected by validation; stored in sutro.rejected_jobs',
];

describe('what a sync says about the data', () => {
  it('is said by the first run that meets it, then by no run of the source', async () => {
    expect((await sync('said-once', 'full')).sort()).toEqual([...SAID].sort());
    expect(await sync('said-once', 'incremental')).toEqual([]);
    expect(await sync('said-once', 'full')).toEqual([]);
    expect(await sync('said-once', 'incremental')).toEqual([]);
  });

  it('is said again for another source', async () => {
    expect((await sync('said-once-too', 'incremental')).sort()).toEqual([...SAID].sort());
  });

  it('is listed by status, with the runs that met it', async () => {
    const status = await readStatus(db, 'said-once');
    expect(status.noticeCount).toBe(2);
    expect(status.notices).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'unknown_field', subject: 'region', runs_seen: 4 }),
        expect.objectContaining({ kind: 'scrubbed_job', subject: 'job_nul', detail: 'description' }),
      ]),
    );
    expect(status.rejected).toBe(1);
    expect(status.rejectedRows).toEqual([
      expect.objectContaining({
        job_id: 'job_negative',
        reason: 'input_tokens: must not be negative (got -1)',
        times_seen: 4,
      }),
    ]);
  });
});

describe('migration 0012', () => {
  it('counts the drift earlier runs warned of as said, so that an upgrade does not say it again', async () => {
    const upgraded = await createTestDatabase({ empty: true });
    const folder = await mkdtemp(path.join(tmpdir(), 'sutro-sync-migrations-'));
    try {
      // The migrations before 0012, and the runs an earlier version recorded.
      await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
      const journalFile = path.join(folder, 'meta', '_journal.json');
      const journal = JSON.parse(await readFile(journalFile, 'utf8')) as { entries: { tag: string }[] };
      await writeFile(
        journalFile,
        JSON.stringify({ ...journal, entries: journal.entries.filter((e) => e.tag < '0012') }),
      );
      const options = { lockTimeoutMs: MIGRATION_LOCK_TIMEOUT_MS };
      await migrate(upgraded, silentLog, { ...options, folder });
      await upgraded.pool.query(
        `INSERT INTO sutro.sync_runs (source, mode, requested_mode, trigger, status, unknown_fields, missing_fields)
         VALUES ('a', 'full', 'full', 'cli', 'succeeded', '{region}', '{}'),
                ('a', 'incremental', 'incremental', 'cli', 'succeeded', '{region,tags}', '{name}'),
                ('b', 'full', 'full', 'cli', 'failed', '{}', '{}')`,
      );
      await migrate(upgraded, silentLog, options);
      const said = await upgraded.pool.query(
        'SELECT source, kind, subject, runs_seen FROM sutro.notices ORDER BY 1, 2, 3',
      );
      expect(said.rows).toEqual([
        { source: 'a', kind: 'missing_field', subject: 'name', runs_seen: 1 },
        { source: 'a', kind: 'unknown_field', subject: 'region', runs_seen: 2 },
        { source: 'a', kind: 'unknown_field', subject: 'tags', runs_seen: 1 },
      ]);
    } finally {
      await upgraded.drop();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
