import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { grantReader, UnknownRoleError } from '../../src/db/infra/grants.js';
import { MIGRATIONS_FOLDER } from '../../src/db/infra/migrate.js';
import { SUTRO_TABLES } from '../../src/db/read/setup-facts.js';
import { BACKFILL_PREVIOUS_STATUS_CHANGED_AT } from '../../src/db/schema/status-transitions.js';
import {
  SimulatedAccount,
  startSimulator,
  type ApiJob,
  type RunningSimulator,
} from '../../src/simulator/index.js';
import { runSync } from '../../src/sync/engine.js';
import type { SyncResult } from '../../src/sync/vocabulary.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, silentLog, type TestDatabase } from '../helpers/database.js';
import { LEASE_SECONDS } from '../helpers/limits.js';
import { testApi } from '../helpers/sync.js';

/**
 * The analytics views, the docs' example queries, the reader role and `report`, all checked against
 * a database synced from the simulator. Every expected figure is computed here from the simulator's
 * own JSON (never from sutro-sync's parser), money and tokens as exact integers.
 *
 * Longer than the other files on purpose: every check here reads the one database the setup below
 * builds (three syncs of 3,000 jobs, a failed run between them, jobs leaving the API's window) and
 * the truth computed beside it; cut in four, each file would rebuild both.
 */

const KEY = 'sk_test_analytics';
const SOURCE = 'analytics';
const DAY_MS = 86_400_000;
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const DOCS = readFileSync(new URL('../../docs/analytics.md', import.meta.url), 'utf8');
const VIEWS = ['job_facts', 'daily_usage', 'model_usage', 'job_status_changes', 'sync_health'] as const;

/** A decimal as an integer count of 10^-scale units: exact, unlike a float. */
function units(value: string | number | null | undefined, scale: number): bigint | null {
  if (value === null || value === undefined) return null;
  const text = typeof value === 'number' ? String(value) : value.trim();
  const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(text);
  const fraction = match?.[3] ?? '';
  if (!match || fraction.replace(/0+$/, '').length > scale)
    throw new Error(`not exact at ${scale} decimals: ${text}`);
  const magnitude = BigInt(`${match[2] || '0'}${fraction.padEnd(scale, '0').slice(0, scale)}`);
  return match[1] === '-' ? -magnitude : magnitude;
}
const nanoUsd = (value: string | number | null | undefined) => units(value, 9);
const micro = (value: string | number | null | undefined) => units(value, 6);

interface TruthJob {
  readonly id: string;
  readonly status: string;
  readonly model: string | null;
  readonly name: string | null;
  readonly created: number | null;
  readonly started: number | null;
  readonly completed: number | null;
  readonly inputTokens: bigint | null;
  readonly outputTokens: bigint | null;
  readonly numRows: bigint | null;
  /** USD in units of 10^-9. */
  readonly cost: bigint | null;
  readonly estimate: bigint | null;
  readonly failureMessage: string | null;
}

function truthOf(raw: ApiJob): TruthJob {
  const time = (v: unknown) => (typeof v === 'string' && v !== '' ? Date.parse(v) : null);
  const count = (v: unknown) =>
    typeof v === 'number' || typeof v === 'string' ? BigInt(String(v).trim()) : null;
  const money = (v: unknown) => (typeof v === 'number' || typeof v === 'string' ? nanoUsd(v) : null);
  const failure = raw.failure_reason as { message?: string } | null | undefined;
  return {
    id: raw.job_id,
    status: String(raw.status).trim().toUpperCase(),
    model: typeof raw.model === 'string' ? raw.model : null,
    name: typeof raw.name === 'string' ? raw.name : null,
    created: time(raw.datetime_created),
    started: time(raw.datetime_started),
    completed: time(raw.datetime_completed),
    inputTokens: count(raw.input_tokens),
    outputTokens: count(raw.output_tokens),
    numRows: count(raw.num_rows),
    cost: money(raw.job_cost),
    estimate: money(raw.cost_estimate),
    failureMessage: failure?.message ?? null,
  };
}

const utcDay = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().slice(0, 10));
const utcMonth = (ms: number | null) => (ms === null ? null : `${new Date(ms).toISOString().slice(0, 7)}-01`);
const totalTokens = (j: TruthJob) =>
  j.inputTokens === null && j.outputTokens === null ? null : (j.inputTokens ?? 0n) + (j.outputTokens ?? 0n);
const runMs = (j: TruthJob) => (j.started !== null && j.completed !== null ? j.completed - j.started : null);
const isSettled = (j: TruthJob) =>
  TERMINAL.has(j.status) && (j.status !== 'SUCCEEDED' || (j.cost !== null && j.completed !== null));

function sum(values: readonly (bigint | null)[]): bigint {
  return values.reduce<bigint>((a, b) => a + (b ?? 0n), 0n);
}

/** Linear interpolation between the closest ranks, as percentile_cont does. */
function percentile(sorted: readonly number[], p: number): number {
  const position = p * (sorted.length - 1);
  const low = sorted[Math.floor(position)] ?? Number.NaN;
  const high = sorted[Math.ceil(position)] ?? Number.NaN;
  return low + (high - low) * (position - Math.floor(position));
}

/**
 * model_usage's percentiles are estimated from run-time buckets 2^(1/8) wide (src/db/schema/rollup-measures.ts):
 * the estimate lies in the bucket of the rank below, the exact figure between that job and the next,
 * so at most two buckets' width apart; under a second, bucket 0 is a second wide.
 */
function expectWithinBuckets(estimate: number, exact: number): void {
  if (exact < 1) expect(Math.abs(estimate - exact)).toBeLessThan(1 + 2 ** (1 / 4));
  else expect(Math.abs(Math.log2(estimate / exact))).toBeLessThanOrEqual(1 / 4);
}

function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

let db: TestDatabase;
let sim: RunningSimulator;
/** Every job the database should hold, as last listed; jobs the API dropped keep their last state. */
const known = new Map<string, TruthJob>();
/** Each job's state at each successful sync that listed it: the history the database recorded. */
const timeline = new Map<string, TruthJob[]>();
let listed = new Set<string>();
let dropped: string[] = [];
const runs: Extract<SyncResult, { skipped: false }>[] = [];
let healthAfterFailure: Record<string, unknown> | undefined;
let failedRunId: number;
let jobsAfterFirstSync: number;
/** Roles belong to the whole server, not to the test's database: dropped at the end. */
const roles: string[] = [];

async function sync(): Promise<Extract<SyncResult, { skipped: false }>> {
  const api = testApi(sim, 100, KEY);
  const result = await runSync(
    { store: db.store, api, log: silentLog },
    { source: SOURCE, mode: 'full', trigger: 'cli', safetyMarginSeconds: 600, leaseSeconds: LEASE_SECONDS },
  );
  if (result.skipped) throw new Error(result.reason);
  return result;
}

