import { PLAN_INCREMENTAL } from './incremental-plan.js';
import { WRITE_PAGE, WRITE_SLIM_PAGE } from './page-write.js';
import { rebuildSql } from './rollups.js';
import { MARK_MISSING } from './runs.js';

export interface GeneratedStatement {
  readonly name: string;
  /** The module that builds it. */
  readonly module: string;
  readonly text: string;
}

/**
 * The statements sutro-sync assembles from the table of fields and the rollups' measures, with their
 * final text. drizzle/statements.sql holds that text (`npm run db:dump` writes it, a test compares),
 * so that a change to what the database executes shows in a review's diff, as drizzle/schema.sql
 * does for the schema.
 */
export function generatedStatements(): readonly GeneratedStatement[] {
  const rebuild = rebuildSql('source');
  const store = 'src/db/store';
  return [
    { name: 'write_page', module: `${store}/page-write.ts`, text: WRITE_PAGE },
    { name: 'write_page_slim', module: `${store}/page-write.ts`, text: WRITE_SLIM_PAGE },
    { name: 'mark_missing', module: `${store}/runs.ts`, text: MARK_MISSING },
    { name: 'rebuild_usage_rollup', module: `${store}/rollups.ts`, text: rebuild.usage },
    { name: 'rebuild_run_time_rollup', module: `${store}/rollups.ts`, text: rebuild.runTime },
    { name: 'plan_incremental', module: `${store}/incremental-plan.ts`, text: PLAN_INCREMENTAL },
  ];
}

/** drizzle/statements.sql: each statement under a line naming it and the module that builds it. */
export function renderStatements(): string {
  const header =
    '-- The statements sutro-sync builds at run time, as the database receives them.\n' +
    '-- Written by `npm run db:dump` from src/db/store/statements.ts; a test keeps it current.\n';
  return (
    header +
    generatedStatements()
      .map(({ name, module, text }) => `\n-- name: ${name} (${module})\n${text.trim()};\n`)
      .join('')
  );
}
