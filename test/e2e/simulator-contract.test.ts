import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SimulatedAccount,
  startSimulator,
  type AccountOptions,
  type RunningSimulator,
} from '../../src/simulator/index.js';

/**
 * The simulator's answers have the shapes of the examples in Sutro's docs, saved under
 * test/fixtures/sutro-api/ (its README says where each comes from and what "same shape" allows).
 */

const KEY = 'sk_contract';
type JsonType = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'array' | 'object';
type FieldTypes = Record<string, JsonType[]>;

function fixture<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/sutro-api/${name}`, import.meta.url), 'utf8')) as T;
}

const JOB_FIELDS = fixture<FieldTypes>('job-fields.json');
const LEGACY_JOB_FIELDS = fixture<FieldTypes>('legacy-job-fields.json');
/** Documented as free objects: their keys are the caller's (a schema, sampling settings, failure details). */
const OPEN_FIELDS = new Set(['json_schema', 'sampling_params', 'failure_reason']);
const PAGE_FIELDS: FieldTypes = { jobs: ['array'], next_cursor: ['string', 'null'] };

/** What an object at some path may hold beyond its fixture's keys, and the types each field may have. */
interface ObjectRules {
  readonly fields: FieldTypes;
  readonly open: ReadonlySet<string>;
}

function typeOf(value: unknown): JsonType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value as JsonType;
}

function fits(type: JsonType, allowed: readonly JsonType[]): boolean {
  return allowed.includes(type) || (type === 'integer' && allowed.includes('number'));
}

/** Every way `actual` differs in shape from `expected`, as `path: what`. */
function shapeProblems(
  expected: unknown,
  actual: unknown,
  rulesAt: (path: string) => ObjectRules | null,
  path = '$',
): string[] {
  const want = typeOf(expected);
  const have = typeOf(actual);
  if (want === 'array') {
    if (have !== 'array') return [`${path}: ${have}, not an array`];
    const sample: unknown = (expected as unknown[])[0];
    if (sample === undefined) return [];
    return (actual as unknown[]).flatMap((item, i) => shapeProblems(sample, item, rulesAt, `${path}[${i}]`));
  }
  if (want !== 'object') return fits(have, [want]) ? [] : [`${path}: ${have}, not ${want}`];
  if (have !== 'object') return [`${path}: ${have}, not an object`];

  const wanted = expected as Record<string, unknown>;
  const held = actual as Record<string, unknown>;
  const rules = rulesAt(path) ?? { fields: {}, open: new Set<string>() };
  const problems: string[] = [];
  for (const key of Object.keys(wanted)) if (!(key in held)) problems.push(`${path}.${key}: missing`);
  for (const [key, value] of Object.entries(held)) {
    const at = `${path}.${key}`;
    const documented = rules.fields[key];
    if (!(key in wanted) && documented === undefined) {
      problems.push(`${at}: not documented`);
      continue;
    }
    const allowed = [...new Set([...(documented ?? []), ...(key in wanted ? [typeOf(wanted[key])] : [])])];
    if (!fits(typeOf(value), allowed)) {
      problems.push(`${at}: ${typeOf(value)}, not ${allowed.join(' or ')}`);
    } else if (rules.open.has(key)) {
      const example = wanted[key];
      if (typeOf(example) === 'object' && typeOf(value) === 'object') {
        for (const inner of Object.keys(example as object))
          if (!(inner in (value as object))) problems.push(`${at}.${inner}: missing`);
      }
    } else if (key in wanted && typeOf(value) !== 'null' && typeOf(wanted[key]) !== 'null') {
      problems.push(...shapeProblems(wanted[key], value, rulesAt, at));
    }
  }
  return problems;
}

const jobRules: ObjectRules = { fields: JOB_FIELDS, open: OPEN_FIELDS };
const legacyRules: ObjectRules = { fields: LEGACY_JOB_FIELDS, open: new Set() };
const isJobPath = (path: string) => /^\$\.jobs\[\d+\]$/.test(path) || path === '$.job';
const rulesOfCurrent = (path: string): ObjectRules | null =>
  isJobPath(path) ? jobRules : path === '$' ? { fields: PAGE_FIELDS, open: new Set() } : null;
const rulesOfLegacy = (path: string): ObjectRules | null => (isJobPath(path) ? legacyRules : null);

const started: RunningSimulator[] = [];
async function simulator(
  account: Partial<AccountOptions> = {},
  options: { retired?: boolean } = {},
): Promise<RunningSimulator> {
  const sim = await startSimulator({
    account: new SimulatedAccount({ jobs: 3_000, seed: 29, quirks: false, ...account }),
    apiKey: KEY,
    ...options,
  });
  started.push(sim);
  return sim;
}

async function getJson(url: string, key: string | null = KEY): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, key === null ? {} : { headers: { authorization: `Key ${key}` } });
  const body: unknown = await response.json();
  return { status: response.status, body };
}

/** Every page of the listing, as answered. */
async function pages(sim: RunningSimulator): Promise<unknown[]> {
  const all: unknown[] = [];
  let cursor: string | null = null;
  do {
    const { body } = await getJson(
      `${sim.url}/list-jobs?limit=100${cursor === null ? '' : `&cursor=${cursor}`}`,
    );
    all.push(body);
    cursor = (body as { next_cursor: string | null }).next_cursor;
  } while (cursor !== null);
  return all;
}

afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

describe('the shape check itself', () => {
  it('finds a missing key, an undocumented one, a wrong type and a wrong type inside an array', () => {
    const page = fixture<{ jobs: Record<string, unknown>[] }>('list-jobs-paged.json');
    const job = page.jobs[0] as Record<string, unknown>;
    const withoutModel = Object.fromEntries(Object.entries(job).filter(([key]) => key !== 'model'));
    const bad = {
      jobs: [
        withoutModel,
        { ...job, secret: 1 },
        { ...job, job_cost: '0.0234' },
        { ...job, sampling_params: { temperature: 0.7 } },
      ],
      next_cursor: 5,
    };
    expect(shapeProblems(page, bad, rulesOfCurrent)).toEqual([
      '$.jobs[0].model: missing',
      '$.jobs[1].secret: not documented',
      '$.jobs[2].job_cost: string, not number or null',
      '$.jobs[3].sampling_params.top_p: missing',
      '$.jobs[3].sampling_params.max_tokens: missing',
      '$.next_cursor: integer, not string or null',
    ]);
    expect(shapeProblems(page, page, rulesOfCurrent)).toEqual([]);
  });
});

describe('the simulator against the docs', () => {
  it.each<[string, Partial<AccountOptions>]>([
    ['by default', {}],
    [
      'with microsecond timestamps and unbilled dry runs',
      { timestampPrecision: 'us', unbilledDryRuns: true },
    ],
    ['with whole-second timestamps', { timestampPrecision: 's' }],
  ])('pages as the paged list-jobs example, %s', async (_, options) => {
    const sim = await simulator(options);
    sim.account.advance({ seconds: 600, newJobs: 40 });
    const answered = await pages(sim);
    expect(answered).toHaveLength(31);
    for (const page of answered)
      expect(shapeProblems(fixture('list-jobs-paged.json'), page, rulesOfCurrent)).toEqual([]);
  });

  it('lists everything as the unpaged list-jobs example', async () => {
    const sim = await simulator();
    const { body } = await getJson(`${sim.url}/list-jobs`);
    expect(shapeProblems(fixture('list-jobs-unpaged.json'), body, rulesOfCurrent)).toEqual([]);
  });

  it('fetches a job as the fetch-job example, and a missing one as its 404', async () => {
    const sim = await simulator();
    for (const position of [0, 3, 10, 500, 2_999]) {
      const { status, body } = await getJson(`${sim.url}/jobs/${sim.account.jobAt(position).job_id}`);
      expect(status).toBe(200);
      expect(shapeProblems(fixture('fetch-job.json'), body, rulesOfCurrent)).toEqual([]);
    }
    const missing = await getJson(`${sim.url}/jobs/job_not_here`);
    expect(missing.status).toBe(404);
    expect(shapeProblems(fixture('fetch-job-not-found.json'), missing.body, () => null)).toEqual([]);
  });

  it('lists a legacy account as the legacy list-jobs example', async () => {
    const sim = await simulator({ jobShape: 'legacy' });
    const { body } = await getJson(`${sim.url}/list-jobs`);
    expect(shapeProblems(fixture('list-jobs-legacy.json'), body, rulesOfLegacy)).toEqual([]);
  });

  it('checks a key as the access-check example', async () => {
    const sim = await simulator();
    const { body } = await getJson(`${sim.url}/try-authentication`);
    expect(shapeProblems(fixture('try-authentication.json'), body, () => null)).toEqual([]);
  });

  it('fails the contract with fields no reference names, as a deployment that added some would', async () => {
    const sim = await simulator({ extraFields: true });
    const { body } = await getJson(`${sim.url}/list-jobs?limit=1`);
    expect(shapeProblems(fixture('list-jobs-paged.json'), body, rulesOfCurrent)).toContain(
      '$.jobs[0].organization_id: not documented',
    );
  });
});

describe('error bodies against their shapes', () => {
  it('answers the API’s own errors, a retired host’s included, as {detail, code, request_id}', async () => {
    const sim = await simulator();
    const retired = await simulator({}, { retired: true });
    const answers = [
      await getJson(`${sim.url}/list-jobs`, null),
      await getJson(`${sim.url}/list-jobs?limit=500`),
      await getJson(`${sim.origin}/list-jobs`),
      await getJson(`${retired.url}/list-jobs?limit=100`),
    ];
    expect(answers.map((a) => a.status)).toEqual([401, 400, 404, 410]);
    for (const { body } of answers)
      expect(shapeProblems(fixture('error-detail.json'), body, () => null)).toEqual([]);
  });

  it('answers as a framework or proxy, and as a gateway, when a fault says so', async () => {
    const sim = await simulator();
    sim.faults.add({ kind: 'status', status: 500, shape: 'message' });
    sim.faults.add({ kind: 'status', status: 502, shape: 'error-details' });
    const framework = await getJson(`${sim.url}/list-jobs`);
    const gateway = await getJson(`${sim.url}/list-jobs`);
    expect(shapeProblems(fixture('error-message.json'), framework.body, () => null)).toEqual([]);
    expect(shapeProblems(fixture('error-error-details.json'), gateway.body, () => null)).toEqual([]);
  });
});
