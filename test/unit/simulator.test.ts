import { describe, expect, it } from 'vitest';
import { MODEL_PRICES, SimulatedAccount, type ApiJob } from '../../src/simulator/index.js';
import { Random } from '../../src/simulator/account/random.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const TERMINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
const NOT_STARTED = ['UNKNOWN', 'PENDING', 'SUBMITTED', 'QUEUED', 'STARTING'];
const REFERENCE_FIELDS = [
  'model',
  'system_prompt',
  'job_priority',
  'status',
  'datetime_created',
  'datetime_started',
  'datetime_completed',
  'json_schema',
  'sampling_params',
  'name',
  'description',
  'dataset_id',
  'input_tokens',
  'output_tokens',
  'job_cost',
  'num_rows',
  'failure_reason',
  'cost_estimate',
  'run_type',
  'job_id',
];

const created = (job: ApiJob) => Date.parse(String(job.datetime_created));
const time = (value: unknown) => Date.parse(String(value));
const ids = (jobs: readonly ApiJob[]) => jobs.map((j) => j.job_id);
const isTerminal = (job: ApiJob) => TERMINAL.includes(String(job.status).toUpperCase());
const decimals = (value: number) => (String(value).split('.')[1] ?? '').length;

describe('Random', () => {
  it('repeats for a seed and keeps items independent of the order they are made in', () => {
    const draws = (r: Random) => [r.next(), r.int(1, 6), r.pick(['a', 'b', 'c']), r.chance(0.5), r.hex(9)];
    expect(draws(new Random(1))).toEqual(draws(new Random(1)));
    expect(draws(new Random(1))).not.toEqual(draws(new Random(2)));
    expect(Random.for(3, 700).next()).toBe(Random.for(3, 700).next());
    expect(Random.for(3, 700).next()).not.toBe(Random.for(3, 701).next());
    expect(Random.for(3, 700, 1).next()).not.toBe(Random.for(3, 700, 2).next());
    expect(new Random(5).hex(9)).toMatch(/^[0-9a-f]{9}$/);
  });

  it('keeps to its ranges and weights', () => {
    const r = new Random(7);
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 10_000; i += 1) {
      const n = r.int(3, 5);
      expect(n >= 3 && n <= 5).toBe(true);
      const x = r.logUniform(10, 1_000);
      expect(x >= 10 && x <= 1_000).toBe(true);
      counts[
        r.weighted([
          ['a', 9],
          ['b', 1],
        ] as const)
      ] += 1;
    }
    expect(counts.a / 10_000).toBeCloseTo(0.9, 1);
    expect(() => r.pick([])).toThrow(RangeError);
  });
});

