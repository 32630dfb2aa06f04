import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../src/db/infra/migrate.js';
import { MEASURES } from '../../src/db/schema/rollup-measures.js';
import { rebuildSql } from '../../src/db/store/rollups.js';
import { inTransaction } from '../../src/db/infra/transaction.js';
import { parseJob, type Job } from '../../src/sutro/job.js';
import { NO_DRIFT } from '../../src/sync/drift.js';
import type { Lease } from '../../src/sync/port.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { DEFAULT_LIMITS } from '../helpers/limits.js';

/**
 * The rollups the sync keeps by difference (src/db/store/rollups.ts) equal the rollups computed from the
 * jobs, after every round of random changes: new jobs, status changes, late costs and tokens,
 * revised models and creation times, jobs a full pass no longer lists and jobs that come back.
 */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'succeeded'];
const MODELS = ['llama-3.1-8b', 'qwen-3-32b', '', null];
const DAYS = ['2026-11-29', '2026-11-30', '2026-12-01'];

/** A job of the pool in one of its possible states, as the API would list it. */
const apiJob = (id: number) =>
  fc.record({
    job_id: fc.constant(`job-${id}`),
    status: fc.constantFrom(...STATUSES),
    model: fc.constantFrom(...MODELS),
    datetime_created: fc.option(
      fc
        .tuple(fc.constantFrom(...DAYS), fc.integer({ min: 0, max: 86_399 }))
        .map(([day, s]) => new Date(Date.parse(`${day}T00:00:00Z`) + s * 1000).toISOString()),
    ),
    datetime_started: fc.option(fc.constantFrom('2026-12-01T10:00:00.123456Z', '2026-11-30T23:59:59Z')),
    datetime_completed: fc.option(
      fc.constantFrom('2026-12-01T10:00:00.5Z', '2026-12-01T10:07:31.25Z', '2026-12-01T13:00:00Z'),
    ),
    input_tokens: fc.option(
      fc.oneof(fc.integer({ min: 0, max: 5_000_000 }), fc.constant('9007199254740993')),
    ),
    output_tokens: fc.option(fc.integer({ min: 0, max: 900_000 })),
    num_rows: fc.option(fc.integer({ min: 0, max: 10_000 })),
    job_cost: fc.option(fc.constantFrom('0.0001', '1.23', 0.5, '12.345678901')),
    cost_estimate: fc.option(fc.constantFrom('0.01', '2', 0.75)),
  });

/** One run: some jobs of the pool listed in their new state, on one or two pages; maybe a full pass. */
const round = fc.record({
  listed: fc
    .uniqueArray(fc.integer({ min: 0, max: 11 }), { maxLength: 12 })
    .chain((ids) => fc.tuple(...ids.map((id) => apiJob(id)))),
  split: fc.nat(12),
  fullPass: fc.boolean(),
});

function job(raw: unknown): Job {
  const parsed = parseJob(raw);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.job;
}

async function takeLease(source: string): Promise<Lease> {
  const taken = await db.store.acquireLease({ source, holder: 'rollups-test:1:aa', seconds: 600 });
  if (!('lease' in taken)) throw new Error(`the lease of ${source} is held`);
  return taken.lease;
}

type Round = typeof round extends fc.Arbitrary<infer T> ? T : never;
type RoundJob = Round['listed'][number];

async function runRound(source: string, spec: Round) {
  const lease = await takeLease(source);
  const mode = spec.fullPass ? 'full' : 'incremental';
  const runId = await db.store.startRun(lease, {
    mode,
    requestedMode: mode,
    trigger: 'cli',
    resumedFromRunId: null,
    floor: null,
    dueAt: null,
  });
  const jobs = spec.listed.map(job);
  const pages = [jobs.slice(0, spec.split), jobs.slice(spec.split)].filter((p) => p.length > 0);
  for (const [page, pageJobs] of pages.entries()) {
    await db.store.writePage(lease, {
      runId,
      page,
      jobs: pageJobs,
      rejected: [],
      listed: pageJobs.length,
      pass: spec.fullPass ? { runId, nextCursor: page === pages.length - 1 ? null : `c${page + 1}` } : null,
    });
  }
  await db.store.finishRun(lease, runId, spec.fullPass ? runId : null, {
    status: 'succeeded',
    mode,
    stopReason: 'end_of_list',
    error: null,
    fullPassCompleted: spec.fullPass,
    drift: NO_DRIFT,
  });
}

