import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Database } from '../../src/db/infra/connect.js';
import { migrate } from '../../src/db/infra/migrate.js';
import { createSyncStore } from '../../src/db/store/store.js';
import { createMetrics } from '../../src/metrics.js';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runSync } from '../../src/sync/engine.js';
import {
  createReadinessCheck,
  ProgressWatch,
  probeScrapeFigures,
  type Liveness,
  type Readiness,
} from '../../src/worker/health.js';
import { startHealthServer, type HealthServer } from '../../src/worker/http.js';
import { createTestDatabase, silentLog, type TestDatabase } from '../helpers/database.js';
import { DEFAULT_LIMITS, LEASE_SECONDS, MIGRATION_LOCK_TIMEOUT_MS } from '../helpers/limits.js';
import { testApi } from '../helpers/sync.js';
import { freePort } from '../helpers/ports.js';
import { startOwnPostgres } from '../helpers/postgres.js';

const KEY = 'sk_test_health';
const JOBS = 250;
let db: TestDatabase;
let sim: RunningSimulator;
const servers: HealthServer[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: JOBS, seed: 5 }),
    apiKey: KEY,
    port: 0,
  });
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await sim.close();
  await db.drop();
});

async function serve(
  readiness: () => Promise<Readiness>,
  registry = createMetrics({ sources: ['x'] }).registry,
  liveness: () => Liveness = () => ({ healthy: true }),
) {
  const server = await startHealthServer({ port: 0, host: '127.0.0.1', registry, readiness, liveness });
  servers.push(server);
  return server;
}

async function get(server: HealthServer, path: string, init?: RequestInit) {
  const response = await fetch(`http://127.0.0.1:${server.port}${path}`, init);
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), text };
}

async function readyz(server: HealthServer) {
  const { status, text } = await get(server, '/readyz');
  return { status, body: JSON.parse(text) as { status: string; reason?: string } };
}

async function sync(database: Database, source: string) {
  const result = await runSync(
    {
      store: createSyncStore(database),
      api: testApi(sim, 100, KEY),
      log: silentLog,
    },
    { source, mode: 'incremental', trigger: 'cli', safetyMarginSeconds: 3_600, leaseSeconds: LEASE_SECONDS },
  );
  expect(result).toMatchObject({ skipped: false, status: 'succeeded' });
}

const readinessOf = (db: Pick<Database, 'pool'>, source: string, extra: { timeoutMs?: number } = {}) =>
  createReadinessCheck({ db, sources: () => [source], maxAgeSeconds: 3_600, ...extra });

describe('/healthz and the routes around it', () => {
  it('answers 200 while the process runs, whatever the database', async () => {
    const server = await serve(() => Promise.resolve({ ready: false, reason: 'irrelevant' }));
    expect(await get(server, '/healthz')).toMatchObject({ status: 200, text: '{"status":"ok"}\n' });
    expect((await get(server, '/healthz?verbose=1')).status).toBe(200);
    expect(await get(server, '/healthz', { method: 'HEAD' })).toMatchObject({ status: 200, text: '' });
    expect((await get(server, '/nope')).status).toBe(404);
    expect((await get(server, '/healthz', { method: 'POST' })).status).toBe(405);
  });

  it('serves Prometheus text on /metrics', async () => {
    const server = await serve(() => Promise.resolve({ ready: true }));
    const metrics = await get(server, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.text).toContain('# TYPE sutro_sync_runs_total counter');
    expect(metrics.text).toContain('process_cpu_seconds_total');
  });

  it('answers 500, not a hang, when readiness throws', async () => {
    const server = await serve(() => Promise.reject(new Error('boom')));
    expect(await get(server, '/readyz')).toMatchObject({ status: 500, text: '{"error":"boom"}\n' });
  });

  it('says which port is taken', async () => {
    const taken = await serve(() => Promise.resolve({ ready: true }));
    await expect(
      startHealthServer({
        port: taken.port,
        host: '127.0.0.1',
        registry: createMetrics({ sources: ['x'] }).registry,
        readiness: () => Promise.resolve({ ready: true }),
        liveness: () => ({ healthy: true }),
      }),
    ).rejects.toThrow(`127.0.0.1:${taken.port} (SUTRO_HTTP_HOST, SUTRO_HTTP_PORT)`);
  });

  it('turns 503 with the reason once a run has made no progress for SUTRO_STALL_SECONDS', async () => {
    let now = 0;
    const watch = new ProgressWatch(600, () => now);
    const server = await serve(
      () => Promise.resolve({ ready: true }),
      undefined,
      () => watch.liveness(),
    );
    const healthz = async () => {
      const { status, text } = await get(server, '/healthz');
      return { status, body: JSON.parse(text) as Record<string, unknown> };
    };
    watch.runStarted('a', 'the full run of source "a"');
    watch.runStarted('b', 'the incremental run of source "b"');
    now = 599_000;
    expect(await healthz()).toMatchObject({ status: 200, body: { status: 'ok', secondsSinceProgress: 599 } });
    watch.progressed('a');
    watch.progressed('b');
    now = 1_199_000;
    expect((await healthz()).status).toBe(200);
    now = 1_200_001;
    expect(await healthz()).toEqual({
      status: 503,
      body: {
        status: 'stalled',
        reason: 'the full run of source "a" has made no progress for 601 s (SUTRO_STALL_SECONDS=600)',
        secondsSinceProgress: 601,
      },
    });
    // One run stalled is enough; between runs the worker waits, which is healthy however long it takes.
    watch.runEnded('a');
    now = 1_200_100;
    watch.progressed('b');
    expect((await healthz()).status).toBe(200);
    watch.runEnded('b');
    now = 10_000_000;
    expect(await healthz()).toEqual({ status: 200, body: { status: 'ok' } });
  });
});