describe('SimulatedAccount: the listing', () => {
  it('is deterministic for a seed, with unique ids, newest first', () => {
    const a = new SimulatedAccount({ jobs: 500, seed: 1 }).snapshot();
    expect(new SimulatedAccount({ jobs: 500, seed: 1 }).snapshot()).toEqual(a);
    expect(new SimulatedAccount({ jobs: 500, seed: 2 }).snapshot()).not.toEqual(a);
    expect(a).toHaveLength(500);
    expect(new Set(ids(a)).size).toBe(500);
    for (const id of ids(a)) expect(id).toMatch(/^job_[0-9a-z]{13}$/);

    const clean = new SimulatedAccount({ jobs: 2_000, seed: 1, quirks: false }).snapshot();
    const times = clean.map(created);
    for (let i = 1; i < times.length; i += 1) expect(times[i - 1]).toBeGreaterThan(times[i] as number);
  });

  it('does not sort ids like creation times', () => {
    const jobs = ids(new SimulatedAccount({ jobs: 200, seed: 1 }).snapshot());
    expect(jobs).not.toEqual([...jobs].sort());
    expect(jobs).not.toEqual([...jobs].sort().reverse());
  });

  it('counts the jobs listed now, spread over `days`, within the retention', () => {
    const now = new Date('2026-11-01T00:00:00Z').getTime();
    const capped = new SimulatedAccount({ jobs: 1_000, seed: 3, quirks: false });
    expect(capped.count()).toBe(1_000);
    expect(capped.currentTime.getTime()).toBe(now);
    const oldest = created(capped.jobAt(999));
    expect(oldest).toBeGreaterThan(now - 90 * DAY);
    expect(oldest).toBeLessThan(now - 89 * DAY);

    const long = new SimulatedAccount({ jobs: 1_000, seed: 3, days: 200, retentionDays: 365, quirks: false });
    const first = created(long.jobAt(999));
    expect(first).toBeGreaterThan(now - 200 * DAY - 1);
    expect(first).toBeLessThan(now - 199 * DAY);

    const other = new Date('2025-02-03T04:05:06Z');
    expect(created(new SimulatedAccount({ jobs: 10, seed: 3, now: other }).jobAt(0))).toBeLessThan(
      other.getTime(),
    );
    expect(new SimulatedAccount({ jobs: 0, seed: 3 }).snapshot()).toEqual([]);
  });

  it('refuses options it cannot honour', () => {
    expect(() => new SimulatedAccount({ jobs: -1, seed: 1 })).toThrow(RangeError);
    expect(() => new SimulatedAccount({ jobs: 1.5, seed: 1 })).toThrow(RangeError);
    expect(() => new SimulatedAccount({ jobs: 10, seed: 1, days: 0 })).toThrow(RangeError);
    expect(() => new SimulatedAccount({ jobs: 10_000_000, seed: 1, days: 1 })).toThrow(/do not fit/);
    const account = new SimulatedAccount({ jobs: 10, seed: 1 });
    expect(() => account.jobAt(10)).toThrow(RangeError);
    expect(() => account.jobAt(-1)).toThrow(RangeError);
    expect(() => account.advance({ seconds: -1 })).toThrow(RangeError);
    expect(() => account.advance({ seconds: 1, newJobs: 1.5 })).toThrow(RangeError);
  });
});

