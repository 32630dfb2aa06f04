import { createProgressLine } from '../progress.js';
import { createApi, openDatabase, type CommandContext } from '../runtime.js';
import { MalformedResponseError, SutroApiError, SutroNetworkError } from '../sutro/client.js';
import { runSync } from '../sync/engine.js';
import type { SyncResult } from '../sync/vocabulary.js';
import { handleShutdownSignals } from '../worker/shutdown.js';
import { EXIT, fail } from './exit-codes.js';

/**
 * How long `sync --wait` waits for a run of the same source elsewhere: the default schedule's
 * interval, after which a scheduled run would have been due anyway.
 */
export const DEFAULT_WAIT_SECONDS = 900;

export interface SyncCommandOptions {
  readonly full?: boolean;
  /** true: --wait without a value. */
  readonly wait?: boolean | number;
}

/** An error the API's answers (or their absence) caused: a wrong URL, key or network, which doctor checks. */
function isSetupProblem(error: Error | null): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof SutroNetworkError || e instanceof MalformedResponseError) return true;
    if (e instanceof SutroApiError) return e.status < 500 && e.status !== 429;
  }
  return false;
}

/** `sutro-sync sync`: one run of the source, and its outcome as the exit code. */
export async function runSyncCommand(context: CommandContext, options: SyncCommandOptions): Promise<number> {
  const { config, log, secrets } = context;
  const api = createApi(config, log);
  const shutdown = handleShutdownSignals(log);
  const database = await openDatabase(config, log, { secrets });
  // A full pass of a large account takes minutes: show its pages on a terminal (only there).
  const progress = createProgressLine();
  let result: SyncResult;
  try {
    result = await runSync(
      // A failure is said by the command's last line, with the hint to run doctor.
      { store: database.store, api, log, onPage: progress.onPage, reportsOutcomes: ['failed'] },
      {
        source: config.source,
        mode: options.full ? 'full' : 'incremental',
        trigger: 'cli',
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
    if (result.gaveUpWaiting)
      return fail(context, `sync did not run: ${result.reason} (--wait)`, EXIT.syncFailed);
    log.info({ source: config.source, notice: true }, `${result.reason}; nothing to do`);
    return EXIT.ok;
  }
  if (result.status === 'failed') {
    const message = result.error?.message ?? 'unknown error';
    const hint =
      isSetupProblem(result.error) && !message.includes('sutro-sync doctor')
        ? ' (`sutro-sync doctor` checks the setup step by step)'
        : '';
    return fail(context, `sync failed: ${message}${hint}`, EXIT.syncFailed);
  }
  return EXIT.ok;
}
