import type { CourseState, JobPlan } from './course.js';
import { iso } from './datetime.js';

/**
 * A job as list-jobs serves it, fields in the reference's order. The types are those of a clean job;
 * the quirks (see `AccountOptions.quirks`), `mutate` and `insertRaw` can put other values in.
 */
export interface ApiJob {
  model: string;
  system_prompt: string | null;
  job_priority: number;
  status: string;
  datetime_created: string | null;
  datetime_started: string | null;
  datetime_completed: string | null;
  json_schema: Record<string, unknown> | null;
  sampling_params: Record<string, unknown>;
  name: string | null;
  description: string | null;
  dataset_id: string | null;
  input_tokens: number | string | null;
  output_tokens: number | string | null;
  job_cost: number | string | null;
  num_rows: number | null;
  failure_reason: { message: string; code: string } | null;
  cost_estimate: number | string | null;
  run_type: string;
  job_id: string;
  [extra: string]: unknown;
}

/** The JSON the API lists for a job of `plan` in `state`, the plan's quirks included. */
export function renderJob(plan: JobPlan, state: CourseState): ApiJob {
  const job: ApiJob = {
    model: plan.model,
    system_prompt: plan.systemPrompt,
    job_priority: plan.priority,
    status: state.status,
    datetime_created: iso(plan.created),
    datetime_started: state.startedAt === null ? null : iso(state.startedAt),
    datetime_completed: state.completedAt === null ? null : iso(state.completedAt),
    json_schema: plan.jsonSchema,
    sampling_params: plan.samplingParams,
    name: plan.name,
    description: plan.description,
    dataset_id: plan.datasetId,
    input_tokens: state.inputTokens,
    output_tokens: state.outputTokens,
    job_cost: state.cost,
    num_rows: plan.numRows,
    failure_reason: state.failure === null ? null : { ...state.failure },
    cost_estimate: plan.costEstimate,
    run_type: plan.runType,
    job_id: plan.jobId,
  };

  const quirks = plan.quirks;
  if (quirks !== null) {
    if (quirks.lowerCaseStatus) job.status = job.status.toLowerCase();
    if (quirks.costAsText && typeof job.job_cost === 'number') job.job_cost = String(job.job_cost);
    if (quirks.estimateAsText && typeof job.cost_estimate === 'number')
      job.cost_estimate = String(job.cost_estimate);
    if (quirks.tokensAsText && typeof job.input_tokens === 'number') {
      job.input_tokens = String(job.input_tokens);
      job.output_tokens = String(job.output_tokens);
    }
    if (quirks.nullCreated) job.datetime_created = null;
    if (quirks.region !== null) job.region = quirks.region;
  }
  return job;
}
