import { Command, CommanderError, Option } from 'commander';
import type { ReportOptions } from './commands/report.js';
import type { SimulateOptions } from './commands/simulate.js';
import type { StatusOptions } from './commands/status.js';
import type { SyncCommandOptions } from './commands/sync.js';
import { EXIT, fail } from './commands/exit-codes.js';
import {
  collectBehaviour,
  collectFault,
  datetime,
  DEFAULT_WAIT_SECONDS,
  positiveInt,
  REPORT_FORMATS,
  utcDay,
} from './commands/options.js';
import { ConfigError, ENVIRONMENT_VARIABLES, loadConfig, type LoadOptions } from './config.js';
import { DatabaseError, DatabaseUnavailableError } from './db/infra/errors.js';
import { createLogger } from './log.js';
import { passwordOf, Secrets } from './redact.js';
import type { CommandContext } from './runtime.js';
import { HealthServerError } from './worker/http.js';

/** Secrets of the loaded configuration, so that `main` can scrub them from what it prints. */
const secrets = new Secrets();

/** `needsApi`: the command calls the Sutro API (see loadConfig). */
function context(options: LoadOptions = {}): CommandContext {
  const cwd = process.cwd();
  const load = () => {
    const loaded = loadConfig(process.env, cwd, options);
    secrets.add(
      loaded.sutro.apiKey,
      ...loaded.sources.map((source) => source.apiKey),
      ...passwordOf(loaded.database.url),
    );
    return loaded;
  };
  const config = load();
  const log = createLogger({
    level: config.logLevel,
    secrets,
    ...(config.logFormat ? { format: config.logFormat } : {}),
  });
  return { config, log, secrets, reload: load };
}

