import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator';
import type pg from 'pg';
import type { Logger } from '../log.js';

/** drizzle/ sits at the package root, two levels above both src/db and dist/db. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/**
 * Replicas, a CronJob and a manual run can all start at once; without a lock two of them would
 * both see a migration as pending and the second would fail on "relation already exists".
 * The key is an arbitrary constant that only sutro-sync uses.
 */
const MIGRATION_LOCK_KEY = 7_346_172_001;

export async function migrate(pool: pg.Pool, log: Logger): Promise<void> {
  const client = await pool.connect();
  let released = false;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const started = performance.now();
    await drizzleMigrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
    log.debug({ ms: Math.round(performance.now() - started) }, 'migrations applied');
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  } catch (error) {
    // A failed migration may leave the session in an aborted state; dropping the connection
    // releases the lock with it.
    client.release(error as Error);
    released = true;
    throw new Error(`Database migration failed: ${(error as Error).message}`, { cause: error });
  } finally {
    if (!released) client.release();
  }
}
