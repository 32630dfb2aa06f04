-- The statements sutro-sync builds at run time, as the database receives them.
-- Written by `npm run db:dump` from src/db/store/statements.ts; a test keeps it current.

-- name: write_page (src/db/store/page-write.ts)
WITH incoming AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS i(job_id text, status text, model text, system_prompt text, job_priority integer, datetime_created timestamptz, datetime_started timestamptz, datetime_completed timestamptz, json_schema jsonb, sampling_params jsonb, name text, description text, dataset_id text, input_tokens bigint, output_tokens bigint, job_cost numeric, num_rows bigint, failure_reason jsonb, cost_estimate numeric, run_type text, raw jsonb)),
previous AS (
  SELECT p.job_id, p.raw, p.status, p.datetime_created, p.datetime_started, p.datetime_completed, p.input_tokens, p.output_tokens, p.job_cost, p.num_rows, p.failure_reason, p.cost_estimate, p.model, p.missing_since
  FROM incoming i
  CROSS JOIN LATERAL (SELECT * FROM sutro.jobs j WHERE j.source = $1 AND j.job_id = i.job_id LIMIT 1) p
),
written AS (
  INSERT INTO sutro.jobs AS j (source, job_id, status, model, system_prompt, job_priority, datetime_created, datetime_started, datetime_completed, json_schema, sampling_params, name, description, dataset_id, input_tokens, output_tokens, job_cost, num_rows, failure_reason, cost_estimate, run_type, raw, first_run_id, last_changed_run_id)
  SELECT $1, i.job_id, i.status, i.model, i.system_prompt, i.job_priority, i.datetime_created, i.datetime_started, i.datetime_completed, i.json_schema, i.sampling_params, i.name, i.description, i.dataset_id, i.input_tokens, i.output_tokens, i.job_cost, i.num_rows, i.failure_reason, i.cost_estimate, i.run_type, i.raw, $3, $3
  FROM incoming i
  LEFT JOIN previous p ON p.job_id = i.job_id
  WHERE p.job_id IS NULL OR p.raw IS DISTINCT FROM i.raw OR p.missing_since IS NOT NULL
  ON CONFLICT (source, job_id) DO UPDATE SET
    status = excluded.status,
    model = excluded.model,
    system_prompt = excluded.system_prompt,
    job_priority = excluded.job_priority,
    datetime_created = excluded.datetime_created,
    datetime_started = excluded.datetime_started,
    datetime_completed = excluded.datetime_completed,
    json_schema = excluded.json_schema,
    sampling_params = excluded.sampling_params,
    name = excluded.name,
    description = excluded.description,
    dataset_id = excluded.dataset_id,
    input_tokens = excluded.input_tokens,
    output_tokens = excluded.output_tokens,
    job_cost = excluded.job_cost,
    num_rows = excluded.num_rows,
    failure_reason = excluded.failure_reason,
    cost_estimate = excluded.cost_estimate,
    run_type = excluded.run_type,
    raw = excluded.raw,
    last_changed_at = now(),
    last_changed_run_id = excluded.last_changed_run_id,
    missing_since = NULL
  WHERE j.raw IS DISTINCT FROM excluded.raw OR j.missing_since IS NOT NULL
  RETURNING j.job_id, (j.xmax = 0) AS inserted, j.status, j.datetime_created, j.datetime_started, j.datetime_completed, j.input_tokens, j.output_tokens, j.job_cost, j.num_rows, j.failure_reason, j.cost_estimate, j.model, j.missing_since
),
-- What the rollups hold of each written job: its new state counts, its old one no longer does.
changes AS (
  SELECT 1 AS sign, w.datetime_created, w.datetime_started, w.datetime_completed, w.model, w.status, w.num_rows, w.input_tokens, w.output_tokens, w.job_cost, w.cost_estimate, w.missing_since FROM written w
  UNION ALL
  SELECT -1, p.datetime_created, p.datetime_started, p.datetime_completed, p.model, p.status, p.num_rows, p.input_tokens, p.output_tokens, p.job_cost, p.cost_estimate, p.missing_since
  FROM previous p JOIN written w ON w.job_id = p.job_id
),
usage AS (
  INSERT INTO sutro.usage_rollup AS r (source, day, model, status, jobs, jobs_with_cost, jobs_with_input_tokens, jobs_with_output_tokens, num_rows, input_tokens, output_tokens, cost_usd, cost_estimate_usd, costed_tokens, queued_jobs, queue_seconds, timed_jobs, run_seconds, missing_jobs)
  SELECT $1, d.day, d.model, d.status, d.jobs, d.jobs_with_cost, d.jobs_with_input_tokens, d.jobs_with_output_tokens, d.num_rows, d.input_tokens, d.output_tokens, d.cost_usd, d.cost_estimate_usd, d.costed_tokens, d.queued_jobs, d.queue_seconds, d.timed_jobs, d.run_seconds, d.missing_jobs
  FROM (SELECT coalesce((x.datetime_created AT TIME ZONE 'UTC')::date, '-infinity'::date) AS day, x.model, x.status,
         sum(x.sign * 1) AS jobs,
         sum(x.sign * (x.job_cost IS NOT NULL)::int) AS jobs_with_cost,
         sum(x.sign * (x.input_tokens IS NOT NULL)::int) AS jobs_with_input_tokens,
         sum(x.sign * (x.output_tokens IS NOT NULL)::int) AS jobs_with_output_tokens,
         sum(x.sign * coalesce(x.num_rows, 0)) AS num_rows,
         sum(x.sign * coalesce(x.input_tokens, 0)) AS input_tokens,
         sum(x.sign * coalesce(x.output_tokens, 0)) AS output_tokens,
         sum(x.sign * coalesce(x.job_cost, 0)) AS cost_usd,
         sum(x.sign * coalesce(x.cost_estimate, 0)) AS cost_estimate_usd,
         sum(x.sign * CASE WHEN x.job_cost IS NULL THEN 0 ELSE coalesce(x.input_tokens, 0) + coalesce(x.output_tokens, 0) END) AS costed_tokens,
         sum(x.sign * (x.datetime_created IS NOT NULL AND x.datetime_started IS NOT NULL)::int) AS queued_jobs,
         sum(x.sign * coalesce(extract(epoch FROM x.datetime_started - x.datetime_created), 0)) AS queue_seconds,
         sum(x.sign * (x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL)::int) AS timed_jobs,
         sum(x.sign * coalesce(extract(epoch FROM x.datetime_completed - x.datetime_started), 0)) AS run_seconds,
         sum(x.sign * (x.missing_since IS NOT NULL)::int) AS missing_jobs
        FROM (SELECT * FROM changes) x
        GROUP BY 1, 2, 3) d
  WHERE d.jobs <> 0 OR d.jobs_with_cost <> 0 OR d.jobs_with_input_tokens <> 0 OR d.jobs_with_output_tokens <> 0 OR d.num_rows <> 0 OR d.input_tokens <> 0 OR d.output_tokens <> 0 OR d.cost_usd <> 0 OR d.cost_estimate_usd <> 0 OR d.costed_tokens <> 0 OR d.queued_jobs <> 0 OR d.queue_seconds <> 0 OR d.timed_jobs <> 0 OR d.run_seconds <> 0 OR d.missing_jobs <> 0
  ON CONFLICT (source, day, status, coalesce(model, ''), (model IS NULL)) DO UPDATE SET
    jobs = r.jobs + excluded.jobs,
    jobs_with_cost = r.jobs_with_cost + excluded.jobs_with_cost,
    jobs_with_input_tokens = r.jobs_with_input_tokens + excluded.jobs_with_input_tokens,
    jobs_with_output_tokens = r.jobs_with_output_tokens + excluded.jobs_with_output_tokens,
    num_rows = r.num_rows + excluded.num_rows,
    input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens,
    cost_usd = r.cost_usd + excluded.cost_usd,
    cost_estimate_usd = r.cost_estimate_usd + excluded.cost_estimate_usd,
    costed_tokens = r.costed_tokens + excluded.costed_tokens,
    queued_jobs = r.queued_jobs + excluded.queued_jobs,
    queue_seconds = r.queue_seconds + excluded.queue_seconds,
    timed_jobs = r.timed_jobs + excluded.timed_jobs,
    run_seconds = r.run_seconds + excluded.run_seconds,
    missing_jobs = r.missing_jobs + excluded.missing_jobs
  RETURNING 1
),
run_time AS (
  INSERT INTO sutro.run_time_rollup AS r (source, model, bucket, jobs)
  SELECT $1, d.model, d.bucket, d.jobs
  FROM (SELECT x.model, CASE WHEN x.status = 'SUCCEEDED' AND x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL
  THEN sutro.run_time_bucket(extract(epoch FROM x.datetime_completed - x.datetime_started)) END AS bucket, sum(x.sign) AS jobs
        FROM (SELECT * FROM changes) x
        GROUP BY 1, 2) d
  WHERE d.bucket IS NOT NULL AND d.jobs <> 0
  ON CONFLICT (source, bucket, coalesce(model, ''), (model IS NULL)) DO UPDATE SET jobs = r.jobs + excluded.jobs
  RETURNING 1
),
history AS (
  INSERT INTO sutro.job_history (source, job_id, run_id, change, changed_fields, previous_status,
                                 previous_status_changed_at, status, datetime_created, datetime_started, datetime_completed, input_tokens, output_tokens, job_cost, num_rows, failure_reason, cost_estimate)
  SELECT $1, w.job_id, $3,
         CASE WHEN p.job_id IS NULL THEN 'first_seen' ELSE 'changed' END,
         CASE WHEN p.job_id IS NULL THEN '{}'::text[] ELSE c.fields END,
         p.status,
         CASE WHEN p.job_id IS NOT NULL AND p.status IS DISTINCT FROM w.status
              THEN (
    SELECT sutro.changed_at(t.status, t.change, t.datetime_created, t.datetime_started, t.datetime_completed, t.observed_at) FROM sutro.job_history t
    WHERE t.source = $1 AND t.job_id = w.job_id
      AND (t.change = 'first_seen' OR t.status IS DISTINCT FROM t.previous_status)
    ORDER BY t.id DESC
    LIMIT 1) END,
         w.status, w.datetime_created, w.datetime_started, w.datetime_completed, w.input_tokens, w.output_tokens, w.job_cost, w.num_rows, w.failure_reason, w.cost_estimate
  FROM written w
  LEFT JOIN previous p ON p.job_id = w.job_id
  CROSS JOIN LATERAL (SELECT array_remove(ARRAY[CASE WHEN p.status IS DISTINCT FROM w.status THEN 'status' END, CASE WHEN p.datetime_created IS DISTINCT FROM w.datetime_created THEN 'datetime_created' END, CASE WHEN p.datetime_started IS DISTINCT FROM w.datetime_started THEN 'datetime_started' END, CASE WHEN p.datetime_completed IS DISTINCT FROM w.datetime_completed THEN 'datetime_completed' END, CASE WHEN p.input_tokens IS DISTINCT FROM w.input_tokens THEN 'input_tokens' END, CASE WHEN p.output_tokens IS DISTINCT FROM w.output_tokens THEN 'output_tokens' END, CASE WHEN p.job_cost IS DISTINCT FROM w.job_cost THEN 'job_cost' END, CASE WHEN p.num_rows IS DISTINCT FROM w.num_rows THEN 'num_rows' END, CASE WHEN p.failure_reason IS DISTINCT FROM w.failure_reason THEN 'failure_reason' END, CASE WHEN p.cost_estimate IS DISTINCT FROM w.cost_estimate THEN 'cost_estimate' END], NULL) AS fields) c
  WHERE p.job_id IS NULL OR cardinality(c.fields) > 0
  RETURNING 1
),
-- A row that is JSON null arrives from the recordset as SQL NULL; it is kept as the JSON it was.
rejected_rows AS (
  SELECT job_id, reason, coalesce(raw, 'null') AS raw, md5(coalesce(raw, 'null')::text) AS raw_hash, position, idx
  FROM jsonb_to_recordset($4::jsonb) AS r(job_id text, reason text, raw jsonb, position int, idx int)
),
rejected AS (
  INSERT INTO sutro.rejected_jobs AS r (source, job_id, reason, raw, raw_hash, first_run_id, last_run_id, page, position_on_page)
  SELECT DISTINCT ON (x.raw_hash) $1, x.job_id, x.reason, x.raw, x.raw_hash, $3, $3, $8::int, x.position
  FROM rejected_rows x
  ON CONFLICT (source, raw_hash) DO UPDATE SET
    reason = excluded.reason, last_run_id = excluded.last_run_id, page = excluded.page,
    position_on_page = excluded.position_on_page, last_seen_at = now(), times_seen = r.times_seen + 1
  RETURNING r.raw_hash, (r.xmax = 0) AS is_new
),
seen AS (
  INSERT INTO sutro.full_pass_seen (pass_run_id, job_id)
  SELECT $5::bigint, s.job_id
  FROM (SELECT job_id FROM previous
        UNION ALL
        -- A rejected row keeps its stored job from being marked missing. One that was never stored
        -- needs no sighting, and may not fit one: PostgreSQL refused a job_id too long to index.
        SELECT r.job_id FROM unnest($6::text[]) AS r(job_id)
        WHERE EXISTS (SELECT 1 FROM sutro.jobs j WHERE j.source = $1 AND j.job_id = r.job_id)) s
  WHERE $5::bigint IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
),
-- After the last page there is nothing to resume: the pass is complete once the run's end is
-- recorded, and a crash before that leaves the marking to the next full pass.
checkpoint AS (
  UPDATE sutro.sync_state
     SET resume_cursor = $7::text,
         resume_pass_run_id = CASE WHEN $7::text IS NULL THEN NULL ELSE $5::bigint END,
         resume_pages = CASE WHEN $7::text IS NULL THEN 0 ELSE $8::int + 1 END,
         updated_at = now()
   WHERE source = $1 AND $5::bigint IS NOT NULL
  RETURNING 1
),
counts AS (
  SELECT (SELECT count(*) FROM written WHERE inserted)::int AS inserted,
         (SELECT count(*) FROM written WHERE NOT inserted)::int AS updated,
         (SELECT count(*) FROM history)::int AS history_rows
),
run AS (
  UPDATE sutro.sync_runs r
     SET pages = r.pages + $10::int, jobs_seen = r.jobs_seen + $9::int,
         jobs_inserted = r.jobs_inserted + c.inserted, jobs_updated = r.jobs_updated + c.updated,
         jobs_unchanged = r.jobs_unchanged + ($9::int - $11::int - c.inserted - c.updated),
         jobs_rejected = r.jobs_rejected + $11::int, history_rows = r.history_rows + c.history_rows,
         heartbeat_at = now()
    FROM counts c
   WHERE r.id = $3
  RETURNING 1
)
SELECT inserted, updated, history_rows,
       (SELECT coalesce(array_agg(n.idx ORDER BY n.idx), '{}')
          FROM (SELECT min(x.idx) AS idx FROM rejected_rows x JOIN rejected j USING (raw_hash)
                 WHERE j.is_new GROUP BY x.raw_hash) n) AS first_rejected
  FROM counts;

