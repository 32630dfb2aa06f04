-- Schema sutro as the migrations in drizzle/ leave it, read from PostgreSQL's catalogs.
-- Written by `npm run db:dump`; the tests fail when it is stale. Not applied by anything.

TABLE sutro.full_pass_seen
  pass_run_id bigint NOT NULL
  job_id text NOT NULL
  CONSTRAINT full_pass_seen_pass_run_id_job_id_pk PRIMARY KEY (pass_run_id, job_id)
  CREATE UNIQUE INDEX full_pass_seen_pass_run_id_job_id_pk ON sutro.full_pass_seen USING btree (pass_run_id, job_id)

TABLE sutro.job_history
  id bigint NOT NULL DEFAULT nextval('sutro.job_history_id_seq'::regclass)
  source text NOT NULL
  job_id text NOT NULL
  run_id bigint
  observed_at timestamp with time zone NOT NULL DEFAULT now()
  change text NOT NULL
  changed_fields text[] NOT NULL
  status text NOT NULL
  previous_status text
  datetime_created timestamp with time zone
  datetime_started timestamp with time zone
  datetime_completed timestamp with time zone
  input_tokens bigint
  output_tokens bigint
  num_rows bigint
  job_cost numeric
  cost_estimate numeric
  failure_reason jsonb
  previous_status_changed_at timestamp with time zone
  CONSTRAINT job_history_change_check CHECK (change = ANY (ARRAY['first_seen'::text, 'changed'::text]))
  CONSTRAINT job_history_pkey PRIMARY KEY (id)
  CREATE INDEX job_history_changed_at_idx ON sutro.job_history USING btree (sutro.changed_at(status, change, datetime_created, datetime_started, datetime_completed, observed_at))
  CREATE INDEX job_history_job_idx ON sutro.job_history USING btree (source, job_id, id)
  CREATE UNIQUE INDEX job_history_pkey ON sutro.job_history USING btree (id)

TABLE sutro.jobs
  source text NOT NULL
  job_id text NOT NULL
  status text NOT NULL
  model text
  system_prompt text
  job_priority integer
  datetime_created timestamp with time zone
  datetime_started timestamp with time zone
  datetime_completed timestamp with time zone
  json_schema jsonb
  sampling_params jsonb
  name text
  description text
  dataset_id text
  input_tokens bigint
  output_tokens bigint
  job_cost numeric
  num_rows bigint
  failure_reason jsonb
  cost_estimate numeric
  run_type text
  raw jsonb NOT NULL
  settled boolean NOT NULL GENERATED ALWAYS AS (((status = ANY (ARRAY['FAILED'::text, 'CANCELLED'::text])) OR ((status = 'SUCCEEDED'::text) AND (job_cost IS NOT NULL) AND (datetime_completed IS NOT NULL)))) STORED
  first_seen_at timestamp with time zone NOT NULL DEFAULT now()
  last_changed_at timestamp with time zone NOT NULL DEFAULT now()
  missing_since timestamp with time zone
  first_run_id bigint
  last_changed_run_id bigint
  CONSTRAINT jobs_source_job_id_pk PRIMARY KEY (source, job_id)
  CREATE INDEX jobs_cost_idx ON sutro.jobs USING btree (job_cost DESC NULLS LAST)
  CREATE INDEX jobs_created_idx ON sutro.jobs USING btree (source, datetime_created)
  CREATE INDEX jobs_day_cost_idx ON sutro.jobs USING btree (source, (((datetime_created AT TIME ZONE 'UTC'::text))::date), job_cost DESC NULLS LAST)
  CREATE UNIQUE INDEX jobs_source_job_id_pk ON sutro.jobs USING btree (source, job_id)
  CREATE INDEX jobs_unsettled_idx ON sutro.jobs USING btree (source, datetime_created) WHERE (NOT settled)

TABLE sutro.notices
  source text NOT NULL
  kind text NOT NULL
  subject text NOT NULL
  detail text
  first_run_id bigint
  last_run_id bigint
  first_seen_at timestamp with time zone NOT NULL DEFAULT now()
  last_seen_at timestamp with time zone NOT NULL DEFAULT now()
  runs_seen integer NOT NULL DEFAULT 1
  CONSTRAINT notices_kind_check CHECK (kind = ANY (ARRAY['unknown_field'::text, 'missing_field'::text, 'scrubbed_job'::text]))
  CONSTRAINT notices_source_kind_subject_pk PRIMARY KEY (source, kind, subject)
  CREATE UNIQUE INDEX notices_source_kind_subject_pk ON sutro.notices USING btree (source, kind, subject)

