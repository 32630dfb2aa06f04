import { bigint, date, numeric, smallint, text } from 'drizzle-orm/pg-core';
import { MEASURE_NAMES, MEASURES, type MeasureName } from './rollup-measures.js';

/** The Drizzle columns of the rollups, from their measures (rollup-measures.ts). */

type MeasureColumns = {
  [M in MeasureName]: (typeof MEASURES)[M]['type'] extends 'count'
    ? ReturnType<typeof countColumn>
    : ReturnType<typeof sumColumn>;
};
const countColumn = (name: string) => bigint(name, { mode: 'number' }).notNull().default(0);
const sumColumn = (name: string) => numeric(name).notNull().default('0');

/** The Drizzle columns of sutro.usage_rollup's measures. */
export function measureColumns(): MeasureColumns {
  return Object.fromEntries(
    MEASURE_NAMES.map((name) => [
      name,
      MEASURES[name].type === 'count' ? countColumn(name) : sumColumn(name),
    ]),
  ) as MeasureColumns;
}

/** The key columns of sutro.usage_rollup. */
export const usageKeyColumns = () => ({
  source: text('source').notNull(),
  day: date('day', { mode: 'string' }).notNull(),
  model: text('model'),
  status: text('status').notNull(),
});

/** The columns of sutro.run_time_rollup. */
export const runTimeColumns = () => ({
  source: text('source').notNull(),
  model: text('model'),
  bucket: smallint('bucket').notNull(),
  jobs: bigint('jobs', { mode: 'number' }).notNull().default(0),
});
