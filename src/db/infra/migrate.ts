import { fileURLToPath } from 'node:url';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type pg from 'pg';
import type { Logger } from '../../log.js';
import { CLIENT_GRACE_MS, clientTimeoutMs, DatabaseError, SQLSTATE } from './errors.js';
import type { Database } from './connect.js';

/** drizzle/ sits at the package root, three levels above both src/db/infra and dist/db/infra. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../drizzle', import.meta.url));

/**
 * drizzle-kit writes the migrations; this applies them, in the table drizzle's own migrator keeps
 * (drizzle.__drizzle_migrations: the hash and `when` of each applied migration), so that databases
 * migrated by either agree. It exists because drizzle's migrator reads which migrations are pending
 * before it opens its transaction, so two processes starting together both apply the same ones, and
 * serializing them needs a lock: a session-level advisory lock breaks behind a transaction pooler,
 * and any role that can connect, the read-only BI role included, could take its key and hold every
 * migration up. Here the lock is the migrations table itself, locked in EXCLUSIVE mode inside the
 * one transaction that reads what is pending and applies it: only its owner can take that mode
 * (readers get ACCESS SHARE, which does not conflict), and it ends with the transaction.
 */

/**
 * Applying a migration may build an index over millions of rows: its statements may run for half an
 * hour. Waiting for a lock is bounded separately, by SUTRO_MIGRATION_LOCK_TIMEOUT_MS. This is the
 * one wait longer than a statement timeout: a database that freezes while a migration is applied
 * holds the process up to this long (the client's query_timeout also allows it).
 */
const APPLY_TIMEOUT_MS = 30 * 60_000;

export interface MigrateOptions {
  /** SUTRO_MIGRATION_LOCK_TIMEOUT_MS: the lock wait, instead of the handle's lock_timeout. */
  readonly lockTimeoutMs: number;
  /** Another folder of migrations (tests). */
  readonly folder?: string;
}