TABLE sutro.rejected_jobs
  id bigint NOT NULL DEFAULT nextval('sutro.rejected_jobs_id_seq'::regclass)
  source text NOT NULL
  job_id text
  reason text NOT NULL
  raw jsonb NOT NULL
  raw_hash text NOT NULL
  first_run_id bigint
  last_run_id bigint
  page integer
  first_seen_at timestamp with time zone NOT NULL DEFAULT now()
  last_seen_at timestamp with time zone NOT NULL DEFAULT now()
  times_seen integer NOT NULL DEFAULT 1
  position_on_page smallint
  CONSTRAINT rejected_jobs_pkey PRIMARY KEY (id)
  CREATE UNIQUE INDEX rejected_jobs_pkey ON sutro.rejected_jobs USING btree (id)
  CREATE UNIQUE INDEX rejected_jobs_source_hash_idx ON sutro.rejected_jobs USING btree (source, raw_hash)

TABLE sutro.run_time_rollup
  -- Succeeded jobs per source, model and run-time bucket (bucket 0: under a second; b >= 1: from 2^((b-1)/8) to 2^(b/8) seconds), kept by the sync: the sketch of model_usage's percentiles.
  source text NOT NULL
  model text
  bucket smallint NOT NULL
  jobs bigint NOT NULL DEFAULT 0
  CREATE UNIQUE INDEX run_time_rollup_key_idx ON sutro.run_time_rollup USING btree (source, bucket, COALESCE(model, ''::text), ((model IS NULL)))

TABLE sutro.source_schedules
  source text NOT NULL
  next_run_at timestamp with time zone NOT NULL
  next_full_at timestamp with time zone NOT NULL
  schedule text NOT NULL
  full_schedule text NOT NULL
  failures integer NOT NULL DEFAULT 0
  retry_at timestamp with time zone
  last_due_at timestamp with time zone
  last_claimed_at timestamp with time zone
  updated_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT source_schedules_pkey PRIMARY KEY (source)
  CREATE UNIQUE INDEX source_schedules_pkey ON sutro.source_schedules USING btree (source)

TABLE sutro.sync_leases
  source text NOT NULL
  token bigint NOT NULL
  holder text
  run_id bigint
  acquired_at timestamp with time zone NOT NULL DEFAULT now()
  renewed_at timestamp with time zone NOT NULL DEFAULT now()
  expires_at timestamp with time zone NOT NULL
  CONSTRAINT sync_leases_pkey PRIMARY KEY (source)
  CREATE UNIQUE INDEX sync_leases_pkey ON sutro.sync_leases USING btree (source)

TABLE sutro.sync_runs
  id bigint NOT NULL DEFAULT nextval('sutro.sync_runs_id_seq'::regclass)
  source text NOT NULL
  mode text NOT NULL
  requested_mode text NOT NULL
  trigger text NOT NULL
  status text NOT NULL DEFAULT 'running'::text
  started_at timestamp with time zone NOT NULL DEFAULT now()
  finished_at timestamp with time zone
  heartbeat_at timestamp with time zone NOT NULL DEFAULT now()
  pages integer NOT NULL DEFAULT 0
  jobs_seen integer NOT NULL DEFAULT 0
  jobs_inserted integer NOT NULL DEFAULT 0
  jobs_updated integer NOT NULL DEFAULT 0
  jobs_unchanged integer NOT NULL DEFAULT 0
  jobs_rejected integer NOT NULL DEFAULT 0
  history_rows integer NOT NULL DEFAULT 0
  jobs_marked_missing integer NOT NULL DEFAULT 0
  stop_reason text
  resumed_from_run_id bigint
  floor timestamp with time zone
  error text
  host text
  pid integer
  jobs_with_unknown_fields integer NOT NULL DEFAULT 0
  jobs_with_missing_fields integer NOT NULL DEFAULT 0
  jobs_in_legacy_shape integer NOT NULL DEFAULT 0
  unknown_fields text[] NOT NULL DEFAULT '{}'::text[]
  missing_fields text[] NOT NULL DEFAULT '{}'::text[]
  due_at timestamp with time zone
  CONSTRAINT sync_runs_mode_check CHECK (mode = ANY (ARRAY['incremental'::text, 'full'::text]))
  CONSTRAINT sync_runs_pkey PRIMARY KEY (id)
  CONSTRAINT sync_runs_requested_mode_check CHECK (requested_mode = ANY (ARRAY['incremental'::text, 'full'::text]))
  CONSTRAINT sync_runs_status_check CHECK (status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text, 'interrupted'::text, 'abandoned'::text]))
  CONSTRAINT sync_runs_stop_reason_check CHECK (stop_reason = ANY (ARRAY['end_of_list'::text, 'below_floor'::text, 'interrupted'::text, 'error'::text]))
  CONSTRAINT sync_runs_trigger_check CHECK (trigger = ANY (ARRAY['cli'::text, 'schedule'::text, 'schedule-full'::text, 'startup'::text, 'demo'::text]))
  CREATE UNIQUE INDEX sync_runs_pkey ON sutro.sync_runs USING btree (id)
  CREATE INDEX sync_runs_running_idx ON sutro.sync_runs USING btree (source) WHERE (status = 'running'::text)
  CREATE INDEX sync_runs_source_started_idx ON sutro.sync_runs USING btree (source, started_at)

