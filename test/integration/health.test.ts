import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Database } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrate.js';
import { createSyncStore } from '../../src/db/store.js';
import { createMetrics } from '../../src/metrics.js';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runSync } from '../../src/sync/engine.js';
import {
  createReadinessCheck,
  ProgressWatch,
  probeSourceHealth,
  type Liveness,
  type Readiness,
} from '../../src/worker/health.js';
import { startHealthServer, type HealthServer } from '../../src/worker/http.js';
import { createTestDatabase, silentLog, type TestDatabase } from '../helpers/database.js';
import { DEFAULT_LIMITS, LEASE_SECONDS, MIGRATION_LOCK_TIMEOUT_MS } from '../helpers/limits.js';
import { testApi } from '../helpers/sync.js';
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
  registry = createMetrics({ source: 'x' }).registry,
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

async function sync(database: Pick<Database, 'pool'>, source: string) {
  const result = await runSync(
    {
      store: createSyncStore(database.pool, DEFAULT_LIMITS),
      api: testApi(sim, 100, KEY),
      log: silentLog,
    },
    { source, mode: 'incremental', trigger: 'test', safetyMarginSeconds: 3_600, leaseSeconds: LEASE_SECONDS },
  );
  expect(result).toMatchObject({ skipped: false, status: 'succeeded' });
}

const readinessOf = (pool: pg.Pool, source: string, extra: { timeoutMs?: number } = {}) =>
  createReadinessCheck({ pool, source, maxAgeSeconds: 3_600, ...extra });

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
        registry: createMetrics({ source: 'x' }).registry,
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
    watch.runStarted('the full run started by schedule-full');
    now = 599_000;
    expect(await healthz()).toMatchObject({ status: 200, body: { status: 'ok', secondsSinceProgress: 599 } });
    watch.progressed();
    now = 1_199_000;
    expect((await healthz()).status).toBe(200);
    now = 1_200_001;
    expect(await healthz()).toEqual({
      status: 503,
      body: {
        status: 'stalled',
        reason:
          'the full run started by schedule-full has made no progress for 601 s (SUTRO_STALL_SECONDS=600)',
        secondsSinceProgress: 601,
      },
    });
    // Between runs the worker waits for the next tick, which is healthy however long it takes.
    watch.runEnded();
    now = 10_000_000;
    expect(await healthz()).toEqual({ status: 200, body: { status: 'ok' } });
  });
});

describe('/readyz', () => {
  it('is 503 before any sync, 200 after a successful one, 503 once it is too old', async () => {
    const server = await serve(readinessOf(db.pool, 'ready'));
    expect(await readyz(server)).toEqual({
      status: 503,
      body: {
        status: 'not ready',
        reason: 'no successful sync yet of source "ready"',
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
      'last successful sync 5000 s ago, older than 3600 s (SUTRO_READY_MAX_AGE_SECONDS)',
    );
  });

  it('counts a sync of the source by another process, and only of its own source', async () => {
    await sync(db, 'elsewhere');
    expect((await readyz(await serve(readinessOf(db.pool, 'elsewhere')))).status).toBe(200);
    expect((await readyz(await serve(readinessOf(db.pool, 'never-synced')))).status).toBe(503);
  });

  it('is 503 with the reason when the database refuses connections', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const pool = new pg.Pool({ connectionString: `postgresql://u:p@127.0.0.1:${port}/db` });
    try {
      const result = await readyz(await serve(readinessOf(pool, 'ready')));
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
      const result = await readyz(await serve(readinessOf(pool, 'ready', { timeoutMs: 300 })));
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
      await migrate(pool, silentLog, { limits: DEFAULT_LIMITS, lockTimeoutMs: MIGRATION_LOCK_TIMEOUT_MS });
      await sync(database, 'restart');
      const server = await serve(readinessOf(pool, 'restart'));
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
    const metrics = createMetrics({ source: 'ready' });
    const server = await serve(() => Promise.resolve({ ready: true }), metrics.registry);
    expect((await get(server, '/metrics')).text).toContain(
      'sutro_sync_seconds_since_last_success{source="ready"} +Inf',
    );

    metrics.attachDatabase(() => probeSourceHealth(db.pool, 'ready', 1_000));
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
