import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunMode } from './sync/port.js';
import type { Logger } from './log.js';
import type { RequestObservation } from './sutro/client.js';
import type { PageProgress, RunSummary } from './sync/vocabulary.js';
import type { ScrapeFigures } from './db/read/source-health.js';
import type { RecentModelSpend } from './db/read/spend.js';

/** The Prometheus side of `start`: a registry of its own, and the hooks the client and engine call. */
export interface SyncMetrics {
  readonly registry: Registry;
  /** For the API client's `observe`: one call per request attempt. */
  readonly observeRequest: (observation: RequestObservation) => void;
  /** For runSync's `onPage`: one call per committed page. */
  readonly observePage: (progress: PageProgress) => void;
  /** Once per finished run (not for runs skipped because another process held the source's lease). */
  readonly observeRun: (summary: RunSummary) => void;
  /** A run that threw before it could be recorded (the database was gone when it began). */
  readonly observeRunFailure: (mode: RunMode, durationMs: number) => void;
  /**
   * From now on, each scrape reads the last success, the rejected rows and the recent spend from
   * the database, so that syncs by other processes count and a restart forgets nothing.
   */
  readonly attachDatabase: (read: () => Promise<ScrapeFigures>) => void;
}

export interface MetricsOptions {
  /** SUTRO_SOURCE, the label of the gauges read from the database. */
  readonly source: string;
  readonly log?: Logger;
}

const JOB_OUTCOMES = ['inserted', 'updated', 'unchanged', 'rejected'] as const;
type JobCounts = Record<(typeof JOB_OUTCOMES)[number], number>;

/** Runs last from a one-page incremental (under a second) to a first full pass of a large account. */
const RUN_SECONDS_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
const REQUEST_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The model label of jobs the API gave no model. Not "": Prometheus treats an empty label as no
 * label, and such a series would look like a sum over the models in a legend or a `by (model)`.
 */
const NO_MODEL_LABEL = '(none)';

export function createMetrics(options: MetricsOptions): SyncMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const { source } = options;

  const runs = new Counter({
    name: 'sutro_sync_runs_total',
    help: 'Sync runs by outcome (succeeded, failed, interrupted) and mode (incremental, full)',
    labelNames: ['status', 'mode'] as const,
    registers,
  });
  const runSeconds = new Histogram({
    name: 'sutro_sync_run_duration_seconds',
    help: 'Duration of sync runs by outcome and mode',
    labelNames: ['status', 'mode'] as const,
    buckets: RUN_SECONDS_BUCKETS,
    registers,
  });
  const pages = new Counter({
    name: 'sutro_sync_pages_total',
    help: 'list-jobs pages committed to the database',
    registers,
  });
  const jobs = new Counter({
    name: 'sutro_sync_jobs_total',
    help: 'Jobs written by sync runs, by outcome (inserted, updated, unchanged, rejected)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const requests = new Counter({
    name: 'sutro_api_requests_total',
    help: 'Sutro API request attempts by endpoint and outcome (HTTP status, or network, timeout, malformed)',
    labelNames: ['endpoint', 'outcome'] as const,
    registers,
  });
  const retries = new Counter({
    name: 'sutro_api_retries_total',
    help: 'Sutro API attempts that failed and were retried, by endpoint and the outcome that was retried',
    labelNames: ['endpoint', 'outcome'] as const,
    registers,
  });
  const drift = new Counter({
    name: 'sutro_sync_schema_drift_jobs_total',
    help: 'Jobs that differed from the API reference, by kind: unknown_field (kept in raw), missing_field (stored as null), legacy_shape',
    labelNames: ['kind'] as const,
    registers,
  });
  const requestSeconds = new Histogram({
    name: 'sutro_api_request_duration_seconds',
    help: 'Duration of Sutro API request attempts by endpoint',
    labelNames: ['endpoint'] as const,
    buckets: REQUEST_SECONDS_BUCKETS,
    registers,
  });

  // Raised by this process's own successes, and by the database's figure on each scrape.
  let lastSuccessMs: number | null = null;
  let rejectedRows: number | null = null;
  let spendByModel: readonly RecentModelSpend[] = [];
  let readDatabase: (() => Promise<ScrapeFigures>) | null = null;

  /** Refreshes the database-derived figures before the gauges below are read; one query per scrape. */
  let scrape: Promise<void> | null = null;
  const refreshFromDatabase = (): Promise<void> => {
    if (readDatabase === null) return Promise.resolve();
    const read = readDatabase;
    // The gauges' collect functions run concurrently within a scrape: they share one query.
    scrape ??= (async () => {
      try {
        const figures = await read();
        if (figures.lastSuccessAt !== null) {
          lastSuccessMs = Math.max(lastSuccessMs ?? 0, figures.lastSuccessAt.getTime());
        }
        rejectedRows = figures.rejectedRows;
        spendByModel = figures.spendByModel;
      } catch (error) {
        // /readyz reports the database; the gauges keep the last figures they had.
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
      if (lastSuccessMs !== null) this.set({ source }, lastSuccessMs / 1000);
    },
  });
  new Gauge({
    name: 'sutro_sync_seconds_since_last_success',
    help: 'Seconds since the last successful sync of the source; +Inf until there is one',
    labelNames: ['source'] as const,
    registers,
    async collect() {
      await refreshFromDatabase();
      this.set(
        { source },
        lastSuccessMs === null ? Infinity : Math.max(0, (Date.now() - lastSuccessMs) / 1000),
      );
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
      if (rejectedRows !== null) this.set({ source }, rejectedRows);
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
        for (const spend of spendByModel)
          this.set({ source, model: spend.model ?? NO_MODEL_LABEL }, figure(spend));
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

  return {
    registry,
    observeRequest(observation) {
      requests.inc({ endpoint: observation.endpoint, outcome: observation.outcome });
      requestSeconds.observe({ endpoint: observation.endpoint }, observation.durationMs / 1000);
      if (observation.retry !== null)
        retries.inc({ endpoint: observation.endpoint, outcome: observation.outcome });
    },
    observePage(progress) {
      pages.inc();
      const counted = countedByRun.get(progress.runId) ?? {
        inserted: 0,
        updated: 0,
        unchanged: 0,
        rejected: 0,
      };
      for (const outcome of JOB_OUTCOMES) {
        jobs.inc({ outcome }, progress[outcome]);
        counted[outcome] += progress[outcome];
      }
      countedByRun.set(progress.runId, counted);
    },
    observeRun(summary) {
      const counted = countedByRun.get(summary.runId);
      countedByRun.delete(summary.runId);
      for (const outcome of JOB_OUTCOMES) {
        const rest = summary[outcome] - (counted?.[outcome] ?? 0);
        if (rest > 0) jobs.inc({ outcome }, rest);
      }
      const labels = { status: summary.status, mode: summary.mode };
      runs.inc(labels);
      drift.inc({ kind: 'unknown_field' }, summary.drift.jobsWithUnknownFields);
      drift.inc({ kind: 'missing_field' }, summary.drift.jobsWithMissingFields);
      drift.inc({ kind: 'legacy_shape' }, summary.drift.jobsInLegacyShape);
      runSeconds.observe(labels, summary.durationMs / 1000);
      if (summary.status === 'succeeded') lastSuccessMs = Math.max(lastSuccessMs ?? 0, Date.now());
    },
    observeRunFailure(mode, durationMs) {
      runs.inc({ status: 'failed', mode });
      runSeconds.observe({ status: 'failed', mode }, durationMs / 1000);
    },
    attachDatabase(read) {
      readDatabase = read;
    },
  };
}
