import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { is } from 'drizzle-orm';
import { getViewConfig, PgView } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Database } from '../../src/db/infra/connect.js';
import { migrate, MIGRATIONS_FOLDER } from '../../src/db/infra/migrate.js';
import * as views from '../../src/db/schema/views.js';
import { generatedStatements } from '../../src/db/store/statements.js';
import { silentLog } from '../helpers/database.js';
import { DEFAULT_LIMITS } from '../helpers/limits.js';
import { startOwnPostgres, type OwnPostgres } from '../helpers/postgres.js';
import { dumpSchema } from '../helpers/schema-dump.js';

/**
 * The Drizzle schema (src/db/schema/tables.ts and views.ts) is the whole truth of the database: drizzle-kit
 * finds nothing in it that the migrations lack, the views' declared columns are those PostgreSQL
 * gives them, and drizzle/schema.sql shows what the migrations build, for reviewers to diff.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DUMP = path.join(MIGRATIONS_FOLDER, 'schema.sql');

let server: OwnPostgres;
let database: Database;
let pool: pg.Pool;

/**
 * The dump is written from the embedded PostgreSQL, whose version package-lock.json pins, not from
 * the suite's server: PostgreSQL deparses views differently from one major version to the next
 * (16 drops the table alias of a one-table query), and the file must not depend on the machine.
 */
beforeAll(async () => {
  server = await startOwnPostgres();
  database = connect({ connectionString: server.url, ssl: false }, silentLog, {
    limits: DEFAULT_LIMITS,
    max: 2,
  });
  pool = database.pool;
  await migrate(database, silentLog, { lockTimeoutMs: 10_000 });
}, 120_000);
afterAll(async () => {
  await database.close();
  await server.destroy();
});

describe('the schema', () => {
  it('is what drizzle/schema.sql shows (`npm run db:dump` refreshes it)', async () => {
    await expect(await dumpSchema(pool)).toMatchFileSnapshot(DUMP);
  });

  it('leaves drizzle-kit nothing to generate: every table, index and view is in the migrations', async () => {
    const scratch = await mkdtemp(path.join(tmpdir(), 'sutro-sync-drizzle-'));
    try {
      await cp(MIGRATIONS_FOLDER, path.join(scratch, 'out'), { recursive: true });
      const config = path.join(scratch, 'drizzle.config.json');
      // drizzle-kit prefixes "./" to `out`: a path relative to the root, then.
      const out = path.relative(ROOT, path.join(scratch, 'out'));
      await writeFile(config, JSON.stringify({ dialect: 'postgresql', schema: './src/db/schema', out }));
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [path.join(ROOT, 'node_modules/drizzle-kit/bin.cjs'), 'generate', '--config', config],
        { cwd: ROOT },
      );
      expect(stdout).toContain('No schema changes, nothing to migrate');
      expect((await readdir(path.join(scratch, 'out'))).sort()).toEqual(
        (await readdir(MIGRATIONS_FOLDER)).sort(),
      );
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }, 60_000);

  it('prepares every statement sutro-sync builds at run time (drizzle/statements.sql)', async () => {
    const client = await pool.connect();
    try {
      for (const { name, text } of generatedStatements()) {
        await expect(client.query(`PREPARE ${name} AS ${text}`), name).resolves.toBeDefined();
        await client.query(`DEALLOCATE ${name}`);
      }
    } finally {
      client.release();
    }
  });

  it("declares each view's columns with the names and types PostgreSQL gives them", async () => {
    const declared = Object.values(views as Record<string, unknown>).flatMap((value) =>
      is(value, PgView) ? [getViewConfig(value)] : [],
    );
    expect(declared.map((v) => v.name).sort()).toEqual([
      'daily_usage',
      'job_facts',
      'job_status_changes',
      'model_usage',
      'sync_health',
    ]);
    for (const view of declared) {
      const { rows } = await pool.query<{ name: string; type: string }>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
          WHERE attrelid = $1::regclass AND attnum > 0 ORDER BY attnum`,
        [`sutro.${view.name}`],
      );
      const columns = Object.values(view.selectedFields).map((field) => {
        const column = field as { name: string; getSQLType(): string };
        return { name: column.name, type: column.getSQLType() };
      });
      expect(columns, view.name).toEqual(rows);
    }
  });
});
