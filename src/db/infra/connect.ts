import pg from 'pg';
import type { Logger } from '../../log.js';
import { clientTimeoutMs, type DatabaseLimits } from './errors.js';
import { NamedStatements } from './named-statements.js';
import type { DatabaseConnection } from './tls.js';
import { inTransaction, type TransactionOptions } from './transaction.js';

/**
 * The one handle every query of sutro-sync goes through: the pool, the limits its transactions run
 * under, and the named statements it may prepare. Modules of src/db take it as their first argument.
 */
export interface Database {
  readonly pool: pg.Pool;
  readonly limits: DatabaseLimits;
  readonly statements: NamedStatements;
  /** A transaction under `limits` unless the options bring their own (see transaction.ts). */
  transaction<T>(
    options: Omit<TransactionOptions, 'limits'> & { readonly limits?: DatabaseLimits },
    work: (client: pg.PoolClient, prelude: readonly pg.QueryResult[]) => Promise<T>,
  ): Promise<T>;
  /** The same pool and statements under other limits (a test's, a migration's). */
  withLimits(limits: DatabaseLimits): Database;
  /** Ends the pool; gives up waiting after CLOSE_TIMEOUT_MS, so a frozen connection cannot hold the exit. */
  close(): Promise<void>;
}

export interface ConnectOptions {
  readonly limits: DatabaseLimits;
  /** Three are busy at most: the page writer, the lease's renewal and a health probe or scrape. */
  readonly max?: number;
  readonly applicationName?: string;
}

/**
 * A connection that stops answering must end the run, not hang it: the client gives up a query
 * CLIENT_GRACE_MS after the server's own statement_timeout would have ended it (see errors.ts),
 * connecting gives up after 10 s, and TCP keepalive finds dead idle connections. Idle connections
 * are closed after 10 s, so that after a freeze the next transaction gets a fresh connection rather
 * than another frozen one.
 */
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 10_000;
const KEEPALIVE_DELAY_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;

const INT8 = 20;
const INT8_ARRAY = 1016;

/**
 * int8 (ids, counts, the lease's token) as a number, as the schema declares it, where pg would give
 * text. A value past 2^53 comes back as a bigint rather than a wrong number: the sums that can get
 * there (tokens) are read as exact decimal text (::text) by every query, and numeric stays text.
 * Set on this pool only, so that pg's global parsers stay as other code expects them.
 */
function parseInt8(text: string): number | bigint {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : BigInt(text);
}

const builtinParser = pg.types.getTypeParser as (oid: number, format?: string) => (text: string) => unknown;
const parseInt8Array = builtinParser(INT8_ARRAY) as (text: string) => (string | null)[];

const TYPES = {
  getTypeParser: (oid: number, format?: string) => {
    if (oid === INT8) return parseInt8;
    if (oid === INT8_ARRAY)
      return (text: string) => parseInt8Array(text).map((item) => (item === null ? null : parseInt8(item)));
    return builtinParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

export function connect(
  connection: Pick<DatabaseConnection, 'connectionString' | 'ssl'>,
  log: Logger,
  options: ConnectOptions,
): Database {
  const pool = new pg.Pool({
    connectionString: connection.connectionString,
    ssl: connection.ssl,
    types: TYPES,
    max: options.max ?? 4,
    application_name: options.applicationName ?? 'sutro-sync',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    query_timeout: clientTimeoutMs(options.limits),
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
  });
  // An idle client whose server went away (a Postgres restart) emits 'error' on the pool; without a
  // listener that would crash the process, and the next run would have recovered by itself.
  let closed = false;
  pool.on('error', (error: Error & { code?: string }) => {
    if (!closed) log.warn({ error: error.message, code: error.code }, 'idle database connection lost');
  });
  const statements = new NamedStatements(log);
  const close = async () => {
    if (closed) return;
    closed = true;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), CLOSE_TIMEOUT_MS);
      timer.unref();
    });
    const ended = pool.end().then(() => false);
    if (await Promise.race([ended, gaveUp])) {
      log.warn({ waitedMs: CLOSE_TIMEOUT_MS }, 'database connections did not close in time; leaving them');
    }
    clearTimeout(timer);
  };
  const handle = (limits: DatabaseLimits): Database => ({
    pool,
    limits,
    statements,
    transaction: (transaction, work) =>
      inTransaction(pool, { ...transaction, limits: transaction.limits ?? limits }, work),
    withLimits: handle,
    close,
  });
  return handle(options.limits);
}

/** The server's version: `number` as server_version_num (170002 for 17.2), `text` as it prints it. */
export async function serverVersion(
  db: Pick<Database, 'pool'>,
): Promise<{ number: number; text: string } | undefined> {
  const result = await db.pool.query<{ number: number; text: string }>(
    `SELECT current_setting('server_version_num')::int AS number, current_setting('server_version') AS text`,
  );
  return result.rows[0];
}