/** What the API lists now becomes the truth the database must match after a successful sync. */
function observe(): void {
  listed = new Set();
  for (const raw of sim.account.snapshot()) {
    if (typeof raw.job_id !== 'string') continue; // the malformed row, which is rejected
    const job = truthOf(raw);
    known.set(job.id, job);
    listed.add(job.id);
    timeline.set(job.id, [...(timeline.get(job.id) ?? []), job]);
  }
}

async function rows<T extends object>(sql: string, values: unknown[] = []): Promise<T[]> {
  return (await db.pool.query<T & pg.QueryResultRow>(sql, values)).rows;
}

beforeAll(async () => {
  db = await createTestDatabase();
  // The API's clock three days ago, so that after the advances below its jobs lie in the recent past.
  const account = new SimulatedAccount({
    jobs: 3_000,
    seed: 4242,
    days: 200,
    retentionDays: 200,
    quirks: true,
    now: new Date(Math.floor(Date.now() / 1000) * 1000 - 3 * DAY_MS),
  });
  account.insertRaw(5, { status: 'RUNNING', model: 'llama-3.1-8b' });
  sim = await startSimulator({ account, apiKey: KEY, port: 0 });

  runs.push(await sync());
  observe();
  jobsAfterFirstSync = known.size;

  sim.faults.add({ kind: 'status', status: 401 }, 1);
  const failed = await sync();
  expect(failed.status).toBe('failed');
  failedRunId = failed.runId;
  [healthAfterFailure] = await rows<Record<string, unknown>>(
    'SELECT * FROM sutro.sync_health WHERE source = $1',
    [SOURCE],
  );

  // Two days: jobs progress, new ones arrive, the oldest leave the API's 200-day window.
  dropped = sim.account.advance({ seconds: 2 * 86_400, newJobs: 20 }).dropped;
  runs.push(await sync());
  observe();
  dropped.push(...sim.account.advance({ seconds: 3_600, newJobs: 5 }).dropped);
  runs.push(await sync());
  observe();
  for (const run of runs) expect(run).toMatchObject({ status: 'succeeded', mode: 'full' });
  expect(dropped.length).toBeGreaterThan(0);
});

afterAll(async () => {
  await sim.close();
  await db.drop();
  // Only now that the database holding their grants is gone can the roles be dropped.
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  await admin.end();
});

