/**
 * A run must make progress or stop. An API whose paging is broken (a cursor that leads back to an
 * earlier one, or to itself; empty pages that always offer a next cursor; the same page under fresh
 * cursors) would otherwise be paged for ever, 2,641 requests in 40 s in one case, and its checkpoint
 * would resume the next run into the same loop.
 */

/**
 * Pages in a row that may come back empty with a next cursor, or bring only jobs the run has already
 * seen, before the run stops. One such page happens (jobs that arrive between two requests push a
 * whole page of seen jobs onto the next, on offset paging); three in a row is a loop.
 */
export const PAGES_WITHOUT_PROGRESS = 3;

export class ProgressGuardError extends Error {
  constructor(reason: string) {
    super(
      `list-jobs makes no progress: ${reason}; the run stops, and the next one starts again from the head`,
    );
    this.name = 'ProgressGuardError';
  }
}

/**
 * 31-bit FNV-1a of a job id: a run remembers every job it has seen as a small integer, about 16
 * bytes a job in a Set (a million jobs: 16 MB) where the ids themselves would take a hundred. A
 * collision can only make a new job look seen, and a page is judged stale only when every one of
 * its jobs is: for a page of a hundred new jobs that takes a hundred collisions.
 */
function hash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i += 1) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 1;
}

export class ProgressGuard {
  private readonly cursors = new Set<string>();
  private readonly seen = new Set<number>();
  private emptyInARow = 0;
  private staleInARow = 0;

  /**
   * Called with each page as it arrives, before it is written: `asked` is the cursor it was asked
   * with (null: the head), `listed` the rows it held, `jobIds` the ids among them, `next` the cursor
   * it gives. Throws ProgressGuardError to stop the run.
   */
  observe(
    page: number,
    asked: string | null,
    listed: number,
    jobIds: readonly string[],
    next: string | null,
  ): void {
    if (asked !== null) this.cursors.add(asked);
    if (next !== null && this.cursors.has(next)) {
      throw new ProgressGuardError(
        next === asked
          ? `page ${page} gave as its next cursor the one it was asked with`
          : `page ${page} gave a next cursor the run had already followed: the paging loops`,
      );
    }
    if (next === null) return;
    this.emptyInARow = listed === 0 ? this.emptyInARow + 1 : 0;
    if (this.emptyInARow >= PAGES_WITHOUT_PROGRESS) {
      throw new ProgressGuardError(
        `${this.emptyInARow} pages in a row came back empty, each with a next cursor`,
      );
    }
    let fresh = false;
    for (const id of jobIds) {
      const h = hash(id);
      if (!this.seen.has(h)) {
        this.seen.add(h);
        fresh = true;
      }
    }
    this.staleInARow = listed > 0 && !fresh ? this.staleInARow + 1 : 0;
    if (this.staleInARow >= PAGES_WITHOUT_PROGRESS) {
      throw new ProgressGuardError(
        `${this.staleInARow} pages in a row brought no job the run had not already seen`,
      );
    }
  }
}
