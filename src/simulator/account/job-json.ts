import type { JobFieldName } from '../../sutro/job-fields.js';
import type { CourseState, JobPlan } from './course.js';
import { iso } from './datetime.js';
import { Random } from './random.js';

/**
 * How datetimes are printed. 'ms' (the default) is JavaScript's toISOString; 'us' has microseconds,
 * as Python prints the datetimes the API stores; 's' has whole seconds, as the docs' examples do
 * ("2024-01-15T10:30:00Z"). All are UTC with a Z.
 */
export type TimestampPrecision = 's' | 'ms' | 'us';

/**
 * 'current' is the job object of the list-jobs and fetch-job reference. 'legacy' is the older one an
 * earlier list-jobs page documents: job_id, status in lower case, created_at, completed_at, model,
 * input_count and priority, and nothing else.
 */
export type JobShape = 'current' | 'legacy';

/** How an account prints its jobs. */
export interface JobFormat {
  readonly precision: TimestampPrecision;
  readonly shape: JobShape;
  /** Fields the reference does not name on every job, as a newer deployment may add. */
  readonly extraFields: boolean;
  /** The account's seed: the digits below the millisecond and the extra fields derive from it. */
  readonly seed: number;
}

export const DEFAULT_FORMAT: Omit<JobFormat, 'seed'> = {
  precision: 'ms',
  shape: 'current',
  extraFields: false,
};

/** A job as the legacy list-jobs served it. */
export interface LegacyApiJob {
  job_id: string;
  status: string;
  created_at: string | null;
  completed_at: string | null;
  model: string;
  input_count: number | null;
  priority: number;
  [extra: string]: unknown;
}

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

/** The fields ApiJob names, its index signature aside. */
type NamedFields<T> = keyof { [K in keyof T as string extends K ? never : K]: T[K] };

/**
 * The simulator serves what the reference names, no more, no less: a field added to or renamed in
 * the table of fields (sutro/job-fields.ts) fails to compile here until the simulator serves it.
 */
export const SERVES_EVERY_FIELD: [
  Exclude<NamedFields<ApiJob>, JobFieldName>,
  Exclude<JobFieldName, NamedFields<ApiJob>>,
] extends [never, never]
  ? true
  : never = true;

/** `ms` printed at `precision`; the microseconds are drawn from the millisecond, so they never change. */
export function formatTime(ms: number, precision: TimestampPrecision, seed: number): string {
  const text = iso(ms);
  if (precision === 'ms') return text;
  if (precision === 's') return `${text.slice(0, 19)}Z`;
  const micros = Random.for(seed ^ Math.floor(ms / 0x100000000), ms >>> 0, 5).int(0, 999);
  return `${text.slice(0, 23)}${String(micros).padStart(3, '0')}Z`;
}

/**
 * The JSON the API lists for a job of `plan` in `state`, the plan's quirks included. A legacy job is
 * typed as an ApiJob too: callers treat jobs as the JSON they are, whatever fields it has.
 */
export function renderJob(plan: JobPlan, state: CourseState, format: JobFormat): ApiJob {
  const job = format.shape === 'legacy' ? legacyJob(plan, state, format) : currentJob(plan, state, format);
  if (format.extraFields) Object.assign(job, extraFields(plan, format));
  return job;
}

function currentJob(plan: JobPlan, state: CourseState, { precision, seed }: JobFormat): ApiJob {
  const time = (ms: number | null) => (ms === null ? null : formatTime(ms, precision, seed));
  const job: ApiJob = {
    model: plan.model,
    system_prompt: plan.systemPrompt,
    job_priority: plan.priority,
    status: state.status,
    datetime_created: time(plan.created),
    datetime_started: time(state.startedAt),
    datetime_completed: time(state.completedAt),
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

function legacyJob(plan: JobPlan, state: CourseState, { precision, seed }: JobFormat): ApiJob {
  const job: LegacyApiJob = {
    job_id: plan.jobId,
    status: state.status.toLowerCase(),
    created_at: plan.quirks?.nullCreated ? null : formatTime(plan.created, precision, seed),
    completed_at: state.completedAt === null ? null : formatTime(state.completedAt, precision, seed),
    model: plan.model,
    input_count: plan.numRows,
    priority: plan.priority,
  };
  if (plan.quirks?.region) job.region = plan.quirks.region;
  return job as unknown as ApiJob;
}

/**
 * Fields no reference names, of every JSON type: when the job was added (a column the SDK's CLI
 * shows), the organisation, tags, a nested object and a null. A client must keep what it does not
 * know rather than refuse the job.
 */
function extraFields(plan: JobPlan, { precision, seed }: JobFormat): Record<string, unknown> {
  return {
    datetime_added: formatTime(plan.created, precision, seed),
    organization_id: `org_${Random.for(seed, -1, 6).hex(12)}`,
    tags: plan.name === null ? [] : [plan.name.split('-')[0]],
    submission: { source: 'python-sdk', retries: 0 },
    function_id: null,
  };
}
