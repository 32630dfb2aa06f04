import type { Config } from './config.js';
import { connect, serverVersion, type Database } from './db/infra/connect.js';
import { startEmbeddedPostgres } from './db/infra/embedded.js';
import { databaseError, DatabaseUnavailableError } from './db/infra/errors.js';
import { migrate } from './db/infra/migrate.js';
import { createSyncStore } from './db/store/store.js';
import type { Logger } from './log.js';
import type { Secrets } from './redact.js';
import type { SourceConfig } from './sources.js';
import { createSutroClient, type JobsApi, type RequestObservation } from './sutro/client.js';
import type { SyncStore } from './sync/port.js';

/** What every command runs with: the configuration, read once, the logger, and what it must never print. */
export interface CommandContext {
  readonly config: Config;
  readonly log: Logger;
  readonly secrets: Secrets;
  /**
   * Reads the configuration again, as it was read at the start (the same environment, the sources
   * file as it is now): `start` reloads its sources with it. Throws a ConfigError for a bad one.
   */
  readonly reload: () => Config;
}

/** A connected, migrated database, and how to let go of it (including an embedded server). */
export interface OpenDatabase extends Database {
  /** The database's URL to show: without a password. */
  readonly displayUrl: string;
  readonly store: SyncStore;
  /** Set when the embedded server is in use: the pgpass file psql needs (PGPASSFILE). */
  readonly passwordFile: string | null;
  /**
   * One connection of its own for /readyz and the scrapes: a probe gives up after 3 s, but its query
   * holds its connection up to the client's timeout, and on a slow database probes must not take the
   * connections the run's writes and lease renewals need.
   */
  readonly probes: Database;
}

/**
 * PostgreSQL 14 brought client_connection_check_interval (see db/infra/transaction.ts); 13 reached its end
 * of life in November 2025.
 */
const MINIMUM_SERVER_VERSION = 140_000;

function describe(url: string): string {
  if (!URL.canParse(url)) return 'the database';
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
}

/** A URL without its password, or nothing of it when it does not parse. */
function withoutPassword(url: string): string {
  if (!URL.canParse(url)) return '(DATABASE_URL)';
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}

/**
 * Connects to DATABASE_URL, or starts the embedded server when it is unset, and applies pending
 * migrations (`sync` and `start` never run against an unmigrated schema).
 */
export async function openDatabase(
  config: Config,
  log: Logger,
  options: {
    migrate?: boolean;
    applicationName?: string;
    secrets?: Secrets;
    /** The command keeps the database up for others to use (start, explore): see startEmbeddedPostgres. */
    longLived?: boolean;
  } = {},
): Promise<OpenDatabase> {
  const embedded =
    config.database.url === undefined
      ? await startEmbeddedPostgres(config.embedded, log, { longLived: options.longLived === true })
      : undefined;
  options.secrets?.add(embedded?.password);
  const connection = config.database.connection ?? { connectionString: embedded?.url ?? '', ssl: false };
  const { limits } = config.database;
  // Each run in progress holds two connections at most (its page write and its lease's renewal).
  const database = connect(connection, log, {
    limits,
    max: 2 * config.sync.concurrency + 2,
    ...(options.applicationName ? { applicationName: options.applicationName } : {}),
  });
  const probes = connect(connection, log, { limits, max: 1, applicationName: 'sutro-sync probes' });
  const close = async () => {
    await Promise.all([database.close(), probes.close()]);
    await embedded?.stop();
  };
  const target = describe(connection.connectionString);
  let version: { number: number; text: string } | undefined;
  try {
    version = await serverVersion(database);
  } catch (error) {
    await close();
    throw new DatabaseUnavailableError(
      `Cannot connect to ${target} (DATABASE_URL): ${databaseError(error, 'connecting', limits).message.replace(/^connecting: /, '')}`,
      { cause: error },
    );
  }
  if (version === undefined || version.number < MINIMUM_SERVER_VERSION) {
    await close();
    throw new DatabaseUnavailableError(
      `${target} runs PostgreSQL ${version?.text ?? '(unknown)'}; sutro-sync needs 14 or newer ` +
        '(client_connection_check_interval ends the statements of a client that went away)',
      {},
    );
  }
  try {
    if (options.migrate !== false) {
      await migrate(database, log, { lockTimeoutMs: config.database.migrationLockTimeoutMs });
    }
  } catch (error) {
    await close();
    throw new DatabaseUnavailableError((error as Error).message, { cause: error });
  }
  return {
    ...database,
    displayUrl: embedded?.displayUrl ?? withoutPassword(config.database.url ?? ''),
    store: createSyncStore(database),
    passwordFile: embedded?.passwordFile ?? null,
    probes,
    close,
  };
}

/**
 * The API client of a source. Each retry is one warning line saying which attempt failed, why, and
 * how long it waits; `observe` (the metrics) hears every attempt.
 */
export function createApi(
  source: SourceConfig,
  config: Config,
  log: Logger,
  observe?: (o: RequestObservation) => void,
): JobsApi {
  return createSutroClient({
    apiUrl: source.apiUrl,
    apiKey: source.apiKey,
    pageLimit: source.pageLimit,
    timeoutMs: config.sutro.requestTimeoutMs,
    maxResponseBytes: config.sutro.maxResponseBytes,
    retry: { retries: config.sutro.maxRetries },
    observe: (observation) => {
      observe?.(observation);
      const { retry, attempt, attempts, endpoint, outcome } = observation;
      if (retry === null) return;
      log.warn(
        { source: source.name, endpoint, outcome, attempt, attempts, retryInMs: retry.inMs },
        `${retry.reason}; attempt ${attempt} of ${attempts} failed, retrying in ${(retry.inMs / 1000).toFixed(1)} s`,
      );
    },
  });
}