TABLE sutro.sync_state
  source text NOT NULL
  resume_cursor text
  resume_pass_run_id bigint
  resume_pages integer NOT NULL DEFAULT 0
  last_run_id bigint
  last_success_at timestamp with time zone
  last_success_run_id bigint
  last_full_pass_at timestamp with time zone
  last_error text
  last_error_at timestamp with time zone
  updated_at timestamp with time zone NOT NULL DEFAULT now()
  CONSTRAINT sync_state_pkey PRIMARY KEY (source)
  CREATE UNIQUE INDEX sync_state_pkey ON sutro.sync_state USING btree (source)

TABLE sutro.usage_rollup
  -- Sums of the jobs per source, UTC day of creation (-infinity: no creation time), model and status, kept by the sync in the same transaction as the jobs; read through daily_usage, model_usage and sync_health.
  source text NOT NULL
  day date NOT NULL
  model text
  status text NOT NULL
  jobs bigint NOT NULL DEFAULT 0
  jobs_with_cost bigint NOT NULL DEFAULT 0
  jobs_with_input_tokens bigint NOT NULL DEFAULT 0
  jobs_with_output_tokens bigint NOT NULL DEFAULT 0
  num_rows numeric NOT NULL DEFAULT '0'::numeric
  input_tokens numeric NOT NULL DEFAULT '0'::numeric
  output_tokens numeric NOT NULL DEFAULT '0'::numeric
  cost_usd numeric NOT NULL DEFAULT '0'::numeric
  cost_estimate_usd numeric NOT NULL DEFAULT '0'::numeric
  costed_tokens numeric NOT NULL DEFAULT '0'::numeric
  queued_jobs bigint NOT NULL DEFAULT 0
  queue_seconds numeric NOT NULL DEFAULT '0'::numeric
  timed_jobs bigint NOT NULL DEFAULT 0
  run_seconds numeric NOT NULL DEFAULT '0'::numeric
  missing_jobs bigint NOT NULL DEFAULT 0
  CREATE UNIQUE INDEX usage_rollup_key_idx ON sutro.usage_rollup USING btree (source, day, status, COALESCE(model, ''::text), ((model IS NULL)))

VIEW sutro.daily_usage
  -- Usage per source, UTC day of creation, model and status: jobs, rows, tokens, cost and estimated cost. Days without jobs have no rows. Jobs without a creation time are counted under day NULL, so the rows add up to the whole table.
  source text
    -- Label of the Sutro account (SUTRO_SOURCE).
  day date
    -- UTC calendar day the jobs were created (date); NULL for jobs the API gave no creation time.
  model text
    -- Model; NULL for jobs without one.
  status text
    -- Current status of the jobs counted in the row (upper case).
  jobs bigint
    -- Number of jobs (count).
  num_rows numeric
    -- Sum of the jobs' input rows (count); missing values count as 0.
  input_tokens numeric
    -- Sum of input tokens (tokens, numeric: exact beyond 2^63); missing values count as 0.
  output_tokens numeric
    -- Sum of output tokens (tokens, numeric); missing values count as 0.
  total_tokens numeric
    -- input_tokens + output_tokens (tokens, numeric).
  cost_usd numeric
    -- Sum of job_cost (USD, numeric, exact); jobs whose cost is not known yet count as 0: see jobs_with_cost.
  cost_estimate_usd numeric
    -- Sum of cost_estimate (USD, numeric); missing estimates count as 0.
  jobs_with_cost bigint
    -- How many of the jobs have a job_cost (count); less than jobs while costs are still to come.
  AS SELECT source,
      NULLIF(day, '-infinity'::date) AS day,
      model,
      status,
      jobs,
      num_rows,
      input_tokens,
      output_tokens,
      input_tokens + output_tokens AS total_tokens,
      cost_usd,
      cost_estimate_usd,
      jobs_with_cost
     FROM sutro.usage_rollup u
    WHERE jobs <> 0;