describe('the views equal figures computed from the simulator', () => {
  it('stores every job the simulator listed', async () => {
    const [stored] = await rows<{ n: number }>(
      'SELECT count(*)::int AS n FROM sutro.jobs WHERE source = $1',
      [SOURCE],
    );
    expect(stored?.n).toBe(known.size);
  });

  it('daily_usage: jobs, rows, tokens and cost per UTC day, model and status, exactly', async () => {
    const actual = await rows<Record<string, string | null>>(
      `SELECT day::text, model, status, jobs::text, num_rows::text, input_tokens::text, output_tokens::text,
              total_tokens::text, cost_usd::text, cost_estimate_usd::text, jobs_with_cost::text
         FROM sutro.daily_usage WHERE source = $1`,
      [SOURCE],
    );
    const normalize = (r: Record<string, string | null>) => ({
      ...r,
      day: r.day ?? null,
      model: r.model ?? null,
      status: r.status ?? null,
      cost_usd: nanoUsd(r.cost_usd),
      cost_estimate_usd: nanoUsd(r.cost_estimate_usd),
    });
    const expected = [
      ...groupBy(known.values(), (j) => `${utcDay(j.created)}|${j.model}|${j.status}`).values(),
    ].map((jobs) => {
      const first = jobs[0] as TruthJob;
      return {
        day: utcDay(first.created),
        model: first.model,
        status: first.status,
        jobs: String(jobs.length),
        num_rows: String(sum(jobs.map((j) => j.numRows))),
        input_tokens: String(sum(jobs.map((j) => j.inputTokens))),
        output_tokens: String(sum(jobs.map((j) => j.outputTokens))),
        total_tokens: String(sum(jobs.map(totalTokens))),
        cost_usd: sum(jobs.map((j) => j.cost)),
        cost_estimate_usd: sum(jobs.map((j) => j.estimate)),
        jobs_with_cost: String(jobs.filter((j) => j.cost !== null).length),
      };
    });
    const order = (a: { day: string | null; model: string | null; status: string | null }) =>
      `${a.day}|${a.model}|${a.status}`;
    expect(actual.map(normalize).sort((a, b) => order(a).localeCompare(order(b)))).toEqual(
      expected.sort((a, b) => order(a).localeCompare(order(b))),
    );

    const [totals] = await rows<{ cost: string; tokens: string }>(
      `SELECT sum(cost_usd)::text AS cost, sum(total_tokens)::text AS tokens FROM sutro.daily_usage WHERE source = $1`,
      [SOURCE],
    );
    const truthCost = sum([...known.values()].map((j) => j.cost));
    expect(nanoUsd(totals?.cost)).toBe(truthCost);
    expect(BigInt(totals?.tokens ?? -1)).toBe(sum([...known.values()].map(totalTokens)));
    // The quirky account has a job of 3,000,000,000 input tokens: more than an int4 holds.
    expect([...known.values()].some((j) => (j.inputTokens ?? 0n) > 2n ** 31n)).toBe(true);
  });

  it('model_usage: counts, failure rate, totals, averages, run-time percentiles and first and last job per model', async () => {
    const actual = await rows<Record<string, string | null>>(
      `SELECT model, jobs::text, succeeded_jobs::text, failed_jobs::text, cancelled_jobs::text, unfinished_jobs::text,
              failure_rate::text, input_tokens::text, output_tokens::text, total_tokens::text, cost_usd::text,
              cost_estimate_usd::text, avg_cost_usd::text, cost_per_million_tokens::text, avg_queue_seconds::text,
              avg_run_seconds::text, median_run_seconds::text, p95_run_seconds::text,
              (extract(epoch FROM first_job_created_at) * 1000)::bigint::text AS first_created_ms,
              (extract(epoch FROM last_job_created_at) * 1000)::bigint::text AS last_created_ms
         FROM sutro.model_usage WHERE source = $1 ORDER BY model`,
      [SOURCE],
    );
    const byModel = groupBy(known.values(), (j) => String(j.model));
    expect(actual.map((r) => r.model)).toEqual([...byModel.keys()].sort());
    for (const row of actual) {
      const jobs = byModel.get(String(row.model)) ?? [];
      const withStatus = (s: string) => jobs.filter((j) => j.status === s).length;
      const finished = jobs.filter((j) => TERMINAL.has(j.status)).length;
      const costed = jobs.filter((j) => j.cost !== null);
      const succeededRuns = jobs
        .filter((j) => j.status === 'SUCCEEDED' && runMs(j) !== null)
        .map((j) => (runMs(j) ?? 0) / 1000)
        .sort((a, b) => a - b);
      const queues = jobs.flatMap((j) =>
        j.created !== null && j.started !== null ? [(j.started - j.created) / 1000] : [],
      );
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const createdTimes = jobs.flatMap((j) => (j.created === null ? [] : [j.created]));
      expect(row).toMatchObject({
        first_created_ms: String(Math.min(...createdTimes)),
        last_created_ms: String(Math.max(...createdTimes)),
        jobs: String(jobs.length),
        succeeded_jobs: String(withStatus('SUCCEEDED')),
        failed_jobs: String(withStatus('FAILED')),
        cancelled_jobs: String(withStatus('CANCELLED')),
        unfinished_jobs: String(jobs.length - finished),
        input_tokens: String(sum(jobs.map((j) => j.inputTokens))),
        output_tokens: String(sum(jobs.map((j) => j.outputTokens))),
        total_tokens: String(sum(jobs.map(totalTokens))),
      });
      expect(nanoUsd(row.cost_usd)).toBe(sum(jobs.map((j) => j.cost)));
      expect(nanoUsd(row.cost_estimate_usd)).toBe(sum(jobs.map((j) => j.estimate)));
      expect(Number(row.failure_rate)).toBeCloseTo(withStatus('FAILED') / finished, 12);
      expect(Number(row.avg_cost_usd)).toBeCloseTo(
        Number(sum(costed.map((j) => j.cost))) / 1e9 / costed.length,
        9,
      );
      expect(Number(row.cost_per_million_tokens)).toBeCloseTo(
        (Number(sum(costed.map((j) => j.cost))) / 1e9) * (1e6 / Number(sum(costed.map(totalTokens)))),
        9,
      );
      expect(Number(row.avg_queue_seconds)).toBeCloseTo(mean(queues), 5);
      expect(Number(row.avg_run_seconds)).toBeCloseTo(mean(succeededRuns), 5);
      expectWithinBuckets(Number(row.median_run_seconds), percentile(succeededRuns, 0.5));
      expectWithinBuckets(Number(row.p95_run_seconds), percentile(succeededRuns, 0.95));
    }
  });

  it('job_facts: the derived figures of every job', async () => {
    const [state] = await rows<{ last_full_pass_at: Date }>(
      'SELECT last_full_pass_at FROM sutro.sync_state WHERE source = $1',
      [SOURCE],
    );
    const facts = await rows<Record<string, string | boolean | Date | null>>(
      `SELECT job_id, day::text, queue_seconds::text, run_seconds::text, total_tokens::text, job_cost::text,
              cost_per_million_tokens::text, estimate_error::text, estimate_error_ratio::text,
              terminal, settled, still_listed, missing_since, last_seen_at, last_changed_at
         FROM sutro.job_facts WHERE source = $1`,
      [SOURCE],
    );
    expect(facts).toHaveLength(known.size);
    const seconds = (text: unknown) => (text === null ? null : Math.round(Number(text) * 1000));
    for (const fact of facts) {
      const job = known.get(String(fact.job_id));
      if (job === undefined)
        throw new Error(`job_facts has a job the API never listed: ${String(fact.job_id)}`);
      const tokens = totalTokens(job);
      expect({
        job_id: fact.job_id,
        day: fact.day,
        queue_ms: seconds(fact.queue_seconds),
        run_ms: seconds(fact.run_seconds),
        total_tokens: fact.total_tokens,
        estimate_error: nanoUsd(fact.estimate_error as string | null),
        terminal: fact.terminal,
        settled: fact.settled,
        still_listed: fact.still_listed,
      }).toEqual({
        job_id: job.id,
        day: utcDay(job.created),
        queue_ms: job.created !== null && job.started !== null ? job.started - job.created : null,
        run_ms: runMs(job),
        total_tokens: tokens === null ? null : String(tokens),
        estimate_error: job.cost !== null && job.estimate !== null ? job.cost - job.estimate : null,
        terminal: TERMINAL.has(job.status),
        settled: isSettled(job),
        still_listed: listed.has(job.id),
      });
      if (job.cost !== null && tokens !== null && tokens > 0n) {
        expect(Number(fact.cost_per_million_tokens)).toBeCloseTo(
          (Number(job.cost) / 1e9) * (1e6 / Number(tokens)),
          9,
        );
      } else {
        expect(fact.cost_per_million_tokens).toBeNull();
      }
      if (job.cost !== null && job.estimate !== null && job.estimate > 0n) {
        expect(Number(fact.estimate_error_ratio)).toBeCloseTo(
          Number(job.cost - job.estimate) / Number(job.estimate),
          12,
        );
      }
      if (listed.has(job.id)) {
        expect(fact.missing_since).toBeNull();
        expect((fact.last_seen_at as Date).getTime()).toBeGreaterThanOrEqual(
          state?.last_full_pass_at.getTime() ?? Infinity,
        );
      } else {
        expect(fact.last_seen_at).toEqual(fact.last_changed_at);
        expect((fact.last_seen_at as Date).getTime()).toBeLessThan((fact.missing_since as Date).getTime());
      }
    }
    expect(
      facts
        .filter((f) => f.still_listed === false)
        .map((f) => f.job_id)
        .sort(),
    ).toEqual([...dropped].sort());
  });

  it('job_status_changes: each transition with its time and the seconds spent in the status before', async () => {
    const actual = await rows<{
      job_id: string;
      from_status: string | null;
      to_status: string;
      time_source: string;
      changed_us: string;
      observed_us: string;
      seconds_in_previous_status: string | null;
    }>(
      `SELECT job_id, from_status, to_status, time_source,
              (extract(epoch FROM changed_at) * 1000000)::bigint::text AS changed_us,
              (extract(epoch FROM observed_at) * 1000000)::bigint::text AS observed_us,
              seconds_in_previous_status::text
         FROM sutro.job_status_changes WHERE source = $1 ORDER BY job_id, history_id`,
      [SOURCE],
    );
    const byJob = groupBy(actual, (r) => r.job_id);
    expect([...byJob.keys()].sort()).toEqual([...timeline.keys()].sort());
    let transitions = 0;
    for (const [jobId, states] of timeline) {
      const expected: { from: string | null; state: TruthJob; first: boolean }[] = [];
      for (const state of states) {
        const previous = expected.at(-1)?.state;
        if (previous === undefined || previous.status !== state.status) {
          expected.push({ from: previous?.status ?? null, state, first: previous === undefined });
        }
      }
      const got = byJob.get(jobId) ?? [];
      expect(got.map((r) => [r.from_status, r.to_status])).toEqual(
        expected.map((e) => [e.from, e.state.status]),
      );
      let previousUs: bigint | null = null;
      got.forEach((row, i) => {
        const { state, first } = expected[i] as (typeof expected)[number];
        const [source, ms] =
          TERMINAL.has(state.status) && state.completed !== null
            ? ['datetime_completed', state.completed]
            : state.status === 'RUNNING' && state.started !== null
              ? ['datetime_started', state.started]
              : first && state.created !== null
                ? ['datetime_created', state.created]
                : ['observed_at', null];
        const changedUs = ms === null ? BigInt(row.observed_us) : BigInt(ms) * 1000n;
        expect(row.time_source).toBe(source);
        expect(BigInt(row.changed_us)).toBe(changedUs);
        expect(micro(row.seconds_in_previous_status)).toBe(
          previousUs === null ? null : changedUs > previousUs ? changedUs - previousUs : 0n,
        );
        previousUs = changedUs;
      });
      transitions += got.length - 1;
    }
    // The advances moved jobs along: queued or running, then finished.
    expect(transitions).toBeGreaterThanOrEqual(5);
    expect(actual.some((r) => r.from_status === 'RUNNING' && r.time_source === 'datetime_completed')).toBe(
      true,
    );
    expect(actual.some((r) => r.to_status === 'RUNNING' && r.time_source === 'datetime_started')).toBe(true);
  });

  it('job_status_changes: migration 0010 gives the history written before it the times the sync now stores', async () => {
    const migration = readFileSync(`${MIGRATIONS_FOLDER}/0010_status_changes_without_a_search.sql`, 'utf8');
    expect(migration).toContain(`${BACKFILL_PREVIOUS_STATUS_CHANGED_AT};`);
    const stored = `SELECT id, previous_status_changed_at::text AS at FROM sutro.job_history
                     WHERE source = $1 ORDER BY id`;
    const written = await rows<{ id: string; at: string | null }>(stored, [SOURCE]);
    expect(written.filter((r) => r.at !== null).length).toBeGreaterThanOrEqual(5);
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('UPDATE sutro.job_history SET previous_status_changed_at = NULL WHERE source = $1', [
        SOURCE,
      ]);
      await client.query(BACKFILL_PREVIOUS_STATUS_CHANGED_AT);
      expect((await client.query(stored, [SOURCE])).rows).toEqual(written);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('sync_health: the last success and its age, the last error, job and rejected rows', async () => {
    expect(healthAfterFailure).toMatchObject({
      source: SOURCE,
      last_success_run_id: runs[0]?.runId,
      last_run_id: failedRunId,
      last_run_status: 'failed',
      jobs: jobsAfterFirstSync,
      rejected_rows: 1,
    });
    expect(String(healthAfterFailure?.last_error)).toMatch(/401/);
    expect(healthAfterFailure?.last_error_at).toBeInstanceOf(Date);

    const last = runs.at(-1);
    const [finished] = await rows<{ finished_us: string }>(
      `SELECT (extract(epoch FROM finished_at) * 1000000)::bigint::text AS finished_us FROM sutro.sync_runs WHERE id = $1`,
      [last?.runId],
    );
    const [health] = await rows<Record<string, unknown>>(
      `SELECT *, (extract(epoch FROM last_success_at) * 1000000)::bigint::text AS success_us,
              (extract(epoch FROM last_full_pass_at) * 1000000)::bigint::text AS full_pass_us
         FROM sutro.sync_health WHERE source = $1`,
      [SOURCE],
    );
    const jobs = [...known.values()];
    expect(health).toMatchObject({
      last_success_run_id: last?.runId,
      success_us: finished?.finished_us,
      full_pass_us: finished?.finished_us,
      last_run_id: last?.runId,
      last_run_status: 'succeeded',
      last_error: null,
      full_pass_unfinished: false,
      jobs: known.size,
      listed_jobs: listed.size,
      missing_jobs: dropped.length,
      unsettled_jobs: jobs.filter((j) => !isSettled(j)).length,
      rejected_rows: 1,
      newest_job_created_at: new Date(
        Math.max(...jobs.flatMap((j) => (j.created === null ? [] : [j.created]))),
      ),
    });
    expect(health?.last_error_at).toEqual(healthAfterFailure?.last_error_at);
    const age = Number(health?.seconds_since_last_success);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(120);
  });

  it('the aggregate views read the rollups, never every job; the costliest jobs are a probe per day', async () => {
    const plan = async (sql: string, values: unknown[] = []) =>
      (await db.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values)).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    for (const where of [`source = '${SOURCE}' AND day >= current_date - 29`, 'day >= current_date - 29']) {
      const text = await plan(
        `SELECT day, model, sum(jobs), sum(total_tokens), sum(cost_usd) FROM sutro.daily_usage WHERE ${where} GROUP BY 1, 2`,
      );
      expect(text).toContain('usage_rollup');
      expect(text, where).not.toMatch(/\bon jobs\b/);
    }
    // model_usage and sync_health touch jobs only through an index, a probe per model or source.
    for (const view of ['model_usage', 'sync_health']) {
      const text = await plan(`SELECT * FROM sutro.${view}`);
      expect(text, view).not.toMatch(/Seq Scan on jobs\b/);
    }
    // The report's costliest jobs: one index probe per day of the period, never a sort of its jobs.
    const top = await plan(
      `SELECT * FROM generate_series(0, 29) n CROSS JOIN LATERAL (
         SELECT job_id FROM sutro.job_facts WHERE source = $1 AND day = current_date - 29 + n AND job_cost IS NOT NULL
          ORDER BY job_cost DESC NULLS LAST, job_id LIMIT 10) f`,
      [SOURCE],
    );
    expect(top).toContain('jobs_day_cost_idx');
  });

  it('comments every view and every column of it', async () => {
    const undocumented = await rows<{ relname: string; attname: string | null }>(
      `SELECT c.relname, a.attname
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'sutro' AND c.relkind = 'v'
          AND (obj_description(c.oid, 'pg_class') IS NULL OR col_description(c.oid, a.attnum) IS NULL)`,
    );
    expect(undocumented).toEqual([]);
  });
});

/** The headings and SQL of the docs' ```sql blocks, each under the nearest heading above it. */
function exampleQueries(markdown: string): { heading: string; sql: string }[] {
  const found: { heading: string; sql: string }[] = [];
  let heading = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '').trim();
    if (line.trim() === '```sql') {
      const end = lines.indexOf('```', i + 1);
      found.push({ heading, sql: lines.slice(i + 1, end).join('\n') });
      i = end;
    }
  }
  return found;
}

