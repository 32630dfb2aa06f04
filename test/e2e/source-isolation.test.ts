import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  runsBySource,
  sourcesFolder,
  startReplicas,
  stopReplicas,
  type SourcesFolder,
} from '../helpers/sources.js';

/**
 * A long first pass holds one slot and no more: while one source reads 100,000 jobs for the first
 * time, the others keep their schedule in the other slot, on one replica with two slots.
 */

const BIG = 100_000;
const SMALL = ['small-a', 'small-b', 'small-c'];
const EVERY_2_SECONDS = '*/2 * * * * *';

let db: TestDatabase;
let sim: RunningSimulator;
let sources: SourcesFolder;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: BIG, seed: 900 }),
    apiKey: 'sk_big',
    moreAccounts: SMALL.map((_, i) => ({
      apiKey: `sk_small_${i}`,
      account: new SimulatedAccount({ jobs: 120, seed: 901 + i }),
    })),
    port: 0,
  });
  sources = await sourcesFolder([
    { name: 'big', apiUrl: sim.url, key: 'sk_big', schedule: EVERY_2_SECONDS },
    ...SMALL.map((name, i) => ({ name, apiUrl: sim.url, key: `sk_small_${i}`, schedule: EVERY_2_SECONDS })),
  ]);
}, 120_000);
afterAll(async () => {
  await sim.close();
  await sources.remove();
  await db.drop();
});

describe('a first pass of 100,000 jobs', () => {
  it('holds one slot while the other sources keep their schedule in the other', async () => {
    const [replica] = startReplicas(1, {
      DATABASE_URL: db.url,
      SUTRO_SOURCES_FILE: sources.file,
      SUTRO_CONCURRENCY: '2',
      SUTRO_POLL_SECONDS: '0.5',
      SUTRO_HTTP_PORT: '0',
    });
    if (replica === undefined) throw new Error('no replica');
    try {
      await replica.waitForLog((l) => l.msg === 'sync run succeeded' && l.source === 'big', 150_000);
    } finally {
      await stopReplicas([replica]);
    }
    const runs = await runsBySource(db.pool);
    const [big] = runs.get('big') ?? [];
    expect(big).toMatchObject({ status: 'succeeded', mode: 'full' });
    const start = big?.started_at.getTime() ?? 0;
    const end = big?.finished_at?.getTime() ?? 0;
    const passSeconds = (end - start) / 1000;
    for (const name of SMALL) {
      const during = (runs.get(name) ?? []).filter(
        (r) => r.started_at.getTime() > start && r.started_at.getTime() < end,
      );
      // A run per two seconds of the pass, give or take the ones a busy machine runs late.
      expect(during.length, `${name}: runs during the ${passSeconds} s pass`).toBeGreaterThanOrEqual(
        Math.floor(passSeconds / 2 / 2),
      );
      for (const run of during) {
        // Claimed when due, not after the big pass: the free slot took it.
        const lag = (run.started_at.getTime() - (run.due_at?.getTime() ?? 0)) / 1000;
        expect(lag, `${name}: run ${run.id} started ${lag} s after it was due`).toBeLessThan(passSeconds / 2);
      }
    }
  }, 200_000);
});
