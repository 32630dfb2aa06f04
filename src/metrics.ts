import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FINAL_RUN_STATUSES, RUN_MODES, type RunMode } from './sync/port.js';
import type { Logger } from './log.js';
import type { RequestObservation } from './sutro/client.js';
import type { PageProgress, RunSummary } from './sync/vocabulary.js';
import type { ScrapeFigures } from './db/read/source-health.js';
import type { RecentModelSpend } from './db/read/spend.js';

/**
 * The Prometheus side of `start`: a registry of its own, and the hooks the client and the engine
 * call. Every series of a source carries its `source` label, and only sources of the configuration
 * appear: the label's values are bounded by the sources file, and a source a reload removes takes
 * its series with it.
 */
export interface SyncMetrics {
  readonly registry: Registry;
  /** The configured sources: the gauges read from the database report these, and no others. */
  readonly setSources: (sources: readonly string[]) => void;
  /** For the API client's `observe`: one call per request attempt. */
  readonly observeRequest: (source: string, observation: RequestObservation) => void;
  /** For runSync's `onPage`: one call per committed page. */
  readonly observePage: (source: string, progress: PageProgress) => void;
  /** Once per finished run (not for runs skipped because another process held the source's lease). */
  readonly observeRun: (summary: RunSummary) => void;
  /** A run that threw before it could be recorded (the database was gone when it began). */
  readonly observeRunFailure: (source: string, mode: RunMode, durationMs: number) => void;
  /** A due source claimed by this process, `lagSeconds` after it was due. */
  readonly observeClaim: (source: string, lagSeconds: number) => void;
  /** How many runs this process has in progress, and how many it may have. */
  readonly observeSlots: (busy: number, total: number) => void;
  /**
   * A reload of the sources file: applied, or refused for its problems (the old sources stay), or
   * the file read well again after a refusal without changing the sources.
   */
  readonly observeReload: (outcome: 'applied' | 'refused' | 'accepted again') => void;
  /**
   * From now on, each scrape reads the last success, the rejected rows and the recent spend of every
   * configured source from the database, so that runs by other replicas count and a restart
   * forgets nothing.
   */
  readonly attachDatabase: (
    read: (sources: readonly string[]) => Promise<ReadonlyMap<string, ScrapeFigures>>,
  ) => void;
}

export interface MetricsOptions {
  readonly sources: readonly string[];
  readonly log?: Logger;
}

const JOB_OUTCOMES = ['inserted', 'updated', 'unchanged', 'rejected'] as const;
type JobCounts = Record<(typeof JOB_OUTCOMES)[number], number>;

/** Runs last from a one-page incremental (under a second) to a first full pass of a large account. */
const RUN_SECONDS_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
const REQUEST_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** From a claim at the poll's next tick to a source that waited a whole run of another for a slot. */
const LAG_SECONDS_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600];

/**
 * The model label of jobs the API gave no model. Not "": Prometheus treats an empty label as no
 * label, and such a series would look like a sum over the models in a legend or a `by (model)`.
 */
const NO_MODEL_LABEL = '(none)';

