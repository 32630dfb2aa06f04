import type { Database } from '../infra/connect.js';

/**
 * The queries behind `sutro-sync report`. They read the analytics views (views.ts),
 * never the tables, so that the report and an analyst's SQL agree. Money and token sums come back as
 * exact decimal text; only counts that fit easily are numbers.
 */

export interface ReportQuery {
  /** The source to report on; null for every source of the database, summed. */
  readonly source: string | null;
  /** First UTC day of the period, YYYY-MM-DD, included. */
  readonly since: string;
  /** Last UTC day of the period, YYYY-MM-DD, included. */
  readonly until: string;
  /** How many of the most expensive jobs to list. */
  readonly top: number;
}

export interface UsageTotals {
  jobs: number;
  /** Jobs whose cost is known; the rest count as 0 in cost_usd. */
  jobs_with_cost: number;
  input_tokens: string;
  output_tokens: string;
  total_tokens: string;
  cost_usd: string;
  cost_estimate_usd: string;
}

export interface ModelSpend extends UsageTotals {
  model: string | null;
  succeeded: number;
  failed: number;
}

export interface DailySpend {
  day: string;
  jobs: number;
  total_tokens: string;
  cost_usd: string;
}

/** Spend of one model on one day of the period: what a chart stacks. */
export interface ModelDaySpend {
  day: string;
  model: string | null;
  jobs: number;
  cost_usd: string;
}

export interface TopJob {
  source: string;
  job_id: string;
  name: string | null;
  model: string | null;
  status: string;
  day: string;
  input_tokens: string | null;
  output_tokens: string | null;
  total_tokens: string | null;
  cost_usd: string;
  cost_estimate_usd: string | null;
  run_seconds: string | null;
}

export interface Freshness {
  last_success_at: Date | null;
  seconds_since_last_success: number | null;
  last_full_pass_at: Date | null;
  seconds_since_last_full_pass: number | null;
  last_run_status: string | null;
  last_error: string | null;
  last_error_at: Date | null;
  jobs: number;
  listed_jobs: number;
  missing_jobs: number;
  rejected_rows: number;
}

/** One source's share of the period, and how fresh its data is: the report of every source lists them. */
export interface SourceSpend {
  source: string;
  jobs: number;
  total_tokens: string;
  cost_usd: string;
  last_success_at: Date | null;
  seconds_since_last_success: number | null;
  last_run_status: string | null;
  last_error: string | null;
}

export interface UsageReport {
  /** null: every source of the database, summed. */
  source: string | null;
  since: string;
  until: string;
  totals: UsageTotals;
  models: ModelSpend[];
  /** Every day of the period, days without jobs included, so that a chart shows the gaps. */
  daily: DailySpend[];
  /** The days that had jobs, per model. */
  daily_models: ModelDaySpend[];
  top_jobs: TopJob[];
  /** Of the one source reported on; null for every source (see `sources`), or when none has run yet. */
  freshness: Freshness | null;
  /** Every source that had jobs in the period or a sync, most spent first. */
  sources: SourceSpend[];
}

const PERIOD = `($1::text IS NULL OR source = $1) AND day BETWEEN $2::date AND $3::date`;

const TOTAL_COLUMNS = `
  coalesce(sum(jobs), 0)::int AS jobs,
  coalesce(sum(jobs_with_cost), 0)::int AS jobs_with_cost,
  coalesce(sum(input_tokens), 0)::text AS input_tokens,
  coalesce(sum(output_tokens), 0)::text AS output_tokens,
  coalesce(sum(total_tokens), 0)::text AS total_tokens,
  coalesce(sum(cost_usd), 0)::text AS cost_usd,
  coalesce(sum(cost_estimate_usd), 0)::text AS cost_estimate_usd`;

const TOTALS = `SELECT ${TOTAL_COLUMNS} FROM sutro.daily_usage WHERE ${PERIOD}`;

const BY_MODEL = `
SELECT model,
       coalesce(sum(jobs) FILTER (WHERE status = 'SUCCEEDED'), 0)::int AS succeeded,
       coalesce(sum(jobs) FILTER (WHERE status = 'FAILED'), 0)::int AS failed,
       ${TOTAL_COLUMNS}
  FROM sutro.daily_usage
 WHERE ${PERIOD}
 GROUP BY model
 ORDER BY sum(cost_usd) DESC, model NULLS LAST`;

const BY_DAY = `
SELECT d.day::text AS day,
       coalesce(u.jobs, 0)::int AS jobs,
       coalesce(u.total_tokens, 0)::text AS total_tokens,
       coalesce(u.cost_usd, 0)::text AS cost_usd
  -- Date arithmetic in whole days: a series of timestamps would depend on the session's time zone.
  FROM generate_series(0, $3::date - $2::date) AS n
 CROSS JOIN LATERAL (SELECT $2::date + n AS day) d
  LEFT JOIN (
    SELECT day, sum(jobs) AS jobs, sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd
      FROM sutro.daily_usage
     WHERE ${PERIOD}
     GROUP BY day
  ) u ON u.day = d.day
 ORDER BY d.day`;

const BY_DAY_AND_MODEL = `
SELECT day::text AS day, model, sum(jobs)::int AS jobs, sum(cost_usd)::text AS cost_usd
  FROM sutro.daily_usage
 WHERE ${PERIOD}
 GROUP BY day, model
 ORDER BY day, model NULLS LAST`;

/**
 * The costliest jobs of a source in the period: each day's costliest first, through
 * jobs_day_cost_idx (one probe per day), then the best of those, rather than sorting every job of
 * the period by cost.
 */
