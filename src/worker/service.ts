import { once } from 'node:events';
import { createMetrics } from '../metrics.js';
import { createApi, openDatabase, type CommandContext } from '../runtime.js';
import { recordLateEnd, runSync } from '../sync/engine.js';
import type { UnrecordedEnd } from '../sync/vocabulary.js';
import { createReadinessCheck, probeScrapeFigures, ProgressWatch } from './health.js';
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

/** Ticks that try to record a run's end the database did not take: with 15-minute ticks, 45 minutes. */
const LATE_END_ATTEMPTS = 3;

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
  const database = await openDatabase(config, log, { secrets, longLived: true });
  metrics.attachDatabase(() => probeScrapeFigures(database.probes, config.source, DATABASE_READ_TIMEOUT_MS));

  let health: HealthServer | null = null;
  if (config.http.port !== 0) {
    try {
      health = await startHealthServer({
        host: config.http.host,
        port: config.http.port,
        registry: metrics.registry,
        readiness: createReadinessCheck({
          db: database.probes,
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

  // The end of a run the database could not take (it stopped answering), for the next runs to record.
  let lateEnd: { readonly end: UnrecordedEnd; attempts: number } | undefined;
  const recordPendingEnd = async () => {
    if (lateEnd === undefined) return;
    const pending = lateEnd;
    pending.attempts += 1;
    try {
      await recordLateEnd(database.store, pending.end, log);
      lateEnd = undefined;
    } catch (error) {
      // Still no database: the run below fails the same way, and the next tick tries again. Past a
      // few ticks the end is dropped rather than retried for ever (a next run marks the run abandoned).
      if (pending.attempts >= LATE_END_ATTEMPTS) {
        log.error({ err: error, runId: pending.end.runId }, 'giving up recording the end of an earlier run');
        lateEnd = undefined;
      } else {
        log.warn({ err: error, runId: pending.end.runId }, 'could not record the end of an earlier run yet');
      }
    }
  };
  const scheduler = startScheduler(
    { incremental: config.sync.schedule, full: config.sync.fullSchedule },
    async (mode, trigger) => {
      const started = performance.now();
      await recordPendingEnd();
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
      if (result.unrecorded !== null) lateEnd = { end: result.unrecorded, attempts: 0 };
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
