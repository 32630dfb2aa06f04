import { NO_DRIFT } from '../../src/sync/drift.js';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Lease, PageWrite, RunOutcome } from '../../src/sync/port.js';
import { parseJob, type Job } from '../../src/sutro/job.js';
import { createSyncStore } from '../../src/db/store/store.js';
import type { DatabaseLimits } from '../../src/db/infra/errors.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/** The store's test fixture: what test/integration/store-*.test.ts share. */

export const SOURCE = 'store-test';

export function apiJob(id: string, patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    job_id: id,
    status: 'RUNNING',
    model: 'llama-3.1-8b',
    system_prompt: null,
    job_priority: 0,
    datetime_created: '2026-10-01T10:00:00Z',
    datetime_started: '2026-10-01T10:01:00Z',
    datetime_completed: null,
    json_schema: null,
    sampling_params: { temperature: 0.2 },
    name: 'eval-nightly',
    description: null,
    dataset_id: 'ds_1',
    input_tokens: null,
    output_tokens: null,
    job_cost: null,
    num_rows: 10,
    failure_reason: null,
    cost_estimate: '0.50',
    ...patch,
  };
}

export function job(raw: Record<string, unknown>): Job {
  const parsed = parseJob(raw);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.job;
}

/** The lease of SOURCE, taken afresh before each test and after each finished run (which frees it). */
export let lease: Lease;

export async function takeLease(
  source = SOURCE,
  holder = 'store-test:1:aa',
  seconds = 3_600,
): Promise<Lease> {
  const taken = await db.store.acquireLease({ source, holder, seconds });
  if (!('lease' in taken)) throw new Error(`the lease of ${source} is held`);
  return taken.lease;
}

export const createSyncStoreWith = (limits: DatabaseLimits) => createSyncStore(db.withLimits(limits));

/** The store's writes, with the current lease. */
export const store = {
  writePage: (write: PageWrite) => db.store.writePage(lease, write),
  recoverStaleRuns: () => db.store.recoverStaleRuns(lease),
  async finishRun(runId: number, passRunId: number | null, outcome: RunOutcome): Promise<number> {
    const marked = await db.store.finishRun(lease, runId, passRunId, outcome);
    lease = await takeLease();
    return marked;
  },
};

export async function newRun(mode: 'incremental' | 'full' = 'incremental'): Promise<number> {
  return db.store.startRun(lease, {
    mode,
    requestedMode: mode,
    trigger: 'cli',
    resumedFromRunId: null,
    floor: null,
    dueAt: null,
  });
}

/** Stores jobs through a finished incremental run, so that a later full pass finds them stored. */
export async function storeEarlier(ids: string[]): Promise<void> {
  const runId = await newRun();
  await store.writePage(
    page(
      runId,
      ids.map((id) => job(apiJob(id))),
    ),
  );
  await store.finishRun(runId, null, {
    status: 'succeeded',
    mode: 'incremental',
    stopReason: 'below_floor',
    error: null,
    fullPassCompleted: false,
    drift: NO_DRIFT,
  });
}

export function page(runId: number, jobs: Job[], extra: Partial<PageWrite> = {}): PageWrite {
  return { runId, page: 0, jobs, rejected: [], listed: jobs.length, pass: null, ...extra };
}

export async function count(sql: string, values: unknown[] = []): Promise<number> {
  const result = await db.pool.query<{ n: number }>(sql, values);
  return result.rows[0]?.n ?? -1;
}

/**
 * A database of its own for the file, emptied before each test, with SOURCE's lease taken afresh.
 * The helpers above read `db` and `lease` as they are at the time of the call.
 */
export let db: TestDatabase;

export function useStoreDatabase(): void {
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });
  beforeEach(async () => {
    await db.pool.query(
      'TRUNCATE sutro.jobs, sutro.job_history, sutro.sync_runs, sutro.sync_state, sutro.rejected_jobs, sutro.full_pass_seen, sutro.sync_leases',
    );
    lease = await takeLease();
  });
}
