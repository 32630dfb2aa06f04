import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import type { JobsApi, ListJobsPage } from '../sutro/client.js';
import { SutroApiError } from '../sutro/client.js';
import { makeStorable, parseJob, type Job, type JobShape } from '../sutro/job.js';
import { DriftTally, type SchemaDrift } from './drift.js';
import { describeHolder, keepLease, takeLease, type HeldLease } from './lease-keeper.js';
import { ProgressGuard, ProgressGuardError } from './progress-guard.js';
import {
  LeaseLostError,
  type Lease,
  type LeaseHolder,
  type PageResult,
  type RejectedRow,
  type RunMode,
  type RunOutcome,
  type StopReason,
  type SyncStore,
} from './port.js';

export interface SyncOptions {
  readonly source: string;
  readonly mode: RunMode;
  /** Who asked: 'cli', 'schedule', 'schedule-full', 'demo'. */
  readonly trigger: string;
  readonly safetyMarginSeconds: number;
  /** Jobs per list-jobs page (the client's `limit`), for pricing the incremental plan. */
  readonly pageLimit?: number;
  /** Tuning of the incremental plan; see `INCREMENTAL_DEFAULTS`. */
  readonly plan?: Partial<typeof INCREMENTAL_DEFAULTS>;
  /** How long the lease lasts past each renewal (SUTRO_LEASE_SECONDS). */
  readonly leaseSeconds: number;
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

export interface RunSummary {
  readonly runId: number;
  readonly source: string;
  readonly status: RunOutcome['status'];
  readonly mode: RunMode;
  readonly requestedMode: RunMode;
  readonly stopReason: StopReason;
  readonly pages: number;
  readonly seen: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly rejected: number;
  readonly historyRows: number;
  readonly markedMissing: number;
  /** Unsettled jobs fetched by id instead of paging down to them. */
  readonly refreshedById: number;
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
   * Field names already warned about as schema drift: a worker passes one set for all its runs, so
   * that a new field is warned about once, not every 15 minutes. Default: a set of the run's own.
   */
  readonly driftWarnings?: Set<string>;
}

export interface PageProgress {
  readonly runId: number;
  readonly page: number;
  readonly listed: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly rejected: number;
  readonly totals: { readonly pages: number; readonly seen: number };
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

/** A job whose strings held characters PostgreSQL cannot store, stored with U+FFFD in their place (see makeStorable). */
interface ScrubbedRow {
  readonly position: number;
  readonly jobId: unknown;
  readonly fields: string[];
}

interface ParsedPage {
  readonly jobs: Job[];
  readonly rejected: RejectedRow[];
  readonly scrubbed: ScrubbedRow[];
  /** How each listed object's fields differed from the reference. */
  readonly shapes: JobShape[];
  readonly newest: number | null;
  readonly oldest: number | null;
}

interface FetchedPage {
  readonly response: ListJobsPage;
  readonly parsed: ParsedPage;
}

/**
 * Validates a page. A job listed twice on one page (the API's offset paging shifting under new
 * arrivals) is kept once, so that the multi-row upsert never touches a row twice.
 */
export function parsePage(rawJobs: readonly unknown[]): ParsedPage {
  const jobs = new Map<string, Job>();
  const rejected: RejectedRow[] = [];
  const scrubbed: ScrubbedRow[] = [];
  const shapes: JobShape[] = [];
  let newest: number | null = null;
  let oldest: number | null = null;
  rawJobs.forEach((listed, position) => {
    const { value: raw, paths } = makeStorable(listed);
    if (paths.length > 0) {
      scrubbed.push({ position, jobId: (raw as { job_id?: unknown } | null)?.job_id ?? null, fields: paths });
    }
    const parsed = parseJob(raw);
    if (parsed.shape !== null) shapes.push(parsed.shape);
    if (!parsed.ok) {
      rejected.push({ raw, reason: parsed.reason, jobId: parsed.jobId, position });
      return;
    }
    if (!jobs.has(parsed.job.jobId)) jobs.set(parsed.job.jobId, parsed.job);
    const created = parsed.job.datetimeCreated?.ms;
    if (created !== undefined) {
      newest = newest === null ? created : Math.max(newest, created);
      oldest = oldest === null ? created : Math.min(oldest, created);
    }
  });
  return { jobs: [...jobs.values()], rejected, scrubbed, shapes, newest, oldest };
}

/**
 * The stop rule of an incremental run: every placeable job of the page is older than the floor.
 * A page with no creation times at all proves nothing, so the run goes on.
 */
export function isBelowFloor(page: Pick<ParsedPage, 'newest'>, floor: Date | null): boolean {
  return floor !== null && page.newest !== null && page.newest < floor.getTime();
}

/**
 * The newest creation time of the page's jobs that the page before did not list. New arrivals
 * between two requests push the oldest jobs of a page onto the next one, and those repeats are
 * newer than that page's oldest job without being out of order.
 */
export function newestUnrepeated(
  page: Pick<ParsedPage, 'jobs'>,
  previousPage: readonly Job[],
): number | null {
  const previousIds = new Set(previousPage.map((job) => job.jobId));
  let newest: number | null = null;
  for (const job of page.jobs) {
    const created = job.datetimeCreated?.ms;
    if (created === undefined || previousIds.has(job.jobId)) continue;
    newest = newest === null ? created : Math.max(newest, created);
  }
  return newest;
}

/**
 * The API lists newest first. A page holding a job newer than the previous pages' oldest means the
 * order cannot be trusted, and with it the stop rule. `newest` leaves out the jobs the page before
 * listed too (see newestUnrepeated), so offset paging under new arrivals does not trip it (more
 * than a page of arrivals between two requests still would: a needless full pass, never a missed
 * job). The safety margin is the tolerance: it is how far off `datetime_created` the stop rule
 * already allows the API's order to be, so an inversion within it is one the floor absorbs, and
 * only one beyond it makes the run unsafe.
 */
export function isOutOfOrder(
  page: Pick<ParsedPage, 'newest'>,
  previousOldest: number | null,
  safetyMarginSeconds: number,
): boolean {
  return (
    previousOldest !== null &&
    page.newest !== null &&
    page.newest > previousOldest + safetyMarginSeconds * 1000
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

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

/** Names this process's claim to a lease: which machine and process, and which of its runs. */
function newHolder(): string {
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
  const attempt = await takeLease(
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

class Run {
  private mode: RunMode;
  /** The run whose sightings a full pass adds to; null for incremental runs (and upgraded ones). */
  private passRunId: number | null;
  private cursor: string | null = null;
  private page = 0;
  private resumedFromRunId: number | null = null;
  private previousOldest: number | null = null;
  /** Jobs of the page before, whose repeats on this page are no inversion (see newestUnrepeated). */
  private previousPage: readonly Job[] = [];
  private totals = {
    pages: 0,
    seen: 0,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    rejected: 0,
    historyRows: 0,
    refreshedById: 0,
  };
  /** Jobs to fetch by id after paging, less those the pages listed anyway. */
  private readonly refreshById: Set<string>;
  /** Aborts a look-ahead fetch that is no longer wanted (the run failed or stopped). */
  private readonly fetches = new AbortController();
  private readonly guard = new ProgressGuard();
  private readonly drift = new DriftTally();
  private readonly driftWarnings: Set<string>;

  constructor(
    private readonly deps: SyncDependencies,
    private readonly options: SyncOptions,
    private readonly log: Logger,
    private readonly lease: Lease,
    private readonly held: HeldLease,
    private readonly runId: number,
    mode: RunMode,
    private readonly floor: Date | null,
    refreshById: readonly string[],
  ) {
    this.mode = mode;
    this.driftWarnings = deps.driftWarnings ?? new Set();
    this.refreshById = new Set(refreshById);
    this.passRunId = mode === 'full' ? runId : null;
  }

  resumeFrom(passRunId: number, cursor: string, pages: number): void {
    this.passRunId = passRunId;
    this.cursor = cursor;
    this.page = pages;
    this.resumedFromRunId = passRunId;
  }

  /** `started`: when the run asked for its lease (performance.now()), so the duration includes it. */
  async execute(started: number): Promise<RunSummary> {
    let stopReason: StopReason = 'error';
    let status: RunOutcome['status'] = 'failed';
    let failure: Error | null = null;
    try {
      stopReason = await this.pageLoop();
      if (stopReason !== 'interrupted' && this.mode === 'incremental' && !(await this.refreshStragglers())) {
        stopReason = 'interrupted';
      }
      status = stopReason === 'interrupted' ? 'interrupted' : 'succeeded';
    } catch (error) {
      failure = this.wrap(error);
      // The summary line below says it too, in one line; this one carries the error's whole chain.
      this.log.error(
        { err: failure, page: this.page, cursor: this.cursor, notice: false },
        'sync run failed',
      );
      if (error instanceof ProgressGuardError) await this.forgetLoopingPass();
    } finally {
      this.fetches.abort(new Error('the run has ended'));
    }

    const fullPassCompleted =
      status === 'succeeded' && this.passRunId !== null && stopReason === 'end_of_list';
    const drift = this.drift.summary();
    let outcome: RunOutcome = {
      status,
      mode: this.mode,
      stopReason,
      error: failure?.message ?? null,
      fullPassCompleted,
      drift,
    };
    // The run's own renewals stop here: finishRun renews the lease in its fence and then frees it.
    this.held.stop();
    let markedMissing = 0;
    let unrecorded: UnrecordedEnd | null = null;
    try {
      markedMissing = await this.deps.store.finishRun(this.lease, this.runId, this.passRunId, outcome);
    } catch (error) {
      // The database is gone or frozen: the run stays 'running' until a later run of this process
      // records this outcome (RunSummary.unrecorded), or another process marks it abandoned.
      this.log.error({ err: error }, 'could not record the end of the run');
      const notRecorded = `its end could not be recorded in the database: ${errorText(error)}`;
      failure =
        failure === null
          ? new SyncRunError(`run ${this.runId}: ${notRecorded}`, this.runId, this.page, this.cursor, {
              cause: error,
            })
          : new SyncRunError(`${failure.message}; ${notRecorded}`, this.runId, this.page, this.cursor, {
              cause: failure,
            });
      status = 'failed';
      outcome = { ...outcome, status, stopReason: 'error', error: failure.message, fullPassCompleted: false };
      // A lost lease records nothing, now or later: the run that took the source over marked this one.
      if (!(error instanceof LeaseLostError)) unrecorded = { lease: this.lease, runId: this.runId, outcome };
    }
    const summary = {
      runId: this.runId,
      source: this.options.source,
      status,
      mode: this.mode,
      requestedMode: this.options.mode,
      stopReason,
      ...this.totals,
      markedMissing,
      resumedFromRunId: this.resumedFromRunId,
      floor: this.floor,
      durationMs: performance.now() - started,
      error: failure,
      outcome,
      drift,
      unrecorded,
    };
    this.log[status === 'succeeded' ? 'info' : status === 'interrupted' ? 'warn' : 'error'](
      // runId and source are already bound to this logger.
      {
        ...summary,
        runId: undefined,
        source: undefined,
        floor: this.floor?.toISOString() ?? null,
        durationMs: Math.round(summary.durationMs),
        error: failure?.message ?? null,
        outcome: undefined,
        unrecorded: undefined,
        drift:
          drift.jobsWithUnknownFields + drift.jobsWithMissingFields + drift.jobsInLegacyShape > 0
            ? drift
            : undefined,
        notice: summarizeRun(summary),
      },
      `sync run ${status}`,
    );
    return summary;
  }

  /**
   * The checkpoint of a pass whose paging looped points into the loop: resuming there, the next run
   * would loop again, or reach an end at once and record a complete pass that read a fraction of
   * the jobs. The pass is forgotten instead, and the next one starts from the head.
   */
  private async forgetLoopingPass(): Promise<void> {
    if (this.passRunId === null) return;
    try {
      await this.deps.store.discardPass(this.lease, this.passRunId);
      this.passRunId = null;
    } catch (error) {
      this.log.error({ err: error }, 'could not forget the pass whose paging looped');
    }
  }

  private wrap(error: unknown): Error {
    if (error instanceof SyncRunError) return error;
    const where = `run ${this.runId}, page ${this.page}, cursor ${this.cursor ?? 'head'}`;
    return new SyncRunError(`${errorText(error)} (${where})`, this.runId, this.page, this.cursor, {
      cause: error,
    });
  }

  /**
   * A page is validated as soon as it arrives, so that a look-ahead page is ready to write by the
   * time the page before it is committed.
   */
  private fetch(cursor: string | null): Promise<FetchedPage> {
    const signals = [
      this.fetches.signal,
      this.held.lost,
      ...(this.options.signal ? [this.options.signal] : []),
    ];
    const pending = this.deps.api
      .listJobs(cursor, AbortSignal.any(signals))
      .then((response) => ({ response, parsed: parsePage(response.jobs) }));
    // A look-ahead that fails after the run has stopped must not become an unhandled rejection.
    pending.catch(() => undefined);
    return pending;
  }

  private async firstPage(): Promise<FetchedPage> {
    try {
      return await this.fetch(this.cursor);
    } catch (error) {
      if (this.resumedFromRunId === null || !(error instanceof SutroApiError) || !error.isCursorRejected)
        throw error;
      this.log.warn(
        { err: error, resumedFromRunId: this.resumedFromRunId, page: this.page },
        'the API rejected the saved cursor; starting the full pass again from the head',
      );
      await this.deps.store.discardPass(this.lease, this.resumedFromRunId);
      this.passRunId = this.runId;
      this.resumedFromRunId = null;
      this.cursor = null;
      this.page = 0;
      return this.fetch(null);
    }
  }

  /**
   * Fetches the planned stragglers one by one and writes them as one more unit of work. A job the
   * API no longer has is left for the next full pass to mark missing. Returns false when the run is
   * asked to stop before all are fetched: it writes none of them then, as the next run plans them
   * again.
   */
  private async refreshStragglers(): Promise<boolean> {
    if (this.refreshById.size === 0) return true;
    const stop = this.options.signal;
    const signal = AbortSignal.any([this.fetches.signal, this.held.lost, ...(stop ? [stop] : [])]);
    const found: unknown[] = [];
    for (const jobId of this.refreshById) {
      if (stop?.aborted) return false;
      let job: unknown;
      try {
        job = await this.deps.api.getJob(jobId, signal);
      } catch (error) {
        if (stop?.aborted) return false;
        throw error;
      }
      if (job !== null) found.push(job);
    }
    const parsed = parsePage(found);
    const result = await this.deps.store.writePage(this.lease, {
      runId: this.runId,
      page: this.page,
      jobs: parsed.jobs,
      rejected: parsed.rejected,
      listed: found.length,
      fetchedById: true,
      pass: null,
    });
    this.totals.seen += found.length;
    this.totals.inserted += result.inserted;
    this.totals.updated += result.updated;
    this.totals.unchanged += result.unchanged;
    this.totals.rejected += result.rejected;
    this.totals.historyRows += result.historyRows;
    this.totals.refreshedById += this.refreshById.size;
    this.reportRows(parsed, result);
    this.log.info(
      { requested: this.refreshById.size, found: found.length, ...result },
      'refreshed stragglers by id',
    );
    return true;
  }

  /** Logs the rows of a committed page that were not stored as the API sent them. */
  private reportRows(parsed: ParsedPage, result: PageResult): void {
    this.reportDrift(parsed.shapes);
    for (const refused of result.refused) {
      this.log.warn(
        { page: this.page, jobId: refused.jobId, reason: refused.reason },
        'job refused by PostgreSQL; stored in sutro.rejected_jobs',
      );
    }
    for (const rejected of parsed.rejected) {
      this.log.warn(
        { page: this.page, position: rejected.position, jobId: rejected.jobId, reason: rejected.reason },
        'job rejected by validation; stored in sutro.rejected_jobs',
      );
    }
    for (const row of parsed.scrubbed) {
      this.log.warn(
        { page: this.page, position: row.position, jobId: row.jobId, fields: row.fields },
        'job held characters PostgreSQL cannot store (U+0000 or a lone surrogate); stored with U+FFFD in their place',
      );
    }
  }

  /** Counts the page's schema drift, and warns of each field once (see driftWarnings). */
  private reportDrift(shapes: readonly JobShape[]): void {
    for (const shape of shapes) {
      const fresh = this.drift.add(shape);
      if (fresh.legacy) {
        this.log.error(
          { page: this.page },
          "list-jobs answers in the legacy job shape (created_at, completed_at, priority): read as today's " +
            'datetime_created, datetime_completed, job_priority; is SUTRO_API_URL your current Sutro deployment?',
        );
      }
      for (const [kind, names] of [
        ['unknown', fresh.unknown],
        ['missing', fresh.missing],
      ] as const) {
        for (const name of names) {
          if (this.driftWarnings.has(`${kind}:${name}`)) continue;
          this.driftWarnings.add(`${kind}:${name}`);
          this.log.warn(
            { page: this.page, field: name },
            kind === 'unknown'
              ? `jobs carry a field the API reference does not name, kept in raw: ${name}`
              : `jobs lack a field of the API reference, stored as null: ${name}`,
          );
        }
      }
    }
  }

  private async pageLoop(): Promise<StopReason> {
    const { store } = this.deps;
    const signal = this.options.signal;
    if (signal?.aborted) return 'interrupted';

    let pending: Promise<FetchedPage> | null = this.firstPage();
    while (pending !== null) {
      let response: ListJobsPage;
      let parsed: ParsedPage;
      try {
        ({ response, parsed } = await pending);
      } catch (error) {
        if (signal?.aborted) return 'interrupted';
        throw this.held.lost.aborted ? (this.held.lost.reason as Error) : error;
      }
      // A renewal found the lease taken: the write below would be refused, so say why now.
      this.held.lost.throwIfAborted();
      const next = response.nextCursor;
      this.guard.observe(
        this.page,
        this.cursor,
        response.jobs.length,
        [
          ...parsed.jobs.map((job) => job.jobId),
          ...parsed.rejected.flatMap((r) => (r.jobId === null ? [] : [r.jobId])),
        ],
        next,
      );
      // A full pass reads every page, so the next one is asked for at once and its request hides
      // behind this page's write. An incremental run asks only once it knows this page is not its
      // last (the stop rule below), so that a run that stops fetches nothing extra.
      pending = this.mode === 'full' && next !== null && !signal?.aborted ? this.fetch(next) : null;

      // The page's newest job says whether the order may be broken; only then are the repeats of
      // the page before looked for, to see whether it is.
      const margin = this.options.safetyMarginSeconds;
      if (
        isOutOfOrder(parsed, this.previousOldest, margin) &&
        isOutOfOrder({ newest: newestUnrepeated(parsed, this.previousPage) }, this.previousOldest, margin)
      ) {
        this.log.warn(
          {
            page: this.page,
            cursor: this.cursor,
            previousOldest: new Date(this.previousOldest ?? 0).toISOString(),
          },
          this.mode === 'incremental'
            ? 'list-jobs returned a page out of order; the stop rule is unsafe, continuing as a full pass'
            : 'list-jobs returned a page out of order',
        );
        if (this.mode === 'incremental') {
          this.mode = 'full';
          await store.setRunMode(this.lease, this.runId, 'full');
        }
      }
      this.previousPage = parsed.jobs;
      if (parsed.oldest !== null) {
        this.previousOldest =
          this.previousOldest === null ? parsed.oldest : Math.min(this.previousOldest, parsed.oldest);
      }

      const below = this.mode === 'incremental' && isBelowFloor(parsed, this.floor);
      if (pending === null && next !== null && !below && !signal?.aborted) pending = this.fetch(next);

      const result = await store.writePage(this.lease, {
        runId: this.runId,
        page: this.page,
        jobs: parsed.jobs,
        rejected: parsed.rejected,
        listed: response.jobs.length,
        pass: this.passRunId === null ? null : { runId: this.passRunId, nextCursor: next },
      });
      this.totals.pages += 1;
      this.totals.seen += response.jobs.length;
      this.totals.inserted += result.inserted;
      this.totals.updated += result.updated;
      this.totals.unchanged += result.unchanged;
      this.totals.rejected += result.rejected;
      this.totals.historyRows += result.historyRows;
      for (const job of parsed.jobs) this.refreshById.delete(job.jobId);
      this.reportRows(parsed, result);
      this.log.debug({ page: this.page, listed: response.jobs.length, ...result }, 'page committed');
      this.deps.onPage?.({
        runId: this.runId,
        page: this.page,
        listed: response.jobs.length,
        ...result,
        totals: { pages: this.totals.pages, seen: this.totals.seen },
      });
      this.page += 1;
      this.cursor = next;

      if (below) return 'below_floor';
      if (next === null) return 'end_of_list';
      if (signal?.aborted) return 'interrupted';
    }
    return 'end_of_list';
  }
}
