import { sql } from 'drizzle-orm';
import { bigint, boolean, date, integer, jsonb, numeric, text } from 'drizzle-orm/pg-core';
import { tz } from './job-columns.js';
import { sutro } from './tables.js';
import { changedAt, isTransition } from './status-transitions.js';
import { TERMINAL_JOB_STATUSES } from '../../sutro/job-fields.js';
import { sqlList } from './vocabulary.js';

/**
 * The views analysts and BI tools read (docs/analytics.md), declared here so that drizzle-kit knows
 * them: its migrations create and replace them, and `drizzle-kit push` leaves them alone. Plain
 * views, so they are never stale. The aggregates (daily_usage, model_usage, the counts of
 * sync_health) read the rollups the sync keeps in the same transaction as the jobs (rollups.ts);
 * job_facts and job_status_changes read the jobs and their history through the indexes in
 * tables.ts, so the usual questions cost the same at any history size.
 *
 * The columns are declared with the types PostgreSQL gives them (test/integration/schema.test.ts
 * compares); their meanings are COMMENTs, set by the migration that creates each view, and
 * docs/analytics.md quotes them (checked by test/integration/analytics.test.ts). A view that
 * changes a column's name or type must be dropped and created again, and its comments set anew.
 *
 * job_status_changes reads sutro.changed_at and sutro.status_time_source, the one statement of
 * when a status change happened, as SQL functions (drizzle/0005): job_history_changed_at_idx
 * indexes the same expression, so the planner matches the two. model_usage reads
 * sutro.run_time_estimate (drizzle/0006), the inverse of the run-time buckets.
 */

/** One row per stored job with derived figures: durations, total tokens, cost per million tokens, estimate error. */
export const jobFacts = sutro
  .view('job_facts', {
    source: text('source'),
    jobId: text('job_id'),
    name: text('name'),
    model: text('model'),
    status: text('status'),
    runType: text('run_type'),
    jobPriority: integer('job_priority'),
    datasetId: text('dataset_id'),
    datetimeCreated: tz('datetime_created'),
    datetimeStarted: tz('datetime_started'),
    datetimeCompleted: tz('datetime_completed'),
    day: date('day', { mode: 'string' }),
    queueSeconds: numeric('queue_seconds'),
    runSeconds: numeric('run_seconds'),
    numRows: bigint('num_rows', { mode: 'number' }),
    inputTokens: bigint('input_tokens', { mode: 'number' }),
    outputTokens: bigint('output_tokens', { mode: 'number' }),
    totalTokens: bigint('total_tokens', { mode: 'number' }),
    jobCost: numeric('job_cost'),
    costEstimate: numeric('cost_estimate'),
    costPerMillionTokens: numeric('cost_per_million_tokens'),
    estimateError: numeric('estimate_error'),
    estimateErrorRatio: numeric('estimate_error_ratio'),
    terminal: boolean('terminal'),
    settled: boolean('settled'),
    stillListed: boolean('still_listed'),
    missingSince: tz('missing_since'),
    lastSeenAt: tz('last_seen_at'),
    firstSeenAt: tz('first_seen_at'),
    lastChangedAt: tz('last_changed_at'),
    failureReason: jsonb('failure_reason'),
  })
  .as(
    sql.raw(`
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
  j.status IN (${sqlList(TERMINAL_JOB_STATUSES)}) AS terminal,
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
`),
  );

/** Usage per source, UTC day of creation, model and status: the rollup the sync keeps (rollups.ts). */
export const dailyUsage = sutro
  .view('daily_usage', {
    source: text('source'),
    day: date('day', { mode: 'string' }),
    model: text('model'),
    status: text('status'),
    jobs: bigint('jobs', { mode: 'number' }),
    numRows: numeric('num_rows'),
    inputTokens: numeric('input_tokens'),
    outputTokens: numeric('output_tokens'),
    totalTokens: numeric('total_tokens'),
    costUsd: numeric('cost_usd'),
    costEstimateUsd: numeric('cost_estimate_usd'),
    jobsWithCost: bigint('jobs_with_cost', { mode: 'number' }),
  })
  .as(
    sql.raw(`
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
`),
  );

/**
 * Usage per source and model over all stored jobs, with failure rate, averages and run-time
 * percentiles, from the rollups (rollups.ts): a few thousand rows, however many jobs.
 */
