import { z } from 'zod';

/**
 * A job of list-jobs as sutro-sync stores it: every field of the API's job object, typed.
 * Token and row counts are `bigint` because a large batch passes 2^31 tokens; money is a decimal
 * string because a float cannot hold 0.1 exactly and analysts sum these to the cent.
 */
export interface Job {
  readonly jobId: string;
  readonly status: string;
  readonly model: string | null;
  readonly systemPrompt: string | null;
  readonly jobPriority: number | null;
  readonly datetimeCreated: Date | null;
  readonly datetimeStarted: Date | null;
  readonly datetimeCompleted: Date | null;
  readonly jsonSchema: unknown;
  readonly samplingParams: unknown;
  readonly name: string | null;
  readonly description: string | null;
  readonly datasetId: string | null;
  readonly inputTokens: bigint | null;
  readonly outputTokens: bigint | null;
  readonly jobCost: string | null;
  readonly numRows: bigint | null;
  readonly failureReason: unknown;
  readonly costEstimate: string | null;
  readonly runType: string | null;
  /** The job exactly as received, unknown fields included. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export const TERMINAL_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/i;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

const optionalString = z
  .string()
  .nullish()
  .transform((v) => v ?? null);

/**
 * Datetimes without an offset are read as UTC: the API prints UTC, and reading them in the server's
 * local zone would shift every figure by the machine's offset.
 */
const datetime = z.union([z.string(), z.null(), z.undefined()]).transform((value, ctx) => {
  if (value === null || value === undefined || value.trim() === '') return null;
  const text = value.trim();
  const hasZone = /(Z|[+-]\d{2}(:?\d{2})?)$/i.test(text);
  const date = ISO_DATETIME.test(text) ? new Date(hasZone ? text : `${text}Z`) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: `is not an ISO 8601 datetime (got ${JSON.stringify(value)})` });
    return z.NEVER;
  }
  return date;
});

/** A count that must be exact: JSON numbers above 2^53 have already lost digits when parsed. */
const count = z.union([z.number(), z.string(), z.null(), z.undefined()]).transform((value, ctx) => {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      ctx.addIssue({
        code: 'custom',
        message: Number.isInteger(value)
          ? `is beyond 2^53 and lost precision as a JSON number; send it as a string (got ${value})`
          : `must be an integer (got ${value})`,
      });
      return z.NEVER;
    }
    if (value < 0) {
      ctx.addIssue({ code: 'custom', message: `must not be negative (got ${value})` });
      return z.NEVER;
    }
    return BigInt(value);
  }
  const text = value.trim();
  if (!/^\d+$/.test(text) || BigInt(text) > 9_223_372_036_854_775_807n) {
    ctx.addIssue({
      code: 'custom',
      message: `must be a non-negative 64-bit integer (got ${JSON.stringify(value)})`,
    });
    return z.NEVER;
  }
  return BigInt(text);
});

/** Money as exact decimal text; `String(0.0234)` is the shortest text that reads back as the same double. */
const money = z.union([z.number(), z.string(), z.null(), z.undefined()]).transform((value, ctx) => {
  if (value === null || value === undefined) return null;
  const text = typeof value === 'number' ? String(value) : value.trim();
  if (typeof value === 'number' && !Number.isFinite(value)) {
    ctx.addIssue({ code: 'custom', message: `must be a finite number (got ${value})` });
    return z.NEVER;
  }
  if (!DECIMAL.test(text)) {
    ctx.addIssue({ code: 'custom', message: `must be a decimal number (got ${JSON.stringify(value)})` });
    return z.NEVER;
  }
  if (text.startsWith('-') && Number(text) !== 0) {
    ctx.addIssue({ code: 'custom', message: `must not be negative (got ${JSON.stringify(value)})` });
    return z.NEVER;
  }
  return text;
});

const smallInteger = z
  .union([z.number().int(), z.string().regex(/^-?\d+$/), z.null(), z.undefined()])
  .transform((v) => (v === null || v === undefined ? null : Number(v)))
  .refine((v) => v === null || Number.isSafeInteger(v), 'must be an integer');

const jobSchema = z.looseObject({
  job_id: z
    .string({ error: (issue) => (issue.input === undefined ? 'is missing' : 'must be a string') })
    .trim()
    .min(1, 'must not be empty'),
  status: z
    .string({ error: (issue) => (issue.input === undefined ? 'is missing' : 'must be a string') })
    .trim()
    .min(1, 'must not be empty')
    .transform((s) => s.toUpperCase()),
  model: optionalString,
  system_prompt: optionalString,
  job_priority: smallInteger,
  datetime_created: datetime,
  datetime_started: datetime,
  datetime_completed: datetime,
  json_schema: z.unknown(),
  sampling_params: z.unknown(),
  name: optionalString,
  description: optionalString,
  dataset_id: optionalString,
  input_tokens: count,
  output_tokens: count,
  job_cost: money,
  num_rows: count,
  failure_reason: z.unknown(),
  cost_estimate: money,
  run_type: optionalString,
});