VIEW sutro.job_facts
  -- One row per stored job (sutro.jobs) with derived figures: durations in seconds, total tokens, cost per million tokens, estimate error, UTC day, terminal and still-listed flags. Money in USD, durations in seconds, counts in tokens or rows.
  source text
    -- Label of the Sutro account (SUTRO_SOURCE) the job was synced from.
  job_id text
    -- The API's job id; unique within a source.
  name text
    -- Optional name given to the job.
  model text
    -- Model the job ran on; NULL when the API gave none.
  status text
    -- Latest status, upper case (PENDING, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, ...).
  run_type text
    -- The API's run_type (e.g. FULL).
  job_priority integer
    -- The API's job_priority (0 or 1).
  dataset_id text
    -- Dataset the job read, if any.
  datetime_created timestamp with time zone
    -- When the job was created (API time, timestamptz); NULL when the API omitted it.
  datetime_started timestamp with time zone
    -- When processing began (API time); NULL until it starts.
  datetime_completed timestamp with time zone
    -- When the job finished (API time); NULL until it does.
  day date
    -- UTC calendar day of datetime_created (date); the day daily_usage counts the job under.
  queue_seconds numeric
    -- Seconds from creation to start (datetime_started - datetime_created); NULL until started.
  run_seconds numeric
    -- Seconds from start to completion (datetime_completed - datetime_started); NULL until completed.
  num_rows bigint
    -- Rows in the job's input (count).
  input_tokens bigint
    -- Input tokens processed (tokens, bigint).
  output_tokens bigint
    -- Output tokens generated (tokens, bigint).
  total_tokens bigint
    -- input_tokens + output_tokens (tokens, bigint); a missing side counts as 0, NULL when both are missing.
  job_cost numeric
    -- Actual cost of the job (USD, numeric); NULL until the API reports it.
  cost_estimate numeric
    -- Cost the API estimated before the run (USD, numeric).
  cost_per_million_tokens numeric
    -- job_cost per million total tokens (USD per 1,000,000 tokens); NULL without a cost or without tokens.
  estimate_error numeric
    -- job_cost - cost_estimate (USD): positive when the job cost more than estimated.
  estimate_error_ratio numeric
    -- (job_cost - cost_estimate) / cost_estimate (ratio, 0.1 = 10% over the estimate); NULL when the estimate is missing or 0.
  terminal boolean
    -- True when the status is final: SUCCEEDED, FAILED or CANCELLED.
  settled boolean
    -- True when nothing about the job will change: terminal, and for SUCCEEDED also its cost and completion time are known.
  still_listed boolean
    -- True while the API still lists the job; false once a complete full pass did not list it (the API keeps jobs about 90 days; this database keeps them).
  missing_since timestamp with time zone
    -- When a complete full pass first did not list the job (timestamptz); NULL while it is listed.
  last_seen_at timestamp with time zone
    -- When the API is known to have listed the job last (timestamptz): for a listed job the later of its last change and the last complete full pass; for one no longer listed, its last change (a lower bound).
  first_seen_at timestamp with time zone
    -- When sutro-sync first stored the job (timestamptz).
  last_changed_at timestamp with time zone
    -- When sutro-sync last stored a change to the job (timestamptz).
  failure_reason jsonb
    -- Why the job failed, as the API gave it (jsonb); NULL unless it failed.
  AS SELECT j.source,
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
      (j.datetime_created AT TIME ZONE 'UTC'::text)::date AS day,
      EXTRACT(epoch FROM j.datetime_started - j.datetime_created) AS queue_seconds,
      EXTRACT(epoch FROM j.datetime_completed - j.datetime_started) AS run_seconds,
      j.num_rows,
      j.input_tokens,
      j.output_tokens,
      t.total_tokens,
      j.job_cost,
      j.cost_estimate,
      j.job_cost * 1000000::numeric / NULLIF(t.total_tokens, 0)::numeric AS cost_per_million_tokens,
      j.job_cost - j.cost_estimate AS estimate_error,
      (j.job_cost - j.cost_estimate) / NULLIF(j.cost_estimate, 0::numeric) AS estimate_error_ratio,
      j.status = ANY (ARRAY['SUCCEEDED'::text, 'FAILED'::text, 'CANCELLED'::text]) AS terminal,
      j.settled,
      j.missing_since IS NULL AS still_listed,
      j.missing_since,
          CASE
              WHEN j.missing_since IS NULL THEN GREATEST(j.last_changed_at, s.last_full_pass_at)
              ELSE j.last_changed_at
          END AS last_seen_at,
      j.first_seen_at,
      j.last_changed_at,
      j.failure_reason
     FROM sutro.jobs j
       CROSS JOIN LATERAL ( SELECT
                  CASE
                      WHEN j.input_tokens IS NULL AND j.output_tokens IS NULL THEN NULL::bigint
                      ELSE COALESCE(j.input_tokens, 0::bigint) + COALESCE(j.output_tokens, 0::bigint)
                  END AS total_tokens) t
       LEFT JOIN sutro.sync_state s ON s.source = j.source;

