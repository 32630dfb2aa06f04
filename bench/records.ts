import { SQL_TYPE, textValue } from '../src/db/store/job-records.js';
import { JOB_FIELD_NAMES, JOB_FIELDS, type Job } from '../src/sutro/job-fields.js';

/**
 * The columns of sutro.jobs the API fills (the table of fields, then `raw`), with the SQL type each
 * is read as. The floors load exactly what the sync stores, normalized by the same parser, so that
 * the only difference left is how.
 */
export const COLUMNS: readonly (readonly [name: string, type: string])[] = [
  ...JOB_FIELD_NAMES.map((name) => [name, SQL_TYPE[JOB_FIELDS[name].kind]] as const),
  ['raw', 'jsonb'],
];

/** A job's values in `COLUMNS` order, as text (or null): what both floors send. */
export function columnTexts(job: Job): (string | null)[] {
  return [...JOB_FIELD_NAMES.map((name) => textValue(job, name)), JSON.stringify(job.raw)];
}
