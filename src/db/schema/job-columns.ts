import { bigint, integer, jsonb, numeric, text, timestamp } from 'drizzle-orm/pg-core';
import {
  JOB_FIELD_NAMES,
  JOB_FIELDS,
  TRACKED_FIELD_NAMES,
  type FieldKind,
  type JobField,
  type JobFieldName,
} from '../../sutro/job-fields.js';

/**
 * A job's fields as the Drizzle columns of sutro.jobs and sutro.job_history, derived from the one
 * table of fields (sutro/job-fields.ts). The SQL type of each and the value a page carries for it are
 * in store/job-records.ts, which the write path loads without Drizzle.
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
