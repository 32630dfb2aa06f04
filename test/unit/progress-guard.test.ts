import { describe, expect, it } from 'vitest';
import { ProgressGuard, ProgressGuardError } from '../../src/sync/progress-guard.js';

const ids = (from: number, count = 3) => Array.from({ length: count }, (_, i) => `job-${from + i}`);

describe('ProgressGuard', () => {
  it('lets a normal listing through, repeats from shifted pages included', () => {
    const guard = new ProgressGuard();
    guard.observe(0, null, 3, ids(0), 'c1');
    // New arrivals pushed job-2 onto the next page: a repeat beside new jobs is progress.
    guard.observe(1, 'c1', 3, ['job-2', ...ids(3, 2)], 'c2');
    // A whole page of repeats, once, is what a burst of arrivals does.
    guard.observe(2, 'c2', 3, ids(2), 'c3');
    guard.observe(3, 'c3', 3, ids(5), null);
  });

  it.each([
    [
      'a cursor that comes back',
      [
        ['c1', ids(0)],
        ['c2', ids(3)],
        ['c1', ids(6)],
      ],
      /page 2 gave a next cursor the run had already followed/,
    ],
    [
      'a cursor that returns itself',
      [
        ['c1', ids(0)],
        ['c1', ids(3)],
      ],
      /page 1 gave as its next cursor the one it was asked with/,
    ],
    [
      'empty pages with fresh cursors',
      [
        ['c1', []],
        ['c2', []],
        ['c3', []],
      ],
      /3 pages in a row came back empty, each with a next cursor/,
    ],
    [
      'the same page under fresh cursors',
      [
        ['c1', ids(0)],
        ['c2', ids(0)],
        ['c3', ids(0)],
        ['c4', ids(0)],
      ],
      /3 pages in a row brought no job the run had not already seen/,
    ],
  ] as const)('stops %s', (_, pages, reason) => {
    const guard = new ProgressGuard();
    let asked: string | null = null;
    let stopped: unknown;
    try {
      pages.forEach(([next, jobs], page) => {
        guard.observe(page, asked, jobs.length, jobs, next);
        asked = next;
      });
    } catch (error) {
      stopped = error;
    }
    expect(stopped).toBeInstanceOf(ProgressGuardError);
    expect((stopped as Error).message).toMatch(reason);
  });

  it('stops a cursor loop longer than the cursors it remembers, within three times its length', () => {
    const guard = new ProgressGuard();
    // 1,000 pages into the listing, the paging goes round a cycle of 500 cursors; every page brings
    // jobs never seen before, so only the cursors can tell.
    const tail = 1_000;
    const cycle = 500;
    const cursorAfter = (page: number) => `c${page < tail ? page : tail + ((page - tail) % cycle)}`;
    let stoppedAt: number | null = null;
    let asked: string | null = null;
    for (let page = 0; page < 10 * (tail + cycle) && stoppedAt === null; page += 1) {
      const next = cursorAfter(page);
      try {
        guard.observe(page, asked, 3, ids(page * 3), next);
      } catch (error) {
        expect((error as Error).message).toMatch(/gave a next cursor the run had already followed/);
        stoppedAt = page;
      }
      asked = next;
    }
    expect(stoppedAt).not.toBeNull();
    expect(stoppedAt).toBeGreaterThanOrEqual(tail + cycle - 1);
    expect(stoppedAt).toBeLessThanOrEqual(3 * (tail + cycle));
  });

  it('lets a listing of two million jobs through, in pages of a hundred', () => {
    const guard = new ProgressGuard();
    let asked: string | null = null;
    for (let page = 0; page < 20_000; page += 1) {
      const next = `cursor-${page}`;
      guard.observe(page, asked, 100, ids(page * 100, 100), next);
      asked = next;
    }
  });
});
