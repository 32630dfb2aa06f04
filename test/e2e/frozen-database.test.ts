import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runCli, startCli, type CliResult, type RunningCli } from '../helpers/cli.js';
import { createTestDatabase, routes, type TestDatabase } from '../helpers/database.js';
import { expireLease } from '../helpers/crash.js';
import { startFreezingProxy } from '../helpers/freezing-proxy.js';
import { diffAgainstTruth } from '../helpers/truth.js';

/**
 * A database that stops answering mid-run: the run must end as failed within the bound its timeouts
 * imply, say why in one line, and the next run must complete. DESIGN.md: every wait is bounded and
 * says what it waits for.
 *
 * With the defaults that bound is two minutes (a 60 s statement timeout, 10 s of client grace and a
 * 10 s connect limit: test/unit/database-timeouts.test.ts); here the statement timeout is
 * 2 s, which gives a frozen connection up after 4 s (2 s + a grace as long).
 */

const KEY = 'sk_test_frozen';
const JOBS = 1_000;
const STATEMENT_TIMEOUT = { SUTRO_DB_STATEMENT_TIMEOUT_MS: '2000' };
/**
 * The frozen statement's 4 s, then recording the failure: on a fresh connection (4 s more at most),
 * or, when new connections hang too, after the 10 s connect limit; 30 s leaves room for a busy machine.
 */
const DEADLINE_MS = 30_000;
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

  it('ends the run as failed within its timeouts, records why on a fresh connection, and the next run completes', async () => {
    const proxy = await startFreezingProxy(db.url);
    try {
      const env = {
        DATABASE_URL: proxy.url,
        SUTRO_API_URL: sim.url,
        SUTRO_API_KEY: KEY,
        SUTRO_SOURCE: 'frozen',
        ...STATEMENT_TIMEOUT,
      };
      const running = startCli(['sync', '--full'], { ...env, LOG_LEVEL: 'debug' });
      await running.waitForLog((l) => l.msg === 'page committed' && l.page === 3);
      // The connections open now go silent (a dropped NAT entry); a new one gets through.
      proxy.freeze('established');
      const result = await endsWithin(running, DEADLINE_MS);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^sutro-sync: sync failed: .*the database did not answer within 4 s: the connection is frozen .*\(SUTRO_DB_STATEMENT_TIMEOUT_MS \+ 2 s\) .*\n$/,
      );
      const [failed] = await runsOf(db, 'frozen');
      expect(failed?.status).toBe('failed');
      expect(failed?.error).toMatch(/the database did not answer within 4 s/);

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
  });
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

  it(`ends the run as failed within its timeouts (through ${route}), and once it answers again the next run takes the source over once the lease lapses`, async () => {
    const proxy = await startFreezingProxy(db.url);
    try {
      const env = {
        DATABASE_URL: proxy.url,
        SUTRO_API_URL: sim.url,
        SUTRO_API_KEY: KEY,
        SUTRO_SOURCE: 'gone',
        ...STATEMENT_TIMEOUT,
      };
      const running = startCli(['sync', '--full'], { ...env, LOG_LEVEL: 'debug' });
      await running.waitForLog((l) => l.msg === 'page committed' && l.page === 3);
      proxy.freeze('all');
      const result = await endsWithin(running, DEADLINE_MS);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^sutro-sync: sync failed: .*the database did not answer within 4 s.*; its end could not be recorded in the database: .*\n$/,
      );
      expect((await runsOf(db, 'gone')).map((r) => r.status)).toEqual(['running']);

      // The run could not free its lease: the next one finds the source held, waits for the lease to
      // lapse, then takes over. The test makes it lapse (a 30 s lease, the default) by moving its
      // expiry in the database once the next run has said it waits, rather than by waiting it out.
      proxy.thaw();
      const next = startCli(['sync', '--wait', '60'], env);
      await next.waitForLog((l) =>
        /another sync of source "gone" is in progress .*; waiting for it$/.test(String(l.msg)),
      );
      await expireLease(db, 'gone');
      const took = await next.done;
      expect(took.code, took.stderr).toBe(0);
      expect((await runsOf(db, 'gone')).map((r) => [r.status, r.resumed])).toEqual([
        ['abandoned', false],
        ['succeeded', true],
      ]);
      expect(await diffAgainstTruth(db.pool, 'gone', sim.account.snapshot())).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
