import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, routes, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';

/** `sutro-sync doctor` against working and broken setups: each break is one ✗ line that names its fix. */

const KEY = 'sk_test_doctor_4b1d';
let sim: RunningSimulator;
let fresh: TestDatabase;
let webPage: Server;
let webPageUrl: string;

beforeAll(async () => {
  sim = await startSimulator({ account: new SimulatedAccount({ jobs: 250, seed: 7 }), apiKey: KEY, port: 0 });
  fresh = await createTestDatabase({ empty: true });
  webPage = createServer((_, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<!doctype html><html><body>Welcome to Sutro</body></html>');
  });
  await new Promise<void>((resolve) => webPage.listen(0, '127.0.0.1', resolve));
  webPageUrl = `http://127.0.0.1:${(webPage.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await sim.close();
  await fresh.drop();
  await new Promise((resolve) => webPage.close(resolve));
});

interface Report {
  ok: boolean;
  checks: { area: string; name: string; status: string; detail: string }[];
}

async function doctor(env: Record<string, string>): Promise<CliResult & { report: Report }> {
  const result = await runCli(['doctor', '--json'], env);
  return { ...result, report: JSON.parse(result.stdout) as Report };
}

const failed = (report: Report) => report.checks.filter((c) => c.status === 'fail');

/** A check as expected: `expect.objectContaining` is typed any, which the linter refuses to pass on. */
const check = (fields: Record<string, unknown>): unknown => expect.objectContaining(fields);

describe.each(routes())('doctor on a working setup (%s)', (route) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ route });
  });
  afterAll(async () => {
    await db.drop();
  });

  it('passes every check, exits 0, and prints one line per check', async () => {
    const env = { SUTRO_API_URL: sim.url, SUTRO_API_KEY: KEY, DATABASE_URL: db.url };
    const { code, report, stderr } = await doctor(env);
    expect(failed(report), stderr).toEqual([]);
    expect(code).toBe(0);
    const names = report.checks.map((c) => `${c.area}/${c.name}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'api/DNS',
        'api/SUTRO_API_KEY',
        'api/list-jobs',
        'database/connection',
        'database/privileges',
        'database/migrations',
      ]),
    );
    expect(report.checks.find((c) => c.name === 'list-jobs')?.detail).toMatch(/^100 jobs on the first page/);
    expect(report.checks.find((c) => c.name === 'migrations')?.detail).toMatch(/^all \d+ applied$/);
    // Behind PgBouncer the URL's port is the pooler's, not the server's.
    expect(names.includes('database/pooler')).toBe(route === 'pooler');

    const text = await runCli(['doctor'], env);
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split('\n')).toHaveLength(report.checks.length);
    expect(text.stdout).toMatch(/^✓ api · SUTRO_API_KEY: the deployment accepts the key/m);
    // It writes nothing: no run, no lease, no checkpoint.
    const runs = await db.pool.query(
      'SELECT 1 FROM sutro.sync_runs UNION ALL SELECT 1 FROM sutro.sync_leases',
    );
    expect(runs.rowCount).toBe(0);
  });
});

