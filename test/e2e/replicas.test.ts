import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { createTestDatabase, routes, type TestDatabase } from '../helpers/database.js';
import {
  overlaps,
  runsBySource,
  sourcesFolder,
  startReplicas,
  stopReplicas,
  type SourceEntry,
  type SourcesFolder,
} from '../helpers/sources.js';
import { diffAgainstTruth } from '../helpers/truth.js';

/**
 * Three replicas of `start` share twenty sources through PostgreSQL, here through PgBouncer in
 * transaction mode (where it is installed), while the accounts change under them: every source runs
 * on its schedule, once per due time and never twice at once; a replica killed with -9 has its
 * source taken over by another within the lease plus a tick; a source whose key is refused or whose
 * API is down fails alone; at the end every source equals its API.
 */

const GOOD = 17;
/**
 * How long the two replicas left go on after the kill: seconds in the suite, which has three minutes
 * for everything; TEST_SOAK_SECONDS=180 runs the same test for minutes.
 */
const SOAK_SECONDS = Number(process.env.TEST_SOAK_SECONDS ?? 8);
const LEASE_SECONDS = 3;
const POLL_SECONDS = 0.5;
const EVERY_2_SECONDS = '*/2 * * * * *';
/** Never in a test's life: the first run of a source is a full pass anyway. */
const NO_FULL_PASS = '0 0 1 1 *';

const route = routes().at(-1) ?? 'direct';
let db: TestDatabase;
let sim: RunningSimulator;
let sources: SourcesFolder;
const keyOf = (i: number) => `sk_replicas_${i}`;
const goodNames = Array.from({ length: GOOD }, (_, i) => `team-${String(i + 1).padStart(2, '0')}`);

beforeAll(async () => {
  db = await createTestDatabase({ route });
  // Seventeen small accounts, one slow one to be caught mid-run, all on one deployment.
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: 1_200, seed: 700 }),
    apiKey: keyOf(0),
    moreAccounts: goodNames.map((_, i) => ({
      apiKey: keyOf(i + 1),
      account: new SimulatedAccount({ jobs: 150 + 15 * i, seed: 701 + i }),
    })),
    port: 0,
  });
  sim.accountOf(keyOf(0)).setLatency(400);
  const entries: SourceEntry[] = [
    { name: 'slow', apiUrl: sim.url, key: keyOf(0), schedule: EVERY_2_SECONDS, fullSchedule: NO_FULL_PASS },
    ...goodNames.map((name, i) => ({
      name,
      apiUrl: sim.url,
      key: keyOf(i + 1),
      schedule: EVERY_2_SECONDS,
      fullSchedule: NO_FULL_PASS,
    })),
    // A key the deployment does not know, and an API nothing answers for.
    { name: 'refused', apiUrl: sim.url, key: 'sk_not_a_key_here', schedule: EVERY_2_SECONDS },
    { name: 'down', apiUrl: 'http://127.0.0.1:9', key: 'sk_down', schedule: EVERY_2_SECONDS },
  ];
  sources = await sourcesFolder(entries);
});
afterAll(async () => {
  await sim.close();
  await sources.remove();
  await db.drop();
});

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

