/**
 * What the rollups of sutro.jobs hold (sutro.usage_rollup, sutro.run_time_rollup): their measures,
 * and a job's contribution to each as SQL over a row `x` with the columns ROLLUP_INPUTS names. The
 * tables (tables.ts), the statements that keep them by difference and rebuild them
 * (store/rollups.ts) and the views that read them (views.ts) all derive from this one description.
 * No Drizzle here: the write path loads it.
 */

/** The columns of sutro.jobs a job's contribution reads. */
export const ROLLUP_INPUTS = [
  'datetime_created',
  'datetime_started',
  'datetime_completed',
  'model',
  'status',
  'num_rows',
  'input_tokens',
  'output_tokens',
  'job_cost',
  'cost_estimate',
  'missing_since',
] as const;

/**
 * The UTC day of a job's creation, as the views count it. A job without a creation time counts
 * under -infinity (the views show NULL): a key column cannot be NULL, and no job is created then.
 */
export const ROLLUP_DAY = `coalesce((x.datetime_created AT TIME ZONE 'UTC')::date, '-infinity'::date)`;

interface Measure {
  /** `count` sums to a bigint; `sum` to a numeric, as sum() over bigint or numeric does. */
  readonly type: 'count' | 'sum';
  /** The job's contribution, never NULL. */
  readonly sql: string;
}

/** Each column of sutro.usage_rollup beside its key, and a job's contribution to it. */
export const MEASURES = {
  jobs: { type: 'count', sql: '1' },
  jobs_with_cost: { type: 'count', sql: '(x.job_cost IS NOT NULL)::int' },
  jobs_with_input_tokens: { type: 'count', sql: '(x.input_tokens IS NOT NULL)::int' },
  jobs_with_output_tokens: { type: 'count', sql: '(x.output_tokens IS NOT NULL)::int' },
  num_rows: { type: 'sum', sql: 'coalesce(x.num_rows, 0)' },
  input_tokens: { type: 'sum', sql: 'coalesce(x.input_tokens, 0)' },
  output_tokens: { type: 'sum', sql: 'coalesce(x.output_tokens, 0)' },
  cost_usd: { type: 'sum', sql: 'coalesce(x.job_cost, 0)' },
  cost_estimate_usd: { type: 'sum', sql: 'coalesce(x.cost_estimate, 0)' },
  /** Tokens of the jobs with a cost: those still waiting for theirs would make a model look cheap. */
  costed_tokens: {
    type: 'sum',
    sql: 'CASE WHEN x.job_cost IS NULL THEN 0 ELSE coalesce(x.input_tokens, 0) + coalesce(x.output_tokens, 0) END',
  },
  /** Seconds as numeric (extract returns numeric): sums of float8 kept by difference would drift. */
  queued_jobs: {
    type: 'count',
    sql: '(x.datetime_created IS NOT NULL AND x.datetime_started IS NOT NULL)::int',
  },
  queue_seconds: {
    type: 'sum',
    sql: 'coalesce(extract(epoch FROM x.datetime_started - x.datetime_created), 0)',
  },
  timed_jobs: {
    type: 'count',
    sql: '(x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL)::int',
  },
  run_seconds: {
    type: 'sum',
    sql: 'coalesce(extract(epoch FROM x.datetime_completed - x.datetime_started), 0)',
  },
  missing_jobs: { type: 'count', sql: '(x.missing_since IS NOT NULL)::int' },
} as const satisfies Record<string, Measure>;

export type MeasureName = keyof typeof MEASURES;
export const MEASURE_NAMES = Object.keys(MEASURES) as MeasureName[];

/**
 * A model can be NULL and PostgreSQL 14 has no NULLS NOT DISTINCT: the unique indexes (and so each
 * ON CONFLICT) hold the model as these two expressions, which tell NULL from ''.
 */
export const MODEL_KEY = [`coalesce(model, '')`, `(model IS NULL)`] as const;
/**
 * The run-time bucket of a succeeded job, or NULL when it does not count (not succeeded, or a time
 * missing): sutro.run_time_bucket (migrations 0006, 0008) puts seconds below 1 in bucket 0, and
 * s ≥ 1 in 1 + floor(8 log2 s), so that a bucket's ends are 2^(1/8) ≈ 1.09 apart. It computes in
 * float8: numeric's log() is an order of magnitude dearer, and it runs for every written job.
 */
export const RUN_TIME_BUCKET = `CASE WHEN x.status = 'SUCCEEDED' AND x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL
  THEN sutro.run_time_bucket(extract(epoch FROM x.datetime_completed - x.datetime_started)) END`;