const TOP_JOBS = `
SELECT f.source, f.job_id, f.name, f.model, f.status, f.day::text AS day,
       f.input_tokens::text AS input_tokens, f.output_tokens::text AS output_tokens,
       f.total_tokens::text AS total_tokens, f.job_cost::text AS cost_usd,
       f.cost_estimate::text AS cost_estimate_usd, f.run_seconds::text AS run_seconds
  FROM generate_series(0, $3::date - $2::date) AS n
 CROSS JOIN LATERAL (
   SELECT * FROM sutro.job_facts
    WHERE source = $1 AND day = $2::date + n AND job_cost IS NOT NULL
    ORDER BY job_cost DESC NULLS LAST, job_id
    LIMIT $4
 ) f
 ORDER BY f.job_cost DESC, f.job_id
 LIMIT $4`;

/** The costliest jobs of every source: read in cost order through jobs_cost_idx until $4 are in the period. */
const TOP_JOBS_OF_EVERY_SOURCE = `
SELECT f.source, f.job_id, f.name, f.model, f.status, f.day::text AS day,
       f.input_tokens::text AS input_tokens, f.output_tokens::text AS output_tokens,
       f.total_tokens::text AS total_tokens, f.job_cost::text AS cost_usd,
       f.cost_estimate::text AS cost_estimate_usd, f.run_seconds::text AS run_seconds
  FROM sutro.job_facts f
 WHERE f.day BETWEEN $2::date AND $3::date AND f.job_cost IS NOT NULL AND $1::text IS NULL
 ORDER BY f.job_cost DESC NULLS LAST, f.job_id
 LIMIT $4`;

/** Each source's share of the period, with its freshness; those with neither jobs nor a sync are left out. */
const BY_SOURCE = `
SELECT coalesce(h.source, u.source) AS source, coalesce(u.jobs, 0)::int AS jobs,
       coalesce(u.total_tokens, 0)::text AS total_tokens, coalesce(u.cost_usd, 0)::text AS cost_usd,
       h.last_success_at, h.seconds_since_last_success::float8 AS seconds_since_last_success,
       h.last_run_status, h.last_error
  FROM (SELECT * FROM sutro.sync_health WHERE $1::text IS NULL OR source = $1) h
  FULL JOIN (SELECT source, sum(jobs) AS jobs, sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd
               FROM sutro.daily_usage WHERE ${PERIOD} GROUP BY source) u ON u.source = h.source
 ORDER BY coalesce(u.cost_usd, 0) DESC, 1`;

const FRESHNESS = `
SELECT last_success_at, seconds_since_last_success::float8 AS seconds_since_last_success,
       last_full_pass_at, seconds_since_last_full_pass::float8 AS seconds_since_last_full_pass,
       last_run_status, last_error, last_error_at,
       jobs::int AS jobs, listed_jobs::int AS listed_jobs, missing_jobs::int AS missing_jobs,
       rejected_rows::int AS rejected_rows
  FROM sutro.sync_health
 WHERE source = $1`;

/**
 * Reads the whole report in one read-only snapshot, so that a sync committing meanwhile cannot make
 * the per-model figures disagree with the totals.
 */
export async function readUsageReport(db: Database, query: ReportQuery): Promise<UsageReport> {
  const options = { what: 'reading the usage report', readOnly: true, repeatableRead: true };
  return db.transaction(options, async (client) => {
    const period = [query.source, query.since, query.until];
    const totals = await client.query<UsageTotals>(TOTALS, period);
    const models = await client.query<ModelSpend>(BY_MODEL, period);
    const daily = await client.query<DailySpend>(BY_DAY, period);
    const dailyModels = await client.query<ModelDaySpend>(BY_DAY_AND_MODEL, period);
    const top = await client.query<TopJob>(query.source === null ? TOP_JOBS_OF_EVERY_SOURCE : TOP_JOBS, [
      ...period,
      query.top,
    ]);
    const freshness =
      query.source === null ? { rows: [] } : await client.query<Freshness>(FRESHNESS, [query.source]);
    const sources = await client.query<SourceSpend>(BY_SOURCE, period);
    const total = totals.rows[0];
    if (total === undefined) throw new Error('the totals query of the report returned no row');
    return {
      source: query.source,
      since: query.since,
      until: query.until,
      totals: total,
      models: models.rows,
      daily: daily.rows,
      daily_models: dailyModels.rows,
      top_jobs: top.rows,
      freshness: freshness.rows[0] ?? null,
      sources: sources.rows,
    };
  });
}

/** What a source spent per model over all its stored jobs, from sutro.model_usage. */
export interface ModelTotal {
  model: string | null;
  jobs: number;
  succeeded: number;
  input_tokens: string;
  output_tokens: string;
  cost_usd: string;
}

export function readModelTotals(db: Database, source: string): Promise<ModelTotal[]> {
  return db.transaction({ what: 'reading the spend per model', readOnly: true }, async (client) => {
    const result = await client.query<ModelTotal>(
      `SELECT model, jobs::int AS jobs, succeeded_jobs::int AS succeeded,
              coalesce(input_tokens, 0)::text AS input_tokens, coalesce(output_tokens, 0)::text AS output_tokens,
              coalesce(cost_usd, 0)::numeric(20, 2)::text AS cost_usd
         FROM sutro.model_usage WHERE source = $1 ORDER BY model_usage.cost_usd DESC NULLS LAST, model NULLS LAST`,
      [source],
    );
    return result.rows;
  });
}