describe('SimulatedAccount: jobs', () => {
  const account = new SimulatedAccount({ jobs: 4_000, seed: 3, quirks: false });
  const jobs = account.snapshot();
  const now = account.currentTime.getTime();

  it('have every field of the reference, in its order', () => {
    for (const job of jobs) expect(Object.keys(job)).toEqual(REFERENCE_FIELDS);
    expect(new Set(jobs.map((j) => j.model)).size).toBe(5);
    expect(new Set(jobs.map((j) => j.run_type))).toEqual(new Set(['FULL', 'DRY_RUN']));
    expect(new Set(jobs.map((j) => j.job_priority))).toEqual(new Set([0, 1]));
    const prefixes = new Set(jobs.map((j) => j.name?.split('-')[0]).filter((p) => p !== undefined));
    expect([...prefixes]).toEqual(expect.arrayContaining(['support', 'eval', 'classify']));
    for (const field of ['system_prompt', 'json_schema', 'name', 'description', 'dataset_id'] as const) {
      expect(jobs.some((j) => j[field] === null)).toBe(true);
      expect(jobs.some((j) => j[field] !== null)).toBe(true);
    }
    for (const job of jobs) {
      expect(typeof job.sampling_params).toBe('object');
      expect(Number.isInteger(job.num_rows)).toBe(true);
    }
  });

  it('have figures consistent with their status', () => {
    for (const job of jobs) {
      const c = created(job);
      switch (job.status) {
        case 'SUCCEEDED':
          expect(time(job.datetime_started)).toBeGreaterThanOrEqual(c);
          expect(time(job.datetime_completed)).toBeGreaterThanOrEqual(time(job.datetime_started));
          expect(job.failure_reason).toBeNull();
          if (job.job_cost === null) {
            // A cost still to come: only just after completion, and the tokens come with it.
            expect(now - time(job.datetime_completed)).toBeLessThan(HOUR);
            expect(job.input_tokens).toBeNull();
          } else {
            const price = MODEL_PRICES[job.model] ?? { input: Number.NaN, output: Number.NaN };
            const cost =
              (Number(job.input_tokens) * price.input + Number(job.output_tokens) * price.output) / 1e6;
            expect(Math.abs((job.job_cost as number) - cost)).toBeLessThanOrEqual(5.0001e-7);
            expect(decimals(job.job_cost as number)).toBeLessThanOrEqual(6);
            const ratio = (job.job_cost as number) / (job.cost_estimate as number);
            expect(ratio).toBeGreaterThanOrEqual(0.7);
            expect(ratio).toBeLessThanOrEqual(1.3);
          }
          break;
        case 'FAILED':
          expect(job.failure_reason).toEqual({
            message: expect.any(String) as unknown,
            code: expect.any(String) as unknown,
          });
          expect(job.datetime_completed).toEqual(expect.any(String));
          expect(job.job_cost === null || typeof job.job_cost === 'number').toBe(true);
          break;
        case 'CANCELLED':
          expect(job.datetime_completed).toEqual(expect.any(String));
          expect(job.failure_reason).toBeNull();
          break;
        case 'RUNNING':
        case 'CANCELLING':
          expect(time(job.datetime_started)).toBeGreaterThanOrEqual(c);
          expect(job.datetime_completed).toBeNull();
          expect(job.job_cost).toBeNull();
          break;
        default:
          expect(NOT_STARTED).toContain(job.status);
          expect([job.datetime_started, job.datetime_completed, job.job_cost, job.input_tokens]).toEqual([
            null,
            null,
            null,
            null,
          ]);
      }
      expect(typeof job.cost_estimate).toBe('number');
    }
    expect(jobs.some((j) => j.status === 'CANCELLED' && j.datetime_started === null)).toBe(true);
    expect(jobs.some((j) => j.status === 'FAILED' && j.job_cost === 0)).toBe(true);
  });

  it('are terminal when older than a day, in realistic proportions, with work in flight at the head', () => {
    const old = jobs.filter((j) => created(j) < now - DAY);
    expect(old.every(isTerminal)).toBe(true);
    const share = (status: string) => old.filter((j) => j.status === status).length / old.length;
    expect(share('SUCCEEDED')).toBeCloseTo(0.88, 1);
    expect(share('FAILED')).toBeCloseTo(0.08, 1);
    expect(share('CANCELLED')).toBeCloseTo(0.04, 1);

    const unfinished = jobs.filter((j) => !isTerminal(j));
    expect(unfinished.length).toBeGreaterThan(5);
    expect(unfinished.every((j) => created(j) > now - 3 * HOUR)).toBe(true);
    expect(unfinished.map((j) => j.status)).toContain('RUNNING');
    expect(unfinished.some((j) => NOT_STARTED.includes(j.status))).toBe(true);
  });

  it('show every status over a few hours of a busy account', () => {
    const busy = new SimulatedAccount({ jobs: 20_000, seed: 11, quirks: false });
    const seen = new Set<string>();
    for (let step = 0; step < 24; step += 1) {
      for (let p = 0; p < 400; p += 1) seen.add(busy.jobAt(p).status);
      busy.advance({ seconds: 600, newJobs: 60 });
    }
    expect([...seen].sort()).toEqual([...TERMINAL, ...NOT_STARTED, 'RUNNING', 'CANCELLING'].sort());
  });
});

