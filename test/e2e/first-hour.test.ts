import { execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { BIN, runCli, startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';
import { diffAgainstTruth } from '../helpers/truth.js';

/** What a new user does in their first hour, from a fresh clone, as the README tells it. */

const KEY = 'sk_test_first_hour';
let dir: string;
let db: TestDatabase;
let sim: RunningSimulator;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sutro-sync-first-hour-'));
  // As root the embedded server runs as user postgres, which must enter the folder.
  await chmod(dir, 0o755);
  db = await createTestDatabase();
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: 700, seed: 101 }),
    apiKey: KEY,
    port: 0,
  });
});
afterAll(async () => {
  await sim.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const embedded = async () => ({
  SUTRO_EMBEDDED_PG_DIR: path.join(dir, 'pg'),
  SUTRO_EMBEDDED_PG_PORT: String(await freePort()),
});

/** What the terminal shows of the embedded server's start (log.ts's notice), if the server started. */
function runningNotice(logs: readonly Record<string, unknown>[]): unknown {
  const started = logs.find((l) => String(l.msg).startsWith('embedded PostgreSQL running'));
  expect(started).toBeDefined();
  return started?.notice;
}

async function hasPsql(): Promise<boolean> {
  return promisify(execFile)('psql', ['--version']).then(
    () => true,
    () => false,
  );
}

describe('the demo, then exploring its data', () => {
  it('prints a psql line that works while `explore` keeps the embedded database up', async () => {
    const env = await embedded();
    const demo = await runCli(['demo', '--jobs', '300'], env);
    expect(demo.code, demo.stderr).toBe(0);
    // stdout is the tour alone: no log line in it.
    expect(demo.stdout).not.toMatch(/^\{"level"/m);
    expect(demo.stdout).toContain('npx sutro-sync explore');
    const psql = /^ {2}(PGPASSFILE=\S+ psql '[^']+' -c ".*")$/m.exec(demo.stdout)?.[1];
    expect(psql).toBeDefined();

    // A one-shot command stops the embedded server as it exits: no line on how to connect while it runs.
    expect(runningNotice(demo.logs)).toBeUndefined();

    const explore = startCli(['explore'], env);
    try {
      await expect.poll(() => explore.output().stdout, { timeout: 60_000 }).toContain('psql');
      if (await hasPsql()) {
        const { stdout } = await promisify(execFile)('sh', ['-c', psql ?? 'false']);
        expect(stdout).toContain('job_');
      }
      expect(explore.output().stdout).toMatch(
        /^PGPASSFILE=\S+ psql 'postgresql:\/\/postgres@127\.0\.0\.1:\d+\/sutro_sync' -c "/m,
      );
    } finally {
      explore.child.kill('SIGINT');
    }
    const explored = await explore.done;
    expect(explored.code).toBe(0);
    expect(runningNotice(explored.logs)).toMatch(
      /^embedded PostgreSQL running; connect while it runs: PGPASSFILE=/,
    );

    // What the commands print is theirs alone, so it can be piped or redirected as it is.
    const status = await runCli(['status', '--json', '--source', 'demo'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(runningNotice(status.logs)).toBeUndefined();
    expect((JSON.parse(status.stdout) as { source: string }).source).toBe('demo');
    const report = await runCli(['report', '--format', 'json', '--source', 'demo'], env);
    expect(report.code, report.stderr).toBe(0);
    expect(JSON.parse(report.stdout)).toMatchObject({ source: 'demo' });
  }, 180_000);
});

describe('the demo, run again', () => {
  it('starts the tour afresh: the analytics views equal the jobs, not twice them', async () => {
    const env = { DATABASE_URL: db.url, LOG_FORMAT: 'terminal' };
    for (const round of [1, 2]) {
      const demo = await runCli(['demo', '--jobs', '300'], env);
      expect(demo.code, `round ${round}: ${demo.stderr}`).toBe(0);
      // The tour says how each run of its two sources ended; the terminal's log lines do not say it again.
      const said = `${demo.stdout}\n${demo.stderr}`;
      expect(said.match(/sync succeeded: full pass/g), said).toHaveLength(2);
      expect(said.match(/sync succeeded: incremental run/g), said).toHaveLength(2);
      expect(said.match(/^ {3}demo-staging: sync succeeded: full pass/gm), said).toHaveLength(1);
    }
    const [fromViews, fromJobs] = await Promise.all([
      db.pool.query<{ model: string | null; status: string; jobs: string; cost: string; tokens: string }>(
        `SELECT model, status, sum(jobs)::text AS jobs, sum(cost_usd)::text AS cost,
                sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))::text AS tokens
           FROM sutro.daily_usage WHERE source = 'demo' GROUP BY 1, 2 ORDER BY 1, 2`,
      ),
      db.pool.query<{ model: string | null; status: string; jobs: string; cost: string; tokens: string }>(
        `SELECT model, status, count(*)::text AS jobs, coalesce(sum(job_cost), 0)::text AS cost,
                (coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0))::text AS tokens
           FROM sutro.jobs WHERE source = 'demo' GROUP BY 1, 2 ORDER BY 1, 2`,
      ),
    ]);
    expect(fromJobs.rows.length).toBeGreaterThan(3);
    expect(fromViews.rows).toEqual(fromJobs.rows);
  }, 120_000);
});

describe('pointing sync at a deployment', () => {
  it.each([
    ['its origin', (s: RunningSimulator) => s.origin],
    ['its origin with /v1', (s: RunningSimulator) => `${s.origin}/v1`],
    ['its origin with /v1/', (s: RunningSimulator) => `${s.origin}/v1/`],
  ])('syncs exactly with SUTRO_API_URL set to %s', async (name, url) => {
    const source = `url-${name.replace(/\W+/g, '-')}`;
    const result = await runCli(['sync'], {
      DATABASE_URL: db.url,
      SUTRO_API_URL: url(sim),
      SUTRO_API_KEY: KEY,
      SUTRO_SOURCE: source,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(await diffAgainstTruth(db.pool, source, sim.account.snapshot())).toEqual([]);
  });

  it('says a failed run once on a terminal, in its last line', async () => {
    const result = await runCli(['sync'], {
      DATABASE_URL: db.url,
      SUTRO_API_URL: sim.url,
      SUTRO_API_KEY: 'sk_test_refused',
      SUTRO_SOURCE: 'refused',
      LOG_FORMAT: 'terminal',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.match(/sync failed/g), result.stderr).toHaveLength(1);
    expect(result.stderr).toMatch(/^sutro-sync: sync failed: Sutro API answered 401/m);
  });

  it('refuses a retired shared host before any request, with what to do instead', async () => {
    const result = await runCli(['sync'], {
      DATABASE_URL: db.url,
      SUTRO_API_URL: 'https://api.sutro.sh',
      SUTRO_API_KEY: KEY,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "SUTRO_API_URL: api.sutro.sh is one of Sutro's retired shared hosts: set SUTRO_API_URL to your own Sutro deployment's URL, and use an API key created in that deployment",
    );
    // Refused before the database was even opened: no run was recorded.
    const runs = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sutro.sync_runs WHERE source = 'default'`,
    );
    expect(runs.rows[0]?.n).toBe(0);
  });

  it('says to run migrate on a database sutro-sync has never seen', async () => {
    const empty = await createTestDatabase({ empty: true });
    try {
      const result = await runCli(['status'], { DATABASE_URL: empty.url });
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(
        /this database has no sutro-sync tables yet .*: run `sutro-sync migrate`/,
      );
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await empty.drop();
    }
  });
});

describe('a worker whose parent goes away', () => {
  it('stops, as on SIGTERM, when the process that started it dies without passing a signal on', async () => {
    // sh stands for npm: it starts the worker and, killed, passes nothing on.
    const parent = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" start & echo $!; wait`], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: db.url,
        SUTRO_API_URL: sim.url,
        SUTRO_API_KEY: KEY,
        SUTRO_SOURCE: 'orphan',
        SUTRO_HTTP_PORT: '0',
        SUTRO_SYNC_SCHEDULE: '0 0 1 1 *',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    parent.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const pid = Number(
      await new Promise<string>((resolve) =>
        parent.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())),
      ),
    );
    await expect.poll(() => stderr, { timeout: 30_000 }).toContain('sync run succeeded');
    parent.kill('SIGKILL');
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await expect.poll(alive, { timeout: 30_000, interval: 200 }).toBe(false);
    expect(stderr).toMatch(/shutting down \(the process that started it, pid \d+, went away\)/);
    expect(stderr).toContain('"msg":"stopped"');
  }, 60_000);
});
