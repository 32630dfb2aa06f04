-- Views for analysts and BI tools (docs/analytics.md). Plain views, so they are never stale; the
-- indexes below keep the usual questions (a range of days, one job, one day of transitions, the
-- freshness of the data) fast at a million jobs. A later migration that changes a column these
-- views read must drop and recreate the views around the change.

-- daily_usage and job_facts are filtered by the UTC day of creation; without this index a range
-- of days reads every job.
CREATE INDEX "jobs_created_day_idx" ON "sutro"."jobs" USING btree (((datetime_created AT TIME ZONE 'UTC')::date));
--> statement-breakpoint
-- model_usage's run-time percentiles: an index-only scan hands them every model's succeeded jobs
-- in group order, where a plain view would otherwise sort the whole table on disk.
CREATE INDEX "jobs_succeeded_run_idx" ON "sutro"."jobs" USING btree ("source", "model", "datetime_started", "datetime_completed") WHERE status = 'SUCCEEDED';
--> statement-breakpoint
-- sync_health counts the jobs the API still lists; they are the few inside its 90-day window.
CREATE INDEX "jobs_listed_idx" ON "sutro"."jobs" USING btree ("source") WHERE missing_since IS NULL;
--> statement-breakpoint
-- job_status_changes is filtered by changed_at, an expression of job_history's own columns; this
-- is that expression, written exactly as in the view so that the planner matches the two.
CREATE INDEX "job_history_changed_at_idx" ON "sutro"."job_history" USING btree ((
    CASE
      WHEN status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND datetime_completed IS NOT NULL THEN datetime_completed
      WHEN status = 'RUNNING' AND datetime_started IS NOT NULL THEN datetime_started
      WHEN change = 'first_seen' AND datetime_created IS NOT NULL THEN datetime_created
      ELSE observed_at
    END
  )) WHERE change = 'first_seen' OR status IS DISTINCT FROM previous_status;
