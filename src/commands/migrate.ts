import { migrate } from '../db/infra/migrate.js';
import { DatabaseUnavailableError } from '../db/infra/errors.js';
import { openDatabase, type CommandContext } from '../runtime.js';
import { EXIT } from './exit-codes.js';

/** `sutro-sync migrate`: applies pending migrations, serialized with any other process's. */
export async function runMigrate({ config, log, secrets }: CommandContext): Promise<number> {
  const database = await openDatabase(config, log, { migrate: false, secrets });
  try {
    await migrate(database, log, { lockTimeoutMs: config.database.migrationLockTimeoutMs }).catch(
      (error: unknown) => {
        throw new DatabaseUnavailableError((error as Error).message, { cause: error });
      },
    );
    log.info({ notice: true }, 'database schema is up to date');
    return EXIT.ok;
  } finally {
    await database.close();
  }
}
