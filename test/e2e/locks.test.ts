import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate, MIGRATIONS_FOLDER } from '../../src/db/infra/migrate.js';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runCli, startCli } from '../helpers/cli.js';
import { createTestDatabase, routes, silentLog, type TestDatabase } from '../helpers/database.js';

/**
 * Locks a stranger holds. sutro-sync takes no advisory lock, so a role that can only read (the BI
 * tool's) cannot hold a sync or a migration up by taking one; what a migration must wait for (a
 * table a BI query holds, another migration) it waits for within a bound, and names.
 */

const KEY = 'sk_test_locks';
let sim: RunningSimulator;
const roles: string[] = [];

beforeAll(async () => {
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: 500, seed: 71 }),
    apiKey: KEY,
    port: 0,
  });
});
afterAll(async () => {
  await sim.close();
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  await admin.end();
});

/** A login role made a reader by grant-reader, connected straight to the server as a BI tool is. */
async function connectReader(db: TestDatabase): Promise<pg.Client> {
  const role = `bi_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  roles.push(role);
  const granted = await runCli(['grant-reader', role], { DATABASE_URL: db.url });
  expect(granted.code, granted.stderr).toBe(0);
  const url = new URL(db.directUrl);
  url.username = role;
  url.password = password;
  const reader = new pg.Client({ connectionString: url.toString(), application_name: 'bi-dashboard' });
  await reader.connect();
  return reader;
}

/** Waits until a backend of `database` waits for a lock, and returns its query. */
async function lockWaiter(db: TestDatabase): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const waiting = await db.pool.query<{ query: string }>(
      `SELECT query FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
      [db.name],
    );
    if (waiting.rows[0] !== undefined) return waiting.rows[0].query;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no backend waited for a lock within 30 s');
}