interface DocContext {
  readonly today: string;
  readonly now: number;
  /** The job of the newest history row, which one example picks. */
  readonly lastChangedJob: string;
  /** sutro.job_status_changes after a first sighting, itself checked against the truth above. */
  readonly statusChanges: readonly { from: string; changedMs: number; seconds: number }[];
}

type Row = Record<string, unknown>;
type Check = (rows: Row[], context: DocContext) => void;

const str = (v: unknown) =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? String(v) : null;
const totalBy = (rows: Row[], column: string) => sum(rows.map((r) => nanoUsd(str(r[column]))));
const countBy = (rows: Row[], column: string) => rows.reduce((n, r) => n + Number(r[column] ?? 0), 0);
const all = () => [...known.values()];

/** Per example: the columns it must return, and where the truth is easy to state, its figures. */
const DOC_EXAMPLES: Record<string, { columns: string[]; check?: Check }> = {
  'Daily spend per model, last 30 days': {
    columns: ['day', 'model', 'jobs', 'tokens', 'cost_usd'],
    check(rows, { today }) {
      const since = utcDay(Date.parse(today) - 29 * DAY_MS) ?? '';
      const recent = all().filter((j) => (utcDay(j.created) ?? '') >= since);
      const expected = [...groupBy(recent, (j) => `${utcDay(j.created)}|${j.model}`).entries()].map(
        ([key, jobs]) => ({
          key,
          jobs: String(jobs.length),
          tokens: String(sum(jobs.map(totalTokens))),
          cost: sum(jobs.map((j) => j.cost)),
        }),
      );
      expect(rows.length).toBeGreaterThan(0);
      const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : 1);
      expect(
        rows
          .map((r) => ({
            key: `${str(r.day)}|${str(r.model)}`,
            jobs: str(r.jobs),
            tokens: str(r.tokens),
            cost: nanoUsd(str(r.cost_usd)),
          }))
          .sort(byKey),
      ).toEqual(expected.sort(byKey));
    },
  },
  'Monthly spend and tokens per model': {
    columns: ['month', 'model', 'jobs', 'input_tokens', 'output_tokens', 'cost_usd', 'estimated_usd'],
    check(rows) {
      expect(countBy(rows, 'jobs')).toBe(known.size);
      expect(totalBy(rows, 'cost_usd')).toBe(sum(all().map((j) => j.cost)));
      expect(totalBy(rows, 'estimated_usd')).toBe(sum(all().map((j) => j.estimate)));
    },
  },
  'Cost per million tokens, week by week': {
    columns: ['week', 'model', 'cost_usd', 'tokens', 'usd_per_million_tokens'],
    check(rows) {
      expect(totalBy(rows, 'cost_usd')).toBe(sum(all().map((j) => j.cost)));
      for (const r of rows) {
        expect(Number(r.usd_per_million_tokens)).toBeCloseTo(
          (Number(r.cost_usd) * 1e6) / Number(r.tokens),
          4,
        );
      }
    },
  },
  'How accurate are the cost estimates?': {
    columns: [
      'model',
      'jobs',
      'cost_usd',
      'estimated_usd',
      'actual_to_estimate',
      'median_abs_error_ratio',
      'jobs_over_estimate',
    ],
    check(rows) {
      const judged = all().filter(
        (j) => j.status === 'SUCCEEDED' && j.cost !== null && (j.estimate ?? 0n) > 0n,
      );
      const byModel = groupBy(judged, (j) => String(j.model));
      expect(
        Object.fromEntries(rows.map((r) => [str(r.model), [str(r.jobs), str(r.jobs_over_estimate)]])),
      ).toEqual(
        Object.fromEntries(
          [...byModel].map(([model, jobs]) => [
            model,
            [String(jobs.length), String(jobs.filter((j) => (j.cost ?? 0n) > (j.estimate ?? 0n)).length)],
          ]),
        ),
      );
    },
  },
  'The biggest estimate misses': {
    columns: [
      'job_id',
      'name',
      'model',
      'day',
      'cost_estimate',
      'job_cost',
      'estimate_error',
      'error_percent',
    ],
    check(rows) {
      const abs = (x: bigint) => (x < 0n ? -x : x);
      const misses = all()
        .filter((j) => j.cost !== null && j.estimate !== null)
        .sort((a, b) => {
          const d = abs((b.cost ?? 0n) - (b.estimate ?? 0n)) - abs((a.cost ?? 0n) - (a.estimate ?? 0n));
          return d !== 0n ? (d > 0n ? 1 : -1) : a.id < b.id ? -1 : 1;
        });
      expect(rows.map((r) => r.job_id)).toEqual(misses.slice(0, 10).map((j) => j.id));
    },
  },
  'The slowest jobs of the last 30 days': {
    columns: ['job_id', 'name', 'model', 'status', 'num_rows', 'run_seconds', 'run_minutes', 'queue_seconds'],
    check(rows, { today }) {
      const since = utcDay(Date.parse(today) - 29 * DAY_MS) ?? '';
      const slowest = all()
        .filter((j) => (utcDay(j.created) ?? '') >= since && runMs(j) !== null)
        .sort((a, b) => (runMs(b) ?? 0) - (runMs(a) ?? 0) || (a.id < b.id ? -1 : 1));
      expect(rows.map((r) => r.job_id)).toEqual(slowest.slice(0, 20).map((j) => j.id));
    },
  },
  'Failures and their reasons': {
    columns: ['model', 'reason', 'failed_jobs', 'cost_usd', 'last_failed_at'],
    check(rows) {
      const failed = groupBy(
        all().filter((j) => j.status === 'FAILED'),
        (j) => `${j.model}|${j.failureMessage}`,
      );
      expect(
        Object.fromEntries(rows.map((r) => [`${str(r.model)}|${str(r.reason)}`, Number(r.failed_jobs)])),
      ).toEqual(Object.fromEntries([...failed].map(([key, jobs]) => [key, jobs.length])));
    },
  },
  'Failure rate per model, month by month': {
    columns: ['month', 'model', 'failed_jobs', 'finished_jobs', 'failure_rate'],
    check(rows) {
      expect(countBy(rows, 'failed_jobs')).toBe(all().filter((j) => j.status === 'FAILED').length);
      expect(countBy(rows, 'finished_jobs')).toBe(all().filter((j) => TERMINAL.has(j.status)).length);
    },
  },
  'Spend by job name prefix': {
    columns: ['name_prefix', 'jobs', 'tokens', 'cost_usd'],
    check(rows) {
      const byPrefix = groupBy(all(), (j) => (j.name === null ? '(unnamed)' : (j.name.split('-')[0] ?? '')));
      expect(
        Object.fromEntries(rows.map((r) => [str(r.name_prefix), [str(r.jobs), nanoUsd(str(r.cost_usd))]])),
      ).toEqual(
        Object.fromEntries(
          [...byPrefix].map(([prefix, jobs]) => [
            prefix,
            [String(jobs.length), jobs.some((j) => j.cost !== null) ? sum(jobs.map((j) => j.cost)) : null],
          ]),
        ),
      );
    },
  },
  'Jobs still running': {
    columns: [
      'job_id',
      'name',
      'model',
      'status',
      'datetime_created',
      'datetime_started',
      'minutes_since_created',
      'cost_estimate',
    ],
    check(rows) {
      const running = all().filter((j) => !TERMINAL.has(j.status) && listed.has(j.id));
      expect(running.length).toBeGreaterThan(0);
      expect(rows.map((r) => r.job_id).sort()).toEqual(running.map((j) => j.id).sort());
    },
  },
  'Costs still to come': {
    columns: ['job_id', 'model', 'datetime_completed', 'cost_estimate'],
    check(rows) {
      const waiting = all().filter((j) => j.status === 'SUCCEEDED' && j.cost === null);
      expect(rows.map((r) => r.job_id).sort()).toEqual(waiting.map((j) => j.id).sort());
    },
  },
  "Spend beyond the API's 90-day window": {
    columns: ['month', 'jobs', 'jobs_no_longer_listed', 'tokens', 'cost_usd'],
    check(rows, { now }) {
      const old = all().filter((j) => j.created !== null && j.created < now - 90 * DAY_MS);
      const byMonth = groupBy(old, (j) => utcMonth(j.created) ?? '');
      expect(rows.map((r) => [str(r.month), str(r.jobs), nanoUsd(str(r.cost_usd))])).toEqual(
        [...byMonth]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([month, jobs]) => [month, String(jobs.length), sum(jobs.map((j) => j.cost))]),
      );
      expect(countBy(rows, 'jobs_no_longer_listed')).toBe(old.filter((j) => !listed.has(j.id)).length);
      expect(old.filter((j) => !listed.has(j.id)).length).toBeGreaterThan(0);
    },
  },
  'Models at a glance': {
    columns: [
      'model',
      'jobs',
      'failure_rate',
      'cost_usd',
      'avg_cost_usd',
      'cost_per_million_tokens',
      'avg_queue_seconds',
      'median_run_seconds',
      'p95_run_seconds',
    ],
    check(rows) {
      const byModel = groupBy(all(), (j) => String(j.model));
      expect(
        rows.map((r) => [str(r.model), Number(r.jobs), nanoUsd(str(r.cost_usd)), Number(r.failure_rate)]),
      ).toEqual(
        [...byModel]
          .map(([model, jobs]) => {
            const finished = jobs.filter((j) => TERMINAL.has(j.status)).length;
            const failed = jobs.filter((j) => j.status === 'FAILED').length;
            return [model, jobs.length, sum(jobs.map((j) => j.cost)), failed / finished] as const;
          })
          .sort((a, b) => (a[2] === b[2] ? a[0].localeCompare(b[0]) : a[2] > b[2] ? -1 : 1))
          .map(([model, jobs, cost, rate]) => [model, jobs, cost, expect.closeTo(rate, 12) as unknown]),
      );
    },
  },
  'Time spent in each status, last 30 days': {
    columns: ['status', 'transitions', 'avg_seconds', 'p95_seconds'],
    check(rows, { now, statusChanges }) {
      const recent = statusChanges.filter((c) => c.changedMs >= now - 30 * DAY_MS);
      const byStatus = groupBy(recent, (c) => c.from);
      expect(byStatus.size).toBeGreaterThan(1);
      expect(
        rows.map((r) => [str(r.status), Number(r.transitions), Number(r.avg_seconds), Number(r.p95_seconds)]),
      ).toEqual(
        [...byStatus]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([status, changes]) => {
            const seconds = changes.map((c) => c.seconds).sort((a, b) => a - b);
            const mean = seconds.reduce((a, b) => a + b, 0) / seconds.length;
            return [status, changes.length, Math.round(mean), Math.round(percentile(seconds, 0.95))];
          }),
      );
    },
  },
  'Every recorded change of one job': {
    columns: [
      'id',
      'observed_at',
      'change',
      'changed_fields',
      'previous_status',
      'status',
      'job_cost',
      'input_tokens',
      'output_tokens',
    ],
    check(rows, { lastChangedJob }) {
      const states = timeline.get(lastChangedJob) ?? [];
      const tracked = (j: TruthJob) =>
        JSON.stringify(
          [
            j.status,
            j.created,
            j.started,
            j.completed,
            j.inputTokens,
            j.outputTokens,
            j.numRows,
            j.cost,
            j.estimate,
            j.failureMessage,
          ],
          (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v),
        );
      const changes = states.filter(
        (state, i) => i === 0 || tracked(state) !== tracked(states[i - 1] as TruthJob),
      );
      expect(rows.map((r) => [r.change, r.status])).toEqual(
        changes.map((state, i) => [i === 0 ? 'first_seen' : 'changed', state.status]),
      );
    },
  },
  'Is the data fresh?': {
    columns: [
      'source',
      'last_success_at',
      'minutes_since_last_success',
      'last_run_status',
      'last_error',
      'jobs',
      'listed_jobs',
      'missing_jobs',
      'rejected_rows',
    ],
    check(rows) {
      expect(rows.find((r) => r.source === SOURCE)).toMatchObject({
        last_run_status: 'succeeded',
        last_error: null,
        jobs: String(known.size),
        listed_jobs: String(listed.size),
        missing_jobs: String(dropped.length),
        rejected_rows: '1',
      });
    },
  },
  'Rows the API sent that failed validation': {
    columns: ['reason', 'distinct_rows', 'times_seen', 'last_seen_at'],
    check(rows) {
      expect(rows).toMatchObject([
        { reason: 'job_id: is missing', distinct_rows: '1', times_seen: String(runs.length) },
      ]);
    },
  },
};

