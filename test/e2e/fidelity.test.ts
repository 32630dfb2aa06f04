import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SimulatedAccount,
  startSimulator,
  type AccountOptions,
  type RunningSimulator,
} from '../../src/simulator/index.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { diffAgainstTruth } from '../helpers/truth.js';

/**
 * The API's data as it is: timestamps to the microsecond, dry runs that are never billed, fields the
 * reference does not name, the job shape of an older API. Stored exactly, or reported.
 */

const KEY = 'sk_test_fidelity';
let db: TestDatabase;
const simulators: RunningSimulator[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(simulators.map((s) => s.close()));
  await db.drop();
});

async function account(options: Partial<AccountOptions>): Promise<RunningSimulator> {
  const sim = await startSimulator({
    account: new SimulatedAccount({ jobs: 600, seed: 91, ...options }),
    apiKey: KEY,
    port: 0,
  });
  simulators.push(sim);
  return sim;
}

const env = (sim: RunningSimulator, source: string) => ({
  DATABASE_URL: db.url,
  SUTRO_API_URL: sim.origin,
  SUTRO_API_KEY: KEY,
  SUTRO_SOURCE: source,
});

async function lastRun(source: string) {
  const result = await db.pool.query(
    `SELECT status, jobs_with_unknown_fields, jobs_with_missing_fields, jobs_in_legacy_shape, unknown_fields,
            missing_fields, jobs_seen
       FROM sutro.sync_runs WHERE source = $1 ORDER BY id DESC LIMIT 1`,
    [source],
  );
  return result.rows[0] as Record<string, unknown>;
}

describe('what the API sends, as it sends it', () => {
  it('stores timestamps to the microsecond', async () => {
    const sim = await account({ timestampPrecision: 'us' });
    expect(sim.account.snapshot()[0]?.datetime_created).toMatch(/\.\d{6}Z$/);
    const synced = await runCli(['sync'], env(sim, 'micros'));
    expect(synced.code, synced.stderr).toBe(0);
    expect(await diffAgainstTruth(db.pool, 'micros', sim.account.snapshot())).toEqual([]);
    const sample = await db.pool.query<{ text: string }>(
      `SELECT to_char(datetime_created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS text
         FROM sutro.jobs WHERE source = 'micros' AND job_id = $1`,
      [sim.account.snapshot()[0]?.job_id],
    );
    expect(sample.rows[0]?.text).toBe(sim.account.snapshot()[0]?.datetime_created);
  });

  it('settles succeeded dry runs without a cost, instead of fetching them by id on every run', async () => {
    const sim = await account({ unbilledDryRuns: true });
    const dryRuns = sim.account
      .snapshot()
      .filter((j) => j.run_type === 'DRY_RUN' && String(j.status).toUpperCase() === 'SUCCEEDED');
    expect(dryRuns.length).toBeGreaterThan(0);
    expect((await runCli(['sync'], env(sim, 'dry-runs'))).code).toBe(0);
    sim.requests.clear();
    const incremental = await runCli(['sync'], env(sim, 'dry-runs'));
    expect(incremental.code, incremental.stderr).toBe(0);
    // Waiting for them, the run would have paged down to the oldest or fetched each one by id.
    const planned = await db.pool.query<{ pages: number; floor: Date }>(
      `SELECT pages, floor FROM sutro.sync_runs WHERE source = 'dry-runs' ORDER BY id DESC LIMIT 1`,
    );
    const oldestDryRun = Math.min(...dryRuns.map((j) => Date.parse(String(j.datetime_created))));
    expect(planned.rows[0]?.floor.getTime()).toBeGreaterThan(oldestDryRun);
    // No dry run among what the run fetched one by one.
    const byId = sim.requests.entries
      .filter((r) => r.endpoint === 'jobs')
      .map((r) => r.path.split('/').at(-1));
    expect(byId.filter((id) => dryRuns.some((j) => j.job_id === id))).toEqual([]);
  });

  it('counts fields the reference does not name on the run, warns of each once, and shows it in status', async () => {
    const sim = await account({ extraFields: true });
    const synced = await runCli(['sync'], env(sim, 'extra'));
    expect(synced.code, synced.stderr).toBe(0);
    expect(await lastRun('extra')).toMatchObject({
      jobs_with_unknown_fields: 600,
      jobs_in_legacy_shape: 0,
      // region: a field some of the simulator's jobs carry anyway.
      unknown_fields: ['datetime_added', 'function_id', 'organization_id', 'region', 'submission', 'tags'],
    });
    const warnings = synced.logs.filter((l) => String(l.msg).startsWith('jobs carry a field'));
    expect(warnings.map((l) => String(l.field)).sort()).toEqual([
      'datetime_added',
      'function_id',
      'organization_id',
      'region',
      'submission',
      'tags',
    ]);
    const status = await runCli(['status'], { DATABASE_URL: db.url, SUTRO_SOURCE: 'extra' });
    expect(status.stdout).toMatch(
      /schema drift in run \d+: 600 jobs with fields the API reference does not name \(datetime_added, function_id, organization_id, region, submission, tags; kept in raw\)/,
    );
    // What was warned of once stays listed.
    expect(status.stdout).toMatch(/^said once about the data \(sutro\.notices\): 6$/m);
    expect(status.stdout).toMatch(/^unknown_field +region +\S+ +1$/m);
  });

  it('reads the legacy job shape as today’s fields, and says so loudly', async () => {
    const sim = await account({ jobShape: 'legacy' });
    const synced = await runCli(['sync'], env(sim, 'legacy'));
    expect(synced.code, synced.stderr).toBe(0);
    const flagged = synced.logs.filter((l) =>
      String(l.msg).startsWith('list-jobs answers in the legacy job shape'),
    );
    expect(flagged).toHaveLength(1);
    expect(flagged[0]?.level).toBe(50);
    expect(await lastRun('legacy')).toMatchObject({ jobs_in_legacy_shape: 600, jobs_seen: 600 });
    // created_at, completed_at and priority landed in today's columns, not as nulls.
    expect(await diffAgainstTruth(db.pool, 'legacy', sim.account.snapshot())).toEqual([]);
    const nulls = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sutro.jobs WHERE source = 'legacy' AND datetime_created IS NULL`,
    );
    expect(nulls.rows[0]?.n).toBeLessThan(60);
  });
});