describe.each(routes())('through %s', (route) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ route });
  });
  afterAll(async () => {
    await db.drop();
  });

  /** Advisory locks on the keys earlier versions used, and a spread of others, in one database. */
  async function holdAdvisoryLocks(client: pg.Client): Promise<void> {
    await client.query(`SELECT pg_advisory_lock(hashtextextended('sutro-sync:source:advisory', 0))`);
    await client.query('SELECT pg_advisory_lock(7346172001)');
    await client.query('SELECT pg_advisory_lock(k) FROM generate_series(0, 99) AS k');
  }

  it('a read-only role holding advisory locks delays neither a sync nor a migration', async () => {
    const reader = await connectReader(db);
    // Advisory locks belong to one database: the reader takes them in the one being migrated.
    const fresh = await createTestDatabase({ empty: true, route });
    const url = new URL(fresh.directUrl);
    url.username = reader.user ?? '';
    url.password = String(reader.password ?? '');
    const inFresh = new pg.Client({ connectionString: url.toString() });
    await inFresh.connect();
    try {
      await holdAdvisoryLocks(reader);
      await holdAdvisoryLocks(inFresh);
      const migrated = await runCli(['migrate'], { DATABASE_URL: fresh.url });
      expect(migrated.code, migrated.stderr).toBe(0);
      const synced = await runCli(['sync'], {
        DATABASE_URL: db.url,
        SUTRO_API_URL: sim.url,
        SUTRO_API_KEY: KEY,
        SUTRO_SOURCE: 'advisory',
      });
      expect(synced.code, synced.stderr).toBe(0);
      expect(synced.logs.find((l) => l.msg === 'sync run succeeded')).toMatchObject({ inserted: 500 });
    } finally {
      await inFresh.end();
      await reader.end();
      await fresh.drop();
    }
  });

  it('migrate waits for another migration within SUTRO_MIGRATION_LOCK_TIMEOUT_MS and names it', async () => {
    const holder = new pg.Client({ connectionString: db.directUrl, application_name: 'another migrate' });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE drizzle.__drizzle_migrations IN EXCLUSIVE MODE');
      const result = await runCli(['migrate'], {
        DATABASE_URL: db.url,
        SUTRO_MIGRATION_LOCK_TIMEOUT_MS: '1500',
      });
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(
        /^sutro-sync: Database migration gave up after waiting 1\.5 s for a lock \(SUTRO_MIGRATION_LOCK_TIMEOUT_MS\)\. Sessions holding sutro's tables: pid \d+ \(user \S+, application "another migrate", idle in transaction since \S+, holding drizzle\.__drizzle_migrations: LOCK TABLE drizzle\.__drizzle_migrations IN EXCLUSIVE MODE\)\n$/,
      );
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('migrate waits for another migration its whole lock timeout, even one longer than a statement may run', async () => {
    const holder = new pg.Client({ connectionString: db.directUrl, application_name: 'another migrate' });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE drizzle.__drizzle_migrations IN EXCLUSIVE MODE');
      const result = await runCli(['migrate'], {
        DATABASE_URL: db.url,
        SUTRO_DB_STATEMENT_TIMEOUT_MS: '1000',
        SUTRO_MIGRATION_LOCK_TIMEOUT_MS: '2500',
      });
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(
        /gave up after waiting 2\.5 s for a lock \(SUTRO_MIGRATION_LOCK_TIMEOUT_MS\)\. Sessions holding/,
      );
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('migrate stops at once on SIGTERM while it waits, and leaves no backend waiting', async () => {
    const holder = new pg.Client({ connectionString: db.directUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE drizzle.__drizzle_migrations IN EXCLUSIVE MODE');
      const waiting = startCli(['migrate'], { DATABASE_URL: db.url });
      expect(await lockWaiter(db)).toMatch(/LOCK TABLE drizzle\.__drizzle_migrations/);
      waiting.child.kill('SIGTERM');
      const result = await waiting.done;
      expect(result.signal ?? result.code).toBeTruthy();
      // Its transaction ended with its connection; through a pooler, when the pooler drops the link.
      await expect
        .poll(
          async () =>
            (
              await db.pool.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
                [db.name],
              )
            ).rows[0]?.n,
          { timeout: 15_000 },
        )
        .toBe(0);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });
});

describe('a migration that must wait for a table a BI query holds', () => {
  let db: TestDatabase;
  let folder: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    // The real migrations and one more that alters sutro.jobs, as a future release would.
    folder = await mkdtemp(path.join(tmpdir(), 'sutro-sync-migrations-'));
    await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
    const journalFile = path.join(folder, 'meta', '_journal.json');
    const journal = JSON.parse(await readFile(journalFile, 'utf8')) as {
      entries: { idx: number; when: number; tag: string; version: string; breakpoints: boolean }[];
    };
    const last = journal.entries.at(-1);
    journal.entries.push({
      idx: (last?.idx ?? 0) + 1,
      version: '7',
      when: (last?.when ?? 0) + 1,
      tag: '9999_future',
      breakpoints: true,
    });
    await writeFile(journalFile, JSON.stringify(journal));
    await writeFile(
      path.join(folder, '9999_future.sql'),
      'ALTER TABLE "sutro"."jobs" ADD COLUMN "future_note" text;',
    );
  });
  afterAll(async () => {
    await db.drop();
    await rm(folder, { recursive: true, force: true });
  });

  it('gives up after its lock timeout naming the session, then applies once the session ends', async () => {
    const reader = await connectReader(db);
    try {
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM sutro.jobs');
      const refused = await migrate(db, silentLog, { lockTimeoutMs: 1_000, folder }).catch(
        (e: unknown) => e as Error,
      );
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(
        /gave up after waiting 1 s for a lock \(SUTRO_MIGRATION_LOCK_TIMEOUT_MS\)\. Sessions holding sutro's tables: pid \d+ \(user bi_[0-9a-f]+, application "bi-dashboard", idle in transaction .*holding sutro\.jobs: SELECT count\(\*\) FROM sutro\.jobs\)/,
      );
      await reader.query('COMMIT');
      await migrate(db, silentLog, { lockTimeoutMs: 1_000, folder });
      const column = await db.pool.query(
        `SELECT 1 FROM information_schema.columns WHERE table_schema = 'sutro' AND table_name = 'jobs' AND column_name = 'future_note'`,
      );
      expect(column.rowCount).toBe(1);
    } finally {
      await reader.end();
    }
  });
});

describe('the sessions a migration names when it gives up', () => {
  let db: TestDatabase;
  let other: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    // A copy of the same template: its relations have the OIDs of db's.
    other = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
    await other.drop();
  });

  it('are those of this database that conflict: not another database’s, not a reader of the ledger', async () => {
    const session = async (url: string, application: string) => {
      const client = new pg.Client({ connectionString: url, application_name: application });
      await client.connect();
      await client.query('BEGIN');
      return client;
    };
    const elsewhere = await session(other.directUrl, 'another database');
    const reader = await session(db.directUrl, 'reads the ledger');
    const holder = await session(db.directUrl, 'another migrate');
    try {
      await elsewhere.query('LOCK TABLE drizzle.__drizzle_migrations IN EXCLUSIVE MODE');
      await elsewhere.query('SELECT count(*) FROM sutro.jobs');
      await reader.query('SELECT count(*) FROM drizzle.__drizzle_migrations');
      await holder.query('LOCK TABLE drizzle.__drizzle_migrations IN EXCLUSIVE MODE');
      const result = await runCli(['migrate'], {
        DATABASE_URL: db.directUrl,
        SUTRO_MIGRATION_LOCK_TIMEOUT_MS: '1000',
      });
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('application "another migrate"');
      expect(result.stderr).not.toContain('another database');
      expect(result.stderr).not.toContain('reads the ledger');
      expect(result.stderr.match(/pid \d+ \(/g)).toHaveLength(1);
    } finally {
      for (const client of [elsewhere, reader, holder]) await client.end();
    }
  });
});