describe('doctor on broken setups', () => {
  const good = () => ({ SUTRO_API_URL: sim.url, SUTRO_API_KEY: KEY, DATABASE_URL: fresh.url });

  it('names SUTRO_API_KEY when the deployment refuses the key, and never prints the key', async () => {
    const wrong = `sk_wrong_${randomBytes(6).toString('hex')}`;
    const { code, report, stdout, rawStderr } = await doctor({ ...good(), SUTRO_API_KEY: wrong });
    expect(code).toBe(1);
    expect(failed(report)).toEqual([
      check({
        name: 'SUTRO_API_KEY',
        detail: expect.stringMatching(/answered 401.*Check SUTRO_API_KEY/),
      }),
    ]);
    expect(report.checks.find((c) => c.name === 'reachable')?.status).toBe('ok');
    expect(stdout + rawStderr).not.toContain(wrong);
  });

  it('names the host of SUTRO_API_URL when it does not resolve', async () => {
    const { code, report } = await doctor({ ...good(), SUTRO_API_URL: 'https://sutro-doctor-test.invalid' });
    expect(code).toBe(1);
    expect(failed(report)).toEqual([
      check({
        name: 'DNS',
        detail: expect.stringContaining('cannot resolve sutro-doctor-test.invalid'),
      }),
    ]);
  });

  it('says SUTRO_API_URL is a web page when a site answers in place of the API', async () => {
    const { code, report } = await doctor({ ...good(), SUTRO_API_URL: webPageUrl });
    expect(code).toBe(1);
    expect(failed(report)[0]?.detail).toMatch(/^SUTRO_API_URL points at a web page/);
  });

  it('fails in bounded time when nothing listens at SUTRO_API_URL', async () => {
    const port = await freePort();
    const { code, report } = await doctor({ ...good(), SUTRO_API_URL: `http://127.0.0.1:${port}` });
    expect(code).toBe(1);
    expect(failed(report)).toEqual([
      check({ name: 'reachable', detail: expect.stringContaining('nothing accepts connections') }),
    ]);
  });

  it('reports a database that does not answer, and still checks the API', async () => {
    const { code, report } = await doctor({
      ...good(),
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:9/none',
    });
    expect(code).toBe(1);
    expect(failed(report)).toEqual([
      check({
        area: 'database',
        name: 'connection',
        detail: expect.stringContaining('127.0.0.1:9/none'),
      }),
    ]);
    expect(report.checks.find((c) => c.name === 'list-jobs')?.status).toBe('ok');
  });

  it('on a fresh database: the migrations are pending, which the first sync applies', async () => {
    const { code, report } = await doctor(good());
    expect(code).toBe(0);
    expect(report.checks.find((c) => c.name === 'migrations')?.detail).toMatch(
      /^\d+ of \d+ pending: sync and start apply them/,
    );
    expect(report.checks.find((c) => c.name === 'privileges')?.detail).toContain('can create schema sutro');
  });

  it('names the role when DATABASE_URL connects as a read-only reader', async () => {
    const migrated = await createTestDatabase();
    const role = `doctor_reader_${randomBytes(3).toString('hex')}`;
    const password = randomBytes(8).toString('hex');
    try {
      await migrated.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
      const owner = { ...good(), DATABASE_URL: migrated.directUrl };
      expect((await runCli(['grant-reader', role], owner)).code).toBe(0);
      const url = new URL(migrated.directUrl);
      url.username = role;
      url.password = password;
      const { code, report, stdout } = await doctor({ ...good(), DATABASE_URL: url.toString() });
      expect(code).toBe(1);
      expect(failed(report)).toEqual([
        check({
          name: 'privileges',
          detail: expect.stringMatching(
            new RegExp(`^role "${role}" cannot write .*sutro\\.jobs.*grant-reader`),
          ),
        }),
        check({
          name: 'migrations',
          detail: expect.stringContaining(`role "${role}" may not read`),
        }),
      ]);
      expect(stdout).not.toContain(password);
    } finally {
      await migrated.drop();
      const admin = new pg.Client({ connectionString: fresh.directUrl });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${role}`).finally(() => admin.end());
    }
  });

  it.each([
    ['SUTRO_API_KEY', /^not set: a key created in your Sutro deployment/],
    ['SUTRO_API_URL', /^not set: your Sutro deployment's URL/],
  ])(
    'exits 2, as on any bad variable, when %s is not set, and checks what it can without it',
    async (name, detail) => {
      const { code, report } = await doctor({ ...good(), [name]: '' });
      expect(code).toBe(2);
      expect(failed(report)).toEqual([
        check({ area: 'configuration', name, detail: expect.stringMatching(detail) }),
      ]);
      expect(report.checks.find((c) => c.name === 'migrations')?.status).toBe('ok');
    },
  );

  it('lists every bad variable and exits 2 when the configuration itself is invalid', async () => {
    const { code, report } = await doctor({ ...good(), SUTRO_PAGE_LIMIT: '0', SUTRO_LEASE_SECONDS: 'soon' });
    expect(code).toBe(2);
    expect(failed(report).map((c) => c.detail)).toEqual([
      expect.stringMatching(/^SUTRO_PAGE_LIMIT: /),
      expect.stringMatching(/^SUTRO_LEASE_SECONDS: /),
    ]);
  });
});
