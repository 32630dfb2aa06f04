-- Rollups of the jobs, kept by the sync by difference in the same statement as each page
-- (src/db/rollups.ts): the analytics views read them instead of every job. drizzle-kit generated
-- this migration from the schema; it is edited to fill the rollups from the jobs already stored
-- (the statements are rebuildSql('all') of rollups.ts, verbatim: a test keeps them equal), and to
-- replace the views rather than drop them, which keeps their comments.
--
-- A succeeded job's run time goes into a bucket an eighth of a power of two wide: below a second,
-- bucket 0; from s >= 1 seconds, 1 + floor(8 log2 s). run_time_estimate turns a bucket and a
-- fraction of its width back into seconds (geometrically, as the buckets grow), for the
-- percentiles of model_usage.
CREATE OR REPLACE FUNCTION sutro.run_time_bucket(seconds numeric) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN seconds < 1 THEN 0 ELSE 1 + floor(8 * log(2, seconds)) END::smallint
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION sutro.run_time_estimate(bucket integer, fraction numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN bucket = 0 THEN fraction ELSE power(2::numeric, (bucket - 1 + fraction) / 8) END
$$;
--> statement-breakpoint
CREATE TABLE "sutro"."run_time_rollup" (
	"source" text NOT NULL,
	"model" text,
	"bucket" smallint NOT NULL,
	"jobs" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sutro"."usage_rollup" (
	"source" text NOT NULL,
	"day" date NOT NULL,
	"model" text,
	"status" text NOT NULL,
	"jobs" bigint DEFAULT 0 NOT NULL,
	"jobs_with_cost" bigint DEFAULT 0 NOT NULL,
	"jobs_with_input_tokens" bigint DEFAULT 0 NOT NULL,
	"jobs_with_output_tokens" bigint DEFAULT 0 NOT NULL,
	"num_rows" numeric DEFAULT '0' NOT NULL,
	"input_tokens" numeric DEFAULT '0' NOT NULL,
	"output_tokens" numeric DEFAULT '0' NOT NULL,
	"cost_usd" numeric DEFAULT '0' NOT NULL,
	"cost_estimate_usd" numeric DEFAULT '0' NOT NULL,
	"costed_tokens" numeric DEFAULT '0' NOT NULL,
	"queued_jobs" bigint DEFAULT 0 NOT NULL,
	"queue_seconds" numeric DEFAULT '0' NOT NULL,
	"timed_jobs" bigint DEFAULT 0 NOT NULL,
	"run_seconds" numeric DEFAULT '0' NOT NULL,
	"missing_jobs" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "run_time_rollup_key_idx" ON "sutro"."run_time_rollup" USING btree ("source","bucket",coalesce(model, ''),(model IS NULL));
--> statement-breakpoint
CREATE UNIQUE INDEX "usage_rollup_key_idx" ON "sutro"."usage_rollup" USING btree ("source","day","status",coalesce(model, ''),(model IS NULL));
--> statement-breakpoint
INSERT INTO sutro.usage_rollup (source, day, model, status, jobs, jobs_with_cost, jobs_with_input_tokens, jobs_with_output_tokens, num_rows, input_tokens, output_tokens, cost_usd, cost_estimate_usd, costed_tokens, queued_jobs, queue_seconds, timed_jobs, run_seconds, missing_jobs)
SELECT x.source, coalesce((x.datetime_created AT TIME ZONE 'UTC')::date, '-infinity'::date), x.model, x.status,
       sum(1),
       sum((x.job_cost IS NOT NULL)::int),
       sum((x.input_tokens IS NOT NULL)::int),
       sum((x.output_tokens IS NOT NULL)::int),
       sum(coalesce(x.num_rows, 0)),
       sum(coalesce(x.input_tokens, 0)),
       sum(coalesce(x.output_tokens, 0)),
       sum(coalesce(x.job_cost, 0)),
       sum(coalesce(x.cost_estimate, 0)),
       sum(CASE WHEN x.job_cost IS NULL THEN 0 ELSE coalesce(x.input_tokens, 0) + coalesce(x.output_tokens, 0) END),
       sum((x.datetime_created IS NOT NULL AND x.datetime_started IS NOT NULL)::int),
       sum(coalesce(extract(epoch FROM x.datetime_started - x.datetime_created), 0)),
       sum((x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL)::int),
       sum(coalesce(extract(epoch FROM x.datetime_completed - x.datetime_started), 0)),
       sum((x.missing_since IS NOT NULL)::int)
FROM sutro.jobs x
GROUP BY 1, 2, 3, 4;
--> statement-breakpoint
INSERT INTO sutro.run_time_rollup (source, model, bucket, jobs)
SELECT x.source, x.model, b.bucket, count(*)
FROM sutro.jobs x
CROSS JOIN LATERAL (SELECT CASE WHEN x.status = 'SUCCEEDED' AND x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL
  THEN sutro.run_time_bucket(extract(epoch FROM x.datetime_completed - x.datetime_started)) END AS bucket) b
WHERE b.bucket IS NOT NULL
GROUP BY 1, 2, 3;
--> statement-breakpoint
CREATE INDEX "jobs_day_cost_idx" ON "sutro"."jobs" USING btree ("source",((datetime_created AT TIME ZONE 'UTC')::date),job_cost DESC NULLS LAST);
--> statement-breakpoint
CREATE OR REPLACE VIEW "sutro"."daily_usage" AS (
SELECT
  u.source,
  nullif(u.day, '-infinity'::date) AS day,
  u.model,
  u.status,
  u.jobs,
  u.num_rows,
  u.input_tokens,
  u.output_tokens,
  u.input_tokens + u.output_tokens AS total_tokens,
  u.cost_usd,
  u.cost_estimate_usd,
  u.jobs_with_cost
FROM sutro.usage_rollup u
WHERE u.jobs <> 0
);
--> statement-breakpoint
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
      / nullif(sum(u.timed_jobs) FILTER (WHERE u.status = 'SUCCEEDED'), 0) AS avg_run_seconds
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
-- Two probes of jobs_model_created_idx per model: the rollups keep no time finer than a day.
CROSS JOIN LATERAL (
  SELECT
    CASE WHEN t.model IS NULL
      THEN (SELECT min(j.datetime_created) FROM sutro.jobs j WHERE j.model IS NULL AND j.source = t.source)
      ELSE (SELECT min(j.datetime_created) FROM sutro.jobs j WHERE j.model = t.model AND j.source = t.source)
    END AS first_job_created_at,
    CASE WHEN t.model IS NULL
      THEN (SELECT max(j.datetime_created) FROM sutro.jobs j WHERE j.model IS NULL AND j.source = t.source)
      ELSE (SELECT max(j.datetime_created) FROM sutro.jobs j WHERE j.model = t.model AND j.source = t.source)
    END AS last_job_created_at
) c
);
--> statement-breakpoint
CREATE OR REPLACE VIEW "sutro"."sync_health" AS (
SELECT
  s.source,
  s.last_success_at,
  s.last_success_run_id,
  extract(epoch FROM now() - s.last_success_at) AS seconds_since_last_success,
  s.last_full_pass_at,
  extract(epoch FROM now() - s.last_full_pass_at) AS seconds_since_last_full_pass,
  r.id AS last_run_id,
  r.status AS last_run_status,
  r.started_at AS last_run_started_at,
  r.finished_at AS last_run_finished_at,
  s.last_error,
  s.last_error_at,
  s.resume_cursor IS NOT NULL AS full_pass_unfinished,
  c.jobs,
  c.listed_jobs,
  c.jobs - c.listed_jobs AS missing_jobs,
  c.unsettled_jobs,
  c.newest_job_created_at,
  c.rejected_rows
FROM sutro.sync_state s
LEFT JOIN sutro.sync_runs r ON r.id = s.last_run_id
CROSS JOIN LATERAL (
  SELECT
    (SELECT coalesce(sum(u.jobs), 0)::bigint FROM sutro.usage_rollup u WHERE u.source = s.source) AS jobs,
    (SELECT coalesce(sum(u.jobs - u.missing_jobs), 0)::bigint FROM sutro.usage_rollup u WHERE u.source = s.source) AS listed_jobs,
    (SELECT count(*) FROM sutro.jobs j WHERE j.source = s.source AND NOT j.settled) AS unsettled_jobs,
    (SELECT max(j.datetime_created) FROM sutro.jobs j WHERE j.source = s.source) AS newest_job_created_at,
    (SELECT count(*) FROM sutro.rejected_jobs x WHERE x.source = s.source) AS rejected_rows
  -- Keeps the planner from inlining the subqueries, which would count the jobs twice for missing_jobs.
  OFFSET 0
) c
);
--> statement-breakpoint
COMMENT ON TABLE sutro.usage_rollup IS 'Sums of the jobs per source, UTC day of creation (-infinity: no creation time), model and status, kept by the sync in the same transaction as the jobs; read through daily_usage, model_usage and sync_health.';
--> statement-breakpoint
COMMENT ON TABLE sutro.run_time_rollup IS 'Succeeded jobs per source, model and run-time bucket (bucket 0: under a second; b >= 1: from 2^((b-1)/8) to 2^(b/8) seconds), kept by the sync: the sketch of model_usage''s percentiles.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.median_run_seconds IS 'Median seconds from start to completion of SUCCEEDED jobs (seconds, estimated from run-time buckets 9% wide: within 19% of percentile_cont 0.5, usually within a few percent).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.p95_run_seconds IS '95th percentile of seconds from start to completion of SUCCEEDED jobs (seconds, estimated from run-time buckets 9% wide: within 19% of percentile_cont 0.95, usually within a few percent).';
--> statement-breakpoint
-- Dropped last: DROP INDEX locks the table against reads until the transaction ends. These served
-- the scans the rollups replace (daily_usage's range of days, model_usage's percentiles,
-- sync_health's count of listed jobs).
DROP INDEX "sutro"."jobs_created_day_idx";
--> statement-breakpoint
DROP INDEX "sutro"."jobs_succeeded_run_idx";
--> statement-breakpoint
DROP INDEX "sutro"."jobs_listed_idx";
