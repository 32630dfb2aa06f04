import { NO_DRIFT } from '../../src/sync/drift.js';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LeaseLostError, type PageWrite, type SyncStore } from '../../src/sync/port.js';
import type { JobsApi } from '../../src/sutro/client.js';
import { recordLateEnd, runSync } from '../../src/sync/engine.js';
import { isOutOfOrder, newestUnrepeated } from '../../src/sync/page.js';

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

/** A store that keeps nothing and logs each page write when it starts, and the calls around it. */
function recordingStore(events: string[], floor: Date | null, overrides: Partial<SyncStore> = {}): SyncStore {
  const record = (event: string) => {
    events.push(event);
    return Promise.resolve();
  };
  return {
    acquireLease: (request) => Promise.resolve({ lease: { ...request, token: 1 } }),
    renewLease: () => Promise.resolve(true),
    releaseLease: () => record('releaseLease'),
    recoverStaleRuns: () => record('recoverStaleRuns').then(() => []),
    // A full pass has completed before: incremental runs stay incremental.
    readState: () =>
      Promise.resolve({
        resumeCursor: null,
        resumePassRunId: null,
        resumePages: 0,
        lastSuccessAt: new Date(NOW),
        lastFullPassAt: new Date(NOW),
      }),
    startRun: () => Promise.resolve(1),
    planIncremental: () => Promise.resolve({ floor, refreshById: [] }),
    async writePage(_lease, write: PageWrite) {
      events.push(`write ${write.page}`);
      // Long enough for any look-ahead request the engine made to have been issued.
      await new Promise((resolve) => setTimeout(resolve, 10));
      return {
        inserted: write.jobs.length,
        updated: 0,
        unchanged: 0,
        rejected: 0,
        refused: [],
        firstRejected: [],
        historyRows: write.jobs.length,
      };
    },
    discardPass: () => Promise.resolve(),
    setRunMode: () => Promise.resolve(),
    recordNotices: (_lease, _runId, notices) => Promise.resolve([...notices]),
    finishRun: (lease, runId, _passRunId, outcome) =>
      record(`finishRun ${runId} ${outcome.status} token ${lease.token}`).then(() => 0),
    ...overrides,
  };
}

const OPTIONS = { source: 'default', trigger: 'cli', safetyMarginSeconds: 0, leaseSeconds: 30 } as const;

const log = pino({ level: 'silent' });

describe('runSync paging', () => {
  it('asks for the next page of a full pass while the current one is written, one page ahead at most', async () => {
    const events: string[] = [];
    const result = await runSync(
      { store: recordingStore(events, null), api: scriptedApi(events), log },
      { ...OPTIONS, mode: 'full' },
    );
    expect(result).toMatchObject({
      skipped: false,
      status: 'succeeded',
      pages: 5,
      stopReason: 'end_of_list',
    });
    expect(events).toEqual([
      'recoverStaleRuns',
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
      'finishRun 1 succeeded token 1',
    ]);
  });

  it('fetches nothing past the page that ends an incremental run', async () => {
    const events: string[] = [];
    // Page 1 holds jobs 3 to 5 hours old: all older than a floor 2.5 hours back, so it is the last.
    const floor = new Date(NOW - 2.5 * HOUR);
    const result = await runSync(
      { store: recordingStore(events, floor), api: scriptedApi(events), log },
      { ...OPTIONS, mode: 'incremental' },
    );
    expect(result).toMatchObject({
      skipped: false,
      status: 'succeeded',
      pages: 2,
      stopReason: 'below_floor',
    });
    expect(events).toEqual([
      'recoverStaleRuns',
      'request 0',
      'request 1',
      'write 0',
      'write 1',
      'finishRun 1 succeeded token 1',
    ]);
  });
});

