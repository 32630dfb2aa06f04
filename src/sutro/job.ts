import { z } from 'zod';
import { parseApiTime } from './api-time.js';
import {
  JOB_FIELD_NAMES,
  JOB_FIELDS,
  type FieldKind,
  type Job,
  type JobFieldName,
  type KindValue,
} from './job-fields.js';

export type { ApiTime, Job } from './job-fields.js';
export { parseApiTime, parseIsoDatetime } from './api-time.js';

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

const datetime = z
  .string()
  .nullable()
  .transform((value, ctx) => {
    if (value === null || value.trim() === '') return null;
    const time = parseApiTime(value.trim());
    if (time === null) {
      ctx.addIssue({
        code: 'custom',
        message: `is not an ISO 8601 datetime PostgreSQL can store (got ${JSON.stringify(value)})`,
      });
      return z.NEVER;
    }
    return time;
  });

/** A count that must be exact: JSON numbers above 2^53 have already lost digits when parsed. */
const count = z
  .union([z.number(), z.string()])
  .nullable()
  .transform((value, ctx) => {
    if (value === null) return null;
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
const money = z
  .union([z.number(), z.string()])
  .nullable()
  .transform((value, ctx) => {
    if (value === null) return null;
    const text = typeof value === 'number' ? String(value) : value.trim();
    if (typeof value === 'number' && !Number.isFinite(value)) {
      ctx.addIssue({ code: 'custom', message: `must be a finite number (got ${value})` });
      return z.NEVER;
    }
    if (!DECIMAL.test(text)) {
      ctx.addIssue({ code: 'custom', message: `must be a decimal number (got ${JSON.stringify(value)})` });
      return z.NEVER;
    }
    if (!fitsNumeric(text)) {
      ctx.addIssue({
        code: 'custom',
        message: `has more digits than PostgreSQL's numeric holds (131,072 before the point, 16,383 after; got ${JSON.stringify(value)})`,
      });
      return z.NEVER;
    }
    if (isNegativeDecimal(text)) {
      ctx.addIssue({ code: 'custom', message: `must not be negative (got ${JSON.stringify(value)})` });
      return z.NEVER;
    }
    return text;
  });

/**
 * PostgreSQL's limits on a numeric value, which an exponent reaches in a few characters ("1e200000").
 * `text` matches DECIMAL.
 */
function fitsNumeric(text: string): boolean {
  // Without an exponent, text this short cannot reach either limit: the common case, checked
  // without splitting the text.
  if (text.length <= 16_383 && !text.includes('e') && !text.includes('E')) return true;
  const [mantissa = '', exponentText] = text.replace(/^[+-]/, '').split(/e/i);
  const exponent = exponentText === undefined ? 0 : Number(exponentText);
  const [integerPart = '', fractionPart = ''] = mantissa.split('.');
  const digits = integerPart + fractionPart;
  const significant = digits.search(/[1-9]/);
  const scale = fractionPart.length - exponent;
  const integerDigits = integerPart.length + exponent - significant;
  // PostgreSQL refuses an exponent this large even on a zero.
  if (Math.abs(exponent) >= 1_073_741_823) return false;
  return scale <= 16_383 && (significant === -1 || integerDigits <= 131_072);
}

/** Whether decimal `text` (matching DECIMAL) is below zero; Number() would round -1e-400 to -0. */
function isNegativeDecimal(text: string): boolean {
  return text.startsWith('-') && /[1-9]/.test(text.split(/e/i)[0] ?? '');
}

/** job_priority is an `integer` column; a larger value would make PostgreSQL refuse the page. */
const smallInteger = z
  .union([z.number().int(), z.string().regex(/^-?\d+$/)])
  .nullable()
  .transform((v) => (v === null ? null : Number(v)))
  .refine(
    (v) => v === null || (Number.isSafeInteger(v) && v >= -2_147_483_648 && v <= 2_147_483_647),
    'must be a 32-bit integer',
  );

const requiredText = (what: 'id' | 'status') =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'is missing' : 'must be a string') })
    .trim()
    .min(1, 'must not be empty')
    .transform((s) => (what === 'status' ? s.toUpperCase() : s));

/** The validator of each kind of field (job-fields.ts). */
const VALIDATORS = {
  id: requiredText('id'),
  status: requiredText('status'),
  text: z.string().nullable(),
  integer: smallInteger,
  datetime,
  json: z.unknown(),
  count,
  money,
} satisfies { [K in FieldKind]: z.ZodType<KindValue[K], unknown> };

/**
 * An absent field means null, except the two that are required (the API omits some null fields).
 * `.optional()` lets the object pass without them, and parseJob reads what is absent as null, so
 * that no validator needs a transform for undefined: each transform costs zod a cycle check.
 */
const REQUIRED_KINDS: ReadonlySet<FieldKind> = new Set(['id', 'status']);

const jobSchema = z.looseObject(
  Object.fromEntries(
    JOB_FIELD_NAMES.map((name) => {
      const kind = JOB_FIELDS[name].kind;
      return [name, REQUIRED_KINDS.has(kind) ? VALIDATORS[kind] : VALIDATORS[kind].optional()];
    }),
  ),
);