/** Numerics compared by value: a sum kept by difference can carry a scale its rebuild has not (0.00, 0). */
const USAGE = `SELECT day::text, coalesce(model, '<null>') AS model, status, ${Object.keys(MEASURES)
  .map((m) => `trim_scale(${m})::text AS ${m}`)
  .join(', ')}
    FROM sutro.usage_rollup WHERE source = $1 AND jobs <> 0
   ORDER BY 1, 2, 3`;
const RUN_TIME = `SELECT coalesce(model, '<null>') AS model, bucket, jobs::text FROM sutro.run_time_rollup
   WHERE source = $1 AND jobs <> 0 ORDER BY 1, 2`;

/** The rollups as kept, and as computed from the jobs (in a transaction rolled back). */
async function keptAndRebuilt(source: string) {
  const read = async (client: { query: typeof db.pool.query }) => ({
    usage: (await client.query(USAGE, [source])).rows,
    runTime: (await client.query(RUN_TIME, [source])).rows,
  });
  const kept = await read(db.pool);
  const rebuilt = await inTransaction(
    db.pool,
    { what: 'rebuilding the rollups', limits: DEFAULT_LIMITS, rollback: true },
    async (client) => {
      await client.query('DELETE FROM sutro.usage_rollup WHERE source = $1', [source]);
      await client.query('DELETE FROM sutro.run_time_rollup WHERE source = $1', [source]);
      const { usage, runTime } = rebuildSql('source');
      await client.query(usage, [source]);
      await client.query(runTime, [source]);
      return read(client);
    },
  );
  return { kept, rebuilt };
}

describe('the rollups', () => {
  it('equal their rebuild from the jobs after every round of random changes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(round, { minLength: 1, maxLength: 6 }), async (rounds) => {
        const source = `rollups-${randomBytes(4).toString('hex')}`;
        for (const [n, spec] of rounds.entries()) {
          await runRound(source, spec);
          const { kept, rebuilt } = await keptAndRebuilt(source);
          expect(kept, `after round ${n + 1}`).toEqual(rebuilt);
        }
        const { rows } = await db.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1',
          [source],
        );
        const total = await db.pool.query<{ n: number }>(
          'SELECT coalesce(sum(jobs), 0)::int AS n FROM sutro.usage_rollup WHERE source = $1',
          [source],
        );
        expect(total.rows[0]?.n).toBe(rows[0]?.n);
      }),
      { numRuns: 40 },
    );
  }, 240_000);

  it('are filled from the stored jobs by migration 0006, with the statements rebuildSql writes', () => {
    const migration = readFileSync(`${MIGRATIONS_FOLDER}/0006_rollups_kept_by_the_sync.sql`, 'utf8');
    const { usage, runTime } = rebuildSql('all');
    expect(migration).toContain(`${usage};`);
    expect(migration).toContain(`${runTime};`);
  });

  it('are refilled by migration 0008, which changed the buckets, with the statement rebuildSql writes', () => {
    const migration = readFileSync(`${MIGRATIONS_FOLDER}/0008_run_time_bucket_in_float8.sql`, 'utf8');
    expect(migration).toContain('DELETE FROM sutro.run_time_rollup;');
    expect(migration).toContain(`${rebuildSql('all').runTime};`);
  });

  it('are rebuilt by `sutro-sync rebuild-rollups`, which says what it did', async () => {
    const source = `rollups-cli-${randomBytes(3).toString('hex')}`;
    await runRound(source, {
      listed: [0, 1, 2].map((id): RoundJob => ({
        job_id: `job-${id}`,
        status: 'SUCCEEDED',
        model: 'qwen-3-32b',
        datetime_created: '2026-12-01T08:00:00Z',
        datetime_started: '2026-12-01T10:00:00.123456Z',
        datetime_completed: '2026-12-01T13:00:00Z',
        input_tokens: 10,
        output_tokens: 5,
        num_rows: 1,
        job_cost: '0.25',
        cost_estimate: '0.2',
      })),
      split: 3,
      fullPass: false,
    });
    await db.pool.query('DELETE FROM sutro.usage_rollup WHERE source = $1', [source]);
    const result = await runCli(['rebuild-rollups', '--source', source], { DATABASE_URL: db.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^rebuilt the rollups of source "${source}": 3 jobs in 1 groups`),
    );
    const { kept, rebuilt } = await keptAndRebuilt(source);
    expect(kept).toEqual(rebuilt);
    expect(kept.usage).toHaveLength(1);
  });

  it('wait for a run of the source in progress, and give up after --wait', async () => {
    const source = `rollups-held-${randomBytes(3).toString('hex')}`;
    await takeLease(source);
    const result = await runCli(['rebuild-rollups', '--source', source, '--wait', '1'], {
      DATABASE_URL: db.url,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`rollups not rebuilt: another sync of source "${source}" is in progress`);
  });
});
