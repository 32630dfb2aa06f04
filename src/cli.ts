import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runDemo } from './commands/demo.js';
import { runDoctor } from './commands/doctor.js';
import { EXIT, fail } from './commands/exit-codes.js';
import { runExplore } from './commands/explore.js';
import { runGrantReader } from './commands/grant-reader.js';
import { runMigrate } from './commands/migrate.js';
import { runRebuildRollups } from './commands/rebuild-rollups.js';
import { REPORT_FORMATS, runReport, utcDay, type ReportOptions } from './commands/report.js';
import { collectBehaviour, collectFault, runSimulatorCommand } from './commands/simulate.js';
import { runStatus, type StatusOptions } from './commands/status.js';
import { DEFAULT_WAIT_SECONDS, runSyncCommand, type SyncCommandOptions } from './commands/sync.js';
import { ConfigError, ENVIRONMENT_VARIABLES, loadConfig, type LoadOptions } from './config.js';
import { DatabaseError } from './db/infra/errors.js';
import { createLogger } from './log.js';
import { passwordOf, Secrets } from './redact.js';
import { DatabaseUnavailableError, type CommandContext } from './runtime.js';
import { parseIsoDatetime } from './sutro/job.js';
import { runService } from './worker/service.js';
import { HealthServerError } from './worker/http.js';

function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max)
      throw new InvalidArgumentError(`${name} must be an integer 0..${max}`);
    return n;
  };
}

/** A datetime option: UTC unless it says otherwise, and a day alone is its midnight. */
function datetime(name: string) {
  return (value: string): Date => {
    const text = value.trim();
    const at = parseIsoDatetime(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
    if (at === null)
      throw new InvalidArgumentError(
        `${name} must be an ISO 8601 date or datetime on the calendar, such as 2026-11-01T00:00:00Z (got ${JSON.stringify(value)})`,
      );
    return at;
  };
}

/** Secrets of the loaded configuration, so that `main` can scrub them from what it prints. */
const secrets = new Secrets();

/** `needsApi`: the command calls the Sutro API (see loadConfig). */
function context(options: LoadOptions = {}): CommandContext {
  const config = loadConfig(process.env, process.cwd(), options);
  secrets.add(config.sutro.apiKey, ...passwordOf(config.database.url));
  const log = createLogger({
    level: config.logLevel,
    secrets,
    ...(config.logFormat ? { format: config.logFormat } : {}),
  });
  return { config, log, secrets };
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
    .option(
      '--wait [seconds]',
      `wait for a sync of the same source running elsewhere, at most this long [${DEFAULT_WAIT_SECONDS}], then exit 1`,
      positiveInt('--wait'),
    )
    .action(async (options: SyncCommandOptions) =>
      setExit(await runSyncCommand(context({ needsApi: true }), options)),
    );

  cli
    .command('start')
    .description('run as a service: sync on SUTRO_SYNC_SCHEDULE and SUTRO_FULL_SYNC_SCHEDULE until SIGTERM')
    .option('--no-initial-run', 'wait for the first scheduled tick instead of syncing at start')
    .action(async (options: { initialRun: boolean }) => {
      setExit(await runService(context({ needsApi: true }), { runAtStart: options.initialRun }));
    });

  cli
    .command('migrate')
    .description('apply pending database migrations (sync and start also do this)')
    .action(async () => setExit(await runMigrate(context())));

  cli
    .command('status')
    .description('show the checkpoint, the last runs and the stored jobs per status')
    .option('--json', 'print JSON')
    .option('--runs <n>', 'how many recent runs', positiveInt('--runs', 1000), 10)
    .option('--source <name>', 'the account to show [default: SUTRO_SOURCE]')
    .action(async (options: StatusOptions) => setExit(await runStatus(context(), options)));

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
    .action(async (options: Parameters<typeof runSimulatorCommand>[0]) =>
      setExit(await runSimulatorCommand(options)),
    );

  cli
    .command('demo')
    .description(
      'simulator + embedded PostgreSQL: a full sync, a change, an incremental sync, a cost summary',
    )
    .option('--jobs <n>', 'jobs in the simulated account', positiveInt('--jobs'), 2000)
    .action(async (options: { jobs: number }) => {
      setExit(await runDemo(context(), options));
    });

  cli
    .command('explore')
    .description(
      'keep the database up for psql or a BI tool (the embedded one stops with the last sutro-sync process) and print how to connect',
    )
    .action(async () => setExit(await runExplore(context())));

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
    .action(async (options: { json?: boolean }) => setExit(await runDoctor(() => context(), options)));

  cli
    .command('grant-reader')
    .description(
      'let an existing database role read schema sutro (tables and views, also those of future migrations), never write',
    )
    .argument('<role>', 'the role, e.g. one a BI tool connects as (case-sensitive)')
    .action(async (role: string) => {
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
