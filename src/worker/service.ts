import { once } from 'node:events';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createMetrics } from '../metrics.js';
import { createApi, openDatabase } from '../runtime.js';
import { runSync } from '../sync/engine.js';
import { createReadinessCheck, readSourceHealth } from './health.js';
import { startHealthServer, type HealthServer } from './http.js';
import { startScheduler } from './scheduler.js';
import { handleShutdownSignals } from './shutdown.js';

/** A scrape must not outlast Prometheus's own 10 s scrape timeout, even with the database gone. */
const DATABASE_READ_TIMEOUT_MS = 3_000;

/**
 * `sutro-sync start`: the long-running worker. SIGTERM or SIGINT stops scheduling first, lets the
 * run in progress stop after its current page (recorded as interrupted), then closes the health
 * endpoints and the pool.
 */
export async function runService(
  config: Config,
  log: Logger,
  options: { runAtStart: boolean },
): Promise<number> {
  const metrics = createMetrics({ source: config.source, log });
  const api = createApi(config, metrics.observeRequest);
  const shutdown = handleShutdownSignals(log);
  const database = await openDatabase(config, log);
  metrics.attachDatabase(() => readSourceHealth(database.pool, config.source, DATABASE_READ_TIMEOUT_MS));

  let health: HealthServer | null = null;
  if (config.http.port !== 0) {
    try {
      health = await startHealthServer({
        port: config.http.port,
        registry: metrics.registry,
        readiness: createReadinessCheck({
          pool: database.pool,
          source: config.source,
          maxAgeSeconds: config.http.readyMaxAgeSeconds,
          timeoutMs: DATABASE_READ_TIMEOUT_MS,
        }),
        log,
      });
    } catch (error) {
      await database.close();
      shutdown.dispose();
      throw error;
    }
  }

  const scheduler = startScheduler(
    { incremental: config.sync.schedule, full: config.sync.fullSchedule },
    async (mode, trigger) => {
      const started = performance.now();
      let result;
      try {
        result = await runSync(
          { store: database.store, api, log, onPage: metrics.observePage },
          {
            source: config.source,
            mode,
            trigger,
            safetyMarginSeconds: config.sync.safetyMarginSeconds,
            pageLimit: config.sutro.pageLimit,
            signal: shutdown.signal,
          },
        );
      } catch (error) {
        metrics.observeRunFailure(mode, performance.now() - started);
        throw error;
      }
      if (result.skipped) log.info({ mode, trigger }, `${result.reason}; skipping this tick`);
      else metrics.observeRun(result);
    },
    log,
    options,
  );
  if (!shutdown.signal.aborted) await once(shutdown.signal, 'abort');
  await scheduler.stop();
  await health?.close();
  await database.close();
  shutdown.dispose();
  log.info('stopped');
  return 0;
}