/** What PostgreSQL stores in place of a character it cannot hold: U+0000 or a lone surrogate. */
export const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * Replaces the characters PostgreSQL cannot store in every string of a JSON value, keys included,
 * and names where it did so: U+0000, which neither `text` nor `jsonb` can hold, and a lone UTF-16
 * surrogate (`"\ud800"` in the JSON), which `jsonb` refuses as invalid input. One such character
 * would make PostgreSQL refuse the whole page (and the dead-letter row with it), so every run would
 * fail at the same page for ever; the replacement character keeps the rest of the job. A value
 * without any is returned as it is, not copied.
 */
export function makeStorable(value: unknown): { value: unknown; paths: string[] } {
  if (!holdsUnstorable(value)) return { value, paths: [] };
  const paths: string[] = [];
  return { value: copyStorable(value, '', paths), paths };
}

function isStorable(text: string): boolean {
  return !text.includes('\0') && text.isWellFormed();
}

function toStorable(text: string): string {
  return text.replaceAll('\0', REPLACEMENT_CHARACTER).toWellFormed();
}

/** The check every job goes through: no allocation, as nearly every job is storable as it is. */
function holdsUnstorable(value: unknown): boolean {
  if (typeof value === 'string') return !isStorable(value);
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return (value as unknown[]).some(holdsUnstorable);
  for (const key in value) {
    if (!isStorable(key) || holdsUnstorable((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

function copyStorable(value: unknown, path: string, paths: string[]): unknown {
  if (typeof value === 'string') {
    if (isStorable(value)) return value;
    paths.push(path || '(value)');
    return toStorable(value);
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    return (value as unknown[]).map((item, index) => copyStorable(item, `${path}[${index}]`, paths));
  }
  // defineProperty rather than assignment: a key "__proto__" would otherwise set the prototype.
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const cleanKey = isStorable(key) ? key : toStorable(key);
    const itemPath = path ? `${path}.${cleanKey}` : cleanKey;
    if (cleanKey !== key) paths.push(`${itemPath} (key)`);
    Object.defineProperty(copy, cleanKey, {
      value: copyStorable(item, itemPath, paths),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

/**
 * Names an older version of the API used for fields of today's (the list-jobs reference before the
 * single-tenant deployments). A job in that shape is read as today's fields and flagged: nothing of
 * it is stored as null for a rename alone.
 */
const LEGACY_NAMES: Readonly<Record<string, string>> = {
  created_at: 'datetime_created',
  completed_at: 'datetime_completed',
  priority: 'job_priority',
};

/** How a job's fields differ from the reference: what the run reports as schema drift. */
export interface JobShape {
  /** Fields the reference does not name (kept in `raw`). */
  readonly unknown: readonly string[];
  /** Fields of the reference the job lacks (stored as null). */
  readonly missing: readonly string[];
  /** The job uses the legacy names (LEGACY_NAMES). */
  readonly legacy: boolean;
}

const KNOWN = new Set<string>(JOB_FIELD_NAMES);

function shapeOf(record: Record<string, unknown>): JobShape {
  const renamed = Object.keys(LEGACY_NAMES).filter(
    (old) => old in record && !((LEGACY_NAMES[old] ?? '') in record),
  );
  const provided = new Set(renamed.map((old) => LEGACY_NAMES[old]));
  return {
    unknown: Object.keys(record).filter((key) => !KNOWN.has(key) && !renamed.includes(key)),
    missing: JOB_FIELD_NAMES.filter((key) => !(key in record) && !provided.has(key)),
    legacy: renamed.length > 0,
  };
}

/** The current names for a job's legacy ones, where the current name is absent. */
function renamedFields(record: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [old, current] of Object.entries(LEGACY_NAMES)) {
    if (old in record && !(current in record)) fields[current] = record[old];
  }
  return fields;
}

const PROPERTIES = JOB_FIELD_NAMES.map((name) => [name, JOB_FIELDS[name].property] as const);

/**
 * A job with every property, each null: parseJob copies it and fills it in. Adding twenty properties
 * one by one to an empty object took a fifth of parseJob's time; writing over existing ones does not.
 */
const JOB_TEMPLATE: Readonly<Record<string, null>> = Object.fromEntries(
  [...PROPERTIES.map(([, property]) => property), 'raw'].map((property) => [property, null]),
);

export type ParsedJob =
  | { ok: true; job: Job; shape: JobShape }
  | { ok: false; reason: string; jobId: string | null; shape: JobShape | null };

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
      shape: null,
    };
  }
  const record = raw as Record<string, unknown>;
  const shape = shapeOf(record);
  const result = jobSchema.safeParse(shape.legacy ? { ...renamedFields(record), ...record } : record);
  if (!result.success) {
    const reason = result.error.issues
      .map((issue) => `${issue.path.join('.') || 'job'}: ${issue.message}`)
      .join('; ');
    const jobId =
      typeof record.job_id === 'string' && record.job_id.trim() !== '' ? record.job_id.trim() : null;
    return { ok: false, reason, jobId, shape };
  }
  const fields = result.data as Partial<Record<JobFieldName, unknown>>;
  const job: Record<string, unknown> = { ...JOB_TEMPLATE };
  for (const [name, property] of PROPERTIES) job[property] = fields[name] ?? null;
  job.raw = record;
  return { ok: true, job: job as Job, shape };
}
