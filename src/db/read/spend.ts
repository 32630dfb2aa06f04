import { ENDED_WITHOUT_RESULT, sqlList } from '../schema/vocabulary.js';

/**
 * What a source's recent jobs cost, by model: the figures behind the sutro_spend_* gauges, read on
 * every scrape of /metrics (readScrapeFigures in source-health.ts runs it with the source's health,
 * in one statement).
 */

export interface RecentModelSpend {
  /** null for jobs the API gave no model. */
  readonly model: string | null;
  /**
   * Sum of job_cost (USD) of the jobs created on the current UTC day: the day sutro.daily_usage
   * counts a job under, so that this figure and `SELECT sum(cost_usd) … WHERE day = current day`
   * agree. 0 for a model with jobs in the last 24 hours but none today yet.
   */
  readonly todayUsd: number;
  /** Sum of job_cost (USD) of the jobs created in the 24 hours before the query. */
  readonly last24HoursUsd: number;
  /** Sum of cost_estimate (USD) of today's jobs whose job_cost is still to come. */
  readonly todayUnpricedEstimateUsd: number;
}

/** One row per source and model with jobs in the last 24 hours, as json_agg names its keys. */
export interface RecentModelSpendRow {
  readonly source: string;
  readonly model: string | null;
  readonly today_usd: number;
  readonly last_24_hours_usd: number;
  readonly today_unpriced_estimate_usd: number;
}

const TODAY = `(j.datetime_created AT TIME ZONE 'UTC')::date = (now() AT TIME ZONE 'UTC')::date`;

/**
 * The spend of the sources $1 by model, for a WITH clause. It reads the jobs rather than daily_usage
 * because the last 24 hours are not a whole number of days; "today" is daily_usage's own rule (the
 * UTC day of creation), so the two cannot disagree about a job created near midnight.
 *
 * Every job created today was created within the last 24 hours, so the 24-hour window selects all
 * the rows both figures need, and it is one range of jobs_created_idx (source, datetime_created).
 * The rows it leads to are wide (raw jsonb), but a day's worth only, whatever the history's size,
 * which keeps it well inside the scrape's 3 s timeout.
 *
 * Sums are numeric, exact, and become float8 once at the end, as the gauges hold float64 anyway.
 * FAILED and CANCELLED jobs are settled (schema.ts): a cost they have not been given is not coming,
 * so their estimates are not spend on its way.
 */
export const RECENT_SPEND_BY_MODEL = `
SELECT j.source, j.model,
       coalesce(sum(j.job_cost) FILTER (WHERE ${TODAY}), 0)::float8 AS today_usd,
       coalesce(sum(j.job_cost), 0)::float8 AS last_24_hours_usd,
       coalesce(sum(j.cost_estimate) FILTER (
         WHERE ${TODAY} AND j.job_cost IS NULL AND j.status NOT IN (${sqlList(ENDED_WITHOUT_RESULT)})
       ), 0)::float8 AS today_unpriced_estimate_usd
  FROM sutro.jobs j
 WHERE j.source = ANY($1::text[]) AND j.datetime_created > now() - interval '24 hours'
 GROUP BY j.source, j.model`;

export function recentModelSpendOf(row: RecentModelSpendRow): RecentModelSpend {
  return {
    model: row.model,
    todayUsd: row.today_usd,
    last24HoursUsd: row.last_24_hours_usd,
    todayUnpricedEstimateUsd: row.today_unpriced_estimate_usd,
  };
}