-- name: write_page_slim (src/db/store/page-write.ts)
WITH incoming AS (
  SELECT i.*, i.raw->>'model' AS model, i.raw->>'system_prompt' AS system_prompt, nullif(i.raw->'json_schema', 'null') AS json_schema, nullif(i.raw->'sampling_params', 'null') AS sampling_params, i.raw->>'name' AS name, i.raw->>'description' AS description, i.raw->>'dataset_id' AS dataset_id, nullif(i.raw->'failure_reason', 'null') AS failure_reason, i.raw->>'run_type' AS run_type
  FROM jsonb_to_recordset($2::jsonb) AS i(job_id text, status text, job_priority integer, datetime_created timestamptz, datetime_started timestamptz, datetime_completed timestamptz, input_tokens bigint, output_tokens bigint, job_cost numeric, num_rows bigint, cost_estimate numeric, raw jsonb)),
previous AS (
  SELECT p.job_id, p.raw, p.status, p.datetime_created, p.datetime_started, p.datetime_completed, p.input_tokens, p.output_tokens, p.job_cost, p.num_rows, p.failure_reason, p.cost_estimate, p.model, p.missing_since
  FROM incoming i
  CROSS JOIN LATERAL (SELECT * FROM sutro.jobs j WHERE j.source = $1 AND j.job_id = i.job_id LIMIT 1) p
),
written AS (
  INSERT INTO sutro.jobs AS j (source, job_id, status, model, system_prompt, job_priority, datetime_created, datetime_started, datetime_completed, json_schema, sampling_params, name, description, dataset_id, input_tokens, output_tokens, job_cost, num_rows, failure_reason, cost_estimate, run_type, raw, first_run_id, last_changed_run_id)
  SELECT $1, i.job_id, i.status, i.model, i.system_prompt, i.job_priority, i.datetime_created, i.datetime_started, i.datetime_completed, i.json_schema, i.sampling_params, i.name, i.description, i.dataset_id, i.input_tokens, i.output_tokens, i.job_cost, i.num_rows, i.failure_reason, i.cost_estimate, i.run_type, i.raw, $3, $3
  FROM incoming i
  LEFT JOIN previous p ON p.job_id = i.job_id
  WHERE p.job_id IS NULL OR p.raw IS DISTINCT FROM i.raw OR p.missing_since IS NOT NULL
  ON CONFLICT (source, job_id) DO UPDATE SET
    status = excluded.status,
    model = excluded.model,
    system_prompt = excluded.system_prompt,
    job_priority = excluded.job_priority,
    datetime_created = excluded.datetime_created,
    datetime_started = excluded.datetime_started,
    datetime_completed = excluded.datetime_completed,
    json_schema = excluded.json_schema,
    sampling_params = excluded.sampling_params,
    name = excluded.name,
    description = excluded.description,
    dataset_id = excluded.dataset_id,
    input_tokens = excluded.input_tokens,
    output_tokens = excluded.output_tokens,
    job_cost = excluded.job_cost,
    num_rows = excluded.num_rows,
    failure_reason = excluded.failure_reason,
    cost_estimate = excluded.cost_estimate,
    run_type = excluded.run_type,
    raw = excluded.raw,
    last_changed_at = now(),
    last_changed_run_id = excluded.last_changed_run_id,
    missing_since = NULL
  WHERE j.raw IS DISTINCT FROM excluded.raw OR j.missing_since IS NOT NULL
  RETURNING j.job_id, (j.xmax = 0) AS inserted, j.status, j.datetime_created, j.datetime_started, j.datetime_completed, j.input_tokens, j.output_tokens, j.job_cost, j.num_rows, j.failure_reason, j.cost_estimate, j.model, j.missing_since
),
-- What the rollups hold of each written job: its new state counts, its old one no longer does.
changes AS (
  SELECT 1 AS sign, w.datetime_created, w.datetime_started, w.datetime_completed, w.model, w.status, w.num_rows, w.input_tokens, w.output_tokens, w.job_cost, w.cost_estimate, w.missing_since FROM written w
  UNION ALL
  SELECT -1, p.datetime_created, p.datetime_started, p.datetime_completed, p.model, p.status, p.num_rows, p.input_tokens, p.output_tokens, p.job_cost, p.cost_estimate, p.missing_since
  FROM previous p JOIN written w ON w.job_id = p.job_id
),
usage AS (
  INSERT INTO sutro.usage_rollup AS r (source, day, model, status, jobs, jobs_with_cost, jobs_with_input_tokens, jobs_with_output_tokens, num_rows, input_tokens, output_tokens, cost_usd, cost_estimate_usd, costed_tokens, queued_jobs, queue_seconds, timed_jobs, run_seconds, missing_jobs)
  SELECT $1, d.day, d.model, d.status, d.jobs, d.jobs_with_cost, d.jobs_with_input_tokens, d.jobs_with_output_tokens, d.num_rows, d.input_tokens, d.output_tokens, d.cost_usd, d.cost_estimate_usd, d.costed_tokens, d.queued_jobs, d.queue_seconds, d.timed_jobs, d.run_seconds, d.missing_jobs
  FROM (SELECT coalesce((x.datetime_created AT TIME ZONE 'UTC')::date, '-infinity'::date) AS day, x.model, x.status,
         sum(x.sign * 1) AS jobs,
         sum(x.sign * (x.job_cost IS NOT NULL)::int) AS jobs_with_cost,
         sum(x.sign * (x.input_tokens IS NOT NULL)::int) AS jobs_with_input_tokens,
         sum(x.sign * (x.output_tokens IS NOT NULL)::int) AS jobs_with_output_tokens,
         sum(x.sign * coalesce(x.num_rows, 0)) AS num_rows,
         sum(x.sign * coalesce(x.input_tokens, 0)) AS input_tokens,
         sum(x.sign * coalesce(x.output_tokens, 0)) AS output_tokens,
         sum(x.sign * coalesce(x.job_cost, 0)) AS cost_usd,
         sum(x.sign * coalesce(x.cost_estimate, 0)) AS cost_estimate_usd,
         sum(x.sign * CASE WHEN x.job_cost IS NULL THEN 0 ELSE coalesce(x.input_tokens, 0) + coalesce(x.output_tokens, 0) END) AS costed_tokens,
         sum(x.sign * (x.datetime_created IS NOT NULL AND x.datetime_started IS NOT NULL)::int) AS queued_jobs,
         sum(x.sign * coalesce(extract(epoch FROM x.datetime_started - x.datetime_created), 0)) AS queue_seconds,
         sum(x.sign * (x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL)::int) AS timed_jobs,
         sum(x.sign * coalesce(extract(epoch FROM x.datetime_completed - x.datetime_started), 0)) AS run_seconds,
         sum(x.sign * (x.missing_since IS NOT NULL)::int) AS missing_jobs
        FROM (SELECT * FROM changes) x
        GROUP BY 1, 2, 3) d
  WHERE d.jobs <> 0 OR d.jobs_with_cost <> 0 OR d.jobs_with_input_tokens <> 0 OR d.jobs_with_output_tokens <> 0 OR d.num_rows <> 0 OR d.input_tokens <> 0 OR d.output_tokens <> 0 OR d.cost_usd <> 0 OR d.cost_estimate_usd <> 0 OR d.costed_tokens <> 0 OR d.queued_jobs <> 0 OR d.queue_seconds <> 0 OR d.timed_jobs <> 0 OR d.run_seconds <> 0 OR d.missing_jobs <> 0
  ON CONFLICT (source, day, status, coalesce(model, ''), (model IS NULL)) DO UPDATE SET
    jobs = r.jobs + excluded.jobs,
    jobs_with_cost = r.jobs_with_cost + excluded.jobs_with_cost,
    jobs_with_input_tokens = r.jobs_with_input_tokens + excluded.jobs_with_input_tokens,
    jobs_with_output_tokens = r.jobs_with_output_tokens + excluded.jobs_with_output_tokens,
    num_rows = r.num_rows + excluded.num_rows,
    input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens,
    cost_usd = r.cost_usd + excluded.cost_usd,
    cost_estimate_usd = r.cost_estimate_usd + excluded.cost_estimate_usd,
    costed_tokens = r.costed_tokens + excluded.costed_tokens,
    queued_jobs = r.queued_jobs + excluded.queued_jobs,
    queue_seconds = r.queue_seconds + excluded.queue_seconds,
    timed_jobs = r.timed_jobs + excluded.timed_jobs,
    run_seconds = r.run_seconds + excluded.run_seconds,
    missing_jobs = r.missing_jobs + excluded.missing_jobs
  RETURNING 1
),
run_time AS (
  INSERT INTO sutro.run_time_rollup AS r (source, model, bucket, jobs)
  SELECT $1, d.model, d.bucket, d.jobs
  FROM (SELECT x.model, CASE WHEN x.status = 'SUCCEEDED' AND x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL
  THEN sutro.run_time_bucket(extract(epoch FROM x.datetime_completed - x.datetime_started)) END AS bucket, sum(x.sign) AS jobs
        FROM (SELECT * FROM changes) x
        GROUP BY 1, 2) d
  WHERE d.bucket IS NOT NULL AND d.jobs <> 0
  ON CONFLICT (source, bucket, coalesce(model, ''), (model IS NULL)) DO UPDATE SET jobs = r.jobs + excluded.jobs
  RETURNING 1
),
history AS (
  INSERT INTO sutro.job_history (source, job_id, run_id, change, changed_fields, previous_status,
                                 previous_status_changed_at, status, datetime_created, datetime_started, datetime_completed, input_tokens, output_tokens, job_cost, num_rows, failure_reason, cost_estimate)
  SELECT $1, w.job_id, $3,
         CASE WHEN p.job_id IS NULL THEN 'first_seen' ELSE 'changed' END,
         CASE WHEN p.job_id IS NULL THEN '{}'::text[] ELSE c.fields END,
         p.status,
         CASE WHEN p.job_id IS NOT NULL AND p.status IS DISTINCT FROM w.status
              THEN (
    SELECT sutro.changed_at(t.status, t.change, t.datetime_created, t.datetime_started, t.datetime_completed, t.observed_at) FROM sutro.job_history t
    WHERE t.source = $1 AND t.job_id = w.job_id
      AND (t.change = 'first_seen' OR t.status IS DISTINCT FROM t.previous_status)
    ORDER BY t.id DESC
    LIMIT 1) END,
         w.status, w.datetime_created, w.datetime_started, w.datetime_completed, w.input_tokens, w.output_tokens, w.job_cost, w.num_rows, w.failure_reason, w.cost_estimate
  FROM written w
  LEFT JOIN previous p ON p.job_id = w.job_id
  CROSS JOIN LATERAL (SELECT array_remove(ARRAY[CASE WHEN p.status IS DISTINCT FROM w.status THEN 'status' END, CASE WHEN p.datetime_created IS DISTINCT FROM w.datetime_created THEN 'datetime_created' END, CASE WHEN p.datetime_started IS DISTINCT FROM w.datetime_started THEN 'datetime_started' END, CASE WHEN p.datetime_completed IS DISTINCT FROM w.datetime_completed THEN 'datetime_completed' END, CASE WHEN p.input_tokens IS DISTINCT FROM w.input_tokens THEN 'input_tokens' END, CASE WHEN p.output_tokens IS DISTINCT FROM w.output_tokens THEN 'output_tokens' END, CASE WHEN p.job_cost IS DISTINCT FROM w.job_cost THEN 'job_cost' END, CASE WHEN p.num_rows IS DISTINCT FROM w.num_rows THEN 'num_rows' END, CASE WHEN p.failure_reason IS DISTINCT FROM w.failure_reason THEN 'failure_reason' END, CASE WHEN p.cost_estimate IS DISTINCT FROM w.cost_estimate THEN 'cost_estimate' END], NULL) AS fields) c
  WHERE p.job_id IS NULL OR cardinality(c.fields) > 0
  RETURNING 1
),
-- A row that is JSON null arrives from the recordset as SQL NULL; it is kept as the JSON it was.
rejected_rows AS (
  SELECT job_id, reason, coalesce(raw, 'null') AS raw, md5(coalesce(raw, 'null')::text) AS raw_hash, position, idx
  FROM jsonb_to_recordset($4::jsonb) AS r(job_id text, reason text, raw jsonb, position int, idx int)
),
rejected AS (
  INSERT INTO sutro.rejected_jobs AS r (source, job_id, reason, raw, raw_hash, first_run_id, last_run_id, page, position_on_page)
  SELECT DISTINCT ON (x.raw_hash) $1, x.job_id, x.reason, x.raw, x.raw_hash, $3, $3, $8::int, x.position
  FROM rejected_rows x
  ON CONFLICT (source, raw_hash) DO UPDATE SET
    reason = excluded.reason, last_run_id = excluded.last_run_id, page = excluded.page,
    position_on_page = excluded.position_on_page, last_seen_at = now(), times_seen = r.times_seen + 1
  RETURNING r.raw_hash, (r.xmax = 0) AS is_new
),
seen AS (
  INSERT INTO sutro.full_pass_seen (pass_run_id, job_id)
  SELECT $5::bigint, s.job_id
  FROM (SELECT job_id FROM previous
        UNION ALL
        -- A rejected row keeps its stored job from being marked missing. One that was never stored
        -- needs no sighting, and may not fit one: PostgreSQL refused a job_id too long to index.
        SELECT r.job_id FROM unnest($6::text[]) AS r(job_id)
        WHERE EXISTS (SELECT 1 FROM sutro.jobs j WHERE j.source = $1 AND j.job_id = r.job_id)) s
  WHERE $5::bigint IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
),
-- After the last page there is nothing to resume: the pass is complete once the run's end is
-- recorded, and a crash before that leaves the marking to the next full pass.
checkpoint AS (
  UPDATE sutro.sync_state
     SET resume_cursor = $7::text,
         resume_pass_run_id = CASE WHEN $7::text IS NULL THEN NULL ELSE $5::bigint END,
         resume_pages = CASE WHEN $7::text IS NULL THEN 0 ELSE $8::int + 1 END,
         updated_at = now()
   WHERE source = $1 AND $5::bigint IS NOT NULL
  RETURNING 1
),
counts AS (
  SELECT (SELECT count(*) FROM written WHERE inserted)::int AS inserted,
         (SELECT count(*) FROM written WHERE NOT inserted)::int AS updated,
         (SELECT count(*) FROM history)::int AS history_rows
),
run AS (
  UPDATE sutro.sync_runs r
     SET pages = r.pages + $10::int, jobs_seen = r.jobs_seen + $9::int,
         jobs_inserted = r.jobs_inserted + c.inserted, jobs_updated = r.jobs_updated + c.updated,
         jobs_unchanged = r.jobs_unchanged + ($9::int - $11::int - c.inserted - c.updated),
         jobs_rejected = r.jobs_rejected + $11::int, history_rows = r.history_rows + c.history_rows,
         heartbeat_at = now()
    FROM counts c
   WHERE r.id = $3
  RETURNING 1
)
SELECT inserted, updated, history_rows,
       (SELECT coalesce(array_agg(n.idx ORDER BY n.idx), '{}')
          FROM (SELECT min(x.idx) AS idx FROM rejected_rows x JOIN rejected j USING (raw_hash)
                 WHERE j.is_new GROUP BY x.raw_hash) n) AS first_rejected
  FROM counts;