describe('SimulatedAccount: quirks of the real API', () => {
  const quirky = new SimulatedAccount({ jobs: 6_000, seed: 4 }).snapshot();
  const clean = new SimulatedAccount({ jobs: 6_000, seed: 4, quirks: false }).snapshot();
  const kinds: Record<string, (j: ApiJob) => boolean> = {
    'lower-case status': (j) => j.status !== j.status.toUpperCase(),
    'job_cost as text': (j) => typeof j.job_cost === 'string',
    'cost_estimate as text': (j) => typeof j.cost_estimate === 'string',
    'tokens as text': (j) => typeof j.input_tokens === 'string' && typeof j.output_tokens === 'string',
    'input tokens beyond 2^31': (j) => Number(j.input_tokens) === 3_000_000_000,
    'null datetime_created': (j) => j.datetime_created === null,
    'an unknown field': (j) => 'region' in j,
  };

  it.each(Object.keys(kinds))('has %s on a few jobs when on, none when off', (kind) => {
    const has = kinds[kind] as (j: ApiJob) => boolean;
    const count = quirky.filter(has).length;
    expect(count).toBeGreaterThan(0);
    expect(count / quirky.length).toBeLessThan(0.01);
    expect(clean.filter(has)).toEqual([]);
  });

  it('keep numeric strings numeric and leave the other fields as without quirks', () => {
    for (const job of quirky) {
      for (const field of ['job_cost', 'cost_estimate', 'input_tokens', 'output_tokens'] as const) {
        if (typeof job[field] === 'string') expect(job[field]).toMatch(/^\d+(\.\d+)?$/);
      }
    }
    expect(ids(quirky)).toEqual(ids(clean));
    expect(quirky.map((j) => j.model)).toEqual(clean.map((j) => j.model));
  });

  it('keep a job with a null creation time at its place in the order', () => {
    const account = new SimulatedAccount({ jobs: 6_000, seed: 4 });
    const position = quirky.findIndex((j) => j.datetime_created === null);
    const cleanJobs = new SimulatedAccount({ jobs: 6_000, seed: 4, quirks: false });
    expect(account.jobAt(position).job_id).toBe(cleanJobs.jobAt(position).job_id);
    expect(created(cleanJobs.jobAt(position))).toBeLessThan(created(cleanJobs.jobAt(position - 1)));
  });
});

