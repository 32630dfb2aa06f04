import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, ENVIRONMENT_VARIABLES, loadConfig, type LoadOptions } from './config.js';
import { DatabaseError } from './db/errors.js';
import { readStatus, type RunRow } from './db/status.js';
import { createLogger } from './log.js';
import { passwordOf, Secrets } from './redact.js';
import { createApi, DatabaseUnavailableError, openDatabase, type CommandContext } from './runtime.js';
import { runSync } from './sync/engine.js';
import type { SyncResult } from './sync/vocabulary.js';
import { formatTable } from './format.js';
import { runDemo } from './commands/demo.js';
import { runExplore } from './commands/explore.js';
import { runDoctor } from './commands/doctor.js';
import { runRebuildRollups } from './commands/rebuild-rollups.js';
import { collectBehaviour, collectFault, runSimulatorCommand } from './commands/simulate.js';
import { runService } from './worker/service.js';
import { handleShutdownSignals } from './worker/shutdown.js';
import { migrate } from './db/migrate.js';
import { createProgressLine } from './progress.js';
import { HealthServerError } from './worker/http.js';
import { runGrantReader } from './commands/grant-reader.js';
import { REPORT_FORMATS, runReport, utcDay, type ReportOptions } from './commands/report.js';
import { parseIsoDatetime } from './sutro/job.js';
import { MalformedResponseError, SutroApiError, SutroNetworkError } from './sutro/client.js';

/**
 * Exit codes of every command, documented in the README. A run skipped because another holds the
 * source's lease, or stopped by SIGTERM, is not a failure: a CronJob must not retry it.
 */
export const EXIT = { ok: 0, syncFailed: 1, usage: 2, database: 3 } as const;

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

function fail(message: string, code: number): number {
  process.stderr.write(`sutro-sync: ${secrets.redact(message)}\n`);
  return code;
}

/** The schema drift of a run, for `status`: empty when its jobs matched the API reference. */
function driftLine(run: RunRow | undefined): string {
  if (run === undefined) return '';
  const parts = [
    run.jobs_in_legacy_shape > 0 ? `${run.jobs_in_legacy_shape} jobs in the legacy shape` : null,
    run.jobs_with_unknown_fields > 0
      ? `${run.jobs_with_unknown_fields} jobs with fields the API reference does not name (${run.unknown_fields.join(', ')}; kept in raw)`
      : null,
    run.jobs_with_missing_fields > 0
      ? `${run.jobs_with_missing_fields} jobs without ${run.missing_fields.join(', ')} (stored as null)`
      : null,
  ].filter((part) => part !== null);
  return parts.length === 0 ? '' : `schema drift in run ${run.id}: ${parts.join('; ')}`;
}

/** An error the API's answers (or their absence) caused: a wrong URL, key or network, which doctor checks. */
function isSetupProblem(error: Error | null): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof SutroNetworkError || e instanceof MalformedResponseError) return true;
    if (e instanceof SutroApiError) return e.status < 500 && e.status !== 429;
  }
  return false;
}

/**
 * How long `sync --wait` waits for a run of the same source elsewhere: the default schedule's
 * interval, after which a scheduled run would have been due anyway.
 */
const DEFAULT_WAIT_SECONDS = 900;

interface SyncCommandOptions {
  full?: boolean;
  /** true: --wait without a value. */
  wait?: boolean | number;
  trigger: string;
}

async function syncCommand(options: SyncCommandOptions): Promise<number> {
  const { config, log } = context({ needsApi: true });
  const api = createApi(config, log);
  const shutdown = handleShutdownSignals(log);
  const database = await openDatabase(config, log, { secrets });
  // A full pass of a large account takes minutes: show its pages on a terminal (only there).
  const progress = createProgressLine();
  let result: SyncResult;
  try {
    result = await runSync(
      { store: database.store, api, log, onPage: progress.onPage },
      {
        source: config.source,
        mode: options.full ? 'full' : 'incremental',
        trigger: options.trigger,
        safetyMarginSeconds: config.sync.safetyMarginSeconds,
        pageLimit: config.sutro.pageLimit,
        leaseSeconds: config.sync.leaseSeconds,
        waitSeconds: options.wait === true ? DEFAULT_WAIT_SECONDS : options.wait || 0,
        signal: shutdown.signal,
      },
    );
  } finally {
    progress.end();
    shutdown.dispose();
    await database.close();
  }
  if (result.skipped) {
    if (result.gaveUpWaiting) return fail(`sync did not run: ${result.reason} (--wait)`, EXIT.syncFailed);
    log.info({ source: config.source, notice: true }, `${result.reason}; nothing to do`);
    return EXIT.ok;
  }
  if (result.status === 'failed') {
    const message = result.error?.message ?? 'unknown error';
    const hint =
      isSetupProblem(result.error) && !message.includes('sutro-sync doctor')
        ? ' (`sutro-sync doctor` checks the setup step by step)'
        : '';
    return fail(`sync failed: ${message}${hint}`, EXIT.syncFailed);
  }
  return EXIT.ok;
}