-- name: mark_missing (src/db/store/runs.ts)
WITH marked AS (
  UPDATE sutro.jobs j SET missing_since = now()
   WHERE j.source = $1 AND j.missing_since IS NULL
     AND (j.first_run_id IS NULL OR j.first_run_id < $2)
     AND NOT EXISTS (SELECT 1 FROM sutro.full_pass_seen s WHERE s.pass_run_id = $2 AND s.job_id = j.job_id)
  RETURNING j.datetime_created, j.datetime_started, j.datetime_completed, j.model, j.status, j.num_rows, j.input_tokens, j.output_tokens, j.job_cost, j.cost_estimate, j.missing_since
),
changes AS (
  SELECT 1 AS sign, m.datetime_created, m.datetime_started, m.datetime_completed, m.model, m.status, m.num_rows, m.input_tokens, m.output_tokens, m.job_cost, m.cost_estimate, m.missing_since FROM marked m
  UNION ALL
  SELECT -1, m.datetime_created, m.datetime_started, m.datetime_completed, m.model, m.status, m.num_rows, m.input_tokens, m.output_tokens, m.job_cost, m.cost_estimate, NULL::timestamptz FROM marked m
),
usage AS (
  INSERT INTO sutro.usage_rollup AS r (source, day, model, status, jobs, jobs_with_cost, jobs_with_input_tokens, jobs_with_output_tokens, num_rows, input_tokens, output_tokens, cost_usd, cost_estimate_usd, costed_tokens, queued_jobs, queue_seconds, timed_jobs, run_seconds, missing_jobs)
  SELECT $1, d.day, d.model, d.status, d.jobs, d.jobs_with_cost, d.jobs_with_input_tokens, d.jobs_with_output_tokens, d.num_rows, d.input_tokens, d.output_tokens, d.cost_usd, d.cost_estimate_usd, d.costed_tokens, d.queued_jobs, d.queue_seconds, d.timed_jobs, d.run_seconds, d.missing_jobs
  FROM (SELECT coalesce((x.datetime_created AT TIME ZONE 'UTC')::date, '-infinity'::date) AS day, x.model, x.status,
         sum(x.sign * 1) AS jobs,
         sum(x.sign * (x.job_cost IS NOT NULL)::int) AS jobs_with_cost,
         sum(x.sign * (x.input_tokens IS NOT NULL)::int) AS jobs_with_input_tokens,
         sum(x.sign * (x.output_tokens IS NOT NULL)::int) AS jobs_with_output_tokens,
         sum(x.sign * coalesce(x.num_rows, 0)) AS num_rows,
         sum(x.sign * coalesce(x.input_tokens, 0)) AS input_tokens,
         sum(x.sign * coalesce(x.output_tokens, 0)) AS output_tokens,
         sum(x.sign * coalesce(x.job_cost, 0)) AS cost_usd,
         sum(x.sign * coalesce(x.cost_estimate, 0)) AS cost_estimate_usd,
         sum(x.sign * CASE WHEN x.job_cost IS NULL THEN 0 ELSE coalesce(x.input_tokens, 0) + coalesce(x.output_tokens, 0) END) AS costed_tokens,
         sum(x.sign * (x.datetime_created IS NOT NULL AND x.datetime_started IS NOT NULL)::int) AS queued_jobs,
         sum(x.sign * coalesce(extract(epoch FROM x.datetime_started - x.datetime_created), 0)) AS queue_seconds,
         sum(x.sign * (x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL)::int) AS timed_jobs,
         sum(x.sign * coalesce(extract(epoch FROM x.datetime_completed - x.datetime_started), 0)) AS run_seconds,
         sum(x.sign * (x.missing_since IS NOT NULL)::int) AS missing_jobs
        FROM (SELECT * FROM changes) x
        GROUP BY 1, 2, 3) d
  WHERE d.jobs <> 0 OR d.jobs_with_cost <> 0 OR d.jobs_with_input_tokens <> 0 OR d.jobs_with_output_tokens <> 0 OR d.num_rows <> 0 OR d.input_tokens <> 0 OR d.output_tokens <> 0 OR d.cost_usd <> 0 OR d.cost_estimate_usd <> 0 OR d.costed_tokens <> 0 OR d.queued_jobs <> 0 OR d.queue_seconds <> 0 OR d.timed_jobs <> 0 OR d.run_seconds <> 0 OR d.missing_jobs <> 0
  ON CONFLICT (source, day, status, coalesce(model, ''), (model IS NULL)) DO UPDATE SET
    jobs = r.jobs + excluded.jobs,
    jobs_with_cost = r.jobs_with_cost + excluded.jobs_with_cost,
    jobs_with_input_tokens = r.jobs_with_input_tokens + excluded.jobs_with_input_tokens,
    jobs_with_output_tokens = r.jobs_with_output_tokens + excluded.jobs_with_output_tokens,
    num_rows = r.num_rows + excluded.num_rows,
    input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens,
    cost_usd = r.cost_usd + excluded.cost_usd,
    cost_estimate_usd = r.cost_estimate_usd + excluded.cost_estimate_usd,
    costed_tokens = r.costed_tokens + excluded.costed_tokens,
    queued_jobs = r.queued_jobs + excluded.queued_jobs,
    queue_seconds = r.queue_seconds + excluded.queue_seconds,
    timed_jobs = r.timed_jobs + excluded.timed_jobs,
    run_seconds = r.run_seconds + excluded.run_seconds,
    missing_jobs = r.missing_jobs + excluded.missing_jobs
  RETURNING 1
)
SELECT count(*)::int AS marked FROM marked;

