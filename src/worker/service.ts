import { once } from 'node:events';
import { ConfigError, requireSources } from '../config.js';
import {
  claimDueSources,
  recordScheduledEnd,
  registerSources,
  type ClaimedSource,
} from '../db/store/schedule.js';
import { createMetrics } from '../metrics.js';
import { createApi, openDatabase, type CommandContext } from '../runtime.js';
import type { SourceConfig } from '../sources.js';
import type { JobsApi } from '../sutro/client.js';
import { newHolder, recordLateEnd, runSync } from '../sync/engine.js';
import type { UnrecordedEnd } from '../sync/vocabulary.js';
import { startDispatcher, type ClaimedRunEnd, type PollTicks } from './dispatcher.js';
import { createReadinessCheck, probeScrapeFigures, ProgressWatch } from './health.js';
import { startHealthServer, type HealthServer } from './http.js';
import { handleShutdownSignals } from './shutdown.js';

/** A scrape must not outlast Prometheus's own 10 s scrape timeout, even with the database gone. */
const DATABASE_READ_TIMEOUT_MS = 3_000;

/**
 * How long the end of a run the database did not take is retried, at every claim: the fence takes
 * it as long as no other run took the lease over (an expired lease is still this run's until then),
 * so past an outage of this length the end is dropped, and the next run marks the run abandoned.
 */
const LATE_END_GIVE_UP_MS = 15 * 60_000;

/**
 * How often the sources file (and the key files it names) is read for a change: a Kubernetes
 * ConfigMap or Secret changes under a running pod without any signal, so the file is watched;
 * SIGHUP reads it at once.
 */
const RELOAD_CHECK_MIN_MS = 1_000;

export interface ServiceOptions {
  /** A source the schedule has never seen runs at once (true), or at its first scheduled time. */
  readonly runAtStart: boolean;
  /** The poll's ticks; a timer by default. */
  readonly ticks?: PollTicks;
}

/** A source as the service runs it: its settings and its API client. */
interface LiveSource {
  readonly config: SourceConfig;
  readonly api: JobsApi;
}

function describeChange(before: readonly SourceConfig[], after: readonly SourceConfig[]): string {
  const old = new Map(before.map((s) => [s.name, JSON.stringify(s)]));
  const now = new Map(after.map((s) => [s.name, JSON.stringify(s)]));
  const added = [...now.keys()].filter((name) => !old.has(name));
  const removed = [...old.keys()].filter((name) => !now.has(name));
  const changed = [...now.keys()].filter((name) => old.has(name) && old.get(name) !== now.get(name));
  return [
    added.length > 0 ? `added ${added.join(', ')}` : null,
    removed.length > 0 ? `removed ${removed.join(', ')} (their data stays)` : null,
    changed.length > 0 ? `changed ${changed.join(', ')}` : null,
  ]
    .filter((part) => part !== null)
    .join('; ');
}

/**
 * `sutro-sync start`: the long-running worker for every source of the configuration. Any number of
 * replicas may run it against one database: they share the sources through the schedule and the
 * leases in PostgreSQL (db/store/schedule.ts). SIGTERM or SIGINT stops claiming, lets the runs in
 * progress stop after their current page (recorded as interrupted, and due again for the replicas
 * left), then closes the health endpoints and the pool.
 */
