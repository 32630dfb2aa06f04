import type { Lease } from '../../sync/port.js';
import type { Database } from '../infra/connect.js';
import { fencedTransaction } from './lease.js';
import {
  MEASURE_NAMES,
  MEASURES,
  MODEL_KEY,
  ROLLUP_DAY,
  RUN_TIME_BUCKET,
} from '../schema/rollup-measures.js';

/**
 * Rollups of sutro.jobs, kept by the sync so that the analytics views answer from a few thousand
 * rows whatever the number of jobs: without them every dashboard question re-reads the jobs.
 *
 * sutro.usage_rollup holds, per source, UTC day of creation, model and status, the sums the views
 * read (MEASURES). sutro.run_time_rollup holds, per source and model, how many succeeded jobs ran
 * how long, in buckets an eighth of a power of two wide: the sketch model_usage's percentiles come
 * from. Both are kept by difference: each page write subtracts the old state of every job it
 * changes and adds the new one, in the same statement as the jobs (page-write.ts), and a full pass
 * that marks jobs missing does the same (runs.ts); so late costs, revisions and status changes stay
 * exact. `rebuildSql` computes them from the jobs instead: `sutro-sync rebuild-rollups`, migration
 * 0006, and the model test that compares the two.
 *
 * Both describe a job's contribution the same way: SQL over a row `x` with the columns of
 * sutro.jobs that ROLLUP_INPUTS names.
 *
 * What they cost a page write and a full sync is measured in bench/README.md.
 */

const USAGE_CONFLICT = `(source, day, status, ${MODEL_KEY.join(', ')})`;
const RUN_TIME_CONFLICT = `(source, bucket, ${MODEL_KEY.join(', ')})`;

/**
 * Statements (as CTE bodies, for the statement that changes the jobs) that apply `changes` to both
 * rollups. `changes` is a query of rows with a `sign` (+1 for a job's new state, -1 for its old one)
 * and the columns ROLLUP_INPUTS names; `$1` is the source. Groups whose every sum is unchanged are
 * not written, so a page of jobs that changed nothing the rollups hold writes no rollup row.
 */
export function applyChangesSql(changes: string): { usage: string; runTime: string } {
  const sums = MEASURE_NAMES.map((m) => `sum(x.sign * ${MEASURES[m].sql}) AS ${m}`).join(',\n         ');
  const usage = `
  INSERT INTO sutro.usage_rollup AS r (source, day, model, status, ${MEASURE_NAMES.join(', ')})
  SELECT $1, d.day, d.model, d.status, ${MEASURE_NAMES.map((m) => `d.${m}`).join(', ')}
  FROM (SELECT ${ROLLUP_DAY} AS day, x.model, x.status,
         ${sums}
        FROM (${changes}) x
        GROUP BY 1, 2, 3) d
  WHERE ${MEASURE_NAMES.map((m) => `d.${m} <> 0`).join(' OR ')}
  ON CONFLICT ${USAGE_CONFLICT} DO UPDATE SET
    ${MEASURE_NAMES.map((m) => `${m} = r.${m} + excluded.${m}`).join(',\n    ')}
  RETURNING 1`;
  const runTime = `
  INSERT INTO sutro.run_time_rollup AS r (source, model, bucket, jobs)
  SELECT $1, d.model, d.bucket, d.jobs
  FROM (SELECT x.model, ${RUN_TIME_BUCKET} AS bucket, sum(x.sign) AS jobs
        FROM (${changes}) x
        GROUP BY 1, 2) d
  WHERE d.bucket IS NOT NULL AND d.jobs <> 0
  ON CONFLICT ${RUN_TIME_CONFLICT} DO UPDATE SET jobs = r.jobs + excluded.jobs
  RETURNING 1`;
  return { usage, runTime };
}

/**
 * Both rollups computed from the jobs, for one source (`$1`) or, with `scope` 'all', for every
 * source (migration 0006 holds this statement as 'all' writes it; a test keeps the two equal).
 * The caller deletes what was there first.
 */
export function rebuildSql(scope: 'source' | 'all'): { usage: string; runTime: string } {
  const ofSource = scope === 'source' ? ['x.source = $1'] : [];
  const usage = `INSERT INTO sutro.usage_rollup (source, day, model, status, ${MEASURE_NAMES.join(', ')})
SELECT x.source, ${ROLLUP_DAY}, x.model, x.status,
       ${MEASURE_NAMES.map((m) => `sum(${MEASURES[m].sql})`).join(',\n       ')}
FROM sutro.jobs x${ofSource.map((condition) => `\nWHERE ${condition}`).join('')}
GROUP BY 1, 2, 3, 4`;
  const runTime = `INSERT INTO sutro.run_time_rollup (source, model, bucket, jobs)
SELECT x.source, x.model, b.bucket, count(*)
FROM sutro.jobs x
CROSS JOIN LATERAL (SELECT ${RUN_TIME_BUCKET} AS bucket) b
WHERE ${['b.bucket IS NOT NULL', ...ofSource].join(' AND ')}
GROUP BY 1, 2, 3`;
  return { usage, runTime };
}

/**
 * Both rollups of one source computed anew from its jobs, in one transaction fenced by the source's
 * lease, so that no run adds a difference in between.
 */
export function rebuildRollups(db: Database, lease: Lease): Promise<{ jobs: number; groups: number }> {
  const what = `rebuilding the rollups of source "${lease.source}"`;
  return fencedTransaction(db, lease, what, async (client) => {
    const { usage, runTime } = rebuildSql('source');
    await client.query('DELETE FROM sutro.usage_rollup WHERE source = $1', [lease.source]);
    await client.query('DELETE FROM sutro.run_time_rollup WHERE source = $1', [lease.source]);
    const groups = await client.query(usage, [lease.source]);
    await client.query(runTime, [lease.source]);
    const jobs = await client.query<{ jobs: number }>(
      'SELECT coalesce(sum(jobs), 0)::int AS jobs FROM sutro.usage_rollup WHERE source = $1',
      [lease.source],
    );
    return { jobs: jobs.rows[0]?.jobs ?? 0, groups: groups.rowCount ?? 0 };
  });
}
