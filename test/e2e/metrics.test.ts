import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';

const KEY = 'sk_test_metrics';
const JOBS = 1_000;
let db: TestDatabase;
let sim: RunningSimulator;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: JOBS, seed: 77 }),
    apiKey: KEY,
    port: 0,
  });
});
afterAll(async () => {
  await sim.close();
  await db.drop();
});

/** The samples of a Prometheus text exposition, keyed by `name{labels}`. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const value = line.slice(space + 1);
    samples.set(line.slice(0, space), value === '+Inf' ? Infinity : Number(value));
  }
  return samples;
}

async function count(sql: string): Promise<number> {
  return (await db.pool.query<{ n: number }>(sql)).rows[0]?.n ?? -1;
}

describe('sutro-sync start serves metrics that follow the syncs', () => {
  it('counts runs, pages, jobs, requests and retries, and reports readiness', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const scrape = async () => parseMetrics(await (await fetch(`${base}/metrics`)).text());
    // The engine logs a run's end a moment before the worker counts it: scrape until it shows.
    const scrapeOnceCounted = async (mode: 'full' | 'incremental', runs: number) => {
      for (let attempt = 0; ; attempt += 1) {
        const metrics = await scrape();
        if (
          metrics.get(`sutro_sync_runs_total{source="metrics",status="succeeded",mode="${mode}"}`) === runs ||
          attempt >= 50
        ) {
          return metrics;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    // The first request answers 500 once: a retry to count.
    sim.faults.add({ kind: 'status', status: 500 });
    const worker = startCli(['start', '--no-initial-run'], {
      DATABASE_URL: db.url,
      SUTRO_API_URL: sim.url,
      SUTRO_API_KEY: KEY,
      SUTRO_SOURCE: 'metrics',
      SUTRO_HTTP_PORT: String(port),
      // Every 3 seconds; the first tick is the first run.
      SUTRO_SYNC_SCHEDULE: '*/3 * * * * *',
      SUTRO_MAX_RETRIES: '2',
      LOG_LEVEL: 'info',
    });
    try {
      // By default only this machine reaches them (SUTRO_HTTP_HOST); the image listens on 0.0.0.0.
      expect(
        await worker.waitForLog((l) => l.msg === 'health and metrics endpoints listening'),
      ).toMatchObject({
        host: '127.0.0.1',
        port,
      });
      expect(await (await fetch(`${base}/healthz`)).json()).toMatchObject({ status: 'ok' });
      const before = await scrape();
      expect(before.get('sutro_sync_seconds_since_last_success{source="metrics"}')).toBe(Infinity);
      // Counted from 0 from the start, so that a rule sees the first run as an increase.
      expect(before.get('sutro_sync_runs_total{source="metrics",status="succeeded",mode="full"}')).toBe(0);
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({ reason: 'no successful sync yet of source "metrics"' });

      await worker.waitForLog((l) => l.msg === 'sync run succeeded' && l.mode === 'full');
      const after = await scrapeOnceCounted('full', 1);
      const stored = await count(`SELECT count(*)::int AS n FROM sutro.jobs WHERE source = 'metrics'`);
      const rejected = await count(
        `SELECT count(*)::int AS n FROM sutro.rejected_jobs WHERE source = 'metrics'`,
      );
      const pages = JOBS / 100;
      expect(stored + rejected).toBe(JOBS);
      expect(after.get('sutro_sync_runs_total{source="metrics",status="succeeded",mode="full"}')).toBe(1);
      expect(
        after.get('sutro_sync_run_duration_seconds_count{source="metrics",status="succeeded",mode="full"}'),
      ).toBe(1);
      expect(after.get('sutro_sync_pages_total{source="metrics"}')).toBe(pages);
      expect(after.get('sutro_sync_jobs_total{source="metrics",outcome="inserted"}')).toBe(stored);
      expect(after.get('sutro_sync_jobs_total{source="metrics",outcome="rejected"}') ?? 0).toBe(rejected);
      expect(after.get('sutro_api_requests_total{source="metrics",endpoint="list-jobs",outcome="200"}')).toBe(
        pages,
      );
      expect(after.get('sutro_api_requests_total{source="metrics",endpoint="list-jobs",outcome="500"}')).toBe(
        1,
      );
      expect(after.get('sutro_api_retries_total{source="metrics",endpoint="list-jobs",outcome="500"}')).toBe(
        1,
      );
      expect(after.get('sutro_sync_seconds_since_last_success{source="metrics"}')).toBeLessThan(30);
      expect(after.get('sutro_sync_rejected_rows{source="metrics"}')).toBe(rejected);
      expect(after.get('process_cpu_seconds_total')).toBeGreaterThan(0);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);

      // The next tick is an incremental run that finds nothing new.
      await worker.waitForLog((l) => l.msg === 'sync run succeeded' && l.mode === 'incremental');
      const later = await scrapeOnceCounted('incremental', 1);
      expect(
        later.get('sutro_sync_runs_total{source="metrics",status="succeeded",mode="incremental"}'),
      ).toBeGreaterThanOrEqual(1);
      expect(later.get('sutro_sync_jobs_total{source="metrics",outcome="inserted"}')).toBe(stored);
      expect(later.get('sutro_sync_jobs_total{source="metrics",outcome="unchanged"}')).toBeGreaterThan(0);
    } finally {
      worker.child.kill('SIGTERM');
    }
    const result = await worker.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.logs.some((l) => l.msg === 'stopped')).toBe(true);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it('serves nothing when SUTRO_HTTP_PORT is 0', async () => {
    const worker = startCli(['start', '--no-initial-run'], {
      DATABASE_URL: db.url,
      SUTRO_API_URL: sim.url,
      SUTRO_API_KEY: KEY,
      SUTRO_SOURCE: 'no-http',
      SUTRO_HTTP_PORT: '0',
    });
    await worker.waitForLog((l) => l.msg === 'scheduler started');
    worker.child.kill('SIGTERM');
    const result = await worker.done;
    expect(result.code).toBe(0);
    expect(result.logs.some((l) => l.msg === 'health and metrics endpoints listening')).toBe(false);
  });
});
