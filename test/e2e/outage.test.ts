import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { startCli } from '../helpers/cli.js';
import { startOwnPostgres, type OwnPostgres } from '../helpers/postgres.js';

const KEY = 'sk_test_outage';
const JOBS = 4_000;
let postgres: OwnPostgres;
let sim: RunningSimulator;

beforeAll(async () => {
  postgres = await startOwnPostgres();
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: JOBS, seed: 41 }),
    apiKey: KEY,
    port: 0,
    latencyMs: 25,
  });
});
afterAll(async () => {
  await sim.close();
  await postgres.destroy();
});

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('PostgreSQL restarting under a running worker', () => {
  it('fails the run cleanly, keeps the checkpoint, and the next scheduled run recovers by itself', async () => {
    const worker = startCli(['start'], {
      DATABASE_URL: postgres.url,
      SUTRO_API_URL: sim.url,
      SUTRO_API_KEY: KEY,
      SUTRO_SOURCE: 'outage',
      SUTRO_SYNC_SCHEDULE: '*/2 * * * * *',
      SUTRO_MAX_RETRIES: '0',
      SUTRO_HTTP_PORT: '0',
      LOG_LEVEL: 'debug',
    });
    try {
      await worker.waitForLog((l) => l.msg === 'page committed' && l.page === 5);
      await postgres.stop();
      await worker.waitForLog((l) => l.msg === 'sync run failed' || l.msg === 'scheduled run failed');
      await new Promise((r) => setTimeout(r, 2_500));
      expect(worker.child.exitCode).toBeNull();
      await postgres.start();
      await worker.waitForLog((l) => l.msg === 'sync run succeeded', 60_000);
      worker.child.kill('SIGTERM');
      expect((await worker.done).code).toBe(0);

      const runs = await query<{
        status: string;
        pages: number;
        jobs_inserted: number;
        resumed_from_run_id: string | null;
        error: string | null;
      }>(
        `SELECT status, pages, jobs_inserted, resumed_from_run_id, error FROM sutro.sync_runs WHERE source = 'outage' ORDER BY id`,
      );
      // The run cut off by the restart could not record its end then; the worker's next run did,
      // with the real cause, and freed its lease rather than waiting for it to lapse.
      expect(runs[0]?.status).toBe('failed');
      expect(runs[0]?.error).toMatch(/terminat|connect|ECONNREFUSED|shut/i);
      expect(runs[0]?.error).toMatch(/its end could not be recorded in the database/);
      expect(runs.map((r) => r.status)).toContain('succeeded');
      // The checkpoint survived: the first successful run continued the interrupted full pass.
      expect(runs.find((r) => r.status === 'succeeded')?.resumed_from_run_id).not.toBeNull();
      const jobs = await query<{ n: number; first_seen: number }>(
        `SELECT count(*)::int AS n,
                (SELECT count(*)::int FROM sutro.job_history WHERE source = 'outage' AND change = 'first_seen') AS first_seen
           FROM sutro.jobs WHERE source = 'outage'`,
      );
      expect(jobs[0]).toEqual({ n: JOBS, first_seen: JOBS });
      // Whole pages only: what the runs say they inserted is exactly what is there.
      expect(runs.reduce((sum, r) => sum + r.jobs_inserted, 0)).toBe(JOBS);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.done;
    }
  }, 120_000);
});
