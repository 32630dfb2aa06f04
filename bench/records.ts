import type { Job } from '../src/sutro/job.js';

/**
 * The columns of sutro.jobs the API fills, in one order for the floors (COPY and the bulk insert),
 * with the SQL type each is read as. The floors load exactly what the sync stores, normalized by
 * the same parser, so that the only difference left is how.
 */
export const COLUMNS = [
  ['job_id', 'text'],
  ['status', 'text'],
  ['model', 'text'],
  ['system_prompt', 'text'],
  ['job_priority', 'integer'],
  ['datetime_created', 'timestamptz'],
  ['datetime_started', 'timestamptz'],
  ['datetime_completed', 'timestamptz'],
  ['json_schema', 'jsonb'],
  ['sampling_params', 'jsonb'],
  ['name', 'text'],
  ['description', 'text'],
  ['dataset_id', 'text'],
  ['input_tokens', 'bigint'],
  ['output_tokens', 'bigint'],
  ['job_cost', 'numeric'],
  ['num_rows', 'bigint'],
  ['failure_reason', 'jsonb'],
  ['cost_estimate', 'numeric'],
  ['run_type', 'text'],
  ['raw', 'jsonb'],
] as const;

export type Column = (typeof COLUMNS)[number][0];

const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

/** A job's values in `COLUMNS` order, as text (or null): what both floors send. */
export function columnTexts(job: Job): (string | null)[] {
  return [
    job.jobId,
    job.status,
    job.model,
    job.systemPrompt,
    job.jobPriority === null ? null : String(job.jobPriority),
    job.datetimeCreated?.text ?? null,
    job.datetimeStarted?.text ?? null,
    job.datetimeCompleted?.text ?? null,
    json(job.jsonSchema),
    json(job.samplingParams),
    job.name,
    job.description,
    job.datasetId,
    job.inputTokens?.toString() ?? null,
    job.outputTokens?.toString() ?? null,
    job.jobCost,
    job.numRows?.toString() ?? null,
    json(job.failureReason),
    job.costEstimate,
    job.runType,
    JSON.stringify(job.raw),
  ];
}