describe('SimulatedAccount: time passing', () => {
  it('adds new jobs at the head, created during the interval', () => {
    const account = new SimulatedAccount({ jobs: 1_000, seed: 5, quirks: false });
    const from = account.currentTime.getTime();
    const head = account.jobAt(0);
    const summary = account.advance({ seconds: 6 * 3_600, newJobs: 12 });
    expect(account.currentTime.getTime()).toBe(from + 6 * HOUR);
    // The oldest jobs were within hours of the 90-day retention.
    expect(summary.dropped.length).toBeGreaterThan(0);
    expect(account.count()).toBe(1_012 - summary.dropped.length);
    const after = account.snapshot();
    expect(ids(after.slice(0, 12))).toEqual([...summary.added].reverse());
    expect(after[12]?.job_id).toBe(head.job_id);
    for (const job of after.slice(0, 12)) {
      expect(created(job)).toBeGreaterThan(from);
      expect(created(job)).toBeLessThanOrEqual(from + 6 * HOUR);
    }
  });

  it('reports exactly the jobs whose JSON changed, and changes nothing else', () => {
    const account = new SimulatedAccount({ jobs: 1_000, seed: 5 });
    let before = new Map(account.snapshot().map((j) => [j.job_id, JSON.stringify(j)]));
    let changes = 0;
    for (const seconds of [60, 600, 1_800, 3_600, 86_400, 60, 7_200]) {
      const summary = account.advance({ seconds, newJobs: 5 });
      const after = new Map(account.snapshot().map((j) => [j.job_id, JSON.stringify(j)]));
      const changed = [...after]
        .filter(([id, json]) => before.has(id) && before.get(id) !== json)
        .map(([id]) => id);
      expect(summary.changed.sort()).toEqual(changed.sort());
      expect([...after.keys()].filter((id) => !before.has(id)).sort()).toEqual([...summary.added].sort());
      changes += changed.length;
      before = after;
    }
    expect(changes).toBeGreaterThan(10);
  });

  it('finishes jobs with their figures, and fills late costs', () => {
    const account = new SimulatedAccount({ jobs: 3_000, seed: 6, quirks: false });
    const unfinished = account.snapshot().filter((j) => !isTerminal(j));
    expect(unfinished.length).toBeGreaterThan(3);
    account.advance({ seconds: DAY / 1000, newJobs: 0 });
    for (const { job_id } of unfinished) {
      const job = account.getById(job_id) as ApiJob;
      expect(TERMINAL).toContain(job.status);
      expect(job.datetime_completed).toEqual(expect.any(String));
      if (job.status === 'SUCCEEDED') expect(job.job_cost).toEqual(expect.any(Number));
    }

    let waiting: ApiJob | undefined;
    for (let round = 0; round < 200 && waiting === undefined; round += 1) {
      account.advance({ seconds: 120, newJobs: 4 });
      waiting = account.snapshot().find((j) => j.status === 'SUCCEEDED' && j.job_cost === null);
    }
    expect(waiting).toBeDefined();
    const filled = account.advance({ seconds: 1, newJobs: 0, transitions: false, costFills: 1 });
    expect(filled.changed).toContain(waiting?.job_id);
    const after = account.getById(waiting?.job_id ?? '') as ApiJob;
    expect(after.job_cost).toEqual(expect.any(Number));
    expect(after.input_tokens).toEqual(expect.any(Number));
    expect(after.datetime_completed).toBe(waiting?.datetime_completed);
  });

  it('pauses jobs when transitions are off, and finishes some on demand', () => {
    const account = new SimulatedAccount({ jobs: 3_000, seed: 7, quirks: false });
    const unfinished = account.snapshot().filter((j) => !isTerminal(j));
    const paused = account.advance({ seconds: 3_600, newJobs: 3, transitions: false });
    expect(paused).toMatchObject({ changed: [], dropped: [] });
    expect(paused.added).toHaveLength(3);

    const forced = account.advance({ seconds: 60, newJobs: 0, transitions: false, finish: 2 });
    const oldestFirst = [...unfinished].reverse();
    expect(forced.changed).toEqual(ids(oldestFirst.slice(0, 2)));
    for (const id of forced.changed) {
      const job = account.getById(id) as ApiJob;
      expect(TERMINAL).toContain(job.status);
      expect(job.datetime_completed).toBe(account.currentTime.toISOString());
      if (job.status === 'SUCCEEDED') expect(job.job_cost).toEqual(expect.any(Number));
      if (job.datetime_started !== null)
        expect(time(job.datetime_started)).toBeGreaterThanOrEqual(created(job));
    }
    const resumed = account.advance({ seconds: DAY / 1000, newJobs: 0 });
    expect(resumed.changed.length).toBeGreaterThan(0);
    expect(account.snapshot().every(isTerminal)).toBe(true);
  });

  it('by default adds jobs at the rate they arrived before', () => {
    const account = new SimulatedAccount({ jobs: 3_000, seed: 8 });
    const added = account.advance({ seconds: 3_600 }).added.length;
    expect(added).toBeGreaterThan(10);
    expect(added).toBeLessThan(100);
  });

  it('keeps creation times distinct when many jobs arrive at once', () => {
    const account = new SimulatedAccount({ jobs: 100, seed: 9, quirks: false });
    account.advance({ seconds: 0, newJobs: 5 });
    const times = account.snapshot().map(created);
    expect(new Set(times).size).toBe(times.length);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(account.currentTime.getTime()).toBeGreaterThanOrEqual(times[0] as number);
  });

  it('drops jobs that fall out of the retention', () => {
    const account = new SimulatedAccount({ jobs: 1_000, seed: 5, quirks: false });
    const oldest = account.jobAt(999);
    const summary = account.advance({ seconds: 30 * 86_400, newJobs: 0, transitions: false });
    expect(summary.dropped.length).toBeGreaterThan(250);
    expect(summary.dropped[0]).toBe(oldest.job_id);
    expect(account.count()).toBe(1_000 - summary.dropped.length);
    expect(account.getById(oldest.job_id)).toBeUndefined();
    const horizon = account.currentTime.getTime() - 90 * DAY;
    expect(account.snapshot().every((j) => created(j) >= horizon)).toBe(true);
    expect(created(account.jobAt(account.count() - 1))).toBeLessThan(horizon + 31 * DAY);
  });
});

