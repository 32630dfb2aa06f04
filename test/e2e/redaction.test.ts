import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runCli, startCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const KEY = 'sk_live_SECRET_abc123';
const PASSWORD = 'pw_SECRET_987xyz';
let db: TestDatabase;
let sim: RunningSimulator;
let dir: string;
let keyFile: string;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startSimulator({ account: new SimulatedAccount({ jobs: 300, seed: 9 }), apiKey: KEY, port: 0 });
  dir = await mkdtemp(path.join(tmpdir(), 'sutro-sync-redaction-'));
  keyFile = path.join(dir, 'api-key');
  await writeFile(keyFile, `${KEY}\n`);
});
afterAll(async () => {
  await sim.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

/** Everything the process wrote, on both streams. */
const everything = (result: Pick<CliResult, 'stdout' | 'rawStderr'>) =>
  `${result.stdout}\n${result.rawStderr}`;

/** A server that echoes the key back in its error body, the worst case for a log line. */
const echoingKey = (status: number) =>
  ({ kind: 'status', status, body: { detail: `key ${KEY} rejected`, code: 'echo' } }) as const;

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function withPassword(url: string, password: string, user?: string): string {
  const u = new URL(url);
  u.username = user ?? (u.username || 'postgres');
  u.password = password;
  return u.toString();
}

const env = (extra: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  SUTRO_API_URL: sim.url,
  SUTRO_API_KEY_FILE: keyFile,
  SUTRO_SOURCE: 'redaction',
  SUTRO_MAX_RETRIES: '1',
  LOG_LEVEL: 'trace',
  ...extra,
});

describe('the API key never appears in what sutro-sync prints', () => {
  it('sync, with a retried 500 and then a 401 whose body carries the key', async () => {
    sim.faults.add(echoingKey(500));
    const retried = await runCli(['sync'], env());
    expect(retried.code, retried.stderr).toBe(0);
    expect(everything(retried)).not.toContain(KEY);

    sim.faults.add(echoingKey(401));
    const refused = await runCli(['sync', '--full'], env());
    expect(refused.code).toBe(1);
    const output = everything(refused);
    expect(output).toContain('401');
    // The key did reach the error message, and was scrubbed on the way out.
    expect(output).toContain('[REDACTED]');
    expect(output).not.toContain(KEY);
    expect(refused.logs.length).toBeGreaterThan(3);
  });

  it('start, its health endpoints and its metrics, through a failing run', async () => {
    const port = await closedPort();
    sim.faults.add(echoingKey(401));
    const worker = startCli(
      ['start'],
      env({
        SUTRO_HTTP_PORT: String(port),
        SUTRO_SYNC_SCHEDULE: '0 0 1 1 *',
        SUTRO_SOURCE: 'redaction-start',
      }),
    );
    let served = '';
    try {
      await worker.waitForLog((l) => l.msg === 'sync run failed');
      for (const route of ['/healthz', '/readyz', '/metrics']) {
        served += await (await fetch(`http://127.0.0.1:${port}${route}`)).text();
      }
    } finally {
      worker.child.kill('SIGTERM');
    }
    const result = await worker.done;
    expect(result.code).toBe(0);
    expect(served).toContain(
      'sutro_api_requests_total{source="redaction-start",endpoint="list-jobs",outcome="401"} 1',
    );
    expect(served).not.toContain(KEY);
    expect(everything(result)).toContain('[REDACTED]');
    expect(everything(result)).not.toContain(KEY);
  });
});

/** Every row of every table of the database, as text: what a dump of it would hold. */
async function everyRow(): Promise<string> {
  const tables = await db.pool.query<{ name: string }>(
    `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname IN ('sutro', 'drizzle')`,
  );
  expect(tables.rows.length).toBeGreaterThan(5);
  let text = '';
  for (const { name } of tables.rows) {
    const rows = await db.pool.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t`);
    text += rows.rows.map((r) => r.row).join('\n');
  }
  // The views BI tools read, sync_health's last error among them.
  const health = await db.pool.query<{ row: string }>('SELECT t::text AS row FROM sutro.sync_health t');
  return text + health.rows.map((r) => r.row).join('\n');
}

describe('an API that echoes the key in its error bodies', () => {
  const cases = (['json', 'text', 'html'] as const).flatMap((contentType) =>
    [401, 503].map((status) => ({ contentType, status })),
  );

  it.each(cases)(
    'leaves it out of the database, the logs and status after a $status answered as $contentType',
    async ({ contentType, status }) => {
      const source = `echo-${status}-${contentType}`;
      // Every attempt of the first request (one retry for a 503) meets one.
      sim.faults.add({ kind: 'echo-auth', status, contentType }, Infinity);
      const failed = await runCli(['sync', '--full'], env({ SUTRO_SOURCE: source }));
      sim.faults.clear();
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain(String(status));
      expect(everything(failed)).not.toContain(KEY);

      const stored = await db.pool.query<{ error: string }>(
        'SELECT error FROM sutro.sync_runs WHERE source = $1',
        [source],
      );
      expect(stored.rows[0]?.error).toContain(String(status));
      for (const args of [['status'], ['status', '--json']]) {
        const shown = await runCli(args, env({ SUTRO_SOURCE: source }));
        expect(shown.code, shown.stderr).toBe(0);
        expect(shown.stdout).toContain(String(status));
        expect(everything(shown)).not.toContain(KEY);
      }
    },
  );

  it('has left no trace of it in any table or view', async () => {
    const rows = await everyRow();
    // A text or HTML body is quoted in the error, and the key in it was scrubbed.
    expect(rows).toContain('[REDACTED]');
    expect(rows).not.toContain(KEY);
    expect(rows).not.toMatch(/Key sk_/);
  });
});

describe('the database password never appears in what sutro-sync prints', () => {
  it('when the server cannot be reached', async () => {
    const url = `postgresql://sutro:${PASSWORD}@127.0.0.1:${await closedPort()}/sutro`;
    const result = await runCli(['sync'], env({ DATABASE_URL: url }));
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('Cannot connect to 127.0.0.1');
    expect(everything(result)).not.toContain(PASSWORD);
  });

  it('when the password is wrong (or, on a trust-auth server, ignored)', async () => {
    const url = withPassword(db.url, PASSWORD);
    for (const command of [['sync'], ['status'], ['migrate']]) {
      const result = await runCli(command, env({ DATABASE_URL: url }));
      expect([0, 3], `${command.join(' ')}: ${result.stderr}`).toContain(result.code);
      expect(everything(result)).not.toContain(PASSWORD);
    }
  });

  it('when the password holds characters that URLs encode', async () => {
    const tricky = `${PASSWORD}/@:%`;
    const url = withPassword(db.url, encodeURIComponent(tricky));
    const result = await runCli(['status'], env({ DATABASE_URL: url }));
    expect(everything(result)).not.toContain(tricky);
    expect(everything(result)).not.toContain(encodeURIComponent(tricky));
  });
});

