import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runCli } from '../helpers/cli.js';

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

describe('without DATABASE_URL', () => {
  it('runs on an embedded PostgreSQL whose data survives a restart, and logs how to connect', async () => {
    const port = String(56_000 + Math.floor(Math.random() * 3_000));
    const env = {
      SUTRO_API_URL: sim.url,
      SUTRO_API_KEY: KEY,
      SUTRO_EMBEDDED_PG_DIR: path.join(dir, 'pg'),
      SUTRO_EMBEDDED_PG_PORT: port,
    };
    const first = await runCli(['sync'], env);
    expect(first.code, first.stderr).toBe(0);
    const running = first.logs.find((l) => String(l.msg).startsWith('embedded PostgreSQL running'));
    expect(running?.url).toBe(`postgresql://postgres:sutro-sync@127.0.0.1:${port}/sutro_sync`);
    expect(first.logs.find((l) => l.msg === 'sync run succeeded')).toMatchObject({ inserted: 300 });

    const second = await runCli(['sync', '--full'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.logs.find((l) => l.msg === 'sync run succeeded')).toMatchObject({
      inserted: 0,
      unchanged: 300,
    });
  }, 120_000);
});
