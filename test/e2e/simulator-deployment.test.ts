import { afterAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';

/** The simulator as a single-tenant deployment serves: prefix, origin, error shapes, retired hosts. */

const KEY = 'sk_sim_deployment';
const started: RunningSimulator[] = [];

async function simulator(
  options: Partial<Parameters<typeof startSimulator>[0]> = {},
): Promise<RunningSimulator> {
  const sim = await startSimulator({
    account: new SimulatedAccount({ jobs: 120, seed: 3 }),
    apiKey: KEY,
    ...options,
  });
  started.push(sim);
  return sim;
}

function get(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { authorization: `Key ${KEY}` } });
}

afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

describe('a deployment', () => {
  it('serves every API route under /v1 by default, and gives its origin apart', async () => {
    const sim = await simulator();
    expect(sim.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sim.url).toBe(`${sim.origin}/v1`);
    const page = await get(`${sim.origin}/v1/list-jobs?limit=3`);
    expect(page.status).toBe(200);
    const { jobs } = (await page.json()) as { jobs: { job_id: string }[] };
    expect(jobs).toHaveLength(3);
    expect((await get(`${sim.origin}/v1/jobs/${jobs[0]?.job_id}`)).status).toBe(200);
  });

  it('answers 404 with the API’s JSON error outside the prefix', async () => {
    const sim = await simulator();
    for (const path of ['/list-jobs', '/jobs/job_x', '/', '/v2/list-jobs', '/v1', '/v1list-jobs']) {
      const response = await get(`${sim.origin}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(await response.json()).toEqual({
        detail: 'Not found',
        code: 'not_found',
        request_id: response.headers.get('x-request-id'),
      });
    }
  });

  it('still serves at the root when the prefix is empty', async () => {
    const sim = await simulator({ pathPrefix: '' });
    expect(sim.url).toBe(sim.origin);
    expect((await get(`${sim.origin}/list-jobs?limit=1`)).status).toBe(200);
    expect((await get(`${sim.origin}/v1/list-jobs?limit=1`)).status).toBe(404);
  });

  it('gives every request a fresh request id, in the header and in error bodies', async () => {
    const sim = await simulator();
    const ids = new Set<string>();
    for (let i = 0; i < 5; i += 1) {
      const ok = await get(`${sim.url}/list-jobs?limit=1`);
      const refused = await fetch(`${sim.url}/list-jobs?limit=1`);
      const body = (await refused.json()) as { request_id: string };
      expect(body.request_id).toBe(refused.headers.get('x-request-id'));
      ids.add(String(ok.headers.get('x-request-id'))).add(body.request_id);
    }
    expect(ids.size).toBe(10);
  });

  it('checks a key as the documented /v1/try-authentication does', async () => {
    const sim = await simulator();
    const ok = await get(`${sim.url}/try-authentication`);
    expect(await ok.json()).toEqual({ authenticated: true });
    const refused = await fetch(`${sim.url}/try-authentication`, { headers: { authorization: 'Key nope' } });
    expect(refused.status).toBe(401);
    expect(sim.requests.count('try-authentication')).toBe(2);
  });
});

describe('error bodies', () => {
  it('answer in the shape of whoever answered: the API, a framework or proxy, a gateway', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'status', status: 503 });
    sim.faults.add({ kind: 'status', status: 500, shape: 'message' });
    sim.faults.add({ kind: 'status', status: 502, shape: 'error-details' });
    sim.faults.add({ kind: 'status', status: 429, shape: 'detail', retryAfter: 2 });
    const answers = [];
    for (let i = 0; i < 4; i += 1) {
      const response = await get(`${sim.url}/list-jobs?limit=5`);
      answers.push({
        status: response.status,
        body: await response.json(),
        requestId: response.headers.get('x-request-id'),
      });
    }
    expect(answers.map((a) => a.status)).toEqual([503, 500, 502, 429]);
    expect(answers[0]?.body).toEqual({
      detail: 'Service temporarily unavailable',
      code: 'unavailable',
      request_id: answers[0]?.requestId,
    });
    expect(answers[1]?.body).toEqual({ message: 'Internal Server Error' });
    expect(answers[2]?.body).toEqual({
      error: 'Bad Gateway',
      details: 'The upstream server returned an invalid response',
    });
    expect(answers[3]?.body).toMatchObject({ code: 'rate_limited', request_id: answers[3]?.requestId });
    for (const answer of answers) expect(answer.requestId).toMatch(/^req_/);
  });

  it('can be chosen over the control API, which refuses a shape it does not know', async () => {
    const sim = await simulator();
    const set = await fetch(`${sim.origin}/_sim/faults`, {
      method: 'POST',
      body: JSON.stringify([{ kind: 'status', status: 504, shape: 'message' }]),
    });
    expect(set.status).toBe(200);
    expect(await (await get(`${sim.url}/list-jobs`)).json()).toEqual({ message: 'Gateway Timeout' });
    const bad = await fetch(`${sim.origin}/_sim/faults`, {
      method: 'POST',
      body: JSON.stringify([{ kind: 'status', status: 500, shape: 'html' }]),
    });
    expect(bad.status).toBe(400);
  });
});

describe('a retired shared host', () => {
  it('answers every request 410, telling the user to set SUTRO_API_URL and use a deployment key', async () => {
    const sim = await simulator({ retired: true });
    const requests: [string, RequestInit][] = [
      [`${sim.url}/list-jobs?limit=10`, {}],
      [`${sim.url}/list-jobs`, {}],
      [`${sim.url}/jobs/job_anything`, {}],
      [`${sim.url}/try-authentication`, {}],
      [`${sim.origin}/list-jobs`, {}],
      [`${sim.origin}/`, {}],
      [`${sim.url}/list-jobs`, { method: 'POST' }],
    ];
    for (const [url, init] of requests) {
      const response = await get(url, init);
      expect(response.status, url).toBe(410);
      const body = (await response.json()) as Record<string, string>;
      expect(Object.keys(body).sort()).toEqual(['code', 'detail', 'request_id']);
      expect(body.detail).toContain('SUTRO_API_URL');
      expect(body.detail).toMatch(/API key (created )?in that deployment/);
      expect(body.request_id).toBe(response.headers.get('x-request-id'));
    }
    // Without the key too: the host knows no accounts any more.
    expect((await fetch(`${sim.url}/list-jobs`)).status).toBe(410);
    expect((await fetch(`${sim.origin}/_sim/state`)).status).toBe(200);
  });
});
