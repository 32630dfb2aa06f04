import { LeaseLostError } from '../../sync/port.js';

/**
 * PostgreSQL's error codes that sutro-sync acts on, and the one function that turns a driver error
 * into a message saying what to fix. Everything that talks to the database reports through here.
 */

export const SQLSTATE = {
  /** statement_timeout (or a cancel request). */
  queryCanceled: '57014',
  /** lock_timeout. */
  lockNotAvailable: '55P03',
  /** idle_in_transaction_session_timeout ended the session. */
  idleInTransactionTimeout: '25P03',
  undefinedTable: '42P01',
  uniqueViolation: '23505',
  duplicateSchema: '42P06',
  duplicateTable: '42P07',
  invalidAuthorization: '28000',
} as const;

/** The timeouts a transaction of the worker runs under (see transaction.ts). */
export interface DatabaseLimits {
  /** statement_timeout: the longest any one statement may run. */
  readonly statementTimeoutMs: number;
  /** lock_timeout: the longest a statement may wait for a lock another session holds. */
  readonly lockTimeoutMs: number;
}

/**
 * How much longer than the server the client waits for an answer before it gives the connection up
 * as frozen: the server's own statement_timeout error, which says which limit was hit, normally
 * arrives first. A statement timeout shorter than this gets a grace as long as itself, so that a
 * short timeout also gives a frozen connection up soon (2 s for the smallest, 1 s).
 */
export const CLIENT_GRACE_MS = 10_000;

export function clientGraceMs(limits: DatabaseLimits): number {
  return Math.min(CLIENT_GRACE_MS, limits.statementTimeoutMs);
}

export function clientTimeoutMs(limits: DatabaseLimits): number {
  return limits.statementTimeoutMs + clientGraceMs(limits);
}

/** An error of the database, said in terms of what to fix; `cause` holds the driver's error. */
export class DatabaseError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    options: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DatabaseError';
  }
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

const UNTRUSTED_CERTIFICATE = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** The part of a message that says what went wrong and what to change, or null for errors without one. */
function explain(error: Error & { code?: string }, limits: DatabaseLimits | undefined): string | null {
  const { code, message } = error;
  if (code === SQLSTATE.queryCanceled && /statement timeout/i.test(message) && limits) {
    return `PostgreSQL cancelled the statement after ${seconds(limits.statementTimeoutMs)} (SUTRO_DB_STATEMENT_TIMEOUT_MS)`;
  }
  if (code === SQLSTATE.lockNotAvailable && limits) {
    return `gave up after waiting ${seconds(limits.lockTimeoutMs)} for a lock another session holds (SUTRO_DB_LOCK_TIMEOUT_MS)`;
  }
  if (code === SQLSTATE.undefinedTable && /"sutro\./.test(message)) {
    return `this database has no sutro-sync tables yet (${message}): run \`sutro-sync migrate\` (sync and start migrate by themselves)`;
  }
  if (code === SQLSTATE.idleInTransactionTimeout) {
    return 'PostgreSQL ended the session: its transaction sat idle past idle_in_transaction_session_timeout';
  }
  if (/query read timeout/i.test(message) && limits) {
    return (
      `the database did not answer within ${seconds(clientTimeoutMs(limits))}: the connection is frozen ` +
      `(a network partition, a stalled pooler) or the server is overloaded (SUTRO_DB_STATEMENT_TIMEOUT_MS + ${seconds(clientGraceMs(limits))})`
    );
  }
  if (code !== undefined && UNTRUSTED_CERTIFICATE.has(code)) {
    return (
      `the server's TLS certificate is not signed by a CA sutro-sync trusts (${code}): set DATABASE_CA_FILE, ` +
      `or sslrootcert=<file> in DATABASE_URL, to your provider's CA bundle (node-postgres verifies ` +
      `sslmode=require as verify-full; uselibpqcompat=true gives libpq's meaning)`
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return (
      `the server's TLS certificate names another host (${message}): connect by a name on the certificate, ` +
      `or set uselibpqcompat=true&sslmode=verify-ca in DATABASE_URL to check the chain only`
    );
  }
  if (code === 'CERT_HAS_EXPIRED') return `the server's TLS certificate has expired (${code})`;
  if (/does not support SSL/i.test(message)) {
    return 'DATABASE_URL asks for TLS (sslmode, sslrootcert or DATABASE_CA_FILE) but the server does not offer it';
  }
  if (code === SQLSTATE.invalidAuthorization && /no encryption/i.test(message)) {
    return `the server accepts only TLS connections (${message}): add sslmode=require to DATABASE_URL`;
  }
  return null;
}

/**
 * `what` says what the statement was for ("writing page 12"). The result keeps the driver's
 * error as its cause and its SQLSTATE as `code`, so that callers can still tell errors apart.
 */
export function databaseError(error: unknown, what: string, limits?: DatabaseLimits): Error {
  if (error instanceof DatabaseError || error instanceof LeaseLostError) return error;
  const driver = error instanceof Error ? error : new Error(String(error));
  const code = (driver as { code?: unknown }).code;
  const reason = explain(driver, limits) ?? driver.message;
  return new DatabaseError(`${what}: ${reason}`, typeof code === 'string' ? code : undefined, {
    cause: driver,
  });
}

/** The database cannot be used: it does not answer, or its migration failed (exit code 3). */
export class DatabaseUnavailableError extends Error {
  constructor(message: string, options: ErrorOptions) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}
