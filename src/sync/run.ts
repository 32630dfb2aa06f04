import type { Logger } from '../log.js';
import { SutroApiError, type ListJobsPage } from '../sutro/client.js';
import type { JobShape } from '../sutro/job.js';
import { DriftTally } from './drift.js';
import type { HeldLease } from './lease-keeper.js';
import {
  isBelowFloor,
  isOutOfOrder,
  newestUnrepeated,
  parsePage,
  type FetchedPage,
  type ParsedPage,
} from './page.js';
import { ProgressGuard, ProgressGuardError } from './progress-guard.js';
import {
  LeaseLostError,
  type Lease,
  type Notice,
  type NoticeKind,
  type PageResult,
  type RunMode,
  type RunOutcome,
  type StopReason,
} from './port.js';
import {
  summarizeRun,
  SyncRunError,
  type RunSummary,
  type RunTotals,
  type SyncDependencies,
  type SyncOptions,
  type UnrecordedEnd,
} from './vocabulary.js';

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** How each kind of notice is said, the first time a source meets it: the log line's fields and text. */
const SAY: Record<NoticeKind, (notice: Notice) => [Record<string, unknown>, string]> = {
  unknown_field: ({ subject }) => [
    { field: subject },
    `jobs carry a field the API reference does not name, kept in raw: ${subject}`,
  ],
  missing_field: ({ subject }) => [
    { field: subject },
    `jobs lack a field of the API reference, stored as null: ${subject}`,
  ],
  scrubbed_job: ({ subject, detail }) => [
    { jobId: subject, fields: detail },
    'job held characters PostgreSQL cannot store (U+0000 or a lone surrogate); stored with U+FFFD in their place',
  ],
};

/**
 * One run that holds its source's lease: pages through list-jobs from the head (or the checkpoint of
 * an unfinished full pass), commits each page with its checkpoint, fetches the unsettled stragglers
 * of an incremental run by id, and records its end. runSync (engine.ts) decides what kind of run it
 * is and hands it the lease.
 */
export class Run {
  private mode: RunMode;
  /** The run whose sightings a full pass adds to; null for incremental runs (and upgraded ones). */
  private passRunId: number | null;
  private cursor: string | null = null;
  private page = 0;
  private resumedFromRunId: number | null = null;
  private previousOldest: number | null = null;
  /**
   * Ids of the page before, whose repeats on this page are no inversion (see newestUnrepeated); the
   * ids only, so that a page's jobs are garbage as soon as they are written.
   */
  private previousPageIds: ReadonlySet<string> = new Set();
  private totals: { -readonly [K in keyof RunTotals]: RunTotals[K] } = {
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
  /**
   * Aborts a look-ahead fetch that is no longer wanted: the run failed or stopped, lost its lease, or
   * was asked to stop. One signal for all the run's requests, followed by listeners removed when the
   * run ends (`unfollow`) rather than AbortSignal.any per request: on Node 20 each of those stays
   * listed on its parents for good, and the caller's signal may live as long as the process.
   */
  private readonly fetches = new AbortController();
  private readonly unfollow: () => void;
  private readonly guard = new ProgressGuard();
  private readonly drift = new DriftTally();
  /** What this run has recorded as met (kind and subject), so that it records each once. */
  private readonly met = new Set<string>();

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
    this.refreshById = new Set(refreshById);
    this.passRunId = mode === 'full' ? runId : null;
    const parents = [held.lost, ...(options.signal ? [options.signal] : [])];
    const stop = (event: Event) => this.fetches.abort((event.target as AbortSignal).reason);
    for (const parent of parents) {
      if (parent.aborted) this.fetches.abort(parent.reason);
      else parent.addEventListener('abort', stop, { once: true });
    }
    this.unfollow = () => parents.forEach((parent) => parent.removeEventListener('abort', stop));
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
      this.unfollow();
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
        notice: this.deps.reportsOutcomes?.includes(status) === true ? false : summarizeRun(summary),
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
    const pending = this.deps.api
      .listJobs(cursor, this.fetches.signal)
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
    const signal = this.fetches.signal;
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
    await this.reportRows(parsed, result);
    this.log.info(
      { requested: this.refreshById.size, found: found.length, ...result },
      'refreshed stragglers by id',
    );
    return true;
  }

  /**
   * Says what a committed page held that was not stored as the API sent it, each thing once per
   * source (see Notice in port.ts): the rows sutro.rejected_jobs did not hold before, and what no
   * run of the source had met. The rest is counted on the run, and `status` lists it.
   */
  private async reportRows(parsed: ParsedPage, result: PageResult): Promise<void> {
    for (const refused of result.refused) {
      if (!refused.first) continue;
      this.log.warn(
        { page: this.page, jobId: refused.jobId, reason: refused.reason },
        'job refused by PostgreSQL; stored in sutro.rejected_jobs',
      );
    }
    for (const index of result.firstRejected) {
      const rejected = parsed.rejected[index];
      if (rejected === undefined) continue;
      this.log.warn(
        { page: this.page, position: rejected.position, jobId: rejected.jobId, reason: rejected.reason },
        'job rejected by validation; stored in sutro.rejected_jobs',
      );
    }
    // A row without a job id is rejected, and said as such.
    const scrubbed = parsed.scrubbed.flatMap((row): Notice[] =>
      typeof row.jobId === 'string'
        ? [{ kind: 'scrubbed_job', subject: row.jobId, detail: row.fields.join(', ') }]
        : [],
    );
    const met = [...this.driftOf(parsed.shapes), ...scrubbed].filter((notice) => {
      const key = `${notice.kind}\0${notice.subject}`;
      if (this.met.has(key)) return false;
      this.met.add(key);
      return true;
    });
    for (const notice of await this.deps.store.recordNotices(this.lease, this.runId, met)) {
      const [fields, text] = SAY[notice.kind](notice);
      this.log.warn({ page: this.page, ...fields }, text);
    }
  }

  /** Counts the page's schema drift, and returns the fields this run meets for the first time. */
  private driftOf(shapes: readonly JobShape[]): Notice[] {
    const fields: Notice[] = [];
    for (const shape of shapes) {
      const fresh = this.drift.add(shape);
      if (fresh.legacy) {
        this.log.error(
          { page: this.page },
          "list-jobs answers in the legacy job shape (created_at, completed_at, priority): read as today's " +
            'datetime_created, datetime_completed, job_priority; is SUTRO_API_URL your current Sutro deployment?',
        );
      }
      for (const subject of fresh.unknown) fields.push({ kind: 'unknown_field', subject, detail: null });
      for (const subject of fresh.missing) fields.push({ kind: 'missing_field', subject, detail: null });
    }
    return fields;
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
        isOutOfOrder({ newest: newestUnrepeated(parsed, this.previousPageIds) }, this.previousOldest, margin)
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
      this.previousPageIds = new Set(parsed.jobs.map((job) => job.jobId));
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
      await this.reportRows(parsed, result);
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
