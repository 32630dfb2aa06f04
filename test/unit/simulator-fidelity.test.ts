import { describe, expect, it } from 'vitest';
import { SimulatedAccount, type ApiJob } from '../../src/simulator/index.js';

/** Opt-in fidelity to what real deployments serve; the defaults stay as other tests expect them. */

const DAY = 86_400_000;
const base = { jobs: 3_000, seed: 12 } as const;
const fields = (job: unknown) => Object.keys(job as object);

describe('timestamps', () => {
  const ms = new SimulatedAccount({ ...base, quirks: false }).snapshot();
  const us = new SimulatedAccount({ ...base, quirks: false, timestampPrecision: 'us' }).snapshot();
  const s = new SimulatedAccount({ ...base, quirks: false, timestampPrecision: 's' }).snapshot();
  const stamps = (jobs: ApiJob[]) =>
    jobs
      .flatMap((j) => [j.datetime_created, j.datetime_started, j.datetime_completed])
      .filter((t) => t !== null);

  it('print milliseconds by default, microseconds or whole seconds when asked, always UTC with a Z', () => {
    for (const t of stamps(ms)) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    for (const t of stamps(us)) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    for (const t of stamps(s)) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(new Set(stamps(us).map((t) => t.slice(23, 26))).size).toBeGreaterThan(100);
  });

  it('name the same instants, to their precision, and keep the order newest first', () => {
    ms.forEach((job, i) => {
      const micro = us[i] as ApiJob;
      const second = s[i] as ApiJob;
      expect(micro.datetime_created?.slice(0, 23)).toBe(job.datetime_created?.slice(0, 23));
      expect(Date.parse(String(second.datetime_created))).toBe(
        Math.floor(Date.parse(String(job.datetime_created)) / 1000) * 1000,
      );
      expect({ ...micro, datetime_created: null, datetime_started: null, datetime_completed: null }).toEqual({
        ...job,
        datetime_created: null,
        datetime_started: null,
        datetime_completed: null,
      });
    });
    const created = us.map((j) => String(j.datetime_created));
    expect(created).toEqual([...created].sort().reverse());
  });

  it('keep their microseconds from one listing to the next', () => {
    const account = new SimulatedAccount({ ...base, timestampPrecision: 'us' });
    const before = account.snapshot();
    account.advance({ seconds: DAY / 1000, newJobs: 0 });
    const after = new Map(account.snapshot().map((j) => [j.job_id, j]));
    for (const job of before) {
      const later = after.get(job.job_id);
      if (later === undefined || job.datetime_completed === null) continue;
      expect([later.datetime_created, later.datetime_started, later.datetime_completed]).toEqual([
        job.datetime_created,
        job.datetime_started,
        job.datetime_completed,
      ]);
    }
  });
});

describe('dry runs never billed', () => {
  it('succeed without tokens or a job_cost, for good, while full runs are billed as before', () => {
    const account = new SimulatedAccount({ ...base, unbilledDryRuns: true });
    const billed = new SimulatedAccount(base).snapshot();
    account.advance({ seconds: (2 * DAY) / 1000, newJobs: 0 });
    const jobs = account.snapshot();
    const dry = jobs.filter((j) => j.run_type !== 'FULL' && String(j.status).toUpperCase() === 'SUCCEEDED');
    expect(dry.length).toBeGreaterThan(20);
    for (const job of dry) {
      expect(job).toMatchObject({ job_cost: null, input_tokens: null, output_tokens: null });
      expect(job.datetime_completed).toEqual(expect.any(String));
      expect(job.cost_estimate).not.toBeNull();
    }
    const billedById = new Map(billed.map((j) => [j.job_id, j]));
    const sameJobsBilled = dry.map((j) => billedById.get(j.job_id)).filter((j) => j?.job_cost != null);
    expect(sameJobsBilled.length).toBeGreaterThan(20);
    const full = jobs.filter((j) => j.run_type === 'FULL' && j.status === 'SUCCEEDED');
    expect(full.every((j) => j.job_cost !== null)).toBe(true);
    expect(account.advance({ seconds: 60, newJobs: 0, costFills: 1_000 }).changed).toEqual([]);
  });
});

describe('the legacy job shape', () => {
  it('has the fields an older list-jobs page documents, the status in lower case', () => {
    const current = new SimulatedAccount(base).snapshot();
    const legacy = new SimulatedAccount({ ...base, jobShape: 'legacy' }).snapshot() as unknown as Record<
      string,
      unknown
    >[];
    legacy.forEach((job, i) => {
      const now = current[i] as ApiJob;
      const expected = ['job_id', 'status', 'created_at', 'completed_at', 'model', 'input_count', 'priority'];
      expect(fields(job)).toEqual('region' in now ? [...expected, 'region'] : expected);
      expect(job).toMatchObject({
        job_id: now.job_id,
        status: now.status.toLowerCase(),
        created_at: now.datetime_created,
        completed_at: now.datetime_completed,
        model: now.model,
        input_count: now.num_rows,
        priority: now.job_priority,
      });
    });
  });
});

describe('fields no reference names', () => {
  it('come on every job when asked, of every JSON type, after the known ones', () => {
    const plain = new SimulatedAccount(base).snapshot();
    const extra = new SimulatedAccount({ ...base, extraFields: true }).snapshot();
    extra.forEach((job, i) => {
      const known = plain[i] as ApiJob;
      expect(fields(job).slice(0, fields(known).length)).toEqual(fields(known));
      expect(job).toMatchObject({
        datetime_added: known.datetime_created ?? (expect.any(String) as unknown),
        organization_id: expect.stringMatching(/^org_[0-9a-f]{12}$/) as unknown,
        tags: expect.any(Array) as unknown,
        submission: expect.any(Object) as unknown,
        function_id: null,
      });
    });
    expect(plain.some((j) => 'organization_id' in j)).toBe(false);
  });
});