describe('a database password that is also an ordinary word', () => {
  /** What a person reads of a command: its output and its last line, not the JSON log lines. */
  const read = (result: CliResult) => `${result.stdout}\n${result.stderr}`;

  describe.each(['sutro', 'postgres'])('%s', (password) => {
    // A role of the test's own whose password really is the word, so that a server that checks
    // passwords (the embedded one of a bare machine) accepts it as a trusting one does. Its name holds
    // the word too, as compose's default user and password do.
    const user = `${password}_${randomBytes(3).toString('hex')}`;
    beforeAll(async () => {
      await db.pool.query(`CREATE ROLE ${user} LOGIN SUPERUSER PASSWORD '${password}'`);
    });
    afterAll(async () => {
      await db.pool.query(
        `REASSIGN OWNED BY ${user} TO CURRENT_USER; DROP OWNED BY ${user}; DROP ROLE ${user}`,
      );
    });
    const withIt = () => ({
      ...env({ SUTRO_SOURCE: `ordinary-${password}`, LOG_LEVEL: 'info' }),
      DATABASE_URL: withPassword(db.directUrl, password, user),
    });
    const unscathed = (result: CliResult) => {
      expect(everything(result)).not.toContain('[REDACTED]');
      return read(result);
    };

    it('leaves the words of status, doctor, explore and migrate alone', async () => {
      unscathed(await runCli(['migrate'], withIt()));
      const status = unscathed(await runCli(['status'], withIt()));
      expect(status).toContain(`database: postgresql://${user}:***@127.0.0.1:`);
      const doctor = await runCli(['doctor'], withIt());
      expect(doctor.code, doctor.stdout).toBe(0);
      expect(unscathed(doctor)).toContain(`role "${user}" can write schema sutro`);
      expect(read(doctor)).toContain('`sutro-sync sync` runs the first (full) sync');
      const explore = await runCli(['explore'], withIt());
      expect(explore.code, explore.stderr).toBe(0);
      expect(unscathed(explore)).toContain(`psql 'postgresql://${user}:***@127.0.0.1:`);
    });

    it("leaves the words of sync's failure, report, grant-reader and demo alone", async () => {
      const failed = await runCli(['sync'], {
        ...withIt(),
        SUTRO_API_KEY_FILE: '',
        SUTRO_API_KEY: 'sk_wrong_1',
      });
      expect(failed.code).toBe(1);
      expect(unscathed(failed)).toContain('`sutro-sync doctor` checks both');
      const report = await runCli(['report'], withIt());
      expect(report.code, report.stderr).toBe(0);
      expect(unscathed(report)).toContain(`Usage of source "ordinary-${password}"`);
      const role = `reader_${randomBytes(3).toString('hex')}`;
      await db.pool.query(`CREATE ROLE ${role}`);
      try {
        const granted = await runCli(['grant-reader', role], withIt());
        expect(granted.code, granted.stderr).toBe(0);
        expect(unscathed(granted)).toContain(`"${role}" can now read schema sutro`);
      } finally {
        await db.pool.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
      }
      const demo = await runCli(['demo', '--jobs', '50'], withIt());
      expect(demo.code, demo.stderr).toBe(0);
      expect(unscathed(demo)).toContain(`psql 'postgresql://${user}:***@127.0.0.1:`);
    });
  });

  it('test, which a host name holds', async () => {
    const doctor = await runCli(['doctor'], {
      // A source of its own: another's last error may hold a key the API echoed, rightly redacted.
      ...env({
        SUTRO_API_URL: 'https://sutro-doctor-test.invalid',
        SUTRO_SOURCE: 'host-word',
        LOG_LEVEL: 'info',
      }),
      DATABASE_URL: withPassword(db.directUrl, 'test'),
    });
    expect(doctor.stdout).toContain('cannot resolve sutro-doctor-test.invalid');
    expect(everything(doctor)).not.toContain('[REDACTED]');
  });
});