describe('/readyz', () => {
  it('is 503 before any sync, 200 after a successful one, 503 once it is too old', async () => {
    const server = await serve(readinessOf(db, 'ready'));
    expect(await readyz(server)).toEqual({
      status: 503,
      body: {
        status: 'not ready',
        reason: 'no successful sync yet of source "ready"',
        sources: 1,
        late: [{ source: 'ready', lastSuccessAt: null, secondsSinceLastSuccess: null }],
        lastSuccessAt: null,
        secondsSinceLastSuccess: null,
      },
    });

    await sync(db, 'ready');
    const ready = await readyz(server);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready' });
    expect(ready.body).not.toHaveProperty('reason');

    await db.pool.query(
      `UPDATE sutro.sync_state SET last_success_at = now() - interval '5000 seconds' WHERE source = 'ready'`,
    );
    const stale = await readyz(server);
    expect(stale.status).toBe(503);
    expect(stale.body.reason).toBe(
      'last successful sync of source "ready" 5000 s ago, older than 3600 s (SUTRO_READY_MAX_AGE_SECONDS)',
    );
  });

  it('counts a sync of the source by another process, and only of its own source', async () => {
    await sync(db, 'elsewhere');
    expect((await readyz(await serve(readinessOf(db, 'elsewhere')))).status).toBe(200);
    expect((await readyz(await serve(readinessOf(db, 'never-synced')))).status).toBe(503);
  });

  it('with several sources, names the late ones, and is 503 only when every one is late', async () => {
    await sync(db, 'fresh');
    const check = (sources: string[]) =>
      createReadinessCheck({ db, sources: () => sources, maxAgeSeconds: 3_600 });
    const mixed = await readyz(await serve(check(['fresh', 'missing-key', 'down'])));
    expect(mixed.status).toBe(200);
    expect(mixed.body).toMatchObject({
      status: 'ready',
      sources: 3,
      late: [
        { source: 'missing-key', lastSuccessAt: null, secondsSinceLastSuccess: null },
        { source: 'down', lastSuccessAt: null, secondsSinceLastSuccess: null },
      ],
    });
    expect(mixed.body).not.toHaveProperty('lastSuccessAt');
    const allLate = await readyz(await serve(check(['missing-key', 'down'])));
    expect(allLate).toMatchObject({
      status: 503,
      body: {
        reason:
          'every source is late: no successful sync yet of source "missing-key"; no successful sync yet of source "down"',
      },
    });
  });

  it('is 503 with the reason when the database refuses connections', async () => {
    const port = await freePort();
    const pool = new pg.Pool({ connectionString: `postgresql://u:p@127.0.0.1:${port}/db` });
    try {
      const result = await readyz(await serve(readinessOf({ pool }, 'ready')));
      expect(result.status).toBe(503);
      expect(result.body.reason).toMatch(/^database unreachable: .*ECONNREFUSED/);
    } finally {
      await pool.end();
    }
  });

  it('answers within its timeout when the database accepts connections and then says nothing', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const pool = new pg.Pool({ connectionString: `postgresql://u:p@127.0.0.1:${port}/db` });
    pool.on('error', () => undefined);
    try {
      const started = performance.now();
      const result = await readyz(await serve(readinessOf({ pool }, 'ready', { timeoutMs: 300 })));
      expect(result).toEqual({
        status: 503,
        body: expect.objectContaining({ reason: 'database unreachable: no answer within 300 ms' }) as unknown,
      });
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
      await pool.end();
    }
  });
});

