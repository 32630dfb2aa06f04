import { describe, expect, it } from 'vitest';
import { createProgressLine, type ProgressStream } from '../../src/progress.js';
import type { PageProgress } from '../../src/sync/vocabulary.js';

function fakeStream(isTTY: boolean, columns?: number): ProgressStream & { written: string[] } {
  const written: string[] = [];
  return {
    isTTY,
    ...(columns === undefined ? {} : { columns }),
    written,
    write: (text) => written.push(text),
  };
}

const page = (n: number): PageProgress => ({
  runId: 1,
  page: n,
  listed: 100,
  inserted: 90,
  updated: 5,
  unchanged: 4,
  rejected: 1,
  totals: { pages: n + 1, seen: (n + 1) * 100 },
});

describe('createProgressLine', () => {
  it('writes nothing at all when stderr is not a terminal', () => {
    const stream = fakeStream(false);
    const progress = createProgressLine({ stream });
    for (let n = 0; n < 50; n += 1) progress.onPage(page(n));
    progress.end();
    expect(stream.written).toEqual([]);
  });

  it('rewrites one line with pages, jobs and rate, at most once per interval, and ends it', () => {
    const stream = fakeStream(true);
    let clock = 0;
    const progress = createProgressLine({ stream, intervalMs: 100, now: () => clock });
    for (let n = 0; n < 20; n += 1) {
      clock += 50;
      progress.onPage(page(n));
    }
    expect(stream.written).toHaveLength(10);
    expect(stream.written.every((w) => w.startsWith('\r\x1b[2K') && !w.includes('\n'))).toBe(true);
    progress.end();
    expect(stream.written.at(-2)).toBe(
      '\r\x1b[2Ksync: 20 pages, 2,000 jobs (1,800 new, 100 updated, 80 unchanged, 20 rejected), 2,000 jobs/s, 0:01',
    );
    expect(stream.written.at(-1)).toBe('\n');
  });

  it('fits the line into the terminal, so that it never wraps', () => {
    const stream = fakeStream(true, 40);
    const progress = createProgressLine({ stream });
    progress.onPage(page(0));
    const line = stream.written[0]?.replace('\r\x1b[2K', '') ?? '';
    expect(line.length).toBeLessThan(40);
    expect(line.endsWith('…')).toBe(true);
  });

  it('leaves the terminal alone when no page was committed', () => {
    const stream = fakeStream(true);
    createProgressLine({ stream }).end();
    expect(stream.written).toEqual([]);
  });
});