--> statement-breakpoint
CREATE VIEW sutro.job_facts AS
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
LEFT JOIN sutro.sync_state s ON s.source = j.source;
--> statement-breakpoint
COMMENT ON VIEW sutro.job_facts IS 'One row per stored job (sutro.jobs) with derived figures: durations in seconds, total tokens, cost per million tokens, estimate error, UTC day, terminal and still-listed flags. Money in USD, durations in seconds, counts in tokens or rows.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.source IS 'Label of the Sutro account (SUTRO_SOURCE) the job was synced from.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.job_id IS 'The API''s job id; unique within a source.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.name IS 'Optional name given to the job.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.model IS 'Model the job ran on; NULL when the API gave none.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.status IS 'Latest status, upper case (PENDING, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, ...).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.run_type IS 'The API''s run_type (e.g. FULL).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.job_priority IS 'The API''s job_priority (0 or 1).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.dataset_id IS 'Dataset the job read, if any.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.datetime_created IS 'When the job was created (API time, timestamptz); NULL when the API omitted it.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.datetime_started IS 'When processing began (API time); NULL until it starts.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.datetime_completed IS 'When the job finished (API time); NULL until it does.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.day IS 'UTC calendar day of datetime_created (date); the day daily_usage counts the job under.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.queue_seconds IS 'Seconds from creation to start (datetime_started - datetime_created); NULL until started.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.run_seconds IS 'Seconds from start to completion (datetime_completed - datetime_started); NULL until completed.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.num_rows IS 'Rows in the job''s input (count).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.input_tokens IS 'Input tokens processed (tokens, bigint).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.output_tokens IS 'Output tokens generated (tokens, bigint).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.total_tokens IS 'input_tokens + output_tokens (tokens, bigint); a missing side counts as 0, NULL when both are missing.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.job_cost IS 'Actual cost of the job (USD, numeric); NULL until the API reports it.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.cost_estimate IS 'Cost the API estimated before the run (USD, numeric).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.cost_per_million_tokens IS 'job_cost per million total tokens (USD per 1,000,000 tokens); NULL without a cost or without tokens.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.estimate_error IS 'job_cost - cost_estimate (USD): positive when the job cost more than estimated.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.estimate_error_ratio IS '(job_cost - cost_estimate) / cost_estimate (ratio, 0.1 = 10% over the estimate); NULL when the estimate is missing or 0.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.terminal IS 'True when the status is final: SUCCEEDED, FAILED or CANCELLED.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.settled IS 'True when nothing about the job will change: terminal, and for SUCCEEDED also its cost and completion time are known.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.still_listed IS 'True while the API still lists the job; false once a complete full pass did not list it (the API keeps jobs about 90 days; this database keeps them).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.missing_since IS 'When a complete full pass first did not list the job (timestamptz); NULL while it is listed.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.last_seen_at IS 'When the API is known to have listed the job last (timestamptz): for a listed job the later of its last change and the last complete full pass; for one no longer listed, its last change (a lower bound).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.first_seen_at IS 'When sutro-sync first stored the job (timestamptz).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.last_changed_at IS 'When sutro-sync last stored a change to the job (timestamptz).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_facts.failure_reason IS 'Why the job failed, as the API gave it (jsonb); NULL unless it failed.';
--> statement-breakpoint
CREATE VIEW sutro.daily_usage AS
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
GROUP BY j.source, (j.datetime_created AT TIME ZONE 'UTC')::date, j.model, j.status;
--> statement-breakpoint
COMMENT ON VIEW sutro.daily_usage IS 'Usage per source, UTC day of creation, model and status: jobs, rows, tokens, cost and estimated cost. Days without jobs have no rows. Jobs without a creation time are counted under day NULL, so the rows add up to the whole table.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.source IS 'Label of the Sutro account (SUTRO_SOURCE).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.day IS 'UTC calendar day the jobs were created (date); NULL for jobs the API gave no creation time.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.model IS 'Model; NULL for jobs without one.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.status IS 'Current status of the jobs counted in the row (upper case).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.jobs IS 'Number of jobs (count).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.num_rows IS 'Sum of the jobs'' input rows (count); missing values count as 0.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.input_tokens IS 'Sum of input tokens (tokens, numeric: exact beyond 2^63); missing values count as 0.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.output_tokens IS 'Sum of output tokens (tokens, numeric); missing values count as 0.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.total_tokens IS 'input_tokens + output_tokens (tokens, numeric).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.cost_usd IS 'Sum of job_cost (USD, numeric, exact); jobs whose cost is not known yet count as 0: see jobs_with_cost.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.cost_estimate_usd IS 'Sum of cost_estimate (USD, numeric); missing estimates count as 0.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.daily_usage.jobs_with_cost IS 'How many of the jobs have a job_cost (count); less than jobs while costs are still to come.';
--> statement-breakpoint
CREATE VIEW sutro.model_usage AS
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
LEFT JOIN run_percentiles p ON p.source = t.source AND p.model IS NOT DISTINCT FROM t.model;
--> statement-breakpoint
COMMENT ON VIEW sutro.model_usage IS 'Usage per source and model over all stored history: job counts by outcome, failure rate, totals and averages of rows, tokens and cost (USD), queue and run durations (seconds).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.source IS 'Label of the Sutro account (SUTRO_SOURCE).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.model IS 'Model; NULL for jobs without one.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.jobs IS 'All stored jobs of the model (count).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.succeeded_jobs IS 'Jobs with status SUCCEEDED (count).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.failed_jobs IS 'Jobs with status FAILED (count).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.cancelled_jobs IS 'Jobs with status CANCELLED (count).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.unfinished_jobs IS 'Jobs not in a terminal status yet (count).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.failure_rate IS 'failed_jobs / (succeeded + failed + cancelled jobs) (ratio 0..1); unfinished jobs are left out; NULL before any job finished.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.num_rows IS 'Sum of input rows (count).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.input_tokens IS 'Sum of input tokens (tokens, numeric).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.output_tokens IS 'Sum of output tokens (tokens, numeric).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.total_tokens IS 'input_tokens + output_tokens (tokens, numeric).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.cost_usd IS 'Sum of job_cost (USD, numeric, exact); jobs without a cost yet count as 0.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.cost_estimate_usd IS 'Sum of cost_estimate (USD, numeric).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.avg_cost_usd IS 'Average job_cost of the jobs that have one (USD per job).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.avg_input_tokens IS 'Average input tokens per job that reports them (tokens).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.avg_output_tokens IS 'Average output tokens per job that reports them (tokens).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.cost_per_million_tokens IS 'Sum of job_cost per million total tokens, over jobs that have a cost (USD per 1,000,000 tokens).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.avg_queue_seconds IS 'Average seconds from creation to start, over jobs that started (seconds).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.avg_run_seconds IS 'Average seconds from start to completion of SUCCEEDED jobs (seconds).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.median_run_seconds IS 'Median seconds from start to completion of SUCCEEDED jobs (seconds, interpolated: percentile_cont 0.5).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.p95_run_seconds IS '95th percentile of seconds from start to completion of SUCCEEDED jobs (seconds, interpolated: percentile_cont 0.95).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.first_job_created_at IS 'Creation time of the oldest stored job of the model (timestamptz).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.model_usage.last_job_created_at IS 'Creation time of the newest stored job of the model (timestamptz).';
--> statement-breakpoint
-- Each transition looks up the one before it through job_history_job_idx rather than lag() over
-- the job's history: a window must run over every job before a filter on changed_at can apply
-- (8 s at 2,000,000 history rows for one day's transitions, against milliseconds this way).
CREATE VIEW sutro.job_status_changes AS
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
    CASE
      WHEN h.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND h.datetime_completed IS NOT NULL THEN h.datetime_completed
      WHEN h.status = 'RUNNING' AND h.datetime_started IS NOT NULL THEN h.datetime_started
      WHEN h.change = 'first_seen' AND h.datetime_created IS NOT NULL THEN h.datetime_created
      ELSE h.observed_at
    END AS changed_at,
    CASE
      WHEN h.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND h.datetime_completed IS NOT NULL THEN 'datetime_completed'
      WHEN h.status = 'RUNNING' AND h.datetime_started IS NOT NULL THEN 'datetime_started'
      WHEN h.change = 'first_seen' AND h.datetime_created IS NOT NULL THEN 'datetime_created'
      ELSE 'observed_at'
    END AS time_source
) t
LEFT JOIN LATERAL (
  SELECT
    p.status,
    CASE
      WHEN p.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND p.datetime_completed IS NOT NULL THEN p.datetime_completed
      WHEN p.status = 'RUNNING' AND p.datetime_started IS NOT NULL THEN p.datetime_started
      WHEN p.change = 'first_seen' AND p.datetime_created IS NOT NULL THEN p.datetime_created
      ELSE p.observed_at
    END AS changed_at
  FROM sutro.job_history p
  WHERE p.source = h.source AND p.job_id = h.job_id AND p.id < h.id
    AND (p.change = 'first_seen' OR p.status IS DISTINCT FROM p.previous_status)
  ORDER BY p.id DESC
  LIMIT 1
) prev ON true
-- History rows that record a cost or a time arriving without a status change are not transitions.
WHERE h.change = 'first_seen' OR h.status IS DISTINCT FROM h.previous_status;
--> statement-breakpoint
COMMENT ON VIEW sutro.job_status_changes IS 'Each status transition of each job, from sutro.job_history: from and to status, when it happened, and the seconds the job spent in the status before. The first row of a job is the status it had when first seen (from_status NULL).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.source IS 'Label of the Sutro account (SUTRO_SOURCE).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.job_id IS 'The API''s job id.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.history_id IS 'The sutro.job_history row that recorded the new status; orders a job''s transitions.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.run_id IS 'The sync run (sutro.sync_runs.id) that saw the new status.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.from_status IS 'Status before the transition; NULL on the job''s first row.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.to_status IS 'Status after the transition (upper case).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.changed_at IS 'When the job entered to_status (timestamptz): the API''s own time where it has one (see time_source), else when the sync that saw it ran.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.time_source IS 'Where changed_at comes from: datetime_created (first status), datetime_started (RUNNING), datetime_completed (a terminal status), or observed_at (only when a sync saw it: up to one sync interval late).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.observed_at IS 'When the sync that recorded the new status ran (timestamptz).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.job_status_changes.seconds_in_previous_status IS 'Seconds the job spent in from_status: changed_at minus the previous row''s changed_at, never below 0 (a status only observed by a sync can have been seen after the API''s time of the next one); NULL on the first row.';
--> statement-breakpoint
-- Each count is its own subquery so that each is answered from an index (jobs_created_idx,
-- jobs_listed_idx, jobs_unsettled_idx) rather than by one pass over every job's row.
CREATE VIEW sutro.sync_health AS
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
) c;
--> statement-breakpoint
COMMENT ON VIEW sutro.sync_health IS 'Freshness of the data, one row per source: the last successful sync and its age in seconds, the last run, the last error, and how many job and rejected rows are stored.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.source IS 'Label of the Sutro account (SUTRO_SOURCE).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.last_success_at IS 'When the last successful sync run finished (timestamptz); NULL if none has.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.last_success_run_id IS 'That run (sutro.sync_runs.id).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.seconds_since_last_success IS 'Age of the data: seconds from last_success_at to now (seconds).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.last_full_pass_at IS 'When the last complete full pass finished (timestamptz): the time still_listed and missing_since are as of.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.seconds_since_last_full_pass IS 'Seconds from last_full_pass_at to now (seconds).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.last_run_id IS 'The most recent run of the source, whatever its outcome (sutro.sync_runs.id).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.last_run_status IS 'Status of that run: running, succeeded, failed, interrupted or abandoned.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.last_run_started_at IS 'When that run started (timestamptz).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.last_run_finished_at IS 'When that run finished (timestamptz); NULL while it runs.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.last_error IS 'Error of the last run when it did not succeed; NULL once a later run succeeded.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.last_error_at IS 'When a run last failed (timestamptz); kept after later successes.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.full_pass_unfinished IS 'True while an interrupted full pass waits to be resumed by the next run.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.jobs IS 'Job rows stored for the source (count), listed or not.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.listed_jobs IS 'Stored jobs the API still lists (count).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.missing_jobs IS 'Stored jobs the API no longer lists (count): history kept beyond the API''s window.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.unsettled_jobs IS 'Stored jobs that may still change (count): not terminal, or succeeded without a final cost.';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.newest_job_created_at IS 'Creation time of the newest stored job (timestamptz).';
--> statement-breakpoint
COMMENT ON COLUMN sutro.sync_health.rejected_rows IS 'Distinct rows that failed validation, kept in sutro.rejected_jobs (count).';
