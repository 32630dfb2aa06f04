import { makeStorable, parseJob, type Job, type JobShape } from '../sutro/job.js';
import type { ListJobsPage } from '../sutro/client.js';
import type { RejectedRow } from './port.js';

/**
 * The pure checks of one page: validation, and the tests of the stop rule and of the API's order.
 * No I/O: the run (run.ts) feeds them pages and acts on what they say.
 */

/** A job whose strings held characters PostgreSQL cannot store, stored with U+FFFD in their place (see makeStorable). */
export interface ScrubbedRow {
  readonly position: number;
  readonly jobId: unknown;
  readonly fields: string[];
}

export interface ParsedPage {
  readonly jobs: Job[];
  readonly rejected: RejectedRow[];
  readonly scrubbed: ScrubbedRow[];
  /** How each listed object's fields differed from the reference. */
  readonly shapes: JobShape[];
  readonly newest: number | null;
  readonly oldest: number | null;
}

export interface FetchedPage {
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
  previousPageIds: ReadonlySet<string>,
): number | null {
  let newest: number | null = null;
  for (const job of page.jobs) {
    const created = job.datetimeCreated?.ms;
    if (created === undefined || previousPageIds.has(job.jobId)) continue;
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
