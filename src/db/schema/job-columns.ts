import { bigint, integer, jsonb, numeric, text, timestamp } from 'drizzle-orm/pg-core';
import {
  JOB_FIELD_NAMES,
  JOB_FIELDS,
  TRACKED_FIELD_NAMES,
  type FieldKind,
  type Job,
  type JobField,
  type JobFieldName,
} from '../../sutro/job-fields.js';

/**
 * A job's fields as PostgreSQL holds them, derived from the one table of fields (sutro/job-fields.ts):
 * the Drizzle columns of sutro.jobs and sutro.job_history, the SQL type of each, and the value a
 * page's JSON recordset carries for it.
 */

export const tz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** The column of each kind; `id` and `status` are the two a job cannot lack. */
const COLUMN_OF_KIND = {
  id: (name: string) => text(name).notNull(),
  status: (name: string) => text(name).notNull(),
  text: (name: string) => text(name),
  integer: (name: string) => integer(name),
  datetime: (name: string) => tz(name),
  json: (name: string) => jsonb(name),
  count: (name: string) => bigint(name, { mode: 'bigint' }),
  money: (name: string) => numeric(name),
} satisfies Record<FieldKind, (name: string) => unknown>;

/** The SQL type of each kind: what jsonb_to_recordset reads a page's values as. */
export const SQL_TYPE: Readonly<Record<FieldKind, string>> = {
  id: 'text',
  status: 'text',
  text: 'text',
  integer: 'integer',
  datetime: 'timestamptz',
  json: 'jsonb',
  count: 'bigint',
  money: 'numeric',
};

type ColumnsOf<Names extends JobFieldName> = {
  [N in Names as JobField<N>['property']]: ReturnType<(typeof COLUMN_OF_KIND)[JobField<N>['kind']]>;
};

function columnsOf<Names extends JobFieldName>(names: readonly Names[]): ColumnsOf<Names> {
  return Object.fromEntries(
    names.map((name) => [JOB_FIELDS[name].property, COLUMN_OF_KIND[JOB_FIELDS[name].kind](name)]),
  ) as ColumnsOf<Names>;
}

/** Every field of the API's job, as sutro.jobs' columns. */
export const jobFieldColumns = () => columnsOf(JOB_FIELD_NAMES);

/** The tracked fields, as sutro.job_history's columns: their value after each change. */
export const trackedFieldColumns = () => columnsOf(TRACKED_FIELD_NAMES);

/**
 * The value a page's JSON recordset carries for a field: datetimes as the API's text (every digit
 * it gave), counts as text (a JSON number cannot carry a 64-bit count exactly, and PostgreSQL casts
 * text to bigint), everything else as it is.
 */
export function recordValue(job: Job, name: JobFieldName): unknown {
  const value = (job as unknown as Record<string, unknown>)[JOB_FIELDS[name].property];
  switch (JOB_FIELDS[name].kind) {
    case 'datetime':
      return (value as Job['datetimeCreated'])?.text ?? null;
    case 'count':
      return (value as bigint | null)?.toString() ?? null;
    default:
      return value;
  }
}

/** The value of a field as text, or null: what COPY and the benchmark's floors send. */
export function textValue(job: Job, name: JobFieldName): string | null {
  const value = recordValue(job, name);
  if (value === null || value === undefined) return null;
  // Every kind but json is text or a number by now (recordValue).
  return typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value);
}
