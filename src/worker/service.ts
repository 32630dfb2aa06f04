import { once } from 'node:events';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createApi, openDatabase } from '../runtime.js';
import { runSync } from '../sync/engine.js';
import { startScheduler } from './scheduler.js';
import { handleShutdownSignals } from './shutdown.js';

/**
 * `sutro-sync start`: the long-running worker. SIGTERM or SIGINT stops scheduling first, lets the
 * run in progress stop after its current page (recorded as interrupted), then closes the pool.
 */
export async function runService(
  config: Config,
  log: Logger,
  options: { runAtStart: boolean },
): Promise<number> {
  const api = createApi(config);
  const shutdown = handleShutdownSignals(log);
  const database = await openDatabase(config, log);
  const scheduler = startScheduler(
    { incremental: config.sync.schedule, full: config.sync.fullSchedule },
    async (mode, trigger) => {
      const result = await runSync(
        { store: database.store, api, log },
        {
          source: config.source,
          mode,
          trigger,
          safetyMarginSeconds: config.sync.safetyMarginSeconds,
          signal: shutdown.signal,
        },
      );
      if (result.skipped) log.info({ mode, trigger }, `${result.reason}; skipping this tick`);
    },
    log,
    options,
  );
  if (!shutdown.signal.aborted) await once(shutdown.signal, 'abort');
  await scheduler.stop();
  await database.close();
  shutdown.dispose();
  log.info('stopped');
  return 0;
}