VIEW sutro.job_status_changes
  -- Each status transition of each job, from sutro.job_history: from and to status, when it happened, and the seconds the job spent in the status before. The first row of a job is the status it had when first seen (from_status NULL).
  source text
    -- Label of the Sutro account (SUTRO_SOURCE).
  job_id text
    -- The API's job id.
  history_id bigint
    -- The sutro.job_history row that recorded the new status; orders a job's transitions.
  run_id bigint
    -- The sync run (sutro.sync_runs.id) that saw the new status.
  from_status text
    -- Status before the transition; NULL on the job's first row.
  to_status text
    -- Status after the transition (upper case).
  changed_at timestamp with time zone
    -- When the job entered to_status (timestamptz): the API's own time where it has one (see time_source), else when the sync that saw it ran.
  time_source text
    -- Where changed_at comes from: datetime_created (first status), datetime_started (RUNNING), datetime_completed (a terminal status), or observed_at (only when a sync saw it: up to one sync interval late).
  observed_at timestamp with time zone
    -- When the sync that recorded the new status ran (timestamptz).
  seconds_in_previous_status numeric
    -- Seconds the job spent in from_status: changed_at minus the previous row's changed_at, never below 0 (a status only observed by a sync can have been seen after the API's time of the next one); NULL on the first row.
  AS SELECT h.source,
      h.job_id,
      h.id AS history_id,
      h.run_id,
      h.previous_status AS from_status,
      h.status AS to_status,
      t.changed_at,
      t.time_source,
      h.observed_at,
          CASE
              WHEN h.previous_status_changed_at IS NOT NULL THEN EXTRACT(epoch FROM GREATEST(t.changed_at - h.previous_status_changed_at, '00:00:00'::interval))
              ELSE NULL::numeric
          END AS seconds_in_previous_status
     FROM sutro.job_history h
       CROSS JOIN LATERAL ( SELECT sutro.changed_at(h.status, h.change, h.datetime_created, h.datetime_started, h.datetime_completed, h.observed_at) AS changed_at,
              sutro.status_time_source(h.status, h.change, h.datetime_created, h.datetime_started, h.datetime_completed) AS time_source) t
    WHERE h.change = 'first_seen'::text OR h.status IS DISTINCT FROM h.previous_status;

