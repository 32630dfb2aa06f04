-- The views and indexes migrations 0001 and 0002 wrote by hand are declared in the Drizzle schema
-- now (src/db/schema.ts, src/db/views.ts); drizzle-kit generated this migration from it, and it is
-- edited to bring databases that have them to the same state: the views are replaced, not created,
-- which keeps their column comments; two indexes are built anew.
--
-- When a status change happened, stated once: the API dates three events (completion of a final
-- status, the start of RUNNING, the creation of a job first seen); any other change is only known
-- from when a sync saw it. IMMUTABLE and plain SQL, so the planner inlines them, and
-- job_history_changed_at_idx can index the same expression job_status_changes filters on.
CREATE OR REPLACE FUNCTION sutro.status_time_source(
  status text, change text, datetime_created timestamptz, datetime_started timestamptz, datetime_completed timestamptz
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND datetime_completed IS NOT NULL THEN 'datetime_completed'
    WHEN status = 'RUNNING' AND datetime_started IS NOT NULL THEN 'datetime_started'
    WHEN change = 'first_seen' AND datetime_created IS NOT NULL THEN 'datetime_created'
    ELSE 'observed_at'
  END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION sutro.changed_at(
  status text, change text, datetime_created timestamptz, datetime_started timestamptz, datetime_completed timestamptz,
  observed_at timestamptz
) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE sutro.status_time_source(status, change, datetime_created, datetime_started, datetime_completed)
    WHEN 'datetime_completed' THEN datetime_completed
    WHEN 'datetime_started' THEN datetime_started
    WHEN 'datetime_created' THEN datetime_created
    ELSE observed_at
  END
$$;
--> statement-breakpoint
-- Built under other names first, the old ones dropped last: CREATE INDEX only blocks writes while
-- it builds, whereas DROP INDEX locks the table against reads too until the transaction ends.
CREATE INDEX "job_history_changed_at_fn_idx" ON "sutro"."job_history" USING btree (sutro.changed_at(status, change, datetime_created, datetime_started, datetime_completed, observed_at)) WHERE change = 'first_seen' OR status IS DISTINCT FROM previous_status;
--> statement-breakpoint
CREATE INDEX "jobs_created_day_keyed_idx" ON "sutro"."jobs" USING btree (((datetime_created AT TIME ZONE 'UTC')::date),"source","datetime_created","model","status","num_rows","input_tokens","output_tokens","job_cost","cost_estimate");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "jobs_succeeded_run_idx" ON "sutro"."jobs" USING btree ("source","model","datetime_started","datetime_completed") WHERE status = 'SUCCEEDED';
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "jobs_listed_idx" ON "sutro"."jobs" USING btree ("source") WHERE missing_since IS NULL;
--> statement-breakpoint
CREATE OR REPLACE VIEW "sutro"."daily_usage" AS (
SELECT
  j.source,
  (j.datetime_created AT TIME ZONE 'UTC')::date AS day,
  j.model,
  j.status,
  count(*) AS jobs,
  coalesce(sum(j.num_rows), 0) AS num_rows,
  coalesce(sum(j.input_tokens), 0) AS input_tokens,
  coalesce(sum(j.output_tokens), 0) AS output_tokens,
  coalesce(sum(j.input_tokens), 0) + coalesce(sum(j.output_tokens), 0) AS total_tokens,
  coalesce(sum(j.job_cost), 0) AS cost_usd,
  coalesce(sum(j.cost_estimate), 0) AS cost_estimate_usd,
  count(j.job_cost) AS jobs_with_cost
FROM sutro.jobs j
GROUP BY j.source, (j.datetime_created AT TIME ZONE 'UTC')::date, j.model, j.status
);
--> statement-breakpoint
CREATE OR REPLACE VIEW "sutro"."job_facts" AS (
SELECT
  j.source,
  j.job_id,
  j.name,
  j.model,
  j.status,
  j.run_type,
  j.job_priority,
  j.dataset_id,
  j.datetime_created,
  j.datetime_started,
  j.datetime_completed,
  (j.datetime_created AT TIME ZONE 'UTC')::date AS day,
  extract(epoch FROM j.datetime_started - j.datetime_created) AS queue_seconds,
  extract(epoch FROM j.datetime_completed - j.datetime_started) AS run_seconds,
  j.num_rows,
  j.input_tokens,
  j.output_tokens,
  t.total_tokens,
  j.job_cost,
  j.cost_estimate,
  j.job_cost * 1000000 / nullif(t.total_tokens, 0) AS cost_per_million_tokens,
  j.job_cost - j.cost_estimate AS estimate_error,
  (j.job_cost - j.cost_estimate) / nullif(j.cost_estimate, 0) AS estimate_error_ratio,
  j.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AS terminal,
  j.settled,
  j.missing_since IS NULL AS still_listed,
  j.missing_since,
  -- A still-listed job was listed by the last complete full pass, or later when it changed since.
  -- Stamping every listed row on every run is what the jobs table deliberately avoids.
  CASE
    WHEN j.missing_since IS NULL THEN greatest(j.last_changed_at, s.last_full_pass_at)
    ELSE j.last_changed_at
  END AS last_seen_at,
  j.first_seen_at,
  j.last_changed_at,
  j.failure_reason
FROM sutro.jobs j
CROSS JOIN LATERAL (
  SELECT CASE
           WHEN j.input_tokens IS NULL AND j.output_tokens IS NULL THEN NULL
           ELSE coalesce(j.input_tokens, 0) + coalesce(j.output_tokens, 0)
         END AS total_tokens
) t
LEFT JOIN sutro.sync_state s ON s.source = j.source
);
--> statement-breakpoint
CREATE OR REPLACE VIEW "sutro"."job_status_changes" AS (
SELECT
  h.source,
  h.job_id,
  h.id AS history_id,
  h.run_id,
  prev.status AS from_status,
  h.status AS to_status,
  t.changed_at,
  t.time_source,
  h.observed_at,
  -- A status only known from an observation can have been seen after the API's time of the next
  -- transition: it lasted less than one sync interval, counted as 0 rather than a negative time.
  CASE
    WHEN prev.changed_at IS NOT NULL THEN extract(epoch FROM greatest(t.changed_at - prev.changed_at, interval '0'))
  END AS seconds_in_previous_status
FROM sutro.job_history h
-- The API dates three events; any other status change is only known from when a sync saw it.
CROSS JOIN LATERAL (
  SELECT
    sutro.changed_at(h.status, h.change, h.datetime_created, h.datetime_started, h.datetime_completed, h.observed_at) AS changed_at,
    sutro.status_time_source(h.status, h.change, h.datetime_created, h.datetime_started, h.datetime_completed) AS time_source
) t
LEFT JOIN LATERAL (
  SELECT
    p.status,
    sutro.changed_at(p.status, p.change, p.datetime_created, p.datetime_started, p.datetime_completed, p.observed_at) AS changed_at
  FROM sutro.job_history p
  WHERE p.source = h.source AND p.job_id = h.job_id AND p.id < h.id
    AND (p.change = 'first_seen' OR p.status IS DISTINCT FROM p.previous_status)
  ORDER BY p.id DESC
  LIMIT 1
) prev ON true
-- History rows that record a cost or a time arriving without a status change are not transitions.
WHERE h.change = 'first_seen' OR h.status IS DISTINCT FROM h.previous_status
);
--> statement-breakpoint
CREATE OR REPLACE VIEW "sutro"."model_usage" AS (
WITH totals AS (
  SELECT
    j.source,
    j.model,
    count(*) AS jobs,
    count(*) FILTER (WHERE j.status = 'SUCCEEDED') AS succeeded_jobs,
    count(*) FILTER (WHERE j.status = 'FAILED') AS failed_jobs,
    count(*) FILTER (WHERE j.status = 'CANCELLED') AS cancelled_jobs,
    count(*) FILTER (WHERE j.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')) AS unfinished_jobs,
    coalesce(sum(j.num_rows), 0) AS num_rows,
    coalesce(sum(j.input_tokens), 0) AS input_tokens,
    coalesce(sum(j.output_tokens), 0) AS output_tokens,
    coalesce(sum(j.job_cost), 0) AS cost_usd,
    coalesce(sum(j.cost_estimate), 0) AS cost_estimate_usd,
    count(j.job_cost) AS jobs_with_cost,
    count(j.input_tokens) AS jobs_with_input_tokens,
    count(j.output_tokens) AS jobs_with_output_tokens,
    -- Only jobs with a cost: the tokens of jobs still waiting for theirs would make a model look cheap.
    sum(coalesce(j.input_tokens, 0) + coalesce(j.output_tokens, 0)) FILTER (WHERE j.job_cost IS NOT NULL) AS costed_tokens,
    -- Seconds as float8: an avg() of intervals took a third of the view's time at a million jobs.
    avg(date_part('epoch', j.datetime_started - j.datetime_created)) AS avg_queue_seconds,
    avg(date_part('epoch', j.datetime_completed - j.datetime_started)) FILTER (WHERE j.status = 'SUCCEEDED') AS avg_run_seconds,
    min(j.datetime_created) AS first_job_created_at,
    max(j.datetime_created) AS last_job_created_at
  FROM sutro.jobs j
  GROUP BY j.source, j.model
),
-- Percentiles apart from the totals: an ordered-set aggregate needs its groups sorted, which
-- jobs_succeeded_run_idx does for these, while the totals hash-aggregate unsorted. Seconds as float8
-- rather than intervals keep each model's sort in memory; results are rounded to the microsecond.
run_percentiles AS (
  SELECT
    j.source,
    j.model,
    percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (
      ORDER BY date_part('epoch', j.datetime_completed - j.datetime_started)
    ) AS run_seconds
  FROM sutro.jobs j
  WHERE j.status = 'SUCCEEDED' AND j.datetime_started IS NOT NULL AND j.datetime_completed IS NOT NULL
  GROUP BY j.source, j.model
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
  -- Averages from the sums: an avg() beside each sum() would add up the same column twice.
  t.cost_usd / nullif(t.jobs_with_cost, 0) AS avg_cost_usd,
  t.input_tokens / nullif(t.jobs_with_input_tokens, 0) AS avg_input_tokens,
  t.output_tokens / nullif(t.jobs_with_output_tokens, 0) AS avg_output_tokens,
  t.cost_usd * 1000000 / nullif(t.costed_tokens, 0) AS cost_per_million_tokens,
  round(t.avg_queue_seconds::numeric, 6) AS avg_queue_seconds,
  round(t.avg_run_seconds::numeric, 6) AS avg_run_seconds,
  round(p.run_seconds[1]::numeric, 6) AS median_run_seconds,
  round(p.run_seconds[2]::numeric, 6) AS p95_run_seconds,
  t.first_job_created_at,
  t.last_job_created_at
FROM totals t
LEFT JOIN run_percentiles p ON p.source = t.source AND p.model IS NOT DISTINCT FROM t.model
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
    (SELECT count(*) FROM sutro.jobs j WHERE j.source = s.source) AS jobs,
    (SELECT count(*) FROM sutro.jobs j WHERE j.source = s.source AND j.missing_since IS NULL) AS listed_jobs,
    (SELECT count(*) FROM sutro.jobs j WHERE j.source = s.source AND NOT j.settled) AS unsettled_jobs,
    (SELECT max(j.datetime_created) FROM sutro.jobs j WHERE j.source = s.source) AS newest_job_created_at,
    (SELECT count(*) FROM sutro.rejected_jobs x WHERE x.source = s.source) AS rejected_rows
  -- Keeps the planner from inlining the subqueries, which would count the jobs twice for missing_jobs.
  OFFSET 0
) c
);
--> statement-breakpoint
DROP INDEX IF EXISTS "sutro"."job_history_changed_at_idx";
--> statement-breakpoint
ALTER INDEX "sutro"."job_history_changed_at_fn_idx" RENAME TO "job_history_changed_at_idx";
--> statement-breakpoint
DROP INDEX IF EXISTS "sutro"."jobs_created_day_idx";
--> statement-breakpoint
ALTER INDEX "sutro"."jobs_created_day_keyed_idx" RENAME TO "jobs_created_day_idx";
