import { once } from 'node:events';
import { createMetrics } from '../metrics.js';
import { createApi, openDatabase, type CommandContext } from '../runtime.js';
import { runSync, type SyncOptions } from '../sync/engine.js';
import { createReadinessCheck, ProgressWatch, readSourceHealth } from './health.js';
import { startHealthServer, type HealthServer } from './http.js';
import { startScheduler } from './scheduler.js';
import { handleShutdownSignals } from './shutdown.js';

/** A scrape must not outlast Prometheus's own 10 s scrape timeout, even with the database gone. */
const DATABASE_READ_TIMEOUT_MS = 3_000;

/**
 * The first run after a start waits for its source this much longer than a lease lasts: a worker
 * restarted after a crash finds its predecessor's lease still there, and takes the source over once
 * it lapses rather than skipping to the next tick.
 */
const STARTUP_WAIT_EXTRA_SECONDS = 5;

/**
 * `sutro-sync start`: the long-running worker. SIGTERM or SIGINT stops scheduling first, lets the
 * run in progress stop after its current page (recorded as interrupted), then closes the health
 * endpoints and the pool.
 */
export async function runService(
  { config, log, secrets }: CommandContext,
  options: { runAtStart: boolean },
): Promise<number> {
  const metrics = createMetrics({ source: config.source, log });
  const watch = new ProgressWatch(config.http.stallSeconds);
  const api = createApi(config, log, (observation) => {
    metrics.observeRequest(observation);
    watch.progressed();
  });
  const shutdown = handleShutdownSignals(log);
  const database = await openDatabase(config, log, { secrets });
  metrics.attachDatabase(() => readSourceHealth(database.pool, config.source, DATABASE_READ_TIMEOUT_MS));

  let health: HealthServer | null = null;
  if (config.http.port !== 0) {
    try {
      health = await startHealthServer({
        host: config.http.host,
        port: config.http.port,
        registry: metrics.registry,
        readiness: createReadinessCheck({
          pool: database.pool,
          source: config.source,
          maxAgeSeconds: config.http.readyMaxAgeSeconds,
          timeoutMs: DATABASE_READ_TIMEOUT_MS,
        }),
        liveness: () => watch.liveness(),
        log,
      });
    } catch (error) {
      await database.close();
      shutdown.dispose();
      throw error;
    }
  }

  // The end of a run the database could not take (it stopped answering), for the next run to record.
  let lateEnd: SyncOptions['lateEnd'];
  const scheduler = startScheduler(
    { incremental: config.sync.schedule, full: config.sync.fullSchedule },
    async (mode, trigger) => {
      const started = performance.now();
      watch.runStarted(`the ${mode} run started by ${trigger}`);
      let result;
      try {
        result = await runSync(
          {
            store: database.store,
            api,
            log,
            onPage: (progress) => {
              metrics.observePage(progress);
              watch.progressed();
            },
          },
          {
            source: config.source,
            mode,
            trigger,
            safetyMarginSeconds: config.sync.safetyMarginSeconds,
            pageLimit: config.sutro.pageLimit,
            leaseSeconds: config.sync.leaseSeconds,
            waitSeconds: trigger === 'startup' ? config.sync.leaseSeconds + STARTUP_WAIT_EXTRA_SECONDS : 0,
            ...(lateEnd ? { lateEnd } : {}),
            signal: shutdown.signal,
          },
        );
      } catch (error) {
        metrics.observeRunFailure(mode, performance.now() - started);
        throw error;
      } finally {
        watch.runEnded();
      }
      if (result.skipped) {
        log.info({ mode, trigger, notice: true }, `${result.reason}; skipping this tick`);
        return;
      }
      lateEnd = result.unrecorded ?? undefined;
      metrics.observeRun(result);
    },
    log,
    options,
  );
  if (!shutdown.signal.aborted) await once(shutdown.signal, 'abort');
  await scheduler.stop();
  await health?.close();
  await database.close();
  shutdown.dispose();
  log.info({ notice: true }, 'stopped');
  return 0;
}
