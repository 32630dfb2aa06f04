import type { Job } from '../sutro/job.js';
import type { SchemaDrift } from './drift.js';

/**
 * What the sync engine needs from storage, in the engine's own words. The database layer
 * (src/db/store/store.ts) implements it; the engine, the scheduler and the metrics know only this.
 */

/**
 * The vocabulary of a run, as sutro.sync_runs stores it. The schema turns each list into a CHECK
 * constraint (db/schema/vocabulary.ts), so the database refuses a word the code does not know.
 */

/** An incremental run reads down to the floor; a full one reads the whole list. */
export const RUN_MODES = ['incremental', 'full'] as const;
export type RunMode = (typeof RUN_MODES)[number];

/** `running` until the run ends; `abandoned` when its process died and a later run found it. */
export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'interrupted', 'abandoned'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The statuses a run ends in: every status but `running`. */
export const FINAL_RUN_STATUSES = RUN_STATUSES.filter(
  (status): status is Exclude<RunStatus, 'running'> => status !== 'running',
);
export type FinalRunStatus = (typeof FINAL_RUN_STATUSES)[number];

/** Who started a run: `sync` (cli), `start`'s schedules and its first run, the demo. */
export const RUN_TRIGGERS = ['cli', 'schedule', 'schedule-full', 'startup', 'demo'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/** Why paging ended. */
export const STOP_REASONS = ['end_of_list', 'below_floor', 'interrupted', 'error'] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/**
 * The right to run a source, held by one process at a time (see db/store/lease.ts). Every write of a run
 * carries it, and storage refuses the write once another run has taken the lease over.
 */
export interface Lease {
  readonly source: string;
  /** The fencing token, raised by one each time the lease is taken. */
  readonly token: number;
  /** host:pid:nonce of this process's claim. */
  readonly holder: string;
  /** How long the lease lasts past each renewal. */
  readonly seconds: number;
}

/**
 * The run no longer holds its lease: it went unrenewed past its length and another run took the
 * source over. Storage refuses the run's writes from then on, so the run must stop.
 */
export class LeaseLostError extends Error {
  constructor(lease: Lease, refused?: string) {
    super(
      `${refused === undefined ? '' : `${refused} refused: `}this process lost the lease of source ` +
        `"${lease.source}" to another run (it went unrenewed for ${lease.seconds} s, SUTRO_LEASE_SECONDS: ` +
        `was the process paused, or the database out of reach?)`,
    );
    this.name = 'LeaseLostError';
  }
}

/** Who holds a source that could not be taken, for the message of a skipped run. */
export interface LeaseHolder {
  readonly holder: string | null;
  readonly runId: number | null;
  /** Seconds until it expires unless renewed; null when a write in flight kept it from being read. */
  readonly expiresInSeconds: number | null;
}

/**
 * What a run tells a person about a source's data, said once per source and subject (then only in
 * `status`), because the same data is met again at every run that lists it:
 * - `unknown_field`, `missing_field`: the subject is the field's name. The API's shape changed once;
 *   which jobs carry the change, and how many, is the run's schema drift (sutro.sync_runs).
 * - `scrubbed_job`: the subject is the job's id; the detail names the fields whose U+0000 or lone
 *   surrogates were stored as U+FFFD. A job keeps its characters from one listing to the next.
 * A row rejected by validation (or refused by PostgreSQL) is said once by sutro.rejected_jobs
 * itself: when that exact row is first stored there (PageResult.firstRejected).
 */
export const NOTICE_KINDS = ['unknown_field', 'missing_field', 'scrubbed_job'] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

export interface Notice {
  readonly kind: NoticeKind;
  readonly subject: string;
  readonly detail: string | null;
}

export interface RejectedRow {
  readonly raw: unknown;
  readonly reason: string;
  readonly jobId: string | null;
  /** Index on its page; null for a job PostgreSQL refused, known to the store by its id only. */
  readonly position: number | null;
}

export interface PageWrite {
  readonly runId: number;
  readonly page: number;
  readonly jobs: readonly Job[];
  readonly rejected: readonly RejectedRow[];
  /** Jobs listed on the page, counting repeats; the `seen` counter of the run. */
  readonly listed: number;
  /** Jobs fetched one by one (GET jobs/{id}) rather than listed: not a page of the run's count. */
  readonly fetchedById?: boolean;
  /** Set during a full pass: the pass whose sightings this page adds to, and where it continues. */
  readonly pass: { readonly runId: number; readonly nextCursor: string | null } | null;
}

/** What became of the jobs of a page, or of a run: the counters sutro.sync_runs keeps. */
export interface JobCounts {
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly rejected: number;
}

export interface PageResult extends JobCounts {
  readonly historyRows: number;
  /**
   * Jobs PostgreSQL refused to store, dead-lettered (and counted in `rejected`) with its error;
   * `first`: sutro.rejected_jobs did not hold that row before.
   */
  readonly refused: readonly { readonly jobId: string; readonly reason: string; readonly first: boolean }[];
  /** Indexes into the write's `rejected` of the rows sutro.rejected_jobs did not hold before. */
  readonly firstRejected: readonly number[];
}

export interface SyncStateRow {
  readonly resumeCursor: string | null;
  readonly resumePassRunId: number | null;
  readonly resumePages: number;
  readonly lastSuccessAt: Date | null;
  readonly lastFullPassAt: Date | null;
}

export interface IncrementalPlanOptions {
  readonly safetyMarginSeconds: number;
  /** Jobs per list-jobs page, to price paging against fetching by id. */
  readonly pageLimit: number;
  /** Never fetch more unsettled jobs by id than this in one run. */
  readonly maxById: number;
}

export interface IncrementalPlan {
  /** Stop after a page whose jobs are all older than this; null when nothing is stored yet. */
  readonly floor: Date | null;
  /** Unsettled jobs to fetch one by one instead of paging down to them. */
  readonly refreshById: readonly string[];
}

export interface RunOutcome {
  readonly status: FinalRunStatus;
  readonly mode: RunMode;
  readonly stopReason: StopReason;
  readonly error: string | null;
  /** A complete full pass clears the checkpoint; a failed one keeps it so the next run resumes. */
  readonly fullPassCompleted: boolean;
  /** How the run's jobs differed from the API reference (see drift.ts). */
  readonly drift: SchemaDrift;
}

export interface RunStart {
  readonly mode: RunMode;
  readonly requestedMode: RunMode;
  readonly trigger: RunTrigger;
  readonly resumedFromRunId: number | null;
  readonly floor: Date | null;
  /** The due time a scheduled run serves; null for a run asked for (sync, the demo). */
  readonly dueAt: Date | null;
}

export interface SyncStore {
  /** Takes the source's lease when it is free or expired; otherwise says who holds it. */
  acquireLease(request: {
    source: string;
    holder: string;
    seconds: number;
  }): Promise<{ lease: Lease } | { heldBy: LeaseHolder }>;
  /** Pushes the lease's expiry out again; false once it has been lost to another run. */
  renewLease(lease: Lease): Promise<boolean>;
  /** Frees the lease of a run that could not be recorded as ended (finishRun frees it otherwise). */
  releaseLease(lease: Lease): Promise<void>;
  /** With the lease held: marks runs a dead process left running, drops sightings of dead passes. */
  recoverStaleRuns(lease: Lease): Promise<number[]>;
  readState(source: string): Promise<SyncStateRow | null>;
  startRun(lease: Lease, start: RunStart): Promise<number>;
  /** What an incremental run reads: see db/store/incremental-plan.ts. */
  planIncremental(source: string, options: IncrementalPlanOptions): Promise<IncrementalPlan>;
  writePage(lease: Lease, write: PageWrite): Promise<PageResult>;
  /** Forgets an unfinished pass (its cursor was rejected): its sightings and checkpoint go. */
  discardPass(lease: Lease, passRunId: number): Promise<void>;
  setRunMode(lease: Lease, runId: number, mode: RunMode): Promise<void>;
  /** Records that the run met these (see Notice); returns those no run of the source had met before. */
  recordNotices(lease: Lease, runId: number, notices: readonly Notice[]): Promise<Notice[]>;
  /** Records the run's end and frees the lease, together; returns the jobs marked missing. */
  finishRun(lease: Lease, runId: number, passRunId: number | null, outcome: RunOutcome): Promise<number>;
}
