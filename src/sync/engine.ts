import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import { describeHolder, keepLease, takeLease } from './lease-keeper.js';
import { LeaseLostError, type RunMode, type SyncStore } from './port.js';
import { Run } from './run.js';
import {
  INCREMENTAL_DEFAULTS,
  type SyncDependencies,
  type SyncOptions,
  type SyncResult,
  type UnrecordedEnd,
} from './vocabulary.js';

/**
 * Records the end of an earlier run that the database did not take at the time (RunSummary.unrecorded),
 * with that run's lease, and frees the lease. Returns false when another process took the source
 * over meanwhile: it has marked the run abandoned, and there is nothing left to record.
 */
export async function recordLateEnd(store: SyncStore, late: UnrecordedEnd, log: Logger): Promise<boolean> {
  const { lease, runId, outcome } = late;
  try {
    await store.finishRun(lease, runId, null, outcome);
    log.info({ runId, status: outcome.status, source: lease.source }, 'recorded the end of an earlier run');
    return true;
  } catch (error) {
    if (!(error instanceof LeaseLostError)) throw error;
    log.info(
      { runId, source: lease.source },
      'an earlier run was marked abandoned by another process meanwhile',
    );
    return false;
  }
}

/** Names this process's claim to a lease: which machine and process, and which of its runs. */
export function newHolder(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/**
 * One sync run of one source: takes the source's lease, pages through list-jobs and commits each
 * page with its checkpoint. Fetching page n+1 overlaps validating and writing page n (one page of
 * look-ahead, so memory stays at two pages however long the account's history).
 */
export async function runSync(deps: SyncDependencies, options: SyncOptions): Promise<SyncResult> {
  const { store, log: baseLog } = deps;
  const started = performance.now();
  const waitSeconds = options.waitSeconds ?? 0;
  const attempt =
    options.lease !== undefined
      ? { lease: options.lease }
      : await takeLease(
          store,
          { source: options.source, holder: newHolder(), seconds: options.leaseSeconds },
          { waitSeconds, log: baseLog, ...(options.signal ? { signal: options.signal } : {}) },
        );
  if (!('lease' in attempt)) {
    const held = describeHolder(options.source, attempt.heldBy);
    const gaveUpWaiting = waitSeconds > 0 && !attempt.stopped;
    return {
      skipped: true,
      reason: gaveUpWaiting ? `${held}; gave up waiting after ${Math.round(attempt.waitedSeconds)} s` : held,
      heldBy: attempt.heldBy,
      gaveUpWaiting,
    };
  }
  const { lease } = attempt;
  const held = keepLease(store, lease, baseLog);
  let ended = false;
  try {
    const abandoned = await store.recoverStaleRuns(lease);
    if (abandoned.length > 0) {
      baseLog.warn(
        { runIds: abandoned, source: options.source },
        'marked runs left running by a stopped process as abandoned',
      );
    }
    const state = await store.readState(options.source);
    const resuming = state?.resumeCursor != null && state.resumePassRunId != null;
    let floor: Date | null = null;
    let refreshById: readonly string[] = [];
    let mode: RunMode = options.mode;
    if (resuming) {
      mode = 'full';
    } else if (mode === 'incremental' && state?.lastFullPassAt == null) {
      // Until a full pass has completed once, nothing says the older jobs were ever read: a first
      // pass that failed, or was forgotten because its paging looped, is owed in full.
      mode = 'full';
    } else if (mode === 'incremental') {
      const plan = await store.planIncremental(options.source, {
        safetyMarginSeconds: options.safetyMarginSeconds,
        pageLimit: options.pageLimit ?? 100,
        ...INCREMENTAL_DEFAULTS,
        ...options.plan,
      });
      floor = plan.floor;
      refreshById = plan.refreshById;
      // Nothing stored yet: the first run reads everything.
      if (floor === null) mode = 'full';
    }
    const runId = await store.startRun(lease, {
      mode,
      requestedMode: options.mode,
      trigger: options.trigger,
      resumedFromRunId: resuming ? state.resumePassRunId : null,
      floor,
      dueAt: options.dueAt ?? null,
    });
    const log = baseLog.child({ runId, source: options.source });
    log.info(
      {
        mode,
        requestedMode: options.mode,
        trigger: options.trigger,
        floor: floor?.toISOString() ?? null,
        ...(refreshById.length > 0 ? { refreshById: refreshById.length } : {}),
        ...(resuming ? { resumeFromPage: state.resumePages, resumedFromRunId: state.resumePassRunId } : {}),
      },
      resuming ? 'sync run started, continuing an unfinished full pass' : 'sync run started',
    );

    const run = new Run(deps, options, log, lease, held, runId, mode, floor, refreshById);
    if (resuming) run.resumeFrom(state.resumePassRunId, state.resumeCursor, state.resumePages);
    ended = true;
    return { skipped: false, ...(await run.execute(started)) };
  } finally {
    held.stop();
    // A run that got as far as execute() ends by finishRun, which frees the lease. Before that, the
    // database failed: freeing it may fail too, and then the lease lapses after its length anyway.
    if (!ended) {
      await store
        .releaseLease(lease)
        .catch((error: unknown) =>
          baseLog.warn(
            { err: error, source: options.source },
            'could not release the lease; it lapses by itself',
          ),
        );
    }
  }
}