describe('docs/analytics.md', () => {
  const examples = exampleQueries(DOCS);
  let client: pg.Client;

  beforeAll(async () => {
    // Dates as the text Postgres prints, as a BI tool shows them, rather than local-midnight Dates.
    const types = new pg.TypeOverrides();
    types.setTypeParser(pg.types.builtins.DATE, (value) => value);
    client = new pg.Client({ connectionString: db.url, types });
    await client.connect();
    // As the docs ask: the examples' current_date and date_trunc then count in UTC days, like the views.
    await client.query("SET TIME ZONE 'UTC'");
  });
  afterAll(async () => {
    await client.end();
  });

  it('has at least 10 example queries, each under its own heading and each checked here', () => {
    expect(examples.length).toBeGreaterThanOrEqual(10);
    expect(examples.map((e) => e.heading).sort()).toEqual(Object.keys(DOC_EXAMPLES).sort());
  });

  for (const { heading, sql } of examples) {
    it(`example "${heading}" runs and returns what it says`, async () => {
      const [context] = (
        await client.query<{ today: string; now: Date; last_changed_job: string }>(
          `SELECT current_date::text AS today, now() AS now,
                  (SELECT job_id FROM sutro.job_history ORDER BY id DESC LIMIT 1) AS last_changed_job`,
        )
      ).rows;
      const statusChanges = await client.query<{ from: string; changed_ms: number; seconds: number }>(
        `SELECT from_status AS from, extract(epoch FROM changed_at)::float8 * 1000 AS changed_ms,
                seconds_in_previous_status::float8 AS seconds
           FROM sutro.job_status_changes WHERE from_status IS NOT NULL`,
      );
      const result = await client.query<Row>(sql);
      const example = DOC_EXAMPLES[heading];
      expect(result.fields.map((f) => f.name)).toEqual(example?.columns);
      example?.check?.(result.rows, {
        today: context?.today ?? '',
        now: context?.now.getTime() ?? 0,
        lastChangedJob: context?.last_changed_job ?? '',
        statusChanges: statusChanges.rows.map((r) => ({
          from: r.from,
          changedMs: r.changed_ms,
          seconds: r.seconds,
        })),
      });
    });
  }

  it("documents each view's columns, in order, in the words of their COMMENT", async () => {
    for (const view of VIEWS) {
      const section = DOCS.split(`### \`sutro.${view}\``)[1]?.split('\n#')[0] ?? '';
      const documented = [...section.matchAll(/^\|\s*`([a-z_0-9]+)`\s*\|[^|]*\|\s*(.*?)\s*\|$/gm)].map(
        (m) => [m[1], m[2]],
      );
      const columns = await rows<{ attname: string; comment: string | null }>(
        `SELECT a.attname, col_description(a.attrelid, a.attnum) AS comment
           FROM pg_attribute a
          WHERE a.attrelid = format('sutro.%I', $1::text)::regclass AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`,
        [view],
      );
      expect(documented, view).toEqual(columns.map((c) => [c.attname, c.comment]));
    }
  });
});