describe('runSync and the lease', () => {
  it('stops, failed and writing nothing more, once a renewal finds the lease taken by another run', async () => {
    const events: string[] = [];
    let renewals = 0;
    // Renewed every 10 ms; the third renewal finds the lease gone, long before the first page arrives.
    const store = recordingStore(events, null, { renewLease: () => Promise.resolve((renewals += 1) < 3) });
    const api = scriptedApi(events);
    const slowApi = {
      ...api,
      listJobs: async (cursor: string | null, signal?: AbortSignal) => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        signal?.throwIfAborted();
        return api.listJobs(cursor, signal);
      },
    };
    const result = await runSync(
      { store, api: slowApi, log },
      { ...OPTIONS, mode: 'full', leaseSeconds: 0.03 },
    );
    expect(result).toMatchObject({ skipped: false, status: 'failed', stopReason: 'error', unrecorded: null });
    if (result.skipped) throw new Error('skipped');
    expect(result.error?.message).toMatch(/lost the lease of source "default" to another run/);
    expect(events.filter((e) => e.startsWith('write'))).toEqual([]);
  });

  it('records the end of an earlier run with its lease, unless another run took the source over', async () => {
    const events: string[] = [];
    const lateEnd = {
      lease: { source: 'default', token: 41, holder: 'this:1:aa', seconds: 30 },
      runId: 7,
      outcome: {
        status: 'failed',
        mode: 'full',
        stopReason: 'error',
        error: 'the database did not answer within 70 s',
        fullPassCompleted: false,
        drift: NO_DRIFT,
      },
    } as const;
    expect(await recordLateEnd(recordingStore(events, null), lateEnd, log)).toBe(true);
    expect(events).toEqual(['finishRun 7 failed token 41']);
    const takenOver = recordingStore([], null, {
      finishRun: () => Promise.reject(new LeaseLostError(lateEnd.lease, 'recording the end of run 7')),
    });
    expect(await recordLateEnd(takenOver, lateEnd, log)).toBe(false);
    const stillDown = recordingStore([], null, {
      finishRun: () => Promise.reject(new Error('recording the end of run 7 (connecting): timeout')),
    });
    await expect(recordLateEnd(stillDown, lateEnd, log)).rejects.toThrow('timeout');
  });

  it('says when the end of the run could not be recorded, so that a later run records it', async () => {
    const events: string[] = [];
    const store = recordingStore(events, null, {
      finishRun: () => Promise.reject(new Error('the database did not answer within 70 s')),
    });
    const result = await runSync({ store, api: scriptedApi(events), log }, { ...OPTIONS, mode: 'full' });
    expect(result).toMatchObject({
      skipped: false,
      status: 'failed',
      unrecorded: {
        runId: 1,
        outcome: {
          status: 'failed',
          stopReason: 'error',
          fullPassCompleted: false,
          // The scripted jobs carry five of the reference's fields: the drift of the pages read is kept.
          drift: { jobsWithMissingFields: 15, jobsWithUnknownFields: 0, jobsInLegacyShape: 0 },
        },
      },
    });
    if (result.skipped) throw new Error('skipped');
    expect(result.error?.message).toBe(
      'run 1: its end could not be recorded in the database: the database did not answer within 70 s',
    );
    // finishRun frees the lease; when it fails, the lease lapses by itself rather than by another call.
    expect(events.filter((e) => e.includes('releaseLease'))).toEqual([]);
  });

  it('frees the lease when the database fails before the run is recorded as started', async () => {
    const events: string[] = [];
    const store = recordingStore(events, null, {
      readState: () => Promise.reject(new Error('relation "sutro.sync_state" does not exist')),
    });
    await expect(
      runSync({ store, api: scriptedApi(events), log }, { ...OPTIONS, mode: 'full' }),
    ).rejects.toThrow('does not exist');
    expect(events).toEqual(['recoverStaleRuns', 'releaseLease']);
  });

  it('waits for a held source no longer than asked, and says who holds it', async () => {
    const heldBy = { holder: 'host:9:ab', runId: 4, expiresInSeconds: 12.2 };
    const store = recordingStore([], null, { acquireLease: () => Promise.resolve({ heldBy }) });
    const result = await runSync(
      { store, api: scriptedApi([]), log },
      { ...OPTIONS, mode: 'full', waitSeconds: 1.5 },
    );
    expect(result).toMatchObject({ skipped: true, gaveUpWaiting: true, heldBy });
    if (!result.skipped) throw new Error('not skipped');
    expect(result.reason).toMatch(
      /^another sync of source "default" is in progress \(run 4, held by host:9:ab, its lease expires in 13 s unless renewed\); gave up waiting after [12] s$/,
    );
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
    datetimeCreated: created === null ? null : { text: created, ms: Date.parse(created) },
  });

  it('leaves out the jobs the page before listed, and those without a creation time', () => {
    const page = {
      jobs: [job('a', '2026-11-01T12:10:00Z'), job('b', '2026-11-01T12:05:00Z'), job('c', null)],
    } as unknown as Parameters<typeof newestUnrepeated>[0];
    const previous = (...ids: string[]) => new Set(ids);
    expect(newestUnrepeated(page, previous())).toBe(Date.parse('2026-11-01T12:10:00Z'));
    expect(newestUnrepeated(page, previous('a'))).toBe(Date.parse('2026-11-01T12:05:00Z'));
    expect(newestUnrepeated(page, previous('a', 'b'))).toBeNull();
  });
});