const ABSENT_MEANS_NULL: Readonly<Record<string, null>> = Object.fromEntries(
  Object.keys(jobSchema.shape)
    .filter((key) => key !== 'job_id' && key !== 'status')
    .map((key) => [key, null]),
);

/** What PostgreSQL stores in place of U+0000, which neither `text` nor `jsonb` can hold. */
export const NUL_REPLACEMENT = '\uFFFD';

/**
 * Replaces U+0000 in every string of a JSON value, keys included, and names where it did so. One
 * such character would make PostgreSQL refuse the whole page (and the dead-letter row with it), so
 * every run would fail at the same page for ever; the replacement character keeps the rest of the
 * job. A value without any is returned as it is, not copied.
 */
export function replaceNul(value: unknown): { value: unknown; paths: string[] } {
  if (!holdsNul(value)) return { value, paths: [] };
  const paths: string[] = [];
  return { value: copyWithoutNul(value, '', paths), paths };
}

/** The check every job goes through: no allocation, as nearly every job has no U+0000. */
function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return (value as unknown[]).some(holdsNul);
  for (const key in value) {
    if (key.includes('\0') || holdsNul((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

function copyWithoutNul(value: unknown, path: string, paths: string[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes('\0')) return value;
    paths.push(path || '(value)');
    return value.replaceAll('\0', NUL_REPLACEMENT);
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    return (value as unknown[]).map((item, index) => copyWithoutNul(item, `${path}[${index}]`, paths));
  }
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const cleanKey = key.replaceAll('\0', NUL_REPLACEMENT);
    const itemPath = path ? `${path}.${cleanKey}` : cleanKey;
    if (cleanKey !== key) paths.push(`${itemPath} (key)`);
    copy[cleanKey] = copyWithoutNul(item, itemPath, paths);
  }
  return copy;
}

export type ParsedJob = { ok: true; job: Job } | { ok: false; reason: string; jobId: string | null };

/**
 * Parses one element of a page's `jobs` array. A failure names every bad field, so that the
 * dead-letter row in `sutro.rejected_jobs` says what to fix without re-reading the raw JSON.
 */
export function parseJob(raw: unknown): ParsedJob {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return {
      ok: false,
      reason: `job is not an object (got ${raw === null ? 'null' : typeof raw})`,
      jobId: null,
    };
  }
  const record = raw as Record<string, unknown>;
  // The API omits some null fields; an absent field means null, except the two that are required.
  const result = jobSchema.safeParse({ ...ABSENT_MEANS_NULL, ...record });
  if (!result.success) {
    const reason = result.error.issues
      .map((issue) => `${issue.path.join('.') || 'job'}: ${issue.message}`)
      .join('; ');
    const jobId =
      typeof record.job_id === 'string' && record.job_id.trim() !== '' ? record.job_id.trim() : null;
    return { ok: false, reason, jobId };
  }
  const j = result.data;
  return {
    ok: true,
    job: {
      jobId: j.job_id,
      status: j.status,
      model: j.model,
      systemPrompt: j.system_prompt,
      jobPriority: j.job_priority,
      datetimeCreated: j.datetime_created,
      datetimeStarted: j.datetime_started,
      datetimeCompleted: j.datetime_completed,
      jsonSchema: j.json_schema ?? null,
      samplingParams: j.sampling_params ?? null,
      name: j.name,
      description: j.description,
      datasetId: j.dataset_id,
      inputTokens: j.input_tokens,
      outputTokens: j.output_tokens,
      jobCost: j.job_cost,
      numRows: j.num_rows,
      failureReason: j.failure_reason ?? null,
      costEstimate: j.cost_estimate,
      runType: j.run_type,
      raw: record,
    },
  };
}

/**
 * Settled: nothing about the job will change any more, so an incremental run need not look at it
 * again. A SUCCEEDED job is not settled until its cost and completion time are filled in, because
 * the API fills them after the status flips. Mirrors the `settled` column in db/schema.ts.
 */
export function isSettled(job: Pick<Job, 'status' | 'jobCost' | 'datetimeCompleted'>): boolean {
  if (!(TERMINAL_STATUSES as readonly string[]).includes(job.status)) return false;
  return job.status !== 'SUCCEEDED' || (job.jobCost !== null && job.datetimeCompleted !== null);
}
