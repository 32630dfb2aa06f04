import { JOB_FIELDS, type FieldKind, type Job, type JobFieldName } from '../../sutro/job-fields.js';

/**
 * A job's fields as the page write sends them, derived from the one table of fields
 * (sutro/job-fields.ts): the SQL type of each, and the value a page's JSON recordset carries for it.
 * The Drizzle columns of the same fields are in schema/job-columns.ts.
 */

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