export function createMetrics(options: MetricsOptions): SyncMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let sources: readonly string[] = options.sources;

  const runs = new Counter({
    name: 'sutro_sync_runs_total',
    help: 'Sync runs by source, outcome (succeeded, failed, interrupted) and mode (incremental, full)',
    labelNames: ['source', 'status', 'mode'] as const,
    registers,
  });
  const runSeconds = new Histogram({
    name: 'sutro_sync_run_duration_seconds',
    help: 'Duration of sync runs by source, outcome and mode',
    labelNames: ['source', 'status', 'mode'] as const,
    buckets: RUN_SECONDS_BUCKETS,
    registers,
  });
  const pages = new Counter({
    name: 'sutro_sync_pages_total',
    help: 'list-jobs pages committed to the database, by source',
    labelNames: ['source'] as const,
    registers,
  });
  const jobs = new Counter({
    name: 'sutro_sync_jobs_total',
    help: 'Jobs written by sync runs, by source and outcome (inserted, updated, unchanged, rejected)',
    labelNames: ['source', 'outcome'] as const,
    registers,
  });
  const requests = new Counter({
    name: 'sutro_api_requests_total',
    help: 'Sutro API request attempts by source, endpoint and outcome (HTTP status, or network, timeout, malformed)',
    labelNames: ['source', 'endpoint', 'outcome'] as const,
    registers,
  });
  const retries = new Counter({
    name: 'sutro_api_retries_total',
    help: 'Sutro API attempts that failed and were retried, by source, endpoint and the outcome that was retried',
    labelNames: ['source', 'endpoint', 'outcome'] as const,
    registers,
  });
  const drift = new Counter({
    name: 'sutro_sync_schema_drift_jobs_total',
    help: 'Jobs that differed from the API reference, by source and kind: unknown_field (kept in raw), missing_field (stored as null), legacy_shape',
    labelNames: ['source', 'kind'] as const,
    registers,
  });
  const requestSeconds = new Histogram({
    name: 'sutro_api_request_duration_seconds',
    help: 'Duration of Sutro API request attempts by source and endpoint',
    labelNames: ['source', 'endpoint'] as const,
    buckets: REQUEST_SECONDS_BUCKETS,
    registers,
  });
  const lag = new Histogram({
    name: 'sutro_sync_schedule_lag_seconds',
    help: 'Seconds from the time a source was due to its claim by this process, by source',
    labelNames: ['source'] as const,
    buckets: LAG_SECONDS_BUCKETS,
    registers,
  });
  const slots = new Gauge({
    name: 'sutro_sync_slots',
    help: 'Runs this process may have at once (SUTRO_CONCURRENCY), by state: busy, or total',
    labelNames: ['state'] as const,
    registers,
  });
  const reloads = new Counter({
    name: 'sutro_sync_config_reloads_total',
    help: 'Reloads of the sources file by outcome: applied, or refused for its problems (the sources before it stay)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const refused = new Gauge({
    name: 'sutro_sync_config_refused',
    help: '1 while the sources file as it is now is refused for its problems (the sources before it run on), else 0',
    registers,
  });
  refused.set(0);
  const databaseUp = new Gauge({
    name: 'sutro_sync_database_up',
    help: '1 when the last scrape read its figures from the database, 0 when it could not',
    registers,
    async collect() {
      await refreshFromDatabase();
    },
  });
  new Gauge({
    name: 'sutro_sync_sources',
    help: 'Sources in the configuration of this process',
    registers,
    collect() {
      this.set(sources.length);
    },
  });

  // Raised by this process's own successes, and by the database's figures on each scrape.
  const lastSuccessMs = new Map<string, number>();
  let figures: ReadonlyMap<string, ScrapeFigures> = new Map();
  let readDatabase: ((sources: readonly string[]) => Promise<ReadonlyMap<string, ScrapeFigures>>) | null =
    null;

  /** Refreshes the database-derived figures before the gauges below are read; one query per scrape. */
  let scrape: Promise<void> | null = null;
  const refreshFromDatabase = (): Promise<void> => {
    if (readDatabase === null) return Promise.resolve();
    const read = readDatabase;
    // The gauges' collect functions run concurrently within a scrape: they share one query.
    scrape ??= (async () => {
      try {
        figures = await read(sources);
        databaseUp.set(1);
        for (const [source, figure] of figures) {
          if (figure.lastSuccessAt !== null) {
            lastSuccessMs.set(
              source,
              Math.max(lastSuccessMs.get(source) ?? 0, figure.lastSuccessAt.getTime()),
            );
          }
        }
      } catch (error) {
        // /readyz reports the database; the gauges keep the last figures they had.
        databaseUp.set(0);
        options.log?.debug({ err: error }, 'metrics: could not read the sync state from the database');
      } finally {
        scrape = null;
      }
    })();
    return scrape;
  };

  new Gauge({
    name: 'sutro_sync_last_success_timestamp_seconds',
    help: 'Unix time of the last successful sync of the source (absent until there is one)',
    labelNames: ['source'] as const,
    registers,
    async collect() {
      await refreshFromDatabase();
      this.reset();
      for (const source of sources) {
        const ms = lastSuccessMs.get(source);
        if (ms !== undefined) this.set({ source }, ms / 1000);
      }
    },
  });
  new Gauge({
    name: 'sutro_sync_seconds_since_last_success',
    help: 'Seconds since the last successful sync of the source; +Inf until there is one',
    labelNames: ['source'] as const,
    registers,
    async collect() {
      await refreshFromDatabase();
      this.reset();
      for (const source of sources) {
        const ms = lastSuccessMs.get(source);
        this.set({ source }, ms === undefined ? Infinity : Math.max(0, (Date.now() - ms) / 1000));
      }
    },
  });
  new Gauge({
    name: 'sutro_sync_rejected_rows',
    help: 'Rows of the source in sutro.rejected_jobs (jobs that failed validation)',
    labelNames: ['source'] as const,
    registers,
    async collect() {
      await refreshFromDatabase();
      this.reset();
      for (const source of sources) {
        const figure = figures.get(source);
        if (figure !== undefined) this.set({ source }, figure.rejectedRows);
      }
    },
  });

  // The label set is rebuilt from each reading: a model is there while it has jobs created in the
  // last 24 hours (today's spend 0 once the UTC day has changed), and gone after, rather than left
  // at its last figure for the life of the process.
  const spendGauge = (name: string, help: string, figure: (spend: RecentModelSpend) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['source', 'model'] as const,
      registers,
      async collect() {
        await refreshFromDatabase();
        this.reset();
        for (const source of sources) {
          for (const spend of figures.get(source)?.spendByModel ?? [])
            this.set({ source, model: spend.model ?? NO_MODEL_LABEL }, figure(spend));
        }
      },
    });
  spendGauge(
    'sutro_spend_today_usd',
    "Spend (sum of job_cost, USD) on the source's jobs created on the current UTC day, by model, as sutro.daily_usage counts it; 0 for a model with jobs in the last 24 hours but none today",
    (spend) => spend.todayUsd,
  );
  spendGauge(
    'sutro_spend_last_24h_usd',
    "Spend (sum of job_cost, USD) on the source's jobs created in the last 24 hours, by model",
    (spend) => spend.last24HoursUsd,
  );
  spendGauge(
    'sutro_spend_today_unpriced_estimate_usd',
    "Sum of cost_estimate (USD) of the source's jobs created on the current UTC day whose job_cost is still to come, by model",
    (spend) => spend.todayUnpricedEstimateUsd,
  );

  // Jobs are counted as pages commit, so a long full pass shows progress. Stragglers fetched by id
  // are written without a page callback; the run's summary brings the counters level at the end.
  const countedByRun = new Map<number, JobCounts>();
  /**
   * The label sets each source's series use, so that a reload that drops a source removes them all:
   * prom-client removes a series by its whole label set only.
   */
  const seriesOf = new Map<string, Map<string, () => void>>();
  const metricIds = new Map<object, number>();
  const track = <L extends string>(
    metric: { remove(labels: Partial<Record<L, string | number>>): void },
    labels: Partial<Record<L, string>> & { source: string },
  ) => {
    if (!metricIds.has(metric)) metricIds.set(metric, metricIds.size);
    const key = `${metricIds.get(metric)}${JSON.stringify(labels)}`;
    let series = seriesOf.get(labels.source);
    if (series === undefined) seriesOf.set(labels.source, (series = new Map<string, () => void>()));
    if (!series.has(key)) series.set(key, () => metric.remove(labels));
  };
  const inc = <L extends string>(
    counter: Counter<L>,
    labels: Partial<Record<L, string>> & { source: string },
    by?: number,
  ) => {
    counter.inc(labels, by);
    track(counter, labels);
  };
  const observe = <L extends string>(
    histogram: Histogram<L>,
    labels: Partial<Record<L, string>> & { source: string },
    value: number,
  ) => {
    histogram.observe(labels, value);
    track(histogram, labels);
  };

  // Counters a rule reads start at 0 for every source: a first failure is then an increase, not
  // the appearance of a series that increase() cannot see.
  const zero = (source: string) => {
    for (const status of FINAL_RUN_STATUSES)
      for (const mode of RUN_MODES) inc(runs, { source, status, mode }, 0);
  };
  for (const source of sources) zero(source);
  for (const outcome of ['applied', 'refused'] as const) reloads.inc({ outcome }, 0);

  return {
    registry,
    setSources(next) {
      const kept = new Set(next);
      for (const source of sources) {
        if (kept.has(source)) continue;
        for (const remove of seriesOf.get(source)?.values() ?? []) remove();
        seriesOf.delete(source);
        lastSuccessMs.delete(source);
      }
      for (const source of next) if (!sources.includes(source)) zero(source);
      sources = next;
    },
    observeRequest(source, observation) {
      const { endpoint, outcome } = observation;
      inc(requests, { source, endpoint, outcome });
      observe(requestSeconds, { source, endpoint }, observation.durationMs / 1000);
      if (observation.retry !== null) inc(retries, { source, endpoint, outcome });
    },
    observePage(source, progress) {
      inc(pages, { source });
      const counted = countedByRun.get(progress.runId) ?? {
        inserted: 0,
        updated: 0,
        unchanged: 0,
        rejected: 0,
      };
      for (const outcome of JOB_OUTCOMES) {
        inc(jobs, { source, outcome }, progress[outcome]);
        counted[outcome] += progress[outcome];
      }
      countedByRun.set(progress.runId, counted);
    },
    observeRun(summary) {
      const { source } = summary;
      const counted = countedByRun.get(summary.runId);
      countedByRun.delete(summary.runId);
      for (const outcome of JOB_OUTCOMES) {
        const rest = summary[outcome] - (counted?.[outcome] ?? 0);
        if (rest > 0) inc(jobs, { source, outcome }, rest);
      }
      const labels = { source, status: summary.status, mode: summary.mode };
      inc(runs, labels);
      inc(drift, { source, kind: 'unknown_field' }, summary.drift.jobsWithUnknownFields);
      inc(drift, { source, kind: 'missing_field' }, summary.drift.jobsWithMissingFields);
      inc(drift, { source, kind: 'legacy_shape' }, summary.drift.jobsInLegacyShape);
      observe(runSeconds, labels, summary.durationMs / 1000);
      if (summary.status === 'succeeded') lastSuccessMs.set(source, Date.now());
    },
    observeRunFailure(source, mode, durationMs) {
      inc(runs, { source, status: 'failed', mode });
      observe(runSeconds, { source, status: 'failed', mode }, durationMs / 1000);
    },
    observeClaim(source, lagSeconds) {
      observe(lag, { source }, lagSeconds);
    },
    observeSlots(busy, total) {
      slots.set({ state: 'busy' }, busy);
      slots.set({ state: 'total' }, total);
    },
    observeReload(outcome) {
      if (outcome !== 'accepted again') reloads.inc({ outcome });
      refused.set(outcome === 'refused' ? 1 : 0);
    },
    attachDatabase(read) {
      readDatabase = read;
    },
  };
}
