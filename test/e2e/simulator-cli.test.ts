import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';

/** `sutro-sync simulate` as end-to-end tests run it: the built CLI in a process of its own. */

const KEY = 'sk_sim_cli_9d2e';

interface Simulating {
  readonly url: string;
  readonly origin: string;
  stop(): Promise<void>;
}

/** Starts the CLI simulator, waits for the line saying where it listens, and returns it. */
async function simulate(args: string[]): Promise<Simulating> {
  const cli = startCli(['simulate', '--port', '0', '--jobs', '250', '--api-key', KEY, ...args], {});
  let line: { url: string; origin: string } | undefined;
  for (let tries = 0; line === undefined && tries < 200; tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { stdout } = cli.output();
    if (stdout.includes('\n')) line = JSON.parse(stdout.slice(0, stdout.indexOf('\n'))) as typeof line;
  }
  if (line === undefined) throw new Error(`the simulator did not start: ${cli.output().stderr}`);
  return {
    ...line,
    stop: async () => {
      cli.child.kill('SIGTERM');
      expect((await cli.done).code).toBe(0);
    },
  };
}

function get(url: string): Promise<Response> {
  return fetch(url, { headers: { authorization: `Key ${KEY}` } });
}

async function nextCursor(url: string): Promise<string | null> {
  const response = await get(url);
  expect(response.status).toBe(200);
  return ((await response.json()) as { next_cursor: string | null }).next_cursor;
}

describe('sutro-sync simulate', () => {
  it('serves under /v1 by default, at the root with --prefix "", and as a retired host with --retired', async () => {
    const deployment = await simulate([]);
    const root = await simulate(['--prefix', '']);
    const retired = await simulate(['--retired']);
    try {
      expect(deployment.url).toBe(`${deployment.origin}/v1`);
      expect((await get(`${deployment.origin}/v1/list-jobs?limit=1`)).status).toBe(200);
      expect((await get(`${deployment.origin}/list-jobs?limit=1`)).status).toBe(404);
      expect(root.url).toBe(root.origin);
      expect((await get(`${root.origin}/list-jobs?limit=1`)).status).toBe(200);
      const gone = await get(`${retired.url}/list-jobs?limit=1`);
      expect(gone.status).toBe(410);
      expect(await gone.json()).toMatchObject({
        detail: expect.stringContaining('SUTRO_API_URL') as unknown,
      });
    } finally {
      await Promise.all([deployment.stop(), root.stop(), retired.stop()]);
    }
  });

  it('misbehaves on every matching request with --behave', async () => {
    const cycling = await simulate(['--behave', 'cursor-cycle']);
    const echoing = await simulate(['--behave', 'echo-auth']);
    const website = await simulate(['--behave', 'web-page']);
    try {
      const a = await nextCursor(`${cycling.url}/list-jobs?limit=100`);
      const b = await nextCursor(`${cycling.url}/list-jobs?limit=100&cursor=${a}`);
      expect(b).not.toBe(a);
      expect(await nextCursor(`${cycling.url}/list-jobs?limit=100&cursor=${b}`)).toBe(a);
      expect(await nextCursor(`${cycling.url}/list-jobs?limit=100&cursor=${a}`)).toBe(b);

      for (let i = 0; i < 2; i += 1) {
        const echoed = await get(`${echoing.url}/list-jobs?limit=5`);
        expect(echoed.status).toBe(401);
        expect(await echoed.json()).toMatchObject({ headers: { authorization: `Key ${KEY}` } });
      }

      const page = await fetch(`${website.url}/list-jobs?limit=5`);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    } finally {
      await Promise.all([cycling.stop(), echoing.stop(), website.stop()]);
    }
  });

  it('queues exact faults with --fault', async () => {
    const sim = await simulate([
      '--fault',
      '{"kind":"echo-auth","status":500,"contentType":"text","times":2}',
      '--fault',
      '{"kind":"status","status":503,"shape":"message"}',
    ]);
    try {
      for (let i = 0; i < 2; i += 1) {
        const echoed = await get(`${sim.url}/list-jobs`);
        expect(echoed.status).toBe(500);
        expect(await echoed.text()).toContain(`Key ${KEY}`);
      }
      const unavailable = await get(`${sim.url}/list-jobs`);
      expect(await unavailable.json()).toEqual({ message: 'Service Unavailable' });
      expect((await get(`${sim.url}/list-jobs?limit=1`)).status).toBe(200);
    } finally {
      await sim.stop();
    }
  });

  it('serves the fidelity options: microseconds, the legacy shape, extra fields, unbilled dry runs', async () => {
    const micro = await simulate(['--timestamps', 'us', '--extra-fields', '--unbilled-dry-runs']);
    const legacy = await simulate(['--job-shape', 'legacy', '--timestamps', 's']);
    try {
      const { jobs } = (await (await get(`${micro.url}/list-jobs?limit=100`)).json()) as {
        jobs: Record<string, unknown>[];
      };
      expect(jobs[0]?.datetime_created).toMatch(/\.\d{6}Z$/);
      expect(jobs[0]).toHaveProperty('organization_id');
      const old = (await (await get(`${legacy.url}/list-jobs?limit=5`)).json()) as {
        jobs: Record<string, unknown>[];
      };
      expect(old.jobs[0]?.created_at).toMatch(/:\d\dZ$/);
      expect(old.jobs[0]).not.toHaveProperty('datetime_created');
    } finally {
      await Promise.all([micro.stop(), legacy.stop()]);
    }
    const bad = await runCli(['simulate', '--timestamps', 'ns'], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--timestamps');
  });

  it('refuses a behaviour or a fault it does not know, naming the flag', async () => {
    const behave = await runCli(['simulate', '--behave', 'explode'], {});
    expect(behave.code).toBe(2);
    expect(behave.stderr).toContain('--behave must be one of echo-auth, cursor-cycle');
    const fault = await runCli(['simulate', '--fault', '{"kind":"huge-page"}'], {});
    expect(fault.code).toBe(2);
    expect(fault.stderr).toContain('--fault must be a fault as JSON: a huge-page fault needs');
    const notJson = await runCli(['simulate', '--fault', 'status=500'], {});
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('--fault must be a fault as JSON');
  });
  it('says which port is taken and how to choose another, and exits 2', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const result = await runCli(['simulate', '--port', String(port), '--jobs', '10'], {});
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `sutro-sync: port ${port} is taken by another process: choose another with --port <port>, or --port 0 for any free one\n`,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