const CREATE_LEDGER = [
  'CREATE SCHEMA IF NOT EXISTS drizzle',
  `CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
];

/**
 * Sessions that hold up a migration, to name in a lock timeout: those holding a lock on sutro's
 * tables (or the ledger) in this database. pg_locks covers the whole server, and other databases
 * (copies of one template above all) have relations of the same OIDs, so the database is matched.
 * Autovacuum workers are left out: they cancel themselves when they block a lock request. So are
 * readers of the ledger, whose ACCESS SHARE does not conflict with the EXCLUSIVE mode a migration
 * takes on it; any lock on a table the migration alters may.
 */
const LOCK_HOLDERS = `
SELECT a.pid, a.usename AS "user", a.application_name AS application, a.state,
       a.xact_start, left(a.query, 120) AS query,
       string_agg(DISTINCT n.nspname || '.' || c.relname, ', ') AS relations
  FROM pg_locks l
  JOIN pg_class c ON c.oid = l.relation
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.granted AND n.nspname IN ('sutro', 'drizzle') AND c.relkind IN ('r', 'p', 'v', 'm')
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND a.backend_type = 'client backend'
   AND NOT (n.nspname = 'drizzle' AND l.mode = 'AccessShareLock')
   AND l.pid <> pg_backend_pid()
 GROUP BY 1, 2, 3, 4, 5, 6
 ORDER BY a.xact_start NULLS LAST`;

interface Holder {
  pid: number;
  user: string | null;
  application: string | null;
  state: string | null;
  xact_start: Date | null;
  query: string | null;
  relations: string;
}

async function describeLockHolders(db: pg.Pool | pg.ClientBase): Promise<string> {
  try {
    const { rows } = await db.query<Holder>(LOCK_HOLDERS);
    if (rows.length === 0) return 'no session holds a lock on them any more; try again';
    return rows
      .map(
        (h) =>
          `pid ${h.pid} (user ${h.user ?? '?'}, application "${h.application ?? ''}", ${h.state ?? 'state unknown'}` +
          `${h.xact_start ? ` since ${h.xact_start.toISOString()}` : ''}, holding ${h.relations}` +
          `${h.query ? `: ${h.query.replace(/\s+/g, ' ')}` : ''})`,
      )
      .join('; ');
  } catch (error) {
    return `(could not list them: ${(error as Error).message})`;
  }
}

async function applyPending(
  db: Database,
  log: Logger,
  options: MigrateOptions,
  migrations: ReturnType<typeof readMigrationFiles>,
): Promise<number> {
  // A statement that waits for a lock may run that long and then do its own work: statement_timeout
  // (and the client's limit above it) must leave room for the whole wait, or it ends the wait first.
  const limits = {
    statementTimeoutMs: db.limits.statementTimeoutMs + options.lockTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
  };
  // query_timeout (pg's client-side limit) is honoured per query, but @types/pg does not declare it.
  const waitingQuery = (text: string, timeoutMs = clientTimeoutMs(limits)): pg.QueryConfig =>
    ({ text, query_timeout: timeoutMs }) as pg.QueryConfig;
  return db.transaction({ what: 'migrating the database', limits }, async (client) => {
    const ledger = await client.query<{ exists: boolean }>(
      `SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists`,
    );
    if (ledger.rows[0]?.exists !== true) for (const statement of CREATE_LEDGER) await client.query(statement);
    // Tried without waiting first, so that a wait is announced with whom it waits for.
    await client.query('SAVEPOINT ledger');
    try {
      await client.query('LOCK TABLE drizzle.__drizzle_migrations IN EXCLUSIVE MODE NOWAIT');
    } catch (error) {
      if ((error as { code?: unknown }).code !== SQLSTATE.lockNotAvailable) throw error;
      await client.query('ROLLBACK TO SAVEPOINT ledger');
      log.info(
        { waitMs: options.lockTimeoutMs, holders: await describeLockHolders(client), notice: true },
        'another process is migrating the database; waiting for it (SUTRO_MIGRATION_LOCK_TIMEOUT_MS)',
      );
      await client.query(waitingQuery('LOCK TABLE drizzle.__drizzle_migrations IN EXCLUSIVE MODE'));
    }
    const last = await client.query<{ created_at: string | null }>(
      'SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1',
    );
    const appliedUpTo = Number(last.rows[0]?.created_at ?? 0);
    const pending = migrations.filter((m) => m.folderMillis > appliedUpTo);
    if (pending.length === 0) return 0;
    await client.query(`SET LOCAL statement_timeout = ${APPLY_TIMEOUT_MS}`);
    for (const migration of pending) {
      const started = performance.now();
      for (const statement of migration.sql) {
        if (statement.trim() === '') continue;
        await client.query(waitingQuery(statement, APPLY_TIMEOUT_MS + CLIENT_GRACE_MS));
      }
      await client.query('INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ($1, $2)', [
        migration.hash,
        migration.folderMillis,
      ]);
      log.info(
        { migration: migration.folderMillis, ms: Math.round(performance.now() - started), notice: true },
        'migration applied',
      );
    }
    return pending.length;
  });
}

/** Concurrent first migrations race to create the ledger; the loser finds it on its second try. */
const CREATION_RACE: readonly string[] = [
  SQLSTATE.uniqueViolation,
  SQLSTATE.duplicateSchema,
  SQLSTATE.duplicateTable,
];

export async function migrate(db: Database, log: Logger, options: MigrateOptions): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder: options.folder ?? MIGRATIONS_FOLDER });
  for (let attempt = 1; ; attempt += 1) {
    try {
      const applied = await applyPending(db, log, options, migrations);
      log.debug({ applied }, 'database schema is up to date');
      return;
    } catch (error) {
      const code = (error as DatabaseError).code;
      if (attempt === 1 && code !== undefined && CREATION_RACE.includes(code)) continue;
      if (code === SQLSTATE.lockNotAvailable) {
        throw new DatabaseError(
          `Database migration gave up after waiting ${options.lockTimeoutMs / 1000} s for a lock ` +
            `(SUTRO_MIGRATION_LOCK_TIMEOUT_MS). Sessions holding sutro's tables: ${await describeLockHolders(db.pool)}`,
          code,
          { cause: error },
        );
      }
      throw new DatabaseError(`Database migration failed: ${(error as Error).message}`, code, {
        cause: error,
      });
    }
  }
}

/**
 * The migrations this database has not applied yet (for `doctor`): read without the ledger's lock,
 * so it never waits for a migration in progress, and may be one migration behind it. `pending` is
 * null when the role may not read the ledger (a reader role).
 */
export async function pendingMigrations(
  db: Pick<Database, 'pool'>,
  folder = MIGRATIONS_FOLDER,
): Promise<{ total: number; pending: number } | { total: number; pending: null }> {
  const migrations = readMigrationFiles({ migrationsFolder: folder });
  // From the catalogs: to_regclass raises, rather than answers null, in a schema the role may not use.
  const ledger = await db.pool.query<{ exists: boolean; readable: boolean }>(
    `SELECT count(*) > 0 AS exists,
            coalesce(bool_and(has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')), true) AS readable
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'drizzle' AND c.relname = '__drizzle_migrations'`,
  );
  if (ledger.rows[0]?.readable === false) return { total: migrations.length, pending: null };
  const { rows } =
    ledger.rows[0]?.exists === true
      ? await db.pool.query<{ applied_up_to: string | null }>(
          'SELECT max(created_at)::text AS applied_up_to FROM drizzle.__drizzle_migrations',
        )
      : { rows: [] };
  const appliedUpTo = Number(rows[0]?.applied_up_to ?? 0);
  return {
    total: migrations.length,
    pending: migrations.filter((m) => m.folderMillis > appliedUpTo).length,
  };
}