VIEW sutro.model_usage
  -- Usage per source and model over all stored history: job counts by outcome, failure rate, totals and averages of rows, tokens and cost (USD), queue and run durations (seconds).
  source text
    -- Label of the Sutro account (SUTRO_SOURCE).
  model text
    -- Model; NULL for jobs without one.
  jobs bigint
    -- All stored jobs of the model (count).
  succeeded_jobs bigint
    -- Jobs with status SUCCEEDED (count).
  failed_jobs bigint
    -- Jobs with status FAILED (count).
  cancelled_jobs bigint
    -- Jobs with status CANCELLED (count).
  unfinished_jobs bigint
    -- Jobs not in a terminal status yet (count).
  failure_rate numeric
    -- failed_jobs / (succeeded + failed + cancelled jobs) (ratio 0..1); unfinished jobs are left out; NULL before any job finished.
  num_rows numeric
    -- Sum of input rows (count).
  input_tokens numeric
    -- Sum of input tokens (tokens, numeric).
  output_tokens numeric
    -- Sum of output tokens (tokens, numeric).
  total_tokens numeric
    -- input_tokens + output_tokens (tokens, numeric).
  cost_usd numeric
    -- Sum of job_cost (USD, numeric, exact); jobs without a cost yet count as 0.
  cost_estimate_usd numeric
    -- Sum of cost_estimate (USD, numeric).
  avg_cost_usd numeric
    -- Average job_cost of the jobs that have one (USD per job).
  avg_input_tokens numeric
    -- Average input tokens per job that reports them (tokens).
  avg_output_tokens numeric
    -- Average output tokens per job that reports them (tokens).
  cost_per_million_tokens numeric
    -- Sum of job_cost per million total tokens, over jobs that have a cost (USD per 1,000,000 tokens).
  avg_queue_seconds numeric
    -- Average seconds from creation to start, over jobs that started (seconds).
  avg_run_seconds numeric
    -- Average seconds from start to completion of SUCCEEDED jobs (seconds).
  median_run_seconds numeric
    -- Median seconds from start to completion of SUCCEEDED jobs (seconds, estimated from run-time buckets 9% wide: within 19% of percentile_cont 0.5, usually within a few percent).
  p95_run_seconds numeric
    -- 95th percentile of seconds from start to completion of SUCCEEDED jobs (seconds, estimated from run-time buckets 9% wide: within 19% of percentile_cont 0.95, usually within a few percent).
  first_job_created_at timestamp with time zone
    -- Creation time of the oldest stored job of the model (timestamptz).
  last_job_created_at timestamp with time zone
    -- Creation time of the newest stored job of the model (timestamptz).
  AS WITH totals AS (
           SELECT u.source,
              u.model,
              sum(u.jobs)::bigint AS jobs,
              COALESCE(sum(u.jobs) FILTER (WHERE u.status = 'SUCCEEDED'::text), 0::numeric)::bigint AS succeeded_jobs,
              COALESCE(sum(u.jobs) FILTER (WHERE u.status = 'FAILED'::text), 0::numeric)::bigint AS failed_jobs,
              COALESCE(sum(u.jobs) FILTER (WHERE u.status = 'CANCELLED'::text), 0::numeric)::bigint AS cancelled_jobs,
              COALESCE(sum(u.jobs) FILTER (WHERE u.status <> ALL (ARRAY['SUCCEEDED'::text, 'FAILED'::text, 'CANCELLED'::text])), 0::numeric)::bigint AS unfinished_jobs,
              sum(u.num_rows) AS num_rows,
              sum(u.input_tokens) AS input_tokens,
              sum(u.output_tokens) AS output_tokens,
              sum(u.cost_usd) AS cost_usd,
              sum(u.cost_estimate_usd) AS cost_estimate_usd,
              sum(u.jobs_with_cost) AS jobs_with_cost,
              sum(u.jobs_with_input_tokens) AS jobs_with_input_tokens,
              sum(u.jobs_with_output_tokens) AS jobs_with_output_tokens,
              sum(u.costed_tokens) AS costed_tokens,
              sum(u.queue_seconds) / NULLIF(sum(u.queued_jobs), 0::numeric) AS avg_queue_seconds,
              sum(u.run_seconds) FILTER (WHERE u.status = 'SUCCEEDED'::text) / NULLIF(sum(u.timed_jobs) FILTER (WHERE u.status = 'SUCCEEDED'::text), 0::numeric) AS avg_run_seconds,
              min(u.day) FILTER (WHERE u.day <> '-infinity'::date) AS first_day,
              max(u.day) FILTER (WHERE u.day <> '-infinity'::date) AS last_day
             FROM sutro.usage_rollup u
            WHERE u.jobs <> 0
            GROUP BY u.source, u.model
          ), run_buckets AS (
           SELECT b.source,
              b.model,
              b.bucket,
              b.jobs,
              sum(b.jobs) OVER (PARTITION BY b.source, b.model ORDER BY b.bucket) - b.jobs::numeric AS below,
              sum(b.jobs) OVER (PARTITION BY b.source, b.model) AS total
             FROM sutro.run_time_rollup b
            WHERE b.jobs > 0
          ), run_percentiles AS (
           SELECT r.source,
              r.model,
              max(sutro.run_time_estimate(r.bucket::integer, (0.5 * (r.total - 1::numeric) - r.below + 0.5) / r.jobs::numeric)) FILTER (WHERE (0.5 * (r.total - 1::numeric)) >= r.below AND (0.5 * (r.total - 1::numeric)) < (r.below + r.jobs::numeric)) AS median,
              max(sutro.run_time_estimate(r.bucket::integer, (0.95 * (r.total - 1::numeric) - r.below + 0.5) / r.jobs::numeric)) FILTER (WHERE (0.95 * (r.total - 1::numeric)) >= r.below AND (0.95 * (r.total - 1::numeric)) < (r.below + r.jobs::numeric)) AS p95
             FROM run_buckets r
            GROUP BY r.source, r.model
          )
   SELECT t.source,
      t.model,
      t.jobs,
      t.succeeded_jobs,
      t.failed_jobs,
      t.cancelled_jobs,
      t.unfinished_jobs,
      t.failed_jobs::numeric / NULLIF(t.succeeded_jobs + t.failed_jobs + t.cancelled_jobs, 0)::numeric AS failure_rate,
      t.num_rows,
      t.input_tokens,
      t.output_tokens,
      t.input_tokens + t.output_tokens AS total_tokens,
      t.cost_usd,
      t.cost_estimate_usd,
      t.cost_usd / NULLIF(t.jobs_with_cost, 0::numeric) AS avg_cost_usd,
      t.input_tokens / NULLIF(t.jobs_with_input_tokens, 0::numeric) AS avg_input_tokens,
      t.output_tokens / NULLIF(t.jobs_with_output_tokens, 0::numeric) AS avg_output_tokens,
      t.cost_usd * 1000000::numeric / NULLIF(t.costed_tokens, 0::numeric) AS cost_per_million_tokens,
      round(t.avg_queue_seconds, 6) AS avg_queue_seconds,
      round(t.avg_run_seconds, 6) AS avg_run_seconds,
      round(p.median, 6) AS median_run_seconds,
      round(p.p95, 6) AS p95_run_seconds,
      c.first_job_created_at,
      c.last_job_created_at
     FROM totals t
       LEFT JOIN run_percentiles p ON p.source = t.source AND NOT p.model IS DISTINCT FROM t.model
       CROSS JOIN LATERAL ( SELECT ( SELECT min(j.datetime_created) AS min
                     FROM sutro.jobs j
                    WHERE j.source = t.source AND NOT j.model IS DISTINCT FROM t.model AND j.datetime_created >= (t.first_day::timestamp without time zone AT TIME ZONE 'UTC'::text) AND j.datetime_created < ((t.first_day + 1)::timestamp without time zone AT TIME ZONE 'UTC'::text)) AS first_job_created_at,
              ( SELECT max(j.datetime_created) AS max
                     FROM sutro.jobs j
                    WHERE j.source = t.source AND NOT j.model IS DISTINCT FROM t.model AND j.datetime_created >= (t.last_day::timestamp without time zone AT TIME ZONE 'UTC'::text) AND j.datetime_created < ((t.last_day + 1)::timestamp without time zone AT TIME ZONE 'UTC'::text)) AS last_job_created_at) c;