export async function runService(context: CommandContext, options: ServiceOptions): Promise<number> {
  const { config, log } = context;
  let configured = requireSources(config);
  const enabledNames = () => configured.filter((s) => s.enabled).map((s) => s.name);
  // A disabled source is not synced, so it reports no freshness that could alert.
  const metrics = createMetrics({ sources: enabledNames(), log });
  const watch = new ProgressWatch(config.http.stallSeconds);
  const live = new Map<string, LiveSource>();
  const connect = (source: SourceConfig): LiveSource => ({
    config: source,
    api: createApi(source, config, log, (observation) => {
      metrics.observeRequest(source.name, observation);
      watch.progressed(source.name);
    }),
  });
  for (const source of configured) live.set(source.name, connect(source));

  const shutdown = handleShutdownSignals(log);
  const database = await openDatabase(config, log, { secrets: context.secrets, longLived: true });
  metrics.attachDatabase((names) => probeScrapeFigures(database.probes, names, DATABASE_READ_TIMEOUT_MS));

  let health: HealthServer | null = null;
  if (config.http.port !== 0) {
    try {
      health = await startHealthServer({
        host: config.http.host,
        port: config.http.port,
        registry: metrics.registry,
        readiness: createReadinessCheck({
          db: database.probes,
          sources: enabledNames,
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

  // The ends of runs the database could not take (it stopped answering), recorded before the next
  // claim: that frees their leases, which the claim would otherwise find held by a dead run.
  const lateEnds = new Map<string, { readonly end: UnrecordedEnd; readonly since: number }>();
  const recordPendingEnd = async (
    source: string,
    pending: { readonly end: UnrecordedEnd; readonly since: number },
  ) => {
    try {
      await recordLateEnd(database.store, pending.end, log);
      lateEnds.delete(source);
    } catch (error) {
      // Still no database: the claim fails the same way, and the next tick tries again.
      if (performance.now() - pending.since > LATE_END_GIVE_UP_MS) {
        log.error(
          { err: error, runId: pending.end.runId, source },
          'giving up recording the end of an earlier run',
        );
        lateEnds.delete(source);
      } else {
        log.warn(
          { err: error, runId: pending.end.runId, source },
          'could not record the end of an earlier run yet',
        );
      }
    }
  };

  const holder = newHolder();
  let busy = 0;
  metrics.observeSlots(busy, config.sync.concurrency);

  const runClaimed = async (claim: ClaimedSource, source: SourceConfig): Promise<ClaimedRunEnd> => {
    const name = source.name;
    const started = performance.now();
    busy += 1;
    metrics.observeSlots(busy, config.sync.concurrency);
    metrics.observeClaim(name, claim.lagSeconds);
    const trigger = claim.mode === 'full' ? 'schedule-full' : 'schedule';
    watch.runStarted(name, `the ${claim.mode} run of source "${name}"`);
    try {
      const api = live.get(name)?.api ?? connect(source).api;
      const result = await runSync(
        {
          store: database.store,
          api,
          log,
          onPage: (progress) => {
            metrics.observePage(name, progress);
            watch.progressed(name);
          },
        },
        {
          source: name,
          mode: claim.mode,
          trigger,
          safetyMarginSeconds: config.sync.safetyMarginSeconds,
          pageLimit: source.pageLimit,
          leaseSeconds: config.sync.leaseSeconds,
          lease: claim.lease,
          dueAt: claim.dueAt,
          signal: shutdown.signal,
        },
      );
      if (result.skipped) return null;
      if (result.unrecorded !== null)
        lateEnds.set(name, { end: result.unrecorded, since: performance.now() });
      metrics.observeRun(result);
      return { status: result.status };
    } catch (error) {
      metrics.observeRunFailure(name, claim.mode, performance.now() - started);
      throw error;
    } finally {
      watch.runEnded(name);
      busy -= 1;
      metrics.observeSlots(busy, config.sync.concurrency);
    }
  };

  const dispatcher = startDispatcher(
    {
      log,
      register: (sources, firstRunAt) => registerSources(database, sources, firstRunAt),
      claim: async (sources, limit) => {
        for (const [source, pending] of lateEnds) await recordPendingEnd(source, pending);
        return claimDueSources(database, sources, { limit, holder, leaseSeconds: config.sync.leaseSeconds });
      },
      run: runClaimed,
      recordEnd: (end) => recordScheduledEnd(database, end),
      ...(options.ticks ? { ticks: options.ticks } : {}),
    },
    {
      concurrency: config.sync.concurrency,
      pollMs: config.sync.pollMs,
      runNewSourcesAtOnce: options.runAtStart,
    },
  );
  await dispatcher.setSources(configured);
  log.info(
    {
      sources: configured.length,
      enabled: enabledNames().length,
      concurrency: config.sync.concurrency,
      pollMs: config.sync.pollMs,
      holder,
      notice: `syncing ${enabledNames().length} source${enabledNames().length === 1 ? '' : 's'}, at most ${config.sync.concurrency} at once, each on its own schedule`,
    },
    'scheduler started',
  );
  void dispatcher.tick();

  // Reloading the sources: on SIGHUP, and when the file or a key file it names has changed.
  let lastRefusal: string | null = null;
  const reload = async (why: string) => {
    let next: readonly SourceConfig[];
    try {
      next = requireSources(context.reload());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      if (error.message !== lastRefusal) {
        log.error({ err: error, why }, 'the sources file has problems; keeping the sources it had');
        metrics.observeReload('refused');
        lastRefusal = error.message;
      }
      return;
    }
    if (lastRefusal !== null) metrics.observeReload('accepted again');
    lastRefusal = null;
    const change = describeChange(configured, next);
    if (change === '') return;
    configured = next;
    live.clear();
    for (const source of configured) live.set(source.name, connect(source));
    metrics.setSources(enabledNames());
    await dispatcher.setSources(configured);
    metrics.observeReload('applied');
    log.info(
      { why, change, sources: configured.length, notice: `sources reloaded (${why}): ${change}` },
      'sources reloaded',
    );
    void dispatcher.tick();
  };
  let reloading: Promise<void> = Promise.resolve();
  const requestReload = (why: string) => {
    reloading = reloading
      .then(() => reload(why))
      .catch((error: unknown) => {
        log.error({ err: error }, 'reloading the sources failed');
      });
  };
  const onHangup = () => requestReload('SIGHUP');
  process.on('SIGHUP', onHangup);
  const watcher =
    config.sourcesFile === undefined
      ? undefined
      : setInterval(
          () => requestReload('the file changed'),
          Math.max(RELOAD_CHECK_MIN_MS, config.sync.pollMs),
        );

  if (!shutdown.signal.aborted) await once(shutdown.signal, 'abort');
  process.off('SIGHUP', onHangup);
  if (watcher !== undefined) clearInterval(watcher);
  await reloading;
  await dispatcher.stop();
  await health?.close();
  await database.close();
  shutdown.dispose();
  log.info({ notice: true }, 'stopped');
  return 0;
}
