import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../../src/simulator/account/random.js';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { createTestDatabase, routes, type TestDatabase } from '../helpers/database.js';
import { startCli } from '../helpers/cli.js';
import { expectExactCopy as expectExactCopyOf, expireLease } from '../helpers/crash.js';

/**
 * kill -9 in the middle of a full pass, at a random page, directly and through PgBouncer in
 * transaction mode (where PgBouncer is installed): nothing lost or duplicated, and the next run
 * resumes the pass once the dead run's lease lapses. (The other crash tests: crash.test.ts.)
 */

const KEY = 'sk_test_crash';
/** Ten pages: room to kill a pass in its middle, and to resume it. */
const JOBS = 1_000;
const PAGES = JOBS / 100;
let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: JOBS, seed: 32 }),
    apiKey: KEY,
    port: 0,
    latencyMs: 5,
  });
});
afterAll(async () => {
  await sim.close();
});

describe.each(routes())('through %s', (route) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ route });
  });
  afterAll(async () => {
    await db.drop();
  });

  const env = (source: string, extra: Record<string, string> = {}) => ({
    DATABASE_URL: db.url,
    SUTRO_API_URL: sim.url,
    SUTRO_API_KEY: KEY,
    SUTRO_SOURCE: source,
    SUTRO_MAX_RETRIES: '1',
    ...extra,
  });

  async function runs(source: string) {
    const result = await db.pool.query<{
      id: number;
      status: string;
      pages: number;
      resumed_from_run_id: number | null;
    }>(
      `SELECT id::int, status, pages, resumed_from_run_id::int FROM sutro.sync_runs WHERE source = $1 ORDER BY id`,
      [source],
    );
    return result.rows;
  }

  const expectExactCopy = (source: string) => expectExactCopyOf(db, source, JOBS, sim.account.snapshot());

  describe('kill -9 in the middle of a full pass', () => {
    it('loses and duplicates nothing, and the next run resumes once the lease lapses', async () => {
      const random = new Random(2024);
      // Each trial kills right after a page's commit, at a random page: the process dies fetching or
      // writing the next one. Twelve and six trials (once twenty and ten; two CLI processes each, the
      // suite's largest cost) still kill at pages spread over the whole pass.
      const trials = route === 'direct' ? 12 : 6;
      for (let trial = 0; trial < trials; trial += 1) {
        const source = `kill-${trial}`;
        const killAt = random.int(1, PAGES - 3);
        const victim = startCli(['sync', '--full'], env(source, { LOG_LEVEL: 'debug' }));
        await victim.waitForLog((l) => l.msg === 'page committed' && l.page === killAt);
        victim.child.kill('SIGKILL');
        const killed = await victim.done;
        expect(killed.signal).toBe('SIGKILL');

        // The crashed run's lease (the default 30 s) still holds the source: the next run waits for
        // it, and the test lets it lapse by moving its expiry once the run has said it waits.
        const waiting = startCli(['sync', '--wait', '30'], env(source));
        await waiting.waitForLog((l) =>
          String(l.msg).startsWith(`another sync of source "${source}" is in progress`),
        );
        await expireLease(db, source);
        const next = await waiting.done;
        expect(next.code, next.stderr).toBe(0);
        const [dead, resumed] = await runs(source);
        expect(dead?.status).toBe('abandoned');
        expect(resumed?.status).toBe('succeeded');
        expect(resumed?.resumed_from_run_id).toBe(dead?.id);
        // The resumed run fetched only what the killed one had not committed.
        expect(resumed?.pages).toBeLessThan(PAGES);
        expect((dead?.pages ?? 0) + (resumed?.pages ?? 0)).toBe(PAGES);
        await expectExactCopy(source);
      }
    }, 180_000);
  });
});
