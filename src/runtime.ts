import type { Config } from './config.js';
import { requireApiKey } from './config.js';
import { connect, type Database } from './db/connect.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { createSyncStore, type SyncStore } from './db/store.js';
import type { Logger } from './log.js';
import { createSutroClient, type JobsApi, type RequestObservation } from './sutro/client.js';

/** A connected, migrated database, and how to let go of it (including an embedded server). */
export interface OpenDatabase extends Database {
  readonly url: string;
  readonly store: SyncStore;
  readonly embedded: boolean;
}

export class DatabaseUnavailableError extends Error {
  constructor(message: string, options: ErrorOptions) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

function describe(url: string): string {
  if (!URL.canParse(url)) return 'the database';
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
}

/**
 * Connects to DATABASE_URL, or starts the embedded server when it is unset, and applies pending
 * migrations (`sync` and `start` never run against an unmigrated schema).
 */
export async function openDatabase(
  config: Config,
  log: Logger,
  options: { migrate?: boolean; applicationName?: string } = {},
): Promise<OpenDatabase> {
  const embedded =
    config.databaseUrl === undefined ? await startEmbeddedPostgres(config.embedded, log) : undefined;
  const url = config.databaseUrl ?? embedded?.url ?? '';
  const database = connect(
    url,
    log,
    options.applicationName ? { applicationName: options.applicationName } : {},
  );
  try {
    await database.pool.query('SELECT 1');
  } catch (error) {
    await database.close();
    await embedded?.stop();
    throw new DatabaseUnavailableError(
      `Cannot connect to ${describe(url)} (DATABASE_URL): ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    if (options.migrate !== false) await migrate(database.pool, log);
  } catch (error) {
    await database.close();
    await embedded?.stop();
    throw error;
  }
  return {
    ...database,
    url,
    store: createSyncStore(database.db, database.pool, log),
    embedded: embedded !== undefined,
    async close() {
      await database.close();
      await embedded?.stop();
    },
  };
}

export function createApi(config: Config, observe?: (o: RequestObservation) => void): JobsApi {
  return createSutroClient({
    apiUrl: config.sutro.apiUrl,
    apiKey: requireApiKey(config),
    pageLimit: config.sutro.pageLimit,
    timeoutMs: config.sutro.requestTimeoutMs,
    retry: { retries: config.sutro.maxRetries },
    ...(observe ? { observe } : {}),
  });
}
