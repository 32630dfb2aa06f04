import type pg from 'pg';
import { databaseError, type DatabaseLimits } from './errors.js';

/**
 * The one way sutro-sync runs a transaction. A transaction pooler (PgBouncer in transaction mode,
 * the poolers of hosted PostgreSQL) hands each transaction whatever server connection is free, so
 * nothing may live in the session: every setting that matters is set with SET LOCAL inside the
 * transaction, and dies with it.
 *
 * - statement_timeout bounds each statement; lock_timeout bounds each wait for a lock.
 * - idle_in_transaction_session_timeout equals statement_timeout: the worker never pauses inside a
 *   transaction, so a transaction left idle is one whose client froze or died, and it must not keep
 *   its row locks (the lease row among them) longer than the client itself waits (see
 *   CLIENT_GRACE_MS): then the client's next transaction, on a fresh connection, finds them free.
 * - client_connection_check_interval (PostgreSQL 14+): a statement whose client went away (killed,
 *   or given up by the client's own timeout) is cancelled within a second, instead of waiting on
 *   for its lock or running on to its end.
 *
 * BEGIN, the settings and the caller's `prelude` (the lease's fence) go to the server as one
 * message, so they cost one round trip. On any failure the connection is destroyed rather than
 * rolled back and reused: after a timeout or a network error it may be frozen or half-read, and
 * PostgreSQL rolls back the transaction of a connection that goes away.
 */

export interface TransactionOptions {
  /** What the transaction does, for error messages: "writing page 12". */
  readonly what: string;
  readonly limits: DatabaseLimits;
  readonly readOnly?: boolean;
  /** A snapshot shared by every statement: reports whose parts must agree with each other. */
  readonly repeatableRead?: boolean;
  /** End with ROLLBACK: a probe whose writes must not stay. */
  readonly rollback?: boolean;
  /**
   * Statements without parameters run right after BEGIN in the same message; their results are
   * handed to `work`. Values in them must be literals escaped with pg.escapeLiteral.
   */
  readonly prelude?: string;
  /** Likewise, run right before COMMIT, in the COMMIT's message. */
  readonly epilogue?: string;
}

const CONNECTION_CHECK_MS = 1_000;

/** BEGIN and the settings: the statements before the caller's prelude, whose results come after theirs. */
function begin(options: TransactionOptions): string[] {
  const { statementTimeoutMs, lockTimeoutMs } = options.limits;
  const mode = [
    ...(options.repeatableRead ? ['ISOLATION LEVEL REPEATABLE READ'] : []),
    ...(options.readOnly ? ['READ ONLY'] : []),
  ].join(' ');
  return [
    `BEGIN${mode === '' ? '' : ` ${mode}`}`,
    `SET LOCAL statement_timeout = ${Math.trunc(statementTimeoutMs)}`,
    `SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${Math.trunc(statementTimeoutMs)}`,
    `SET LOCAL client_connection_check_interval = ${CONNECTION_CHECK_MS}`,
  ];
}

export async function inTransaction<T>(
  pool: pg.Pool,
  options: TransactionOptions,
  work: (client: pg.PoolClient, prelude: readonly pg.QueryResult[]) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw databaseError(error, `${options.what} (connecting)`, options.limits);
  }
  // An error between two statements (the server restarting) arrives as an event; the next statement
  // then fails too, and the connection is discarded below.
  const ignore = () => undefined;
  client.on('error', ignore);
  let failure: Error | undefined;
  try {
    const opening = begin(options);
    const text = [...opening, ...(options.prelude === undefined ? [] : [options.prelude])].join('; ');
    const results = (await client.query(text)) as unknown as pg.QueryResult[];
    const value = await work(client, results.slice(opening.length));
    const end = options.rollback ? 'ROLLBACK' : 'COMMIT';
    await client.query(options.epilogue === undefined ? end : `${options.epilogue}; ${end}`);
    return value;
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
    throw databaseError(error, options.what, options.limits);
  } finally {
    client.off('error', ignore);
    client.release(failure);
  }
}
