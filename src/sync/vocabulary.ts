import type { Logger } from '../log.js';
import type { JobsApi } from '../sutro/client.js';
import type { SchemaDrift } from './drift.js';
import type {
  FinalRunStatus,
  JobCounts,
  Lease,
  LeaseHolder,
  RunMode,
  RunOutcome,
  RunTrigger,
  StopReason,
  SyncStore,
} from './port.js';

/** What a sync run is asked to do, what it needs, and what it reports: the engine's vocabulary. */

export interface SyncOptions {
  readonly source: string;
  readonly mode: RunMode;
  readonly trigger: RunTrigger;
  readonly safetyMarginSeconds: number;
  /** Jobs per list-jobs page (the client's `limit`), for pricing the incremental plan. */
  readonly pageLimit?: number;
  /** Tuning of the incremental plan; see `INCREMENTAL_DEFAULTS`. */
  readonly plan?: Partial<typeof INCREMENTAL_DEFAULTS>;
  /** How long the lease lasts past each renewal (SUTRO_LEASE_SECONDS). */
  readonly leaseSeconds: number;
  /**
   * The source's lease, when the caller already took it (a replica claims a due source and its lease
   * together); the run holds it from then on and frees it when it ends. Absent: the run takes it.
   */
  readonly lease?: Lease;
  /** The due time a scheduled run serves, recorded with it. */
  readonly dueAt?: Date;
  /** How long to wait for a run of the same source held elsewhere; 0 or absent: return `skipped`. */
  readonly waitSeconds?: number;
  /** Abort to stop after the page being written; the run is recorded as interrupted. */
  readonly signal?: AbortSignal;
}

/**
 * At most 50 jobs are fetched by id in one run: past that, an account has so much in flight that
 * paging down to it is the honest cost, and a run should not turn into hundreds of single requests.
 */
export const INCREMENTAL_DEFAULTS = { maxById: 50 };

/** A run's counters as it goes. */
export interface RunTotals extends JobCounts {
  readonly pages: number;
  readonly seen: number;
  readonly historyRows: number;
  /** Unsettled jobs fetched by id instead of paging down to them. */
  readonly refreshedById: number;
}

export interface RunSummary extends RunTotals {
  readonly runId: number;
  readonly source: string;
  readonly status: RunOutcome['status'];
  readonly mode: RunMode;
  readonly requestedMode: RunMode;
  readonly stopReason: StopReason;
  readonly markedMissing: number;
  readonly resumedFromRunId: number | null;
  readonly floor: Date | null;
  readonly durationMs: number;
  readonly error: Error | null;
  /** The outcome as the database should hold it. */
  readonly outcome: RunOutcome;
  readonly drift: SchemaDrift;
  /** Set when the database could not take the outcome: hand it to the process's next run (lateEnd). */
  readonly unrecorded: UnrecordedEnd | null;
}

/**
 * The end of a run that the database did not answer for, with the lease the run held: the next run
 * of the same process records it and frees the lease, unless another process took the source over
 * meanwhile (it then found the run left running and marked it abandoned).
 */
export interface UnrecordedEnd {
  readonly lease: Lease;
  readonly runId: number;
  readonly outcome: RunOutcome;
}

export interface SkippedRun {
  readonly skipped: true;
  readonly reason: string;
  readonly heldBy: LeaseHolder;
  /** The run was asked to wait for the source and the wait ran out (not: stopped by a signal). */
  readonly gaveUpWaiting: boolean;
}

export type SyncResult = SkippedRun | ({ readonly skipped: false } & RunSummary);

export interface SyncDependencies {
  readonly store: SyncStore;
  readonly api: JobsApi;
  readonly log: Logger;
  /** Called after each committed page; progress displays and metrics hang here. */
  readonly onPage?: (progress: PageProgress) => void;
  /**
   * The ends of a run its caller tells a person about itself (`sync`'s last line on a failure, the
   * demo's narration): the run's summary line leaves them off the terminal (log.ts's notice), so
   * that each is read once. Default: none, the summary line says every end (`start`).
   */
  readonly reportsOutcomes?: readonly FinalRunStatus[];
}

export interface PageProgress extends JobCounts {
  readonly runId: number;
  readonly page: number;
  readonly listed: number;
  readonly totals: Pick<RunTotals, 'pages' | 'seen'>;
}

/** An error of a run, with where it happened; `cause` holds the original. */
export class SyncRunError extends Error {
  constructor(
    message: string,
    readonly runId: number,
    readonly page: number,
    readonly cursor: string | null,
    options: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SyncRunError';
  }
}

const count = new Intl.NumberFormat('en-US');

/** A run in one line, for a person: the terminal's line per run, the demo's narration. */
export function summarizeRun(run: RunSummary): string {
  const what = `${run.mode === 'full' ? 'full pass' : 'incremental run'}, ${count.format(run.pages)} page${run.pages === 1 ? '' : 's'}`;
  const jobs =
    `${count.format(run.seen)} jobs listed (${count.format(run.inserted)} new, ${count.format(run.updated)} changed, ` +
    `${count.format(run.unchanged)} unchanged, ${count.format(run.rejected)} rejected` +
    `${run.markedMissing > 0 ? `, ${count.format(run.markedMissing)} no longer listed` : ''})`;
  const seconds = `${(run.durationMs / 1000).toFixed(1)} s`;
  if (run.status === 'failed')
    return `sync failed (${what}, ${seconds}): ${run.error?.message ?? 'unknown error'}`;
  return `sync ${run.status}: ${what}, ${jobs}, ${seconds}`;
}
