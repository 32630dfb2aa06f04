import type pg from 'pg';
import type { IncrementalPlan, IncrementalPlanOptions } from '../../sync/port.js';

/**
 * The floor of an incremental run is the creation time of the oldest stored job that can still
 * change (unsettled and still listed), or of the newest stored job when every job is settled, minus
 * the margin: below it nothing can have changed. But reaching an unsettled job by paging costs a
 * request per page above it, while `GET jobs/{id}` costs one request per job. So the plan picks a
 * cut: page down to it, and fetch the unsettled jobs older than the cut by id, choosing the cut with
 * the fewest requests (ties: fewer pages). One job stuck RUNNING for a week thus costs one request
 * instead of every page above it, and a burst of fresh jobs is still read by paging. A job with no
 * creation time cannot be placed at all and is always fetched by id.
 * Counting the jobs above a cut stops at 2 x (maxById + 1) pages' worth, so planning stays cheap
 * however deep an unsettled job lies: a cut that deep is priced as unknown, and when every cut is,
 * the run pages down to the oldest unsettled job as the plain floor rule says. The count reads the
 * newest jobs once, through jobs_created_idx, into `top`, and every cut counts within it: asked per
 * cut with a LIMIT, the planner expects a third of the table to match and scans all of sutro.jobs
 * for each cut. Whatever the cut, every unsettled job is read, by paging or by id: the choice only
 * changes the cost.
 */
/**
 * The sync's settle rule for a SUCCEEDED job without a cost, which the `settled` column counts as
 * still changing. Some will never get one, and would otherwise be fetched by id on every run for
 * ever: a run that is not a FULL run (a dry run, which only estimates) is billed nothing, and a
 * FULL run's cost, which Sutro fills in within minutes of its completion, is no longer waited for a
 * day after it. A later full pass still stores whatever the API then says.
 */
export const COST_WAIT_HOURS = 24;
const AWAITS_NO_COST = `status = 'SUCCEEDED' AND datetime_completed IS NOT NULL
                   AND (upper(coalesce(run_type, 'FULL')) <> 'FULL'
                        OR datetime_completed < now() - make_interval(hours => ${COST_WAIT_HOURS}))`;

/** $1 source, $2 safety margin (s), $3 page limit, $4 most jobs fetched by id. */
export const PLAN_INCREMENTAL = `
WITH newest AS (SELECT max(datetime_created) AS at FROM sutro.jobs WHERE source = $1),
     unsettled AS MATERIALIZED (
       SELECT job_id, datetime_created FROM sutro.jobs
        WHERE source = $1 AND NOT settled AND missing_since IS NULL
          AND NOT (${AWAITS_NO_COST})),
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
         WHERE datetime_created IS NULL OR datetime_created < (SELECT cut FROM chosen)) AS refresh`;

export async function planIncremental(
  client: pg.ClientBase,
  source: string,
  options: IncrementalPlanOptions,
): Promise<IncrementalPlan> {
  const result = await client.query<{ floor: Date | null; refresh: string[] | null }>(PLAN_INCREMENTAL, [
    source,
    options.safetyMarginSeconds,
    options.pageLimit,
    options.maxById,
  ]);
  const row = result.rows[0];
  return { floor: row?.floor ?? null, refreshById: row?.refresh ?? [] };
}
