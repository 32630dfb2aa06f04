import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runCli, startCli, type CliResult, type RunningCli } from '../helpers/cli.js';
import { createTestDatabase, routes, type TestDatabase } from '../helpers/database.js';
import { startFreezingProxy } from '../helpers/freezing-proxy.js';
import { diffAgainstTruth } from '../helpers/truth.js';

/**
 * A database that stops answering mid-run, with every setting at its default: the run must end as
 * failed within two minutes, say why in one line, and the next run must complete. DESIGN.md: every
 * wait is bounded and says what it waits for.
 */

const KEY = 'sk_test_frozen';
const JOBS = 3_000;
const DEADLINE_MS = 120_000;
let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: JOBS, seed: 61 }),
    apiKey: KEY,
    port: 0,
    latencyMs: 20,
  });
});
afterAll(async () => {
  await sim.close();
});

/** The command's end, or a failed test (and a killed process) if it is not over by the deadline. */
async function endsWithin(running: RunningCli, ms: number): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      running.child.kill('SIGKILL');
      reject(new Error(`still running ${ms} ms after the database froze:\n${running.output().stderr}`));
    }, ms);
  });
  try {
    return await Promise.race([running.done, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function runsOf(db: TestDatabase, source: string) {
  const result = await db.pool.query<{ status: string; error: string | null; resumed: boolean }>(
    `SELECT status, error, resumed_from_run_id IS NOT NULL AS resumed FROM sutro.sync_runs WHERE source = $1 ORDER BY id`,
    [source],
  );
  return result.rows;
}

describe.each(routes())('through %s, the connections of a run freeze', (route) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ route });
  });
  afterAll(async () => {
    await db.drop();
  });

  it('ends the run as failed within 2 minutes, records why on a fresh connection, and the next run completes', async () => {
    const proxy = await startFreezingProxy(db.url);
    try {
      const env = {
        DATABASE_URL: proxy.url,
        SUTRO_API_URL: sim.url,
        SUTRO_API_KEY: KEY,
        SUTRO_SOURCE: 'frozen',
      };
      const running = startCli(['sync', '--full'], { ...env, LOG_LEVEL: 'debug' });
      await running.waitForLog((l) => l.msg === 'page committed' && l.page === 3);
      // The connections open now go silent (a dropped NAT entry); a new one gets through.
      proxy.freeze('established');
      const result = await endsWithin(running, DEADLINE_MS);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^sutro-sync: sync failed: .*the database did not answer within 70 s: the connection is frozen .*\n$/,
      );
      const [failed] = await runsOf(db, 'frozen');
      expect(failed?.status).toBe('failed');
      expect(failed?.error).toMatch(/the database did not answer within 70 s/);

      const next = await runCli(['sync'], env);
      expect(next.code, next.stderr).toBe(0);
      expect((await runsOf(db, 'frozen')).map((r) => [r.status, r.resumed])).toEqual([
        ['failed', false],
        ['succeeded', true],
      ]);
      expect(await diffAgainstTruth(db.pool, 'frozen', sim.account.snapshot())).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 180_000);
});

describe('the whole database stops answering, new connections included', () => {
  const route = routes().at(-1) ?? 'direct';
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ route });
  });
  afterAll(async () => {
    await db.drop();
  });

  it(`ends the run as failed within 2 minutes (through ${route}), and once it answers again the next run takes the source over`, async () => {
    const proxy = await startFreezingProxy(db.url);
    try {
      const env = {
        DATABASE_URL: proxy.url,
        SUTRO_API_URL: sim.url,
        SUTRO_API_KEY: KEY,
        SUTRO_SOURCE: 'gone',
      };
      const running = startCli(['sync', '--full'], { ...env, LOG_LEVEL: 'debug' });
      await running.waitForLog((l) => l.msg === 'page committed' && l.page === 3);
      proxy.freeze('all');
      const result = await endsWithin(running, DEADLINE_MS);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^sutro-sync: sync failed: .*the database did not answer within 70 s.*; its end could not be recorded in the database: .*\n$/,
      );
      expect((await runsOf(db, 'gone')).map((r) => r.status)).toEqual(['running']);

      // The run could not free its lease: the next one waits for it to lapse, then takes over.
      proxy.thaw();
      const next = await runCli(['sync', '--wait', '60'], env);
      expect(next.code, next.stderr).toBe(0);
      expect((await runsOf(db, 'gone')).map((r) => [r.status, r.resumed])).toEqual([
        ['abandoned', false],
        ['succeeded', true],
      ]);
      expect(await diffAgainstTruth(db.pool, 'gone', sim.account.snapshot())).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 240_000);
});