VIEW sutro.sync_health
  -- Freshness of the data, one row per source: the last successful sync and its age in seconds, the last run, the last error, and how many job and rejected rows are stored.
  source text
    -- Label of the Sutro account (SUTRO_SOURCE).
  last_success_at timestamp with time zone
    -- When the last successful sync run finished (timestamptz); NULL if none has.
  last_success_run_id bigint
    -- That run (sutro.sync_runs.id).
  seconds_since_last_success numeric
    -- Age of the data: seconds from last_success_at to now (seconds).
  last_full_pass_at timestamp with time zone
    -- When the last complete full pass finished (timestamptz): the time still_listed and missing_since are as of.
  seconds_since_last_full_pass numeric
    -- Seconds from last_full_pass_at to now (seconds).
  last_run_id bigint
    -- The most recent run of the source, whatever its outcome (sutro.sync_runs.id).
  last_run_status text
    -- Status of that run: running, succeeded, failed, interrupted or abandoned.
  last_run_started_at timestamp with time zone
    -- When that run started (timestamptz).
  last_run_finished_at timestamp with time zone
    -- When that run finished (timestamptz); NULL while it runs.
  last_error text
    -- Error of the last run when it did not succeed; NULL once a later run succeeded.
  last_error_at timestamp with time zone
    -- When a run last failed (timestamptz); kept after later successes.
  full_pass_unfinished boolean
    -- True while an interrupted full pass waits to be resumed by the next run.
  jobs bigint
    -- Job rows stored for the source (count), listed or not.
  listed_jobs bigint
    -- Stored jobs the API still lists (count).
  missing_jobs bigint
    -- Stored jobs the API no longer lists (count): history kept beyond the API's window.
  unsettled_jobs bigint
    -- Stored jobs that may still change (count): not terminal, or succeeded without a final cost.
  newest_job_created_at timestamp with time zone
    -- Creation time of the newest stored job (timestamptz).
  rejected_rows bigint
    -- Distinct rows that failed validation, kept in sutro.rejected_jobs (count).
  AS SELECT s.source,
      s.last_success_at,
      s.last_success_run_id,
      EXTRACT(epoch FROM now() - s.last_success_at) AS seconds_since_last_success,
      s.last_full_pass_at,
      EXTRACT(epoch FROM now() - s.last_full_pass_at) AS seconds_since_last_full_pass,
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
       CROSS JOIN LATERAL ( SELECT ( SELECT COALESCE(sum(u.jobs), 0::numeric)::bigint AS "coalesce"
                     FROM sutro.usage_rollup u
                    WHERE u.source = s.source) AS jobs,
              ( SELECT COALESCE(sum(u.jobs - u.missing_jobs), 0::numeric)::bigint AS "coalesce"
                     FROM sutro.usage_rollup u
                    WHERE u.source = s.source) AS listed_jobs,
              ( SELECT count(*) AS count
                     FROM sutro.jobs j
                    WHERE j.source = s.source AND NOT j.settled) AS unsettled_jobs,
              ( SELECT max(j.datetime_created) AS max
                     FROM sutro.jobs j
                    WHERE j.source = s.source) AS newest_job_created_at,
              ( SELECT count(*) AS count
                     FROM sutro.rejected_jobs x
                    WHERE x.source = s.source) AS rejected_rows
           OFFSET 0) c;

