import type { SourceConfig } from '../sources.js';
import { readModelTotals } from '../db/read/analytics.js';
import { forgetSource } from '../db/store/forget-source.js';
import { formatTable } from '../format.js';
import { createApi, openDatabase, type CommandContext } from '../runtime.js';
import { SimulatedAccount, startSimulator } from '../simulator/index.js';
import { runSync } from '../sync/engine.js';
import { FINAL_RUN_STATUSES } from '../sync/port.js';
import { summarizeRun, type SyncResult } from '../sync/vocabulary.js';

/**
 * The demo's two sources: an organisation's spend is spread over keys, here a production account and
 * a smaller staging one, served by one simulated deployment and synced into one database.
 */
const DEMO_SOURCES = [
  { name: 'demo', key: 'demo-key', seed: 42, share: 1 },
  { name: 'demo-staging', key: 'demo-staging-key', seed: 43, share: 0.25 },
] as const;

function describe(result: SyncResult): string {
  return result.skipped ? result.reason : summarizeRun(result);
}

/**
 * `sutro-sync demo`: the whole loop on one machine with nothing configured: two simulated accounts,
 * the embedded database (or DATABASE_URL), a full sync of each, an hour of their life, incremental
 * syncs that read only what changed, and where to look next.
 */
export async function runDemo(
  { config, log, secrets }: CommandContext,
  options: { jobs: number },
): Promise<number> {
  // The tour lets an hour pass, so the accounts start an hour back: they end at the real date, and
  // `sutro-sync report` over the last 30 days afterwards shows the demo's spend.
  const start = new Date(Date.now() - 3_600_000);
  const accounts = DEMO_SOURCES.map(({ key, seed, share }) => ({
    apiKey: key,
    account: new SimulatedAccount({ jobs: Math.max(1, Math.round(options.jobs * share)), seed, now: start }),
  }));
  const [production, ...others] = accounts as [(typeof accounts)[number], ...typeof accounts];
  const simulator = await startSimulator({ ...production, moreAccounts: others, port: 0 });
  const sources: SourceConfig[] = DEMO_SOURCES.map(({ name, key }) => ({
    name,
    apiUrl: simulator.url,
    apiKey: key,
    keyFrom: 'the demo',
    pageLimit: config.sutro.pageLimit,
    schedule: config.sync.schedule,
    fullSchedule: config.sync.fullSchedule,
    enabled: true,
  }));
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const database = await openDatabase(config, log, { secrets });
  try {
    // The tour is the same every time: the demo's sources are emptied first (other sources are kept).
    for (const source of sources) await forgetSource(database, source.name);
    const sync = (source: SourceConfig, mode: 'full' | 'incremental') =>
      runSync(
        // The tour says how each run ended, on stdout.
        {
          store: database.store,
          api: createApi(source, config, log),
          log,
          reportsOutcomes: FINAL_RUN_STATUSES,
        },
        {
          source: source.name,
          mode,
          trigger: 'demo',
          safetyMarginSeconds: config.sync.safetyMarginSeconds,
          pageLimit: source.pageLimit,
          leaseSeconds: config.sync.leaseSeconds,
        },
      );
    const syncAll = async (mode: 'full' | 'incremental'): Promise<boolean> => {
      for (const source of sources) {
        const result = await sync(source, mode);
        out(`   ${source.name}: ${describe(result)}`);
        if (!result.skipped && result.status !== 'succeeded') return false;
      }
      return true;
    };

    out(
      `\n1. A simulated Sutro deployment at ${simulator.url} serves two accounts, each read with its own key: ` +
        accounts.map((a, i) => `"${sources[i]?.name ?? ''}" (${a.account.count()} jobs)`).join(' and ') +
        '.',
    );
    if (!(await syncAll('full'))) return 1;

    const changes = accounts.map(({ account }) => account.advance({ seconds: 3600, newJobs: 25 }));
    const total = (pick: (c: (typeof changes)[number]) => readonly unknown[]) =>
      changes.reduce((sum, change) => sum + pick(change).length, 0);
    out(
      `\n2. An hour passes: ${total((c) => c.added)} new jobs, ${total((c) => c.changed)} jobs changed ` +
        `(finished, got their cost), ${total((c) => c.dropped)} left the 90-day window.`,
    );
    if (!(await syncAll('incremental'))) return 1;

    for (const source of sources) {
      out(`\n3. What "${source.name}" spent, per model (sutro.model_usage):`);
      const totals = await readModelTotals(database, source.name);
      out(formatTable(totals.map((row) => ({ ...row, model: row.model ?? '(none)' }))));
    }
    const passwordFile = database.passwordFile === null ? '' : `PGPASSFILE=${database.passwordFile} `;
    const psql = `${passwordFile}psql '${database.displayUrl}' -c "SELECT source, job_id, model, status, job_cost FROM sutro.jobs ORDER BY datetime_created DESC LIMIT 5"`;
    out(
      database.passwordFile === null
        ? `\nExplore it with SQL:\n  ${psql}`
        : `\nExplore it with SQL: the embedded PostgreSQL stops with this command, so keep it up with\n` +
            `  npx sutro-sync explore\nand, in another terminal:\n  ${psql}`,
    );
    out(
      `or read the last 30 days in the terminal, of every source or of one:\n  npx sutro-sync report\n  npx sutro-sync report --source ${sources[0]?.name ?? ''}`,
    );
    return 0;
  } finally {
    await database.close();
    await simulator.close();
  }
}