async function statusCommand(options: { json?: boolean; runs: number; source?: string }): Promise<number> {
  const { config, log } = context();
  const source = options.source ?? config.source;
  const database = await openDatabase(config, log, { migrate: false, secrets });
  // Errors stored before redaction existed may still hold a credential an API echoed back.
  const print = (text: string) => process.stdout.write(`${secrets.redact(text)}\n`);
  try {
    const report = await readStatus(database.pool, config.database.limits, source, options.runs);
    if (options.json) {
      print(JSON.stringify(report, null, 2));
      return EXIT.ok;
    }
    const s = report.state;
    const lease = report.lease;
    const lines = [
      `source: ${report.source}    database: ${database.displayUrl}`,
      `last success: ${s?.last_success_at?.toISOString() ?? 'never'}    last full pass: ${s?.last_full_pass_at?.toISOString() ?? 'never'}`,
      s?.resume_cursor
        ? `unfinished full pass: continues at page ${s.resume_pages}`
        : 'no unfinished full pass',
      s?.last_error ? `last error (${s.last_error_at?.toISOString() ?? ''}): ${s.last_error}` : '',
      lease?.holder
        ? `running: run ${lease.run_id ?? '(starting)'} held by ${lease.holder}, lease ${lease.expires_in_seconds > 0 ? `expires in ${Math.ceil(lease.expires_in_seconds)} s unless renewed` : `expired ${Math.floor(-lease.expires_in_seconds)} s ago (its holder stopped; the next run takes over)`}`
        : '',
      driftLine(report.runs[0]),
      '',
      'jobs by status:',
      formatTable(report.jobsByStatus),
      `rejected rows: ${report.rejected}`,
      '',
      'recent runs:',
      formatTable(report.runs, [
        'id',
        'mode',
        'trigger',
        'status',
        'started_at',
        'pages',
        'jobs_seen',
        'jobs_inserted',
        'jobs_updated',
        'jobs_unchanged',
        'jobs_rejected',
        'stop_reason',
      ]),
    ];
    print(lines.filter((l, i) => l !== '' || i > 5).join('\n'));
    return EXIT.ok;
  } finally {
    await database.close();
  }
}

async function migrateCommand(): Promise<number> {
  const { config, log } = context();
  const database = await openDatabase(config, log, { migrate: false, secrets });
  try {
    await migrate(database.pool, log, {
      limits: config.database.limits,
      lockTimeoutMs: config.database.migrationLockTimeoutMs,
    }).catch((error: unknown) => {
      throw new DatabaseUnavailableError((error as Error).message, { cause: error });
    });
    log.info({ notice: true }, 'database schema is up to date');
    return EXIT.ok;
  } finally {
    await database.close();
  }
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
    .addOption(
      new Option('--trigger <name>', 'recorded in sutro.sync_runs.trigger').default('cli').hideHelp(),
    )
    .action(async (options: SyncCommandOptions) => setExit(await syncCommand(options)));

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
    .action(async () => setExit(await migrateCommand()));

  cli
    .command('status')
    .description('show the checkpoint, the last runs and the stored jobs per status')
    .option('--json', 'print JSON')
    .option('--runs <n>', 'how many recent runs', positiveInt('--runs', 1000), 10)
    .option('--source <name>', 'the account to show [default: SUTRO_SOURCE]')
    .action(async (options: { json?: boolean; runs: number; source?: string }) =>
      setExit(await statusCommand(options)),
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
      return fail(error.message, EXIT.usage);
    if (error instanceof DatabaseUnavailableError || error instanceof DatabaseError)
      return fail(error.message, EXIT.database);
    return fail(error instanceof Error ? error.message : String(error), EXIT.syncFailed);
  }
}
