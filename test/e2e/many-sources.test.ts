import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runCli, startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { sourcesFolder, type SourceEntry, type SourcesFolder } from '../helpers/sources.js';
import { diffAgainstTruth } from '../helpers/truth.js';

/** The commands with a sources file: sync --all and --source, status, report and doctor of every source, reloads. */

let db: TestDatabase;
let sim: RunningSimulator;
let sources: SourcesFolder;
const KEYS = ['sk_many_alpha', 'sk_many_beta', 'sk_many_gamma'];

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({
    account: new SimulatedAccount({ jobs: 220, seed: 301 }),
    apiKey: KEYS[0] ?? '',
    moreAccounts: [
      { apiKey: KEYS[1] ?? '', account: new SimulatedAccount({ jobs: 130, seed: 302 }) },
      { apiKey: KEYS[2] ?? '', account: new SimulatedAccount({ jobs: 90, seed: 303 }) },
    ],
    port: 0,
  });
  sources = await sourcesFolder([]);
});
afterAll(async () => {
  await sim.close();
  await sources.remove();
  await db.drop();
});

const entry = (name: string, key: string | undefined, patch: Partial<SourceEntry> = {}): SourceEntry => ({
  name,
  apiUrl: sim.url,
  key: key ?? '',
  ...patch,
});
const env = (extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  SUTRO_SOURCES_FILE: sources.file,
  SUTRO_MAX_RETRIES: '0',
  ...extra,
});

describe('sync with a sources file', () => {
  it('--all runs every enabled source, and exits 1 naming the one that failed after all had their run', async () => {
    await sources.write([
      entry('alpha', KEYS[0]),
      entry('beta', KEYS[1]),
      entry('refused', 'sk_no_such_key'),
      entry('paused', KEYS[2], { enabled: false }),
    ]);
    const result = await runCli(['sync', '--all'], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^sutro-sync: sync failed for 1 of 3 sources:\n {2}- refused: Sutro API answered 401/,
    );
    expect(await diffAgainstTruth(db.pool, 'alpha', sim.account.snapshot())).toEqual([]);
    expect(await diffAgainstTruth(db.pool, 'beta', sim.accountOf(KEYS[1] ?? '').account.snapshot())).toEqual(
      [],
    );
    const paused = await db.pool.query(`SELECT 1 FROM sutro.sync_runs WHERE source = 'paused'`);
    expect(paused.rowCount).toBe(0);
  });

  it('asks which source without --source or --all, and --source runs that one', async () => {
    const ambiguous = await runCli(['sync'], env());
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain(
      'sync: the configuration has 4 sources (alpha, beta, refused, paused): name one with --source NAME, or run them all with --all',
    );
    const unknown = await runCli(['sync', '--source', 'omega'], env());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--source: no source is named "omega"');
    const one = await runCli(['sync', '--source', 'paused'], env());
    expect(one.code, one.stderr).toBe(0);
    expect(
      await diffAgainstTruth(db.pool, 'paused', sim.accountOf(KEYS[2] ?? '').account.snapshot()),
    ).toEqual([]);
  });

  it('refuses a key written in the file, naming the source and the setting, and exits 2', async () => {
    await writeFile(
      sources.file,
      `sources:\n  - name: literal\n    api_url: ${sim.url}\n    api_key: ${KEYS[0] ?? ''}\n`,
    );
    const result = await runCli(['sync', '--all'], env());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'sources[0] "literal": a key is never written in the sources file (setting "api_key")',
    );
    expect(result.stderr).not.toContain(KEYS[0]);
  });
});