describe('grant-reader', () => {
  const readers: pg.Client[] = [];

  async function createRole(options = ''): Promise<{ role: string; password: string }> {
    const role = `sutro_reader_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' ${options}`);
    roles.push(role);
    return { role, password };
  }

  async function connectAs(role: string, password: string): Promise<pg.Client> {
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    readers.push(client);
    return client;
  }

  afterAll(async () => {
    await Promise.all(readers.map((c) => c.end()));
  });

  async function expectReadOnly(reader: pg.Client): Promise<void> {
    for (const relation of [
      ...VIEWS,
      'jobs',
      'job_history',
      'sync_runs',
      'sync_state',
      'rejected_jobs',
      'sync_leases',
    ]) {
      const result = await reader.query<{ n: string }>(`SELECT count(*) AS n FROM sutro.${relation}`);
      expect(Number(result.rows[0]?.n), relation).toBeGreaterThan(0);
    }
    const refused = [
      `INSERT INTO sutro.jobs (source, job_id, status, raw) VALUES ('x', 'y', 'RUNNING', '{}')`,
      `UPDATE sutro.jobs SET status = 'FAILED'`,
      `DELETE FROM sutro.job_history`,
      `TRUNCATE sutro.sync_runs`,
      `CREATE TABLE sutro.reader_table (id int)`,
      `CREATE VIEW sutro.reader_view AS SELECT 1 AS one`,
      `ALTER TABLE sutro.jobs ADD COLUMN reader_note text`,
      `DROP VIEW sutro.daily_usage`,
      `CREATE INDEX reader_idx ON sutro.jobs (name)`,
    ];
    for (const sql of refused) {
      // Read-only by default (25006), and without the privilege even when it asks to write (42501).
      await expect(reader.query(sql), sql).rejects.toMatchObject({ code: '25006' });
      await reader.query('BEGIN READ WRITE');
      await expect(reader.query(sql), sql).rejects.toMatchObject({ code: '42501' });
      await reader.query('ROLLBACK');
    }
  }

  it('lets a role read every table and view, refuses it every write and DDL, and covers future tables', async () => {
    const { role, password } = await createRole();
    const grant = await grantReader(db, role);
    expect(grant).toMatchObject({ role, warnings: [] });
    expect(grant.relations).toBe(VIEWS.length + SUTRO_TABLES.length);
    const reader = await connectAs(role, password);
    await expectReadOnly(reader);

    // A later migration, run as the same role that ran grant-reader, adds a table and a view.
    const suffix = randomBytes(3).toString('hex');
    await db.pool.query(
      `CREATE TABLE sutro.future_${suffix} (id int); INSERT INTO sutro.future_${suffix} VALUES (7)`,
    );
    await db.pool.query(
      `CREATE VIEW sutro.future_view_${suffix} AS SELECT id * 6 AS answer FROM sutro.future_${suffix}`,
    );
    expect((await reader.query(`SELECT id FROM sutro.future_${suffix}`)).rows).toEqual([{ id: 7 }]);
    expect((await reader.query(`SELECT answer FROM sutro.future_view_${suffix}`)).rows).toEqual([
      { answer: 42 },
    ]);
    await reader.query('BEGIN READ WRITE');
    await expect(reader.query(`INSERT INTO sutro.future_${suffix} VALUES (8)`)).rejects.toMatchObject({
      code: '42501',
    });
    await reader.query('ROLLBACK');
    await db.pool.query(`DROP VIEW sutro.future_view_${suffix}; DROP TABLE sutro.future_${suffix}`);
  });

  it('makes the role read-only by default: no temporary tables, and never the lease of a source', async () => {
    const { role, password } = await createRole();
    const grant = await grantReader(db, role);
    expect(grant).toMatchObject({ readOnlyByDefault: true, warnings: [] });
    const reader = await connectAs(role, password);
    await expect(reader.query('CREATE TEMP TABLE scratch (a int)')).rejects.toMatchObject({ code: '25006' });
    // Even in a transaction it declares read-write, the lease table is beyond its privileges.
    await reader.query('BEGIN READ WRITE');
    await expect(
      reader.query(
        `INSERT INTO sutro.sync_leases (source, token, holder, expires_at) VALUES ('x', 1, 'bi', now() + interval '1 day')`,
      ),
    ).rejects.toMatchObject({ code: '42501' });
    await reader.query('ROLLBACK');
    await reader.query('BEGIN READ WRITE');
    await expect(reader.query(`UPDATE sutro.sync_leases SET expires_at = 'infinity'`)).rejects.toMatchObject({
      code: '42501',
    });
    await reader.query('ROLLBACK');
  });

  it.each([
    `Émilie_${randomBytes(2).toString('hex')}`,
    `BI "tool" ${randomBytes(2).toString('hex')}`,
    `ÄÖÜ-${randomBytes(2).toString('hex')}`,
  ])('works for the role %j, whatever its characters, and suggests it for a case slip', async (role) => {
    await db.pool.query(
      `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD 'x-${randomBytes(4).toString('hex')}'`,
    );
    roles.push(role);
    expect(await grantReader(db, role)).toMatchObject({ role, readOnlyByDefault: true });
    const slip = (await grantReader(db, role.toLowerCase()).catch((e: unknown) => e)) as Error;
    expect(slip).toBeInstanceOf(UnknownRoleError);
    expect(slip.message).toContain(`did you mean "${role}"`);
  });

  it('says which role does not exist, and suggests the one a case slip meant', async () => {
    await expect(grantReader(db, 'no_such_reader_role')).rejects.toThrow(
      /role "no_such_reader_role" does not exist/,
    );
    const { role } = await createRole();
    const error = (await grantReader(db, role.toUpperCase()).catch((e: unknown) => e)) as UnknownRoleError;
    expect(error).toBeInstanceOf(UnknownRoleError);
    expect(error.message).toContain(`did you mean "${role}"`);
  });

  it('refuses the role it runs as, and warns of a role that can write anyway', async () => {
    const [me] = await rows<{ user: string }>('SELECT current_user AS user');
    await expect(grantReader(db, me?.user ?? '')).rejects.toThrow(/a reader must be another role/);
    const { role } = await createRole(`IN ROLE ${me?.user ?? ''}`);
    const grant = await grantReader(db, role);
    expect(grant.warnings).toEqual([
      `"${role}" is a member of "${me?.user ?? ''}" and inherits its right to write`,
    ]);
  });

  it('works from the CLI, and exits 2 naming an unknown role', async () => {
    const { role, password } = await createRole();
    const result = await runCli(['grant-reader', role], { DATABASE_URL: db.url });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`"${role}" can now read schema sutro`);
    await expectReadOnly(await connectAs(role, password));

    const unknown = await runCli(['grant-reader', 'nobody_reads_this'], { DATABASE_URL: db.url });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('role "nobody_reads_this" does not exist');
  });
});

