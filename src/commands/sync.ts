import { ConfigError, requireSources } from '../config.js';
import { createProgressLine } from '../progress.js';
import { createApi, openDatabase, type CommandContext, type OpenDatabase } from '../runtime.js';
import type { SourceConfig } from '../sources.js';
import { MalformedResponseError, SutroApiError, SutroNetworkError } from '../sutro/client.js';
import { runSync } from '../sync/engine.js';
import type { PageProgress, SyncResult } from '../sync/vocabulary.js';
import { handleShutdownSignals } from '../worker/shutdown.js';
import { EXIT, fail } from './exit-codes.js';
import { DEFAULT_WAIT_SECONDS } from './options.js';

export interface SyncCommandOptions {
  readonly full?: boolean;
  /** true: --wait without a value. */
  readonly wait?: boolean | number;
  /** --source NAME: one source of the configuration. */
  readonly source?: string;
  /** --all: every enabled source, SUTRO_CONCURRENCY at once. */
  readonly all?: boolean;
}

/** An error the API's answers (or their absence) caused: a wrong URL, key or network, which doctor checks. */
function isSetupProblem(error: Error | null): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof SutroNetworkError || e instanceof MalformedResponseError) return true;
    if (e instanceof SutroApiError) return e.status < 500 && e.status !== 429;
  }
  return false;
}

/** The sources the options name: one by name, all, or the only one there is. */
function chooseSources(all: readonly SourceConfig[], options: SyncCommandOptions): readonly SourceConfig[] {
  const names = all.map((s) => s.name).join(', ');
  if (options.all === true && options.source !== undefined)
    throw new ConfigError(['--all and --source: give one or the other']);
  if (options.all === true) return all.filter((source) => source.enabled);
  if (options.source !== undefined) {
    const found = all.find((source) => source.name === options.source);
    if (found === undefined)
      throw new ConfigError([`--source: no source is named "${options.source}" (the sources: ${names})`]);
    return [found];
  }
  const [only] = all;
  if (all.length === 1 && only !== undefined) return [only];
  throw new ConfigError([
    `sync: the configuration has ${all.length} sources (${names}): name one with --source NAME, or run them all with --all`,
  ]);
}

/** One source's run, and what it means for the exit code: null, or what went wrong, in a line. */
interface SourceOutcome {
  readonly source: string;
  readonly failed: { readonly line: string; readonly reason: string } | null;
}

async function syncSource(
  context: CommandContext,
  database: OpenDatabase,
  source: SourceConfig,
  options: SyncCommandOptions & { readonly signal: AbortSignal; readonly onPage?: (p: PageProgress) => void },
): Promise<SourceOutcome> {
  const { config, log } = context;
  const result: SyncResult = await runSync(
    {
      store: database.store,
      api: createApi(source, config, log),
      log,
      // A failure is said by the command's last line, with the hint to run doctor.
      reportsOutcomes: ['failed'],
      ...(options.onPage ? { onPage: options.onPage } : {}),
    },
    {
      source: source.name,
      mode: options.full ? 'full' : 'incremental',
      trigger: 'cli',
      safetyMarginSeconds: config.sync.safetyMarginSeconds,
      pageLimit: source.pageLimit,
      leaseSeconds: config.sync.leaseSeconds,
      waitSeconds: options.wait === true ? DEFAULT_WAIT_SECONDS : options.wait || 0,
      signal: options.signal,
    },
  );
  if (result.skipped) {
    if (result.gaveUpWaiting) {
      const reason = `did not run: ${result.reason} (--wait)`;
      return { source: source.name, failed: { line: `sync ${reason}`, reason } };
    }
    log.info({ source: source.name, notice: true }, `${result.reason}; nothing to do`);
    return { source: source.name, failed: null };
  }
  if (result.status !== 'failed') return { source: source.name, failed: null };
  const message = result.error?.message ?? 'unknown error';
  const hint =
    isSetupProblem(result.error) && !message.includes('sutro-sync doctor')
      ? ' (`sutro-sync doctor` checks the setup step by step)'
      : '';
  return {
    source: source.name,
    failed: { line: `sync failed: ${message}${hint}`, reason: `${message}${hint}` },
  };
}

/**
 * `sutro-sync sync`: one run of a source (`--source`, or the only one), or of every enabled source
 * (`--all`, SUTRO_CONCURRENCY at once); with --all, every source has its run before the command
 * exits 1 for those that failed.
 */
export async function runSyncCommand(context: CommandContext, options: SyncCommandOptions): Promise<number> {
  const { config, log, secrets } = context;
  const chosen = chooseSources(requireSources(config), options);
  const shutdown = handleShutdownSignals(log);
  const database = await openDatabase(config, log, { secrets });
  // A full pass of a large account takes minutes: show its pages on a terminal (only there).
  const progress = chosen.length === 1 ? createProgressLine() : null;
  const outcomes: SourceOutcome[] = [];
  try {
    const queue = [...chosen];
    const worker = async () => {
      for (let source = queue.shift(); source !== undefined; source = queue.shift()) {
        if (shutdown.signal.aborted) break;
        const run = syncSource(context, database, source, {
          ...options,
          signal: shutdown.signal,
          ...(progress ? { onPage: progress.onPage } : {}),
        });
        // One source alone fails the command as its error says (the database's: exit 3); among
        // several, a source whose run threw fails alone, and the others still have theirs.
        outcomes.push(
          chosen.length === 1
            ? await run
            : await run.catch((error: unknown) => {
                const reason = error instanceof Error ? error.message : String(error);
                return { source: source.name, failed: { line: `sync failed: ${reason}`, reason } };
              }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(config.sync.concurrency, chosen.length) }, worker));
  } finally {
    progress?.end();
    shutdown.dispose();
    await database.close();
  }
  const failed = outcomes.filter((o) => o.failed !== null);
  if (failed.length === 0) return EXIT.ok;
  const [only] = failed;
  if (chosen.length === 1 && options.all !== true && only?.failed)
    return fail(context, only.failed.line, EXIT.syncFailed);
  return fail(
    { secrets },
    `sync failed for ${failed.length} of ${chosen.length} sources:\n${failed.map((o) => `  - ${o.source}: ${o.failed?.reason ?? ''}`).join('\n')}`,
    EXIT.syncFailed,
  );
}
