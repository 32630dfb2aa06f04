import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { inject } from 'vitest';
import { connect, type Database } from '../../src/db/infra/connect.js';
import { createSyncStore } from '../../src/db/store/store.js';
import type { SyncStore } from '../../src/sync/port.js';
import { DEFAULT_LIMITS } from './limits.js';

/** How the code under test reaches PostgreSQL: directly, or through PgBouncer in transaction mode. */
export type Route = 'direct' | 'pooler';

/** The routes this machine offers: the pooler only where PgBouncer is installed (see global-setup.ts). */
export function routes(): Route[] {
  return inject('poolerUrl') === null ? ['direct'] : ['direct', 'pooler'];
}

export interface TestDatabase extends Database {
  /** The URL for the code under test, by the route asked for. */
  readonly url: string;
  /** Straight to the server, whatever the route: for what a pooler would get in the way of. */
  readonly directUrl: string;
  readonly route: Route;
  readonly name: string;
  readonly store: SyncStore;
  /** Drops the database; call in afterAll. */
  drop(): Promise<void>;
}

export const silentLog = pino({ level: 'silent' });

/**
 * A fresh, migrated database of its own for one test file, copied from the suite's template;
 * `empty` gives an unmigrated one instead (for tests of the migrations themselves).
 */
export async function createTestDatabase(
  options: { empty?: boolean; route?: Route } = {},
): Promise<TestDatabase> {
  const route = options.route ?? 'direct';
  const adminUrl = inject('adminUrl');
  const template = inject('templateDatabase');
  const name = `${template.replace('_template_', '_')}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    // PostgreSQL 15 copies a template by writing all of it to the WAL; copying its files is cheaper
    // for a small one, and a test database needs no crash safety.
    const version = await admin.query<{ n: number }>(
      `SELECT current_setting('server_version_num')::int AS n`,
    );
    const strategy = (version.rows[0]?.n ?? 0) >= 150_000 ? ' STRATEGY FILE_COPY' : '';
    // Two files copying the template at the same instant can collide on its lock; retry briefly.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await admin.query(
          `CREATE DATABASE ${name}${options.empty ? '' : ` TEMPLATE ${template}${strategy}`}`,
        );
        break;
      } catch (error) {
        if (attempt >= 20 || (error as { code?: string }).code !== '55006') throw error;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
    // A server the suite did not start (TEST_DATABASE_URL) keeps its fsync; commits of a test
    // database need not wait for the WAL to reach the disk. (Settings are per database: a copy of
    // the template does not inherit its own.)
    await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  } finally {
    await admin.end();
  }
  const directUrl = new URL(adminUrl);
  directUrl.pathname = `/${name}`;
  const poolerUrl = inject('poolerUrl');
  if (route === 'pooler' && poolerUrl === null)
    throw new Error('no PgBouncer on this machine (see routes())');
  const url = new URL(route === 'pooler' ? (poolerUrl ?? '') : adminUrl);
  url.pathname = `/${name}`;
  const database = connect({ connectionString: url.toString(), ssl: false }, silentLog, {
    limits: DEFAULT_LIMITS,
    max: 6,
  });
  return {
    ...database,
    url: url.toString(),
    directUrl: directUrl.toString(),
    route,
    name,
    store: createSyncStore(database),
    async drop() {
      await database.close();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