function program(setExit: (code: number) => void): Command {
  const cli = new Command('sutro-sync')
    .description("Keeps a PostgreSQL copy of a Sutro account's batch-inference jobs, their cost and tokens.")
    .addHelpText(
      'after',
      `\nEnvironment:\n${ENVIRONMENT_VARIABLES.map(([name, fallback, meaning]) => `  ${name.padEnd(28)} ${meaning}${fallback ? ` [${fallback}]` : ''}`).join('\n')}\n\nExit codes: 0 ok (also: another run held the source, or stopped by a signal), 1 sync failed (or --wait ran out), 2 bad configuration or usage, 3 database unreachable or not migrated.`,
    )
    .exitOverride()
    .showHelpAfterError();

  cli
    .command('sync')
    .description('run one sync: incremental (pages until the stop rule), or a full pass')
    .option('--full', 'page through the whole list and mark jobs the API no longer lists')
    .option('--source <name>', 'the source of SUTRO_SOURCES_FILE to sync (needed when it has several)')
    .option('--all', 'sync every enabled source, SUTRO_CONCURRENCY at once; exit 1 if any failed')
    .option(
      '--wait [seconds]',
      `wait for a sync of the same source running elsewhere, at most this long [${DEFAULT_WAIT_SECONDS}], then exit 1`,
      positiveInt('--wait'),
    )
    .action(async (options: SyncCommandOptions) =>
      setExit(
        await (await import('./commands/sync.js')).runSyncCommand(context({ needsApi: true }), options),
      ),
    );

  cli
    .command('start')
    .description(
      'run as a service: every source on its schedules (SUTRO_SYNC_SCHEDULE, SUTRO_FULL_SYNC_SCHEDULE or its own), shared with any other replica, until SIGTERM',
    )
    .option(
      '--no-initial-run',
      'a source never synced waits for its first scheduled time instead of running at once',
    )
    .action(async (options: { initialRun: boolean }) => {
      const { runService } = await import('./worker/service.js');
      setExit(await runService(context({ needsApi: true }), { runAtStart: options.initialRun }));
    });

  cli
    .command('migrate')
    .description('apply pending database migrations (sync and start also do this)')
    .action(async () => setExit(await (await import('./commands/migrate.js')).runMigrate(context())));

  cli
    .command('status')
    .description('show the checkpoint, the last runs and the stored jobs per status')
    .option('--json', 'print JSON')
    .option('--runs <n>', 'how many recent runs', positiveInt('--runs', 1000), 10)
    .option('--source <name>', 'the account to show [default: SUTRO_SOURCE]')
    .action(async (options: StatusOptions) =>
      setExit(await (await import('./commands/status.js')).runStatus(context(), options)),
    );

  cli
    .command('simulate')
    .description('serve a simulated Sutro list-jobs API (for demos, tests and benchmarks)')
    .option('--port <port>', 'port to listen on (0: any free port)', positiveInt('--port', 65535), 8787)
    .option('--jobs <n>', 'jobs in the account', positiveInt('--jobs'), 2000)
    .option(
      '--seed <n>',
      'random seed; the same seed at the same --now serves the same jobs',
      positiveInt('--seed'),
      1,
    )
    .option('--days <n>', 'days the jobs are spread over', positiveInt('--days', 3650), 200)
    .option(
      '--retention-days <n>',
      'how long the API keeps listing a job',
      positiveInt('--retention-days', 3650),
      90,
    )
    .option('--latency-ms <ms>', 'delay before every answer', positiveInt('--latency-ms', 600_000), 0)
    .option('--api-key <key>', 'the key clients must send', 'sim-key')
    .option(
      '--accounts <n>',
      'accounts the deployment serves, one per key: --api-key, then <key>-2, <key>-3, … (seeds --seed, --seed+1, …)',
      positiveInt('--accounts', 1000),
      1,
    )
    .option('--prefix <path>', "path every API route is under, as deployments serve it ('' for none)", '/v1')
    .option('--retired', 'answer every request 410, as the retired shared hosts such as api.sutro.sh do')
    .option(
      '--now <datetime>',
      "the account's clock: its newest jobs were created just before it [default: the current time]",
      datetime('--now'),
    )
    .option('--no-quirks', 'serve clean data only (no lower-case statuses, numeric strings, ...)')
    .addOption(
      new Option(
        '--timestamps <precision>',
        "datetimes to the second as the docs show, 'ms', or 'us' as the API prints",
      )
        .choices(['s', 'ms', 'us'])
        .default('ms'),
    )
    .addOption(
      new Option(
        '--job-shape <shape>',
        'the job object of the reference, or the legacy one an older page documents',
      )
        .choices(['current', 'legacy'])
        .default('current'),
    )
    .option('--extra-fields', 'give every job fields no reference names')
    .option('--unbilled-dry-runs', 'dry runs succeed without ever getting tokens or a job_cost')
    .option(
      '--behave <kind>',
      'misbehave on every matching request (repeatable): echo-auth, cursor-cycle, self-cursor, ' +
        'empty-pages, same-page, web-page, huge-page, hang-body, hang-headers, reset',
      collectBehaviour,
    )
    .option(
      '--fault <json>',
      'queue a fault as POST /_sim/faults takes it (repeatable), e.g. ' +
        '\'{"kind":"echo-auth","status":500,"contentType":"html","times":"forever"}\'',
      collectFault,
    )
    .action(async (options: SimulateOptions) =>
      setExit(await (await import('./commands/simulate.js')).runSimulatorCommand(options)),
    );

  cli
    .command('demo')
    .description(
      'simulator + embedded PostgreSQL: a full sync, a change, an incremental sync, a cost summary',
    )
    .option('--jobs <n>', 'jobs in the simulated account', positiveInt('--jobs'), 2000)
    .action(async (options: { jobs: number }) => {
      setExit(await (await import('./commands/demo.js')).runDemo(context(), options));
    });

  cli
    .command('explore')
    .description(
      'keep the database up for psql or a BI tool (the embedded one stops with the last sutro-sync process) and print how to connect',
    )
    .action(async () => setExit(await (await import('./commands/explore.js')).runExplore(context())));

  cli
    .command('rebuild-rollups')
    .description(
      "compute a source's rollups (what the analytics views and report read) anew from its jobs; the sync keeps them by itself",
    )
    .option('--source <name>', 'the account [default: SUTRO_SOURCE]')
    .option(
      '--wait <seconds>',
      'wait this long for a sync of the source in progress, then exit 1',
      positiveInt('--wait'),
      DEFAULT_WAIT_SECONDS,
    )
    .action(async (options: { source?: string; wait: number }) => {
      const { runRebuildRollups } = await import('./commands/rebuild-rollups.js');
      const outcome = await runRebuildRollups(context(), {
        waitSeconds: options.wait,
        ...(options.source ? { source: options.source } : {}),
      });
      setExit(outcome === 'ok' ? EXIT.ok : EXIT.syncFailed);
    });

  cli
    .command('doctor')
    .description(
      'check the setup step by step (configuration, DNS, API key, first page, database, TLS, privileges, migrations) without writing anything',
    )
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const { runDoctor } = await import('./commands/doctor.js');
      setExit(await runDoctor(() => context(), options));
    });

  cli
    .command('grant-reader')
    .description(
      'let an existing database role read schema sutro (tables and views, also those of future migrations), never write',
    )
    .argument('<role>', 'the role, e.g. one a BI tool connects as (case-sensitive)')
    .action(async (role: string) => {
      const { runGrantReader } = await import('./commands/grant-reader.js');
      setExit(EXIT[await runGrantReader(context(), role)]);
    });

  cli
    .command('report')
    .description(
      'spend and tokens per model, the costliest jobs, daily spend and data freshness for a period',
    )
    .option(
      '--since <date>',
      'first UTC day, YYYY-MM-DD [default: 29 days before --until]',
      utcDay('--since'),
    )
    .option('--until <date>', 'last UTC day, YYYY-MM-DD, included [default: today]', utcDay('--until'))
    .addOption(new Option('--format <format>', 'output format').choices(REPORT_FORMATS).default('table'))
    .option('--top <n>', 'how many of the costliest jobs to list', positiveInt('--top', 1000), 10)
    .option('--source <name>', 'the account to report on [default: SUTRO_SOURCE]')
    .action(async (options: ReportOptions) => {
      const { runReport } = await import('./commands/report.js');
      setExit(EXIT[await runReport(context(), options)]);
    });

  return cli;
}

/** Runs the CLI and returns the process exit code; errors are reported here, once. */
export async function main(argv: readonly string[]): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await program((c) => (code = c)).parseAsync([...argv]);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof ConfigError || error instanceof HealthServerError)
      return fail({ secrets }, error.message, EXIT.usage);
    if (error instanceof DatabaseUnavailableError || error instanceof DatabaseError)
      return fail({ secrets }, error.message, EXIT.database);
    return fail({ secrets }, error instanceof Error ? error.message : String(error), EXIT.syncFailed);
  }
}