describe('status, report and doctor of every source', () => {
  beforeAll(async () => {
    await sources.write([
      entry('alpha', KEYS[0]),
      entry('beta', KEYS[1]),
      entry('refused', 'sk_no_such_key'),
    ]);
  });

  it('status shows every source in one table, and one in detail with --source', async () => {
    const status = await runCli(['status'], env());
    expect(status.code, status.stderr).toBe(0);
    for (const name of ['alpha', 'beta', 'refused', 'paused'])
      expect(status.stdout).toMatch(new RegExp(`^${name}\\s`, 'm'));
    // paused has data but left the configuration: its data is kept, and said so.
    expect(status.stdout).toContain('not in the configuration, their data kept: paused');
    expect(status.stdout).toContain('details of one source: sutro-sync status --source NAME');
    const json = JSON.parse((await runCli(['status', '--json'], env())).stdout) as {
      sources: { source: string; jobs: number; last_error: string | null }[];
    };
    expect(json.sources.map((s) => [s.source, s.jobs])).toEqual([
      ['alpha', 220],
      ['beta', 130],
      ['paused', 90],
      ['refused', 0],
    ]);
    expect(json.sources.find((s) => s.source === 'refused')?.last_error).toMatch(/401/);
    const detail = await runCli(['status', '--source', 'beta'], env());
    expect(detail.stdout).toContain('source: beta');
    expect(detail.stdout).toContain('jobs by status:');
  });

  it('report sums every source and lists each, or reports one', async () => {
    const all = JSON.parse(
      (await runCli(['report', '--format', 'json', '--since', '2000-01-01'], env())).stdout,
    ) as {
      source: string | null;
      totals: { jobs: number };
      sources: { source: string; jobs: number }[];
    };
    expect(all.source).toBeNull();
    const perSource = Object.fromEntries(all.sources.map((s) => [s.source, s.jobs]));
    expect(all.totals.jobs).toBe((perSource.alpha ?? 0) + (perSource.beta ?? 0) + (perSource.paused ?? 0));
    const table = await runCli(['report', '--since', '2000-01-01'], env());
    expect(table.stdout).toMatch(/^Usage of every source \(\d: /);
    expect(table.stdout).toContain('Spend per source:');
    const one = JSON.parse(
      (await runCli(['report', '--format', 'json', '--source', 'beta', '--since', '2000-01-01'], env()))
        .stdout,
    ) as { source: string; totals: { jobs: number } };
    expect(one).toMatchObject({ source: 'beta', totals: { jobs: perSource.beta } });
  });

  it('doctor checks every source and names the one that fails', async () => {
    const doctor = await runCli(['doctor'], env());
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toContain('✓ api · alpha · key (api_key_file');
    expect(doctor.stdout).toMatch(/✗ api · refused · key \(api_key_file [^)]+\): Sutro API answered 401/);
    expect(doctor.stdout).toContain('✗ api · sources: 1 of 3 sources fail: refused');
  });
});

describe('start, when the sources file changes', () => {
  it("adds and removes sources without a restart, keeps a removed source's data, and refuses a bad file", async () => {
    await sources.write([entry('alpha', KEYS[0], { schedule: '*/2 * * * * *' })]);
    const worker = startCli(['start'], env({ SUTRO_POLL_SECONDS: '0.3', SUTRO_HTTP_PORT: '0' }));
    try {
      await worker.waitForLog((l) => l.msg === 'sync run succeeded' && l.source === 'alpha');
      // A ConfigMap changes under the pod without a signal: the file is watched.
      await sources.write([entry('gamma', KEYS[2], { schedule: '*/2 * * * * *' })]);
      expect(await worker.waitForLog((l) => l.msg === 'sources reloaded')).toMatchObject({
        change: 'added gamma; removed alpha (their data stays)',
      });
      await worker.waitForLog((l) => l.msg === 'sync run succeeded' && l.source === 'gamma');
      await writeFile(sources.file, 'sources:\n  - name: broken\n');
      worker.child.kill('SIGHUP');
      expect(
        await worker.waitForLog((l) => l.msg === 'the sources file has problems; keeping the sources it had'),
      ).toMatchObject({
        err: { message: expect.stringContaining('sources[0] "broken": api_url: is required') as unknown },
      });
    } finally {
      worker.child.kill('SIGTERM');
    }
    const result = await worker.done;
    expect(result.code, result.stderr).toBe(0);
    expect(await diffAgainstTruth(db.pool, 'alpha', sim.account.snapshot())).toEqual([]);
    expect(await diffAgainstTruth(db.pool, 'gamma', sim.accountOf(KEYS[2] ?? '').account.snapshot())).toEqual(
      [],
    );
  });
});