describe(`three replicas and twenty sources through ${route}`, () => {
  it(
    'run every source on schedule, once per due time, never twice at once, and lose nothing to a kill -9',
    async () => {
      const replicas = startReplicas(3, {
        DATABASE_URL: db.url,
        SUTRO_SOURCES_FILE: sources.file,
        SUTRO_LEASE_SECONDS: String(LEASE_SECONDS),
        SUTRO_POLL_SECONDS: String(POLL_SECONDS),
        SUTRO_CONCURRENCY: '3',
        SUTRO_MAX_RETRIES: '0',
        SUTRO_REQUEST_TIMEOUT_MS: '2000',
        SUTRO_HTTP_PORT: '0',
      });
      const accounts = [sim.accountOf(keyOf(0)), ...goodNames.map((_, i) => sim.accountOf(keyOf(i + 1)))];
      const changing = setInterval(() => {
        for (const { account } of accounts) account.advance({ seconds: 60, newJobs: 2 });
      }, 1_000);
      try {
        // The slow source's first pass takes seconds: kill the replica that holds it, mid-run.
        let holder: { pid: number; expires: Date } | null = null;
        await until('the slow source runs', async () => {
          const lease = await db.pool.query<{ holder: string; expires_at: Date }>(
            `SELECT holder, expires_at FROM sutro.sync_leases WHERE source = 'slow' AND holder IS NOT NULL AND run_id IS NOT NULL`,
          );
          const row = lease.rows[0];
          if (row === undefined) return false;
          holder = { pid: Number(row.holder.split(':')[1]), expires: row.expires_at };
          return true;
        });
        const killed = replicas.find((replica) => replica.child.pid === holder?.pid);
        expect(killed, 'the replica holding the slow source').toBeDefined();
        killed?.child.kill('SIGKILL');
        const killedAt = await db.pool.query<{ now: Date }>('SELECT now()');

        // Another replica takes it over once the lease has lapsed, and continues the pass.
        await until('another replica takes the slow source over', async () => {
          const runs = (await runsBySource(db.pool)).get('slow') ?? [];
          return runs.some(
            (r) => r.pid !== holder?.pid && r.started_at > (killedAt.rows[0]?.now ?? new Date()),
          );
        });
        const slowRuns = (await runsBySource(db.pool)).get('slow') ?? [];
        const takeover = slowRuns.find(
          (r) => r.pid !== holder?.pid && r.started_at > (killedAt.rows[0]?.now ?? new Date()),
        );
        const lapsed = (takeover?.started_at.getTime() ?? 0) - (killedAt.rows[0]?.now.getTime() ?? 0);
        // At most the lease, then one tick of the poll; seconds more for a loaded machine.
        expect(lapsed).toBeLessThanOrEqual((LEASE_SECONDS + POLL_SECONDS) * 1000 + 3_000);

        // The soak goes on with two replicas, then the accounts stop changing.
        await new Promise((resolve) => setTimeout(resolve, SOAK_SECONDS * 1000));
      } finally {
        clearInterval(changing);
      }
      const settled = (await db.pool.query<{ now: Date }>('SELECT now()')).rows[0]?.now ?? new Date();
      await until(
        'every source has synced since the accounts stopped changing',
        async () => {
          const runs = await runsBySource(db.pool);
          return ['slow', ...goodNames].every((name) =>
            (runs.get(name) ?? []).some((r) => r.status === 'succeeded' && r.started_at > settled),
          );
        },
        40_000,
      );
      const results = await stopReplicas(
        replicas.filter((replica) => replica.child.exitCode === null && !replica.child.killed),
      );
      for (const result of results) expect(result.code, result.stderr).toBe(0);

      const runs = await runsBySource(db.pool);
      for (const name of ['slow', ...goodNames]) {
        const ofSource = runs.get(name) ?? [];
        expect(overlaps(ofSource), name).toEqual([]);
        // Once per due time: no due time served twice, whichever replica served it.
        const due = ofSource.flatMap((r) => (r.due_at === null ? [] : [r.due_at.getTime()]));
        expect(new Set(due).size, `${name}: due times served`).toBe(due.length);
        expect(
          ofSource.filter((r) => r.status === 'succeeded').length,
          `${name}: runs`,
        ).toBeGreaterThanOrEqual(4);
        expect(
          await diffAgainstTruth(
            db.pool,
            name,
            sim.accountOf(name === 'slow' ? keyOf(0) : keyOf(goodNames.indexOf(name) + 1)).account.snapshot(),
          ),
          name,
        ).toEqual([]);
      }
      // The source of the killed replica: its run was found abandoned, and the pass resumed.
      expect((runs.get('slow') ?? []).map((r) => r.status)).toContain('abandoned');

      // The failing sources failed alone, backing off: a run, a run, then fewer and fewer.
      const backoff = await db.pool.query<{ source: string; failures: number }>(
        `SELECT source, failures FROM sutro.source_schedules WHERE source IN ('refused', 'down') ORDER BY source`,
      );
      for (const { source, failures } of backoff.rows) {
        const ofSource = runs.get(source) ?? [];
        // Failed, every one (a run the kill or the stop cut short is abandoned or interrupted).
        expect(
          ofSource.filter((r) => r.status === 'succeeded'),
          source,
        ).toEqual([]);
        expect(
          ofSource.map((r) => r.status),
          source,
        ).toContain('failed');
        expect(failures, source).toBeGreaterThanOrEqual(3);
        // Every 2 s for the whole soak would be a run per due time; backing off, the gaps double.
        const seconds = (Date.now() - (ofSource[0]?.started_at.getTime() ?? Date.now())) / 1000;
        expect(ofSource.length, source).toBeLessThanOrEqual(Math.ceil(Math.log2(Math.max(2, seconds))) + 3);
      }
      expect((runs.get('refused') ?? []).find((r) => r.status === 'failed')?.error).toMatch(/401/);
    },
    150_000 + SOAK_SECONDS * 1000,
  );
});
