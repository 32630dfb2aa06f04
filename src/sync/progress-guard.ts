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
 * Cursors remembered exactly: a loop this short or shorter is stopped at its first repeat, with
 * the cursor named. A longer one is caught by the tortoise below, or sooner by its pages of jobs
 * already seen.
 */
const RECENT_CURSORS = 64;

/**
 * The jobs a run has seen, in a Bloom filter of fixed size (2 MB, 3 probes), so that a run's memory
 * does not grow with the account: a Set of the ids, or even of their hashes, took 16 MB and more a
 * million jobs. A filter never forgets a job it saw; it may take a new job for a seen one (about 1
 * in 200 at a million jobs, 1 in 2 at ten million), and a page counts as stale only when every one
 * of its jobs looks seen, three pages in a row. With pages of a hundred that stays out of reach up
 * to some twenty million jobs a pass, where the filter is nearly full; with tiny pages (a
 * SUTRO_PAGE_LIMIT of 10) it comes near at about ten million. The hash is salted per run, so such a
 * false stop does not repeat.
 */
const FILTER_BITS = 1 << 24;
const FILTER_PROBES = 3;

/** Two 32-bit FNV-1a hashes of `id` (differently seeded), for double hashing. */
function hashes(id: string, salt: number): [number, number] {
  let a = 0x811c9dc5 ^ salt;
  let b = 0x01000193 ^ salt;
  for (let i = 0; i < id.length; i += 1) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return [a >>> 0, (b | 1) >>> 0];
}

class SeenJobs {
  private readonly bits = new Uint32Array(FILTER_BITS / 32);
  private readonly salt = (Math.random() * 0x100000000) >>> 0;

  /** Adds `id`; true when it was not (as far as the filter can tell) seen before. */
  add(id: string): boolean {
    const [a, b] = hashes(id, this.salt);
    let fresh = false;
    for (let i = 0; i < FILTER_PROBES; i += 1) {
      const bit = (a + i * b) % FILTER_BITS;
      const word = bit >>> 5;
      const mask = 1 << (bit & 31);
      const bits = this.bits[word] ?? 0;
      if ((bits & mask) === 0) {
        this.bits[word] = bits | mask;
        fresh = true;
      }
    }
    return fresh;
  }
}

/**
 * Cursors the run followed, in bounded memory: the last RECENT_CURSORS exactly, and one saved cursor
 * moved to the current one after 2, 4, 8, 16… pages (Brent's cycle detection). A paging that loops
 * through a cycle of any length comes back to the saved cursor within three times the pages it took
 * to enter the loop and go round it once; the Set of every cursor followed grew with the account.
 */
class FollowedCursors {
  private readonly recent: string[] = [];
  private saved: string | null = null;
  private sinceSaved = 0;
  private power = 1;

  /** Records `cursor` as followed. */
  follow(cursor: string): void {
    this.recent.push(cursor);
    if (this.recent.length > RECENT_CURSORS) this.recent.shift();
    this.sinceSaved += 1;
    if (this.saved === null || this.sinceSaved >= this.power) {
      this.saved = cursor;
      this.sinceSaved = 0;
      this.power *= 2;
    }
  }

  has(cursor: string): boolean {
    return cursor === this.saved || this.recent.includes(cursor);
  }
}

export class ProgressGuard {
  private readonly cursors = new FollowedCursors();
  private readonly seen = new SeenJobs();
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
    if (asked !== null) this.cursors.follow(asked);
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
      // Every id goes in, even once the page is known to bring something new.
      if (this.seen.add(id)) fresh = true;
    }
    this.staleInARow = listed > 0 && !fresh ? this.staleInARow + 1 : 0;
    if (this.staleInARow >= PAGES_WITHOUT_PROGRESS) {
      throw new ProgressGuardError(
        `${this.staleInARow} pages in a row brought no job the run had not already seen`,
      );
    }
  }
}