describe('/readyz while PostgreSQL stops and starts again', () => {
  it('turns 503 when the server stops and 200 when it is back', async () => {
    const postgres = await startOwnPostgres();
    const database = connect({ connectionString: postgres.url, ssl: false }, silentLog, {
      limits: DEFAULT_LIMITS,
    });
    const { pool } = database;
    try {
      await migrate(database, silentLog, { lockTimeoutMs: MIGRATION_LOCK_TIMEOUT_MS });
      await sync(database, 'restart');
      const server = await serve(readinessOf({ pool }, 'restart'));
      expect((await readyz(server)).status).toBe(200);

      await postgres.stop();
      const down = await readyz(server);
      expect(down.status).toBe(503);
      expect(down.body.reason).toMatch(/^database unreachable: /);

      await postgres.start();
      await expect.poll(async () => (await readyz(server)).status, { timeout: 10_000 }).toBe(200);
    } finally {
      await database.close();
      await postgres.destroy();
    }
  });
});

describe('the gauges read from the database on scrape', () => {
  it('report the last success and rejected rows written by any process', async () => {
    const metrics = createMetrics({ sources: ['ready'] });
    const server = await serve(() => Promise.resolve({ ready: true }), metrics.registry);
    expect((await get(server, '/metrics')).text).toContain(
      'sutro_sync_seconds_since_last_success{source="ready"} +Inf',
    );

    metrics.attachDatabase(() => probeScrapeFigures(db, ['ready'], 1_000));
    await db.pool.query(
      `UPDATE sutro.sync_state SET last_success_at = now() - interval '120 seconds' WHERE source = 'ready'`,
    );
    const rejected = (
      await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM sutro.rejected_jobs WHERE source = 'ready'`,
      )
    ).rows[0]?.n;
    const text = (await get(server, '/metrics')).text;
    const since = Number(/^sutro_sync_seconds_since_last_success\{source="ready"\} (\S+)$/m.exec(text)?.[1]);
    expect(since).toBeGreaterThanOrEqual(120);
    expect(since).toBeLessThan(180);
    expect(text).toMatch(/^sutro_sync_last_success_timestamp_seconds\{source="ready"\} \d+(\.\d+)?$/m);
    expect(text).toContain(`sutro_sync_rejected_rows{source="ready"} ${rejected}`);
  });
});

describe('the spend gauges', () => {
  /** The series of the sutro_spend_* gauges on /metrics, by their exposition name and labels. */
  async function spendSeries(server: HealthServer): Promise<Map<string, number>> {
    const text = (await get(server, '/metrics')).text;
    return new Map(
      [...text.matchAll(/^(sutro_spend_\w+\{[^}]*\}) (\S+)$/gm)].map(([, series, value]) => [
        series ?? '',
        Number(value),
      ]),
    );
  }

  const utcDay = async () =>
    (await db.pool.query<{ day: string }>(`SELECT ((now() AT TIME ZONE 'UTC')::date)::text AS day`)).rows[0]
      ?.day;

  /**
   * Jobs of source "spend" relative to the database's clock: `start` is the current UTC day's
   * midnight. A job at midnight is today's; one a microsecond before is yesterday's, yet within
   * the last 24 hours; 30 hours ago is in neither.
   */
  async function insertSpendJobs(): Promise<void> {
    await db.pool.query(`DELETE FROM sutro.jobs WHERE source IN ('spend', 'spend-elsewhere')`);
    await db.pool.query(
      `WITH t AS (SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start)
       INSERT INTO sutro.jobs (source, job_id, status, model, datetime_created, job_cost, cost_estimate, raw)
       SELECT j.source, j.job_id, j.status, j.model, j.created, j.cost, j.estimate, '{}'::jsonb
         FROM t, LATERAL (VALUES
           ('spend', 'midnight', 'SUCCEEDED', 'llama', t.start, 1.25, 1.0),
           ('spend', 'just-now', 'SUCCEEDED', 'llama', greatest(t.start, now() - interval '1 second'), 2.5, 2.0),
           ('spend', 'running', 'RUNNING', 'llama', t.start + interval '1 microsecond', NULL, 7.0),
           ('spend', 'failed', 'FAILED', 'llama', t.start, NULL, 9.0),
           ('spend', 'thirty-hours-ago', 'SUCCEEDED', 'llama', now() - interval '30 hours', 100, 100),
           ('spend', 'before-midnight', 'SUCCEEDED', 'qwen', t.start - interval '1 microsecond', 4, 5.0),
           ('spend', 'no-model-1', 'SUCCEEDED', NULL, t.start, 0.1, NULL),
           ('spend', 'no-model-2', 'SUCCEEDED', NULL, t.start + interval '1 second', 0.2, NULL),
           ('spend', 'only-long-ago', 'SUCCEEDED', 'mistral', now() - interval '30 hours', 8, 8),
           ('spend', 'no-creation-time', 'SUCCEEDED', 'llama', NULL, 16, 16),
           ('spend-elsewhere', 'other-source', 'SUCCEEDED', 'llama', t.start, 50, 50)
         ) AS j(source, job_id, status, model, created, cost, estimate)`,
    );
  }

  it('sum job_cost by model for the current UTC day and the last 24 hours, exactly', async () => {
    const metrics = createMetrics({ sources: ['spend'] });
    metrics.attachDatabase(() => probeScrapeFigures(db, ['spend'], 1_000));
    const server = await serve(() => Promise.resolve({ ready: true }), metrics.registry);
    // Were the UTC day to change between the insert and the scrape, the jobs would be a day off.
    let series: Map<string, number> | undefined;
    for (let attempt = 1; series === undefined && attempt <= 2; attempt += 1) {
      const day = await utcDay();
      await insertSpendJobs();
      const read = await spendSeries(server);
      if ((await utcDay()) === day) series = read;
    }
    expect(series).toEqual(
      new Map([
        ['sutro_spend_today_usd{source="spend",model="llama"}', 3.75],
        ['sutro_spend_today_usd{source="spend",model="qwen"}', 0],
        ['sutro_spend_today_usd{source="spend",model="(none)"}', 0.3],
        ['sutro_spend_last_24h_usd{source="spend",model="llama"}', 3.75],
        ['sutro_spend_last_24h_usd{source="spend",model="qwen"}', 4],
        ['sutro_spend_last_24h_usd{source="spend",model="(none)"}', 0.3],
        ['sutro_spend_today_unpriced_estimate_usd{source="spend",model="llama"}', 7],
        ['sutro_spend_today_unpriced_estimate_usd{source="spend",model="qwen"}', 0],
        ['sutro_spend_today_unpriced_estimate_usd{source="spend",model="(none)"}', 0],
      ]),
    );
  });

  it('agree with sutro.daily_usage for today, model by model, after a sync', async () => {
    // The account's clock at the end of the database's current UTC day, so that today has a day's jobs
    // and costs whatever the hour (just after midnight, a clock of "now" left today without a billed
    // job). Were the day to change during the sync, it is done again for the new day.
    let checked = false;
    for (let attempt = 1; !checked && attempt <= 2; attempt += 1) {
      const day = await utcDay();
      const source = `spend-synced-${attempt}`;
      const account = new SimulatedAccount({
        jobs: 400,
        seed: 11,
        days: 2,
        now: new Date(`${day}T23:59:00Z`),
      });
      const simulator = await startSimulator({ account, apiKey: KEY, port: 0 });
      try {
        const result = await runSync(
          { store: db.store, api: testApi(simulator, 100, KEY), log: silentLog },
          {
            source,
            mode: 'incremental',
            trigger: 'cli',
            safetyMarginSeconds: 3_600,
            leaseSeconds: LEASE_SECONDS,
          },
        );
        expect(result).toMatchObject({ skipped: false, status: 'succeeded' });
      } finally {
        await simulator.close();
      }
      const figures = (await probeScrapeFigures(db, [source], 1_000)).get(source);
      const usage = await db.pool.query<{ model: string | null; cost_usd: number }>(
        `SELECT model, sum(cost_usd)::float8 AS cost_usd
           FROM sutro.daily_usage
          WHERE source = $1 AND day = (now() AT TIME ZONE 'UTC')::date
          GROUP BY model`,
        [source],
      );
      if ((await utcDay()) !== day) continue;
      const today = new Map((figures?.spendByModel ?? []).map((spend) => [spend.model, spend.todayUsd]));
      expect(usage.rows.some((row) => row.cost_usd > 0)).toBe(true);
      for (const { model, cost_usd } of usage.rows) expect(today.get(model)).toBe(cost_usd);
      // Models with jobs only yesterday (within 24 hours) are there at 0; none is missing from the view.
      for (const [model, usd] of today)
        if (usd !== 0) expect(usage.rows.map((r) => r.model)).toContain(model);
      checked = true;
    }
    expect(checked).toBe(true);
  });
});
