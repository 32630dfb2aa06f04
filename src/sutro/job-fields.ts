/**
 * The one description of a job's fields: every field of the API's job object (the list-jobs
 * reference names them), the property it becomes in `Job`, the kind of value it holds, and whether
 * a change of it is history. Everything else that lists a job's fields is derived from this table:
 * the `Job` type and the validator (sutro/job.ts), the columns of sutro.jobs and sutro.job_history
 * (db/schema/job-columns.ts, db/schema/tables.ts), the page write's recordsets and column lists
 * (db/store/page-write.ts), and the benchmark's floors. A renamed or added field is one line here, and
 * whatever cannot follow it fails `tsc` or a test.
 */

/**
 * What a field holds once validated, whatever the API sent for it:
 * - `id`, `status`: required, non-empty text (status upper-cased);
 * - `text`: optional text, kept as sent;
 * - `integer`: an optional 32-bit integer;
 * - `datetime`: an optional ISO 8601 datetime, kept to the API's precision (`ApiTime`);
 * - `json`: any JSON value, kept as sent;
 * - `count`: an optional non-negative 64-bit integer (tokens, rows), exact past 2^53;
 * - `money`: an optional non-negative decimal, kept as exact text (USD).
 */
export type FieldKind = 'id' | 'status' | 'text' | 'integer' | 'datetime' | 'json' | 'count' | 'money';

export interface FieldSpec {
  /** The property of `Job` that holds it. */
  readonly property: string;
  readonly kind: FieldKind;
  /**
   * A change of it is history: sutro.job_history keeps its value after each change. These are what a
   * job did and what it cost; a name or a prompt edited afterwards is not.
   */
  readonly tracked: boolean;
}

/** In the order of the reference, which is the order of sutro.jobs' columns. */
export const JOB_FIELDS = {
  job_id: { property: 'jobId', kind: 'id', tracked: false },
  status: { property: 'status', kind: 'status', tracked: true },
  model: { property: 'model', kind: 'text', tracked: false },
  system_prompt: { property: 'systemPrompt', kind: 'text', tracked: false },
  job_priority: { property: 'jobPriority', kind: 'integer', tracked: false },
  datetime_created: { property: 'datetimeCreated', kind: 'datetime', tracked: true },
  datetime_started: { property: 'datetimeStarted', kind: 'datetime', tracked: true },
  datetime_completed: { property: 'datetimeCompleted', kind: 'datetime', tracked: true },
  json_schema: { property: 'jsonSchema', kind: 'json', tracked: false },
  sampling_params: { property: 'samplingParams', kind: 'json', tracked: false },
  name: { property: 'name', kind: 'text', tracked: false },
  description: { property: 'description', kind: 'text', tracked: false },
  dataset_id: { property: 'datasetId', kind: 'text', tracked: false },
  input_tokens: { property: 'inputTokens', kind: 'count', tracked: true },
  output_tokens: { property: 'outputTokens', kind: 'count', tracked: true },
  job_cost: { property: 'jobCost', kind: 'money', tracked: true },
  num_rows: { property: 'numRows', kind: 'count', tracked: true },
  failure_reason: { property: 'failureReason', kind: 'json', tracked: true },
  cost_estimate: { property: 'costEstimate', kind: 'money', tracked: true },
  run_type: { property: 'runType', kind: 'text', tracked: false },
} as const satisfies Record<string, FieldSpec>;

export type JobFieldName = keyof typeof JOB_FIELDS;
export type JobField<N extends JobFieldName = JobFieldName> = (typeof JOB_FIELDS)[N];

/**
 * The statuses after which a job never runs again (Sutro's SDK and docs). The API may send statuses
 * beyond those it documents; any other status, an unknown one included, is not terminal. The
 * settled column, the analytics views and the spend gauges read this list (db/schema/vocabulary.ts).
 */
export const TERMINAL_JOB_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type TerminalJobStatus = (typeof TERMINAL_JOB_STATUSES)[number];

/** The API's names, in the table's order. */
export const JOB_FIELD_NAMES = Object.keys(JOB_FIELDS) as JobFieldName[];

/** The fields whose change is history, in the table's order. */
export type TrackedFieldName = {
  [N in JobFieldName]: JobField<N>['tracked'] extends true ? N : never;
}[JobFieldName];
export const TRACKED_FIELD_NAMES = JOB_FIELD_NAMES.filter(
  (name): name is TrackedFieldName => JOB_FIELDS[name].tracked,
);

/**
 * A datetime as the API gave it: `text`, the ISO 8601 text to store (PostgreSQL keeps the
 * microseconds the API sends, where a `Date` would drop all past the millisecond), with an explicit
 * offset; `ms`, the instant, for the stop rule's comparisons.
 */
export interface ApiTime {
  readonly text: string;
  readonly ms: number;
}

/** The TypeScript value of each kind, once validated. */
export interface KindValue {
  id: string;
  status: string;
  text: string | null;
  integer: number | null;
  datetime: ApiTime | null;
  json: unknown;
  count: bigint | null;
  money: string | null;
}

/**
 * A job of list-jobs as sutro-sync stores it: every field of the table, typed by its kind (counts as
 * `bigint` because a large batch passes 2^31 tokens; money as decimal text because a float cannot
 * hold 0.1 exactly and analysts sum these to the cent), and `raw`, the job exactly as received,
 * unknown fields included.
 */
export type Job = {
  readonly [N in JobFieldName as JobField<N>['property']]: KindValue[JobField<N>['kind']];
} & { readonly raw: Readonly<Record<string, unknown>> };
