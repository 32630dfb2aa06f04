import { is } from 'drizzle-orm';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import * as tables from './tables.js';

/** Every table the schema declares, as Drizzle describes it: for code that must cover each one. */
export const TABLE_CONFIGS: readonly ReturnType<typeof getTableConfig>[] = Object.values(
  tables as Record<string, unknown>,
).flatMap((value) => (is(value, PgTable) ? [getTableConfig(value)] : []));
