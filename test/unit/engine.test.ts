import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { PageWrite, SyncStore } from '../../src/db/store.js';
import type { JobsApi } from '../../src/sutro/client.js';
import { isOutOfOrder, newestUnrepeated, runSync } from '../../src/sync/engine.js';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-28T12:00:00Z');

/** Five pages of three jobs, newest first, an hour apart; page n is fetched with cursor `c<n>`. */
function scriptedApi(events: string[]): JobsApi {
  const pages = Array.from({ length: 5 }, (_, n) =>
    Array.from({ length: 3 }, (_, i) => ({
      job_id: `job-${n}-${i}`,
      status: 'SUCCEEDED',
      datetime_created: new Date(NOW - (n * 3 + i) * HOUR).toISOString(),
      datetime_completed: new Date(NOW - (n * 3 + i) * HOUR + 60_000).toISOString(),
      job_cost: 0.5,
    })),
  );
  return {
    async listJobs(cursor) {
      const n = cursor === null ? 0 : Number(cursor.slice(1));
      events.push(`request ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
      return { jobs: pages[n] ?? [], nextCursor: n + 1 < pages.length ? `c${n + 1}` : null, requestId: null };
    },
    getJob: () => Promise.resolve(null),
  };
}

/** A store that keeps nothing and logs each page write when it starts. */
function recordingStore(events: string[], floor: Date | null): SyncStore {
  const lock = { release: () => Promise.resolve() };
  return {
    tryLockSource: () => Promise.resolve(lock),
    lockSource: () => Promise.resolve(lock),
    recoverStaleRuns: () => Promise.resolve([]),
    readState: () => Promise.resolve(null),
    startRun: () => Promise.resolve(1),
    planIncremental: () => Promise.resolve({ floor, refreshById: [] }),
    async writePage(write: PageWrite) {
      events.push(`write ${write.page}`);
      // Long enough for any look-ahead request the engine made to have been issued.
      await new Promise((resolve) => setTimeout(resolve, 10));
      return {
        inserted: write.jobs.length,
        updated: 0,
        unchanged: 0,
        rejected: 0,
        refused: [],
        historyRows: write.jobs.length,
      };
    },
    discardPass: () => Promise.resolve(),
    setRunMode: () => Promise.resolve(),
    finishRun: () => Promise.resolve(0),
  };
}

const log = pino({ level: 'silent' });

describe('runSync paging', () => {
  it('asks for the next page of a full pass while the current one is written, one page ahead at most', async () => {
    const events: string[] = [];
    const result = await runSync(
      { store: recordingStore(events, null), api: scriptedApi(events), log },
      { source: 'default', mode: 'full', trigger: 'test', safetyMarginSeconds: 0 },
    );
    expect(result).toMatchObject({
      skipped: false,
      status: 'succeeded',
      pages: 5,
      stopReason: 'end_of_list',
    });
    expect(events).toEqual([
      'request 0',
      'request 1',
      'write 0',
      'request 2',
      'write 1',
      'request 3',
      'write 2',
      'request 4',
      'write 3',
      'write 4',
    ]);
  });

  it('fetches nothing past the page that ends an incremental run', async () => {
    const events: string[] = [];
    // Page 1 holds jobs 3 to 5 hours old: all older than a floor 2.5 hours back, so it is the last.
    const floor = new Date(NOW - 2.5 * HOUR);
    const result = await runSync(
      { store: recordingStore(events, floor), api: scriptedApi(events), log },
      { source: 'default', mode: 'incremental', trigger: 'test', safetyMarginSeconds: 0 },
    );
    expect(result).toMatchObject({
      skipped: false,
      status: 'succeeded',
      pages: 2,
      stopReason: 'below_floor',
    });
    expect(events).toEqual(['request 0', 'request 1', 'write 0', 'write 1']);
  });
});

describe('isOutOfOrder', () => {
  const at = (iso: string) => new Date(iso).getTime();
  const previousOldest = at('2026-11-01T12:00:00Z');

  it('lets a page reach back up to the safety margin above the oldest job seen so far', () => {
    expect(isOutOfOrder({ newest: at('2026-11-01T12:00:00Z') }, previousOldest, 300)).toBe(false);
    expect(isOutOfOrder({ newest: at('2026-11-01T12:05:00Z') }, previousOldest, 300)).toBe(false);
    expect(isOutOfOrder({ newest: at('2026-11-01T12:05:01Z') }, previousOldest, 300)).toBe(true);
    expect(isOutOfOrder({ newest: at('2026-11-01T12:00:01Z') }, previousOldest, 0)).toBe(true);
  });

  it('has nothing to compare on the first page or a page without creation times', () => {
    expect(isOutOfOrder({ newest: at('2026-11-02T00:00:00Z') }, null, 300)).toBe(false);
    expect(isOutOfOrder({ newest: null }, previousOldest, 300)).toBe(false);
  });
});

describe('newestUnrepeated', () => {
  const job = (jobId: string, created: string | null) => ({
    jobId,
    datetimeCreated: created === null ? null : new Date(created),
  });

  it('leaves out the jobs the page before listed, and those without a creation time', () => {
    const page = {
      jobs: [job('a', '2026-11-01T12:10:00Z'), job('b', '2026-11-01T12:05:00Z'), job('c', null)],
    } as unknown as Parameters<typeof newestUnrepeated>[0];
    const previous = (...ids: string[]) =>
      ids.map((id) => job(id, '2026-11-01T12:20:00Z')) as unknown as Parameters<typeof newestUnrepeated>[1];
    expect(newestUnrepeated(page, previous())).toBe(Date.parse('2026-11-01T12:10:00Z'));
    expect(newestUnrepeated(page, previous('a'))).toBe(Date.parse('2026-11-01T12:05:00Z'));
    expect(newestUnrepeated(page, previous('a', 'b'))).toBeNull();
  });
});