describe('SimulatedAccount: changes by hand', () => {
  it('finds jobs by id and mutates them for good', () => {
    const account = new SimulatedAccount({ jobs: 300, seed: 6 });
    const job = account.jobAt(7);
    expect(account.getById(job.job_id)).toEqual(job);
    expect(account.getById('job_nope')).toBeUndefined();
    expect(
      account.getById(`${job.job_id.slice(0, -1)}${job.job_id.endsWith('0') ? '1' : '0'}`),
    ).toBeUndefined();

    const mutated = account.mutate(job.job_id, {
      description: 'changed',
      job_cost: 12.5,
      run_type: undefined,
    });
    expect(mutated).toMatchObject({ description: 'changed', job_cost: 12.5 });
    expect(mutated).not.toHaveProperty('run_type');
    expect(account.jobAt(7)).toEqual(mutated);
    account.mutate(job.job_id, { status: 'RUNNING' });
    account.advance({ seconds: 86_400, newJobs: 0 });
    expect(account.getById(job.job_id)).toMatchObject({
      description: 'changed',
      job_cost: 12.5,
      status: 'RUNNING',
    });

    expect(() => account.mutate('job_nope', { status: 'FAILED' })).toThrow(/no listed job/);
    expect(() => account.mutate(job.job_id, { job_id: 'other' })).toThrow(/job_id/);
  });

  it('inserts raw rows at a position, which then travel with their neighbours', () => {
    const account = new SimulatedAccount({ jobs: 50, seed: 6 });
    const before = account.snapshot();
    account.insertRaw(3, { broken: true });
    account.insertRaw(3, { job_id: 'job_bad_date', datetime_created: 'not a date' });
    account.insertRaw(10, { input_tokens: -5 });
    account.insertRaw(53, 'not even an object');
    expect(account.count()).toBe(54);
    const after = account.snapshot() as unknown[];
    expect(after.slice(3, 5)).toEqual([
      { job_id: 'job_bad_date', datetime_created: 'not a date' },
      { broken: true },
    ]);
    expect(after[10]).toEqual({ input_tokens: -5 });
    expect(after[53]).toBe('not even an object');
    expect(after.filter((row) => typeof row === 'object' && row !== null && 'model' in row)).toEqual(before);
    expect(account.getById('job_bad_date')).toMatchObject({ datetime_created: 'not a date' });
    account.mutate('job_bad_date', { status: 'RUNNING' });
    expect(account.jobAt(3)).toMatchObject({ job_id: 'job_bad_date', status: 'RUNNING' });

    const added = account.advance({ seconds: 60, newJobs: 2, transitions: false });
    expect(account.jobAt(5)).toEqual({
      job_id: 'job_bad_date',
      datetime_created: 'not a date',
      status: 'RUNNING',
    });
    expect(account.jobAt(6)).toEqual({ broken: true });
    expect(added.added).toHaveLength(2);

    const gone = account.advance({ seconds: 100 * 86_400, newJobs: 1, transitions: false });
    expect(gone.dropped).toContain('job_bad_date');
    expect(account.count()).toBe(1);
    expect(() => account.insertRaw(5, {})).toThrow(RangeError);
  });

  it('serves a million jobs without making them all', () => {
    const account = new SimulatedAccount({ jobs: 1_000_000, seed: 7 });
    expect(account.count()).toBe(1_000_000);
    expect(account.page(999_950, 100)).toHaveLength(50);
    const last = account.jobAt(999_999);
    expect(account.getById(last.job_id)).toEqual(last);
    expect(created(account.jobAt(0))).toBeGreaterThan(created(account.jobAt(500_000)));
    const summary = account.advance({ seconds: 3_600 });
    expect(summary.added.length).toBeGreaterThan(100);
    expect(account.jobAt(0).job_id).toBe(summary.added.at(-1));
  });
});