describe('sutro-sync report', () => {
  const env = () => ({ DATABASE_URL: db.url, SUTRO_SOURCE: SOURCE });

  async function dailyUsageTotals(since: string, until: string) {
    const [totals] = await rows<Record<string, string>>(
      `SELECT coalesce(sum(jobs), 0)::text AS jobs, coalesce(sum(input_tokens), 0)::text AS input_tokens,
              coalesce(sum(output_tokens), 0)::text AS output_tokens, coalesce(sum(total_tokens), 0)::text AS total_tokens,
              coalesce(sum(cost_usd), 0)::text AS cost_usd, coalesce(sum(cost_estimate_usd), 0)::text AS cost_estimate_usd
         FROM sutro.daily_usage WHERE source = $1 AND day BETWEEN $2::date AND $3::date`,
      [SOURCE, since, until],
    );
    return totals as Record<string, string>;
  }

  interface JsonReport {
    since: string;
    until: string;
    totals: Record<string, string | number>;
    models: Record<string, string | number | null>[];
    daily: { day: string; jobs: number; cost_usd: string }[];
    top_jobs: { job_id: string; cost_usd: string }[];
    freshness: Record<string, unknown>;
  }

  it('prints, as JSON, the totals of daily_usage for the period, and so of the API', async () => {
    const days = all().flatMap((j) => (j.created === null ? [] : [utcDay(j.created) ?? '']));
    const since = days.reduce((a, b) => (a < b ? a : b));
    const until = new Date().toISOString().slice(0, 10);
    const result = await runCli(
      ['report', '--format', 'json', '--since', since, '--until', until, '--top', '5'],
      env(),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as JsonReport;
    const expected = await dailyUsageTotals(since, until);
    expect(report.totals).toMatchObject({ ...expected, jobs: Number(expected.jobs) });

    const dated = all().filter((j) => j.created !== null);
    expect(nanoUsd(String(report.totals.cost_usd))).toBe(sum(dated.map((j) => j.cost)));
    expect(String(report.totals.total_tokens)).toBe(String(sum(dated.map(totalTokens))));
    expect(sum(report.models.map((m) => nanoUsd(String(m.cost_usd))))).toBe(
      nanoUsd(String(report.totals.cost_usd)),
    );
    expect(sum(report.daily.map((d) => nanoUsd(d.cost_usd)))).toBe(nanoUsd(String(report.totals.cost_usd)));
    expect(report.daily).toHaveLength((Date.parse(until) - Date.parse(since)) / DAY_MS + 1);
    const costliest = dated
      .filter((j) => j.cost !== null)
      .sort((a, b) =>
        (b.cost ?? 0n) > (a.cost ?? 0n) ? 1 : (b.cost ?? 0n) < (a.cost ?? 0n) ? -1 : a.id < b.id ? -1 : 1,
      );
    expect(report.top_jobs.map((j) => j.job_id)).toEqual(costliest.slice(0, 5).map((j) => j.id));
    expect(report.freshness).toMatchObject({
      jobs: known.size,
      rejected_rows: 1,
      last_run_status: 'succeeded',
    });
  });

  it('covers the last 30 UTC days by default, and prints the same total in its table', async () => {
    const until = new Date().toISOString().slice(0, 10);
    const since = new Date(Date.parse(until) - 29 * DAY_MS).toISOString().slice(0, 10);
    const json = await runCli(['report', '--format', 'json'], env());
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as JsonReport;
    expect([report.since, report.until]).toEqual([since, until]);
    const expected = await dailyUsageTotals(since, until);
    expect(report.totals.cost_usd).toBe(expected.cost_usd);
    expect(Number(expected.jobs)).toBeGreaterThan(0);

    const table = await runCli(['report'], env());
    expect(table.code).toBe(0);
    const cents = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    expect(table.stdout).toContain(`, ${cents.format(expected.cost_usd as `${number}`)} USD billed`);
    for (const section of [
      'Spend per model:',
      'Top 10 jobs by cost:',
      'Daily spend (USD):',
      'Data freshness:',
    ]) {
      expect(table.stdout).toContain(section);
    }
    expect(table.stdout).toContain('█');
  });

  it('prints CSV that parses, with the same figures', async () => {
    const result = await runCli(['report', '--format', 'csv', '--since', '2020-01-01'], env());
    expect(result.code).toBe(0);
    const records = parseCsv(result.stdout.trimEnd());
    const [header, ...data] = records;
    expect(header?.slice(0, 3)).toEqual(['section', 'day', 'model']);
    const at = (row: string[], column: string) => row[header?.indexOf(column) ?? -1] ?? '';
    expect(data.every((row) => row.length === header?.length)).toBe(true);
    const total = data.find((row) => at(row, 'section') === 'total') ?? [];
    const models = data.filter((row) => at(row, 'section') === 'model');
    const expected = await dailyUsageTotals('2020-01-01', new Date().toISOString().slice(0, 10));
    expect(at(total, 'cost_usd')).toBe(expected.cost_usd);
    expect(sum(models.map((row) => nanoUsd(at(row, 'cost_usd'))))).toBe(nanoUsd(expected.cost_usd));
    expect(data.filter((row) => at(row, 'section') === 'top_job')).toHaveLength(10);
  });

  it('exits 2 with a message naming --since for a bad date, and for a period that ends before it starts', async () => {
    const bad = await runCli(['report', '--since', '2024-02-30'], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since');
    const backwards = await runCli(['report', '--since', '2024-03-01', '--until', '2024-02-01'], env());
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/--since 2024-03-01 is after --until 2024-02-01/);
  });
});

/** RFC 4180: quoted fields may hold commas, quotes (doubled) and newlines. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [[]];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      records.at(-1)?.push(field);
      field = '';
    } else if (c === '\n') {
      records.at(-1)?.push(field);
      field = '';
      records.push([]);
    } else field += c;
  }
  records.at(-1)?.push(field);
  return records;
}
