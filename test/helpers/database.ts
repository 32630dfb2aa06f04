import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { inject } from 'vitest';
import { connect, type Database } from '../../src/db/connect.js';
import { createSyncStore, type SyncStore } from '../../src/db/store.js';

export interface TestDatabase extends Database {
  readonly url: string;
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
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = inject('adminUrl');
  const template = inject('templateDatabase');
  const name = `${template.replace('_template_', '_')}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    // Two files copying the template at the same instant can collide on its lock; retry briefly.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await admin.query(`CREATE DATABASE ${name}${options.empty ? '' : ` TEMPLATE ${template}`}`);
        break;
      } catch (error) {
        if (attempt >= 20 || (error as { code?: string }).code !== '55006') throw error;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = connect(url.toString(), silentLog, { max: 6 });
  return {
    ...database,
    url: url.toString(),
    name,
    store: createSyncStore(database.db, database.pool, silentLog),
    async drop() {
      await database.close();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
