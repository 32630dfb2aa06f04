import type { Config } from '../config.js';
import { readModelTotals } from '../db/read/analytics.js';
import { forgetSource } from '../db/store/forget-source.js';
import { formatTable } from '../format.js';
import { createApi, openDatabase, type CommandContext } from '../runtime.js';
import { SimulatedAccount, startSimulator } from '../simulator/index.js';
import { runSync } from '../sync/engine.js';
import { FINAL_RUN_STATUSES } from '../sync/port.js';
import { summarizeRun, type SyncResult } from '../sync/vocabulary.js';

const DEMO_KEY = 'demo-key';
const DEMO_SOURCE = 'demo';

function describe(result: SyncResult): string {
  return result.skipped ? result.reason : summarizeRun(result);
}

/**
 * `sutro-sync demo`: the whole loop on one machine with nothing configured: a simulated account,
 * the embedded database (or DATABASE_URL), a full sync, an hour of the account's life, an
 * incremental sync that reads only what changed, and where to look next.
 */
export async function runDemo(
  { config, log, secrets }: CommandContext,
  options: { jobs: number },
): Promise<number> {
  // The tour lets an hour pass, so the account starts an hour back: it ends at the real date, and
  // `sutro-sync report` over the last 30 days afterwards shows the demo's spend.
  const account = new SimulatedAccount({
    jobs: options.jobs,
    seed: 42,
    now: new Date(Date.now() - 3_600_000),
  });
  const simulator = await startSimulator({ account, apiKey: DEMO_KEY, port: 0 });
  const demoConfig: Config = {
    ...config,
    source: DEMO_SOURCE,
    sutro: { ...config.sutro, apiUrl: simulator.url, apiKey: DEMO_KEY },
  };
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const database = await openDatabase(demoConfig, log, { secrets });
  // The tour is the same every time: the demo source is emptied first (other sources are kept).
  try {
    await forgetSource(database, DEMO_SOURCE);
    // The tour says how each run ended, on stdout.
    const deps = {
      store: database.store,
      api: createApi(demoConfig, log),
      log,
      reportsOutcomes: FINAL_RUN_STATUSES,
    };
    const sync = (mode: 'full' | 'incremental') =>
      runSync(deps, {
        source: DEMO_SOURCE,
        mode,
        trigger: 'demo',
        safetyMarginSeconds: demoConfig.sync.safetyMarginSeconds,
        pageLimit: demoConfig.sutro.pageLimit,
        leaseSeconds: demoConfig.sync.leaseSeconds,
      });

    out(`\n1. A simulated Sutro account with ${account.count()} jobs is served at ${simulator.url}.`);
    const first = await sync('full');
    out(`   ${describe(first)}`);
    if (!first.skipped && first.status !== 'succeeded') return 1;

    const change = account.advance({ seconds: 3600, newJobs: 25 });
    out(
      `\n2. An hour passes: ${change.added.length} new jobs, ${change.changed.length} jobs changed ` +
        `(finished, got their cost), ${change.dropped.length} left the 90-day window.`,
    );
    const second = await sync('incremental');
    out(`   ${describe(second)}`);
    if (!second.skipped && second.status !== 'succeeded') return 1;

    out('\n3. What the account spent, per model (sutro.model_usage, source "demo"):');
    const totals = await readModelTotals(database, DEMO_SOURCE);
    out(formatTable(totals.map((row) => ({ ...row, model: row.model ?? '(none)' }))));
    const passwordFile = database.passwordFile === null ? '' : `PGPASSFILE=${database.passwordFile} `;
    const psql = `${passwordFile}psql '${database.displayUrl}' -c "SELECT * FROM sutro.jobs WHERE source = 'demo' LIMIT 5"`;
    out(
      database.passwordFile === null
        ? `\nExplore it with SQL:\n  ${psql}`
        : `\nExplore it with SQL: the embedded PostgreSQL stops with this command, so keep it up with\n` +
            `  npx sutro-sync explore\nand, in another terminal:\n  ${psql}`,
    );
    out(`or read the last 30 days in the terminal:\n  npx sutro-sync report --source ${DEMO_SOURCE}`);
    return 0;
  } finally {
    await database.close();
    await simulator.close();
  }
}
