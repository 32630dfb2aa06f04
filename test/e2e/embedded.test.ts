import { chmod, mkdtemp, readFile, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runCli, startCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

const KEY = 'sk_test_embedded';
let sim: RunningSimulator;
let dir: string;

beforeAll(async () => {
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: 300, seed: 51 }),
    apiKey: KEY,
    port: 0,
  });
  dir = await mkdtemp(path.join(tmpdir(), 'sutro-sync-embedded-'));
  // When the tests run as root, the server runs as user postgres, which must enter the folder.
  await chmod(dir, 0o755);
});
afterAll(async () => {
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

/** The password of a pgpass line: host:port:database:user:password. */
async function passwordIn(file: string): Promise<string> {
  return (await readFile(file, 'utf8')).trim().split(':').slice(4).join(':');
}

/** `url` with `password` in it: node-postgres lets a URL's empty password override the option. */
function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

/** Runs `start` until `work` is done, so that the embedded server is up for it. */
async function whileServing<T>(env: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const worker = startCli(['start', '--no-initial-run'], { ...env, SUTRO_HTTP_PORT: '0' });
  try {
    await worker.waitForLog((l) => l.msg === 'scheduler started', 60_000);
    return await work();
  } finally {
    worker.child.kill('SIGTERM');
    await worker.done;
  }
}

describe('without DATABASE_URL', () => {
  it('runs on an embedded PostgreSQL whose data survives a restart, with a password printed nowhere', async () => {
    const port = String(await freePort());
    const dataDir = path.join(dir, 'pg');
    const passwordFile = path.join(dir, 'pg.pgpass');
    const env = {
      SUTRO_API_URL: sim.url,
      SUTRO_API_KEY: KEY,
      SUTRO_EMBEDDED_PG_DIR: dataDir,
      SUTRO_EMBEDDED_PG_PORT: port,
    };
    const first = await runCli(['sync'], env);
    expect(first.code, first.stderr).toBe(0);
    const running = first.logs.find((l) => String(l.msg).startsWith('embedded PostgreSQL running'));
    const url = `postgresql://postgres@127.0.0.1:${port}/sutro_sync`;
    expect(running).toMatchObject({ url, psql: `PGPASSFILE=${passwordFile} psql ${url}` });
    expect(first.logs.find((l) => l.msg === 'sync run succeeded')).toMatchObject({ inserted: 300 });

    // A random password of this data directory, in a file only its owner reads, and in no output.
    expect((await stat(passwordFile)).mode & 0o777).toBe(0o600);
    const password = await passwordIn(passwordFile);
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(first.stdout + first.rawStderr).not.toContain(password);

    const second = await runCli(['sync', '--full'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.logs.find((l) => l.msg === 'sync run succeeded')).toMatchObject({
      inserted: 0,
      unchanged: 300,
    });
    expect(await passwordIn(passwordFile)).toBe(password);

    // What the log line says works while the server is up: the URL with the file's password.
    await whileServing(env, async () => {
      const client = new pg.Client({ connectionString: withPassword(url, password) });
      await client.connect();
      expect((await client.query('SELECT count(*)::int AS n FROM sutro.jobs')).rows).toEqual([{ n: 300 }]);
      // A data directory made before passwords were random: its fixed password and no file.
      await client.query(`ALTER ROLE postgres PASSWORD 'sutro-sync'`);
      await client.end();
    });
    await unlink(passwordFile);
    const legacy = await runCli(['sync'], env);
    expect(legacy.code, legacy.stderr).toBe(0);
    const rotated = await passwordIn(passwordFile);
    expect(rotated).not.toBe(password);
    expect(rotated).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await whileServing(env, async () => {
      const old = new pg.Client({ connectionString: withPassword(url, 'sutro-sync') });
      await expect(old.connect()).rejects.toThrow(/password authentication failed/);
      // A rotation cut short: the new password written down, the server still on the fixed one.
      const client = new pg.Client({ connectionString: withPassword(url, rotated) });
      await client.connect();
      await client.query(`ALTER ROLE postgres PASSWORD 'sutro-sync'`);
      await client.end();
    });
    const resumed = await runCli(['sync'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    const again = await passwordIn(passwordFile);
    expect(again).not.toBe(rotated);
    await whileServing(env, async () => {
      const client = new pg.Client({ connectionString: withPassword(url, again) });
      await client.connect();
      await client.end();
    });
  }, 180_000);
});