-- name: rebuild_usage_rollup (src/db/store/rollups.ts)
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
WHERE x.source = $1
GROUP BY 1, 2, 3, 4;

-- name: rebuild_run_time_rollup (src/db/store/rollups.ts)
INSERT INTO sutro.run_time_rollup (source, model, bucket, jobs)
SELECT x.source, x.model, b.bucket, count(*)
FROM sutro.jobs x
CROSS JOIN LATERAL (SELECT CASE WHEN x.status = 'SUCCEEDED' AND x.datetime_started IS NOT NULL AND x.datetime_completed IS NOT NULL
  THEN sutro.run_time_bucket(extract(epoch FROM x.datetime_completed - x.datetime_started)) END AS bucket) b
WHERE b.bucket IS NOT NULL AND x.source = $1
GROUP BY 1, 2, 3;

-- name: plan_incremental (src/db/store/incremental-plan.ts)
WITH newest AS (SELECT max(datetime_created) AS at FROM sutro.jobs WHERE source = $1),
     unsettled AS MATERIALIZED (
       SELECT job_id, datetime_created FROM sutro.jobs
        WHERE source = $1 AND NOT settled AND missing_since IS NULL
          AND NOT (status = 'SUCCEEDED' AND datetime_completed IS NOT NULL
                   AND (upper(coalesce(run_type, 'FULL')) <> 'FULL'
                        OR datetime_completed < now() - make_interval(hours => 24)))),
     top AS MATERIALIZED (
       SELECT datetime_created AS at FROM sutro.jobs
        WHERE source = $1 AND datetime_created IS NOT NULL
        ORDER BY datetime_created DESC
        LIMIT $3::int * 2 * ($4::int + 1)),
     cuts AS (
       SELECT u.datetime_created AS cut,
              (count(*) OVER (ORDER BY u.datetime_created) - 1) AS by_id
         FROM unsettled u WHERE u.datetime_created IS NOT NULL
       UNION ALL
       SELECT newest.at, (SELECT count(*) FROM unsettled WHERE datetime_created < newest.at)
         FROM newest WHERE newest.at IS NOT NULL),
     priced AS MATERIALIZED (
       SELECT c.cut, c.by_id,
              ceil((SELECT count(*) FROM top WHERE top.at >= c.cut - make_interval(secs => $2))::numeric / $3) AS pages
         FROM cuts c WHERE c.by_id <= $4),
     chosen AS (
       SELECT cut FROM priced
        ORDER BY CASE WHEN pages < 2 * ($4::int + 1) THEN pages + by_id END NULLS LAST, by_id, pages, cut DESC
        LIMIT 1)
SELECT (SELECT cut FROM chosen) - make_interval(secs => $2) AS floor,
       (SELECT array_agg(job_id ORDER BY job_id) FROM unsettled
         WHERE datetime_created IS NULL OR datetime_created < (SELECT cut FROM chosen)) AS refresh;
