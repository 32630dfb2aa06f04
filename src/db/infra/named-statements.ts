import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../../log.js';

/**
 * Named (prepared) statements where the connection keeps them. Preparing a big statement once saves
 * its parse and, after five runs, its planning on every later run: an eighth of a page's write
 * (bench/README.md). But a name lives in a server session, and a transaction
 * pooler hands each transaction whichever session is free: PgBouncer before 1.21 (or without
 * max_prepared_statements) answers a name prepared by another client on that session with
 * "prepared statement … already exists", or a name this client prepared elsewhere with "… does not
 * exist". So:
 *
 * - the name is a hash of the statement's text: whichever session holds it, and whichever version of
 *   sutro-sync prepared it there, the name means exactly this text;
 * - the first time a session shows it does not hold this client's names, naming stops for the rest
 *   of the process, and the statement is run again unnamed.
 *
 * Poolers that keep prepared statements (PgBouncer 1.21+ with max_prepared_statements, Supavisor,
 * RDS Proxy) and direct connections keep the saving.
 */
export class NamedStatements {
  private kept = true;

  constructor(private readonly log?: Logger) {}

  /** `query` under a name derived from its text, while names are kept; else `query` itself. */
  name(query: pg.QueryConfig): pg.QueryConfig {
    if (!this.kept) return query;
    return {
      ...query,
      name: `sutro-sync.${createHash('sha256').update(query.text).digest('hex').slice(0, 16)}`,
    };
  }

  /**
   * Whether `error` came from a session that does not hold the names this client prepared; if so,
   * names are not used again by this process, and the caller runs its statement once more unnamed.
   */
  lostBy(error: unknown): boolean {
    const code = (error as { code?: unknown }).code;
    // 42P05 duplicate_prepared_statement, 26000 invalid_sql_statement_name.
    if (!this.kept || (code !== '42P05' && code !== '26000')) return false;
    this.kept = false;
    this.log?.warn(
      { code },
      'the database connection does not keep prepared statements (a transaction pooler: PgBouncer before 1.21, ' +
        'or max_prepared_statements = 0); planning every page from now on',
    );
    return true;
  }
}
