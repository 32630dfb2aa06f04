import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { Logger } from '../log.js';
import * as schema from './schema.js';

export type Db = NodePgDatabase<typeof schema>;

export interface Database {
  readonly pool: pg.Pool;
  readonly db: Db;
  close(): Promise<void>;
}

/**
 * pg returns int8 and numeric as strings by default; sutro-sync keeps money as decimal text
 * anyway, and converts counts where it reads them, so the global parsers are left alone.
 */
export function connect(
  url: string,
  log: Logger,
  options: { max?: number; applicationName?: string } = {},
): Database {
  const pool = new pg.Pool({
    connectionString: url,
    // Three are enough: the run's advisory-lock session, the page writer and a health probe.
    max: options.max ?? 4,
    application_name: options.applicationName ?? 'sutro-sync',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client whose server went away (a Postgres restart) emits 'error' on the pool; without a
  // listener that would crash the process, and the next run would have recovered by itself.
  let closed = false;
  pool.on('error', (error: Error & { code?: string }) => {
    if (!closed) log.warn({ error: error.message, code: error.code }, 'idle database connection lost');
  });
  return {
    pool,
    db: drizzle(pool, { schema }),
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