CREATE OR REPLACE FUNCTION sutro.changed_at(status text, change text, datetime_created timestamp with time zone, datetime_started timestamp with time zone, datetime_completed timestamp with time zone, observed_at timestamp with time zone)
 RETURNS timestamp with time zone
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT CASE sutro.status_time_source(status, change, datetime_created, datetime_started, datetime_completed)
    WHEN 'datetime_completed' THEN datetime_completed
    WHEN 'datetime_started' THEN datetime_started
    WHEN 'datetime_created' THEN datetime_created
    ELSE observed_at
  END
$function$

CREATE OR REPLACE FUNCTION sutro.run_time_bucket(seconds numeric)
 RETURNS smallint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT CASE WHEN seconds < 1 THEN 0 ELSE 1 + floor(8 * ln(seconds::float8) / ln(2::float8)) END::smallint
$function$

CREATE OR REPLACE FUNCTION sutro.run_time_estimate(bucket integer, fraction numeric)
 RETURNS numeric
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT CASE WHEN bucket = 0 THEN fraction ELSE power(2::numeric, (bucket - 1 + fraction) / 8) END
$function$

CREATE OR REPLACE FUNCTION sutro.status_time_source(status text, change text, datetime_created timestamp with time zone, datetime_started timestamp with time zone, datetime_completed timestamp with time zone)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT CASE
    WHEN status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND datetime_completed IS NOT NULL THEN 'datetime_completed'
    WHEN status = 'RUNNING' AND datetime_started IS NOT NULL THEN 'datetime_started'
    WHEN change = 'first_seen' AND datetime_created IS NOT NULL THEN 'datetime_created'
    ELSE 'observed_at'
  END
$function$
