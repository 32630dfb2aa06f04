import type pg from 'pg';
import { parseJob } from '../../src/sutro/job.js';

/**
 * Compares sutro.jobs with the simulator's listing: the raw JSON must be identical and every typed
 * column must equal what the job's own fields say. Returns the differences, empty when equal.
 */
export async function diffAgainstTruth(
  pool: pg.Pool,
  source: string,
  truth: readonly unknown[],
): Promise<string[]> {
  const rows = await pool.query<Record<string, string | null> & { raw: unknown }>(
    `SELECT job_id, status, model, datetime_created, datetime_started, datetime_completed,
            input_tokens::text, output_tokens::text, num_rows::text, job_cost::text, cost_estimate::text,
            failure_reason::text, raw
       FROM sutro.jobs WHERE source = $1`,
    [source],
  );
  const stored = new Map(rows.rows.map((r) => [r.job_id, r]));
  const problems: string[] = [];
  const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : null);
  for (const raw of truth) {
    const parsed = parseJob(raw);
    if (!parsed.ok) continue;
    const job = parsed.job;
    const row = stored.get(job.jobId);
    if (row === undefined) {
      problems.push(`${job.jobId}: not stored`);
      continue;
    }
    const expected: Record<string, unknown> = {
      status: job.status,
      model: job.model,
      datetime_created: job.datetimeCreated?.toISOString() ?? null,
      datetime_started: job.datetimeStarted?.toISOString() ?? null,
      datetime_completed: job.datetimeCompleted?.toISOString() ?? null,
      input_tokens: job.inputTokens?.toString() ?? null,
      output_tokens: job.outputTokens?.toString() ?? null,
      num_rows: job.numRows?.toString() ?? null,
      // numeric keeps the scale it was given, so exact decimal text must come back unchanged.
      job_cost: job.jobCost,
      cost_estimate: job.costEstimate,
    };
    const actual: Record<string, unknown> = {
      ...row,
      datetime_created: iso(row.datetime_created),
      datetime_started: iso(row.datetime_started),
      datetime_completed: iso(row.datetime_completed),
    };
    for (const [field, value] of Object.entries(expected)) {
      if (actual[field] !== value)
        problems.push(`${job.jobId}.${field}: stored ${String(actual[field])}, API ${String(value)}`);
    }
    if (JSON.stringify(sortKeys(row.raw)) !== JSON.stringify(sortKeys(raw)))
      problems.push(`${job.jobId}.raw differs`);
  }
  return problems;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}