export const modelUsage = sutro
  .view('model_usage', {
    source: text('source'),
    model: text('model'),
    jobs: bigint('jobs', { mode: 'number' }),
    succeededJobs: bigint('succeeded_jobs', { mode: 'number' }),
    failedJobs: bigint('failed_jobs', { mode: 'number' }),
    cancelledJobs: bigint('cancelled_jobs', { mode: 'number' }),
    unfinishedJobs: bigint('unfinished_jobs', { mode: 'number' }),
    failureRate: numeric('failure_rate'),
    numRows: numeric('num_rows'),
    inputTokens: numeric('input_tokens'),
    outputTokens: numeric('output_tokens'),
    totalTokens: numeric('total_tokens'),
    costUsd: numeric('cost_usd'),
    costEstimateUsd: numeric('cost_estimate_usd'),
    avgCostUsd: numeric('avg_cost_usd'),
    avgInputTokens: numeric('avg_input_tokens'),
    avgOutputTokens: numeric('avg_output_tokens'),
    costPerMillionTokens: numeric('cost_per_million_tokens'),
    avgQueueSeconds: numeric('avg_queue_seconds'),
    avgRunSeconds: numeric('avg_run_seconds'),
    medianRunSeconds: numeric('median_run_seconds'),
    p95RunSeconds: numeric('p95_run_seconds'),
    firstJobCreatedAt: tz('first_job_created_at'),
    lastJobCreatedAt: tz('last_job_created_at'),
  })
  .as(
    sql.raw(`
WITH totals AS (
  SELECT
    u.source,
    u.model,
    sum(u.jobs)::bigint AS jobs,
    coalesce(sum(u.jobs) FILTER (WHERE u.status = 'SUCCEEDED'), 0)::bigint AS succeeded_jobs,
    coalesce(sum(u.jobs) FILTER (WHERE u.status = 'FAILED'), 0)::bigint AS failed_jobs,
    coalesce(sum(u.jobs) FILTER (WHERE u.status = 'CANCELLED'), 0)::bigint AS cancelled_jobs,
    coalesce(sum(u.jobs) FILTER (WHERE u.status NOT IN (${sqlList(TERMINAL_JOB_STATUSES)})), 0)::bigint AS unfinished_jobs,
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
`),
  );

/**
 * Each status transition of each job, with its time and the time spent in the status before. Each
 * transition looks up the one before it through job_history_job_idx rather than lag() over the
 * job's history: a window must run over every job before a filter on changed_at can apply, so its
 * cost would grow with the whole history rather than the day asked for.
 */
export const jobStatusChanges = sutro
  .view('job_status_changes', {
    source: text('source'),
    jobId: text('job_id'),
    historyId: bigint('history_id', { mode: 'number' }),
    runId: bigint('run_id', { mode: 'number' }),
    fromStatus: text('from_status'),
    toStatus: text('to_status'),
    changedAt: tz('changed_at'),
    timeSource: text('time_source'),
    observedAt: tz('observed_at'),
    secondsInPreviousStatus: numeric('seconds_in_previous_status'),
  })
  .as(
    sql.raw(`
SELECT
  h.source,
  h.job_id,
  h.id AS history_id,
  h.run_id,
  h.previous_status AS from_status,
  h.status AS to_status,
  t.changed_at,
  t.time_source,
  h.observed_at,
  -- A status only known from an observation can have been seen after the API's time of the next
  -- transition: it lasted less than one sync interval, counted as 0 rather than a negative time.
  CASE
    WHEN h.previous_status_changed_at IS NOT NULL
    THEN extract(epoch FROM greatest(t.changed_at - h.previous_status_changed_at, interval '0'))
  END AS seconds_in_previous_status
FROM sutro.job_history h
-- The API dates three events; any other status change is only known from when a sync saw it.
CROSS JOIN LATERAL (
  SELECT
    ${changedAt('h')} AS changed_at,
    sutro.status_time_source(h.status, h.change, h.datetime_created, h.datetime_started, h.datetime_completed) AS time_source
) t
WHERE ${isTransition('h')}
`),
  );

/**
 * Freshness of the data, one row per source. Each figure is its own subquery so that each is
 * answered from the rollup or an index (jobs_created_idx, jobs_unsettled_idx) rather than by one
 * pass over every job's row.
 */
export const syncHealth = sutro
  .view('sync_health', {
    source: text('source'),
    lastSuccessAt: tz('last_success_at'),
    lastSuccessRunId: bigint('last_success_run_id', { mode: 'number' }),
    secondsSinceLastSuccess: numeric('seconds_since_last_success'),
    lastFullPassAt: tz('last_full_pass_at'),
    secondsSinceLastFullPass: numeric('seconds_since_last_full_pass'),
    lastRunId: bigint('last_run_id', { mode: 'number' }),
    lastRunStatus: text('last_run_status'),
    lastRunStartedAt: tz('last_run_started_at'),
    lastRunFinishedAt: tz('last_run_finished_at'),
    lastError: text('last_error'),
    lastErrorAt: tz('last_error_at'),
    fullPassUnfinished: boolean('full_pass_unfinished'),
    jobs: bigint('jobs', { mode: 'number' }),
    listedJobs: bigint('listed_jobs', { mode: 'number' }),
    missingJobs: bigint('missing_jobs', { mode: 'number' }),
    unsettledJobs: bigint('unsettled_jobs', { mode: 'number' }),
    newestJobCreatedAt: tz('newest_job_created_at'),
    rejectedRows: bigint('rejected_rows', { mode: 'number' }),
  })
  .as(
    sql.raw(`
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
`),
  );
