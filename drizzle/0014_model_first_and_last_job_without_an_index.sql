-- jobs_model_created_idx (model, datetime_created) goes: every written job paid for it, and its one
-- user, model_usage's first and last job of each model, did not need it. The view now takes the
-- model's first and last day from the rollups and probes jobs_created_idx (source, datetime_created)
-- within that day, so each probe reads at most a day of the source's jobs, however many sources
-- share the table; the figures are in bench/README.md (measurements behind the design).
-- CREATE OR REPLACE keeps the view's comments: its columns are the same.
DROP INDEX "sutro"."jobs_model_created_idx";--> statement-breakpoint
CREATE OR REPLACE VIEW "sutro"."model_usage" AS (
WITH totals AS (
  SELECT
    u.source,
    u.model,
    sum(u.jobs)::bigint AS jobs,
    coalesce(sum(u.jobs) FILTER (WHERE u.status = 'SUCCEEDED'), 0)::bigint AS succeeded_jobs,
    coalesce(sum(u.jobs) FILTER (WHERE u.status = 'FAILED'), 0)::bigint AS failed_jobs,
    coalesce(sum(u.jobs) FILTER (WHERE u.status = 'CANCELLED'), 0)::bigint AS cancelled_jobs,
    coalesce(sum(u.jobs) FILTER (WHERE u.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')), 0)::bigint AS unfinished_jobs,
    sum(u.num_rows) AS num_rows,
    sum(u.input_tokens) AS input_tokens,
    sum(u.output_tokens) AS output_tokens,
    sum(u.cost_usd) AS cost_usd,
    sum(u.cost_estimate_usd) AS cost_estimate_usd,
    sum(u.jobs_with_cost) AS jobs_with_cost,
    sum(u.jobs_with_input_tokens) AS jobs_with_input_tokens,
    sum(u.jobs_with_output_tokens) AS jobs_with_output_tokens,
    sum(u.costed_tokens) AS costed_tokens,
    sum(u.queue_seconds) / nullif(sum(u.queued_jobs), 0) AS avg_queue_seconds,
    sum(u.run_seconds) FILTER (WHERE u.status = 'SUCCEEDED')
      / nullif(sum(u.timed_jobs) FILTER (WHERE u.status = 'SUCCEEDED'), 0) AS avg_run_seconds,
    -- The days of the first and last job created (jobs without a creation time count under -infinity).
    min(u.day) FILTER (WHERE u.day <> '-infinity') AS first_day,
    max(u.day) FILTER (WHERE u.day <> '-infinity') AS last_day
  FROM sutro.usage_rollup u
  WHERE u.jobs <> 0
  GROUP BY u.source, u.model
),
-- The percentiles come from the sketch in run_time_rollup: the bucket holding the rank
-- percentile_cont would interpolate at, and within it a geometric interpolation by rank, so an
-- estimate is within two buckets' width (2^(1/4), 19%) of the exact figure, usually far closer.
run_buckets AS (
  SELECT
    b.source,
    b.model,
    b.bucket,
    b.jobs,
    sum(b.jobs) OVER (PARTITION BY b.source, b.model ORDER BY b.bucket) - b.jobs AS below,
    sum(b.jobs) OVER (PARTITION BY b.source, b.model) AS total
  FROM sutro.run_time_rollup b
  WHERE b.jobs > 0
),
run_percentiles AS (
  SELECT
    r.source,
    r.model,
    max(sutro.run_time_estimate(r.bucket, (0.5 * (r.total - 1) - r.below + 0.5) / r.jobs))
      FILTER (WHERE 0.5 * (r.total - 1) >= r.below AND 0.5 * (r.total - 1) < r.below + r.jobs) AS median,
    max(sutro.run_time_estimate(r.bucket, (0.95 * (r.total - 1) - r.below + 0.5) / r.jobs))
      FILTER (WHERE 0.95 * (r.total - 1) >= r.below AND 0.95 * (r.total - 1) < r.below + r.jobs) AS p95
  FROM run_buckets r
  GROUP BY r.source, r.model
)
SELECT
  t.source,
  t.model,
  t.jobs,
  t.succeeded_jobs,
  t.failed_jobs,
  t.cancelled_jobs,
  t.unfinished_jobs,
  t.failed_jobs::numeric / nullif(t.succeeded_jobs + t.failed_jobs + t.cancelled_jobs, 0) AS failure_rate,
  t.num_rows,
  t.input_tokens,
  t.output_tokens,
  t.input_tokens + t.output_tokens AS total_tokens,
  t.cost_usd,
  t.cost_estimate_usd,
  t.cost_usd / nullif(t.jobs_with_cost, 0) AS avg_cost_usd,
  t.input_tokens / nullif(t.jobs_with_input_tokens, 0) AS avg_input_tokens,
  t.output_tokens / nullif(t.jobs_with_output_tokens, 0) AS avg_output_tokens,
  t.cost_usd * 1000000 / nullif(t.costed_tokens, 0) AS cost_per_million_tokens,
  round(t.avg_queue_seconds, 6) AS avg_queue_seconds,
  round(t.avg_run_seconds, 6) AS avg_run_seconds,
  round(p.median, 6) AS median_run_seconds,
  round(p.p95, 6) AS p95_run_seconds,
  c.first_job_created_at,
  c.last_job_created_at
FROM totals t
LEFT JOIN run_percentiles p ON p.source = t.source AND p.model IS NOT DISTINCT FROM t.model
-- The first and last job's time: the rollups give the model's first and last day, and a probe of
-- jobs_created_idx (source, datetime_created) within that day finds the time, reading at most one
-- day of the source's jobs. No index on the model: it cost every written job more than it saved.
CROSS JOIN LATERAL (
  SELECT
    (SELECT min(j.datetime_created) FROM sutro.jobs j
      WHERE j.source = t.source AND j.model IS NOT DISTINCT FROM t.model
        AND j.datetime_created >= t.first_day::timestamp AT TIME ZONE 'UTC'
        AND j.datetime_created < (t.first_day + 1)::timestamp AT TIME ZONE 'UTC') AS first_job_created_at,
    (SELECT max(j.datetime_created) FROM sutro.jobs j
      WHERE j.source = t.source AND j.model IS NOT DISTINCT FROM t.model
        AND j.datetime_created >= t.last_day::timestamp AT TIME ZONE 'UTC'
        AND j.datetime_created < (t.last_day + 1)::timestamp AT TIME ZONE 'UTC') AS last_job_created_at
) c
);