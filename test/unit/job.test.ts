import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeStorable, parseApiTime, parseJob, type Job } from '../../src/sutro/job.js';

const reference = {
  model: 'llama-3.1-8b',
  system_prompt: 'You are a helpful assistant.',
  job_priority: 1,
  status: 'succeeded',
  datetime_created: '2024-01-15T10:30:00Z',
  datetime_started: '2024-01-15T10:30:15Z',
  datetime_completed: '2024-01-15T10:32:15Z',
  json_schema: null,
  sampling_params: { temperature: 0.7, top_p: 0.95, max_tokens: 2048 },
  name: 'Customer Support Batch',
  description: 'Processing customer inquiries',
  dataset_id: 'dataset_abc123',
  input_tokens: 15420,
  output_tokens: 8230,
  job_cost: 0.0234,
  num_rows: 50,
  failure_reason: null,
  cost_estimate: 0.025,
  run_type: 'FULL',
  job_id: 'batch_job_12345',
};

function ok(raw: unknown): Job {
  const parsed = parseJob(raw);
  if (!parsed.ok) throw new Error(`expected a valid job: ${parsed.reason}`);
  return parsed.job;
}

function reason(raw: unknown): string {
  const parsed = parseJob(raw);
  if (parsed.ok) throw new Error('expected a rejection');
  return parsed.reason;
}

describe('parseJob', () => {
  it('reads every field of the reference job with real types', () => {
    const job = ok(reference);
    expect(job).toMatchObject({
      jobId: 'batch_job_12345',
      status: 'SUCCEEDED',
      model: 'llama-3.1-8b',
      jobPriority: 1,
      datetimeCreated: { text: '2024-01-15T10:30:00Z', ms: Date.parse('2024-01-15T10:30:00Z') },
      datetimeCompleted: { text: '2024-01-15T10:32:15Z', ms: Date.parse('2024-01-15T10:32:15Z') },
      samplingParams: { temperature: 0.7, top_p: 0.95, max_tokens: 2048 },
      inputTokens: 15420n,
      outputTokens: 8230n,
      numRows: 50n,
      jobCost: '0.0234',
      costEstimate: '0.025',
      runType: 'FULL',
      failureReason: null,
      jsonSchema: null,
    });
    expect(job.raw).toBe(reference);
  });

  it('accepts numeric strings, 64-bit counts and keeps cost as exact decimal text', () => {
    const job = ok({
      ...reference,
      input_tokens: 3_000_000_000,
      output_tokens: '9007199254740993',
      job_cost: '0.1000000000000000055',
      cost_estimate: 0.1,
    });
    expect(job.inputTokens).toBe(3_000_000_000n);
    expect(job.outputTokens).toBe(9_007_199_254_740_993n);
    expect(job.jobCost).toBe('0.1000000000000000055');
    expect(job.costEstimate).toBe('0.1');
  });

  it('keeps unknown fields in raw and stores a null creation time', () => {
    const job = ok({ ...reference, region: 'us-east-1', datetime_created: null });
    expect(job.raw.region).toBe('us-east-1');
    expect(job.datetimeCreated).toBeNull();
  });

  it('reads datetimes without an offset as UTC', () => {
    expect(ok({ ...reference, datetime_started: '2024-01-15T10:30:15' }).datetimeStarted).toEqual({
      text: '2024-01-15T10:30:15Z',
      ms: Date.parse('2024-01-15T10:30:15Z'),
    });
  });

  it('normalizes every status to upper case, unknown ones included', () => {
    expect(ok({ ...reference, status: 'running' }).status).toBe('RUNNING');
    expect(ok({ ...reference, status: 'Paused_By_Admin' }).status).toBe('PAUSED_BY_ADMIN');
  });

  it('rejects what cannot be stored faithfully, naming the field', () => {
    const noId: Record<string, unknown> = { ...reference };
    delete noId.job_id;
    expect(reason(noId)).toBe('job_id: is missing');
    expect(reason({ ...reference, datetime_created: 'not a date' })).toMatch(
      /^datetime_created: is not an ISO 8601 datetime/,
    );
    expect(reason({ ...reference, datetime_started: '2024-13-45T99:00:00Z' })).toMatch(/^datetime_started:/);
    expect(reason({ ...reference, input_tokens: -5 })).toBe('input_tokens: must not be negative (got -5)');
    expect(reason({ ...reference, num_rows: 1.5 })).toMatch(/^num_rows: must be an integer/);
    expect(reason({ ...reference, output_tokens: 2 ** 60 })).toMatch(/^output_tokens: is beyond 2\^53/);
    expect(reason({ ...reference, job_cost: 'twelve' })).toMatch(/^job_cost: must be a decimal number/);
    expect(reason({ ...reference, job_cost: -1 })).toMatch(/^job_cost: must not be negative/);
    expect(reason({ ...reference, status: 7 })).toMatch(/^status:/);
    const both = reason({ ...reference, input_tokens: -1, datetime_completed: 'x' });
    expect(both).toContain('input_tokens: must not be negative');
    expect(both).toContain('datetime_completed: is not an ISO 8601 datetime');
    expect(reason('a string')).toBe('job is not an object (got string)');
  });

  it('rejects what PostgreSQL would refuse, so that one job cannot fail its page for ever', () => {
    const offCalendar: [field: string, value: string][] = [
      ['datetime_created', '2026-02-30T00:00:00Z'],
      ['datetime_created', '2023-02-29T00:00:00Z'],
      ['datetime_created', '0000-01-01T00:00:00Z'],
      ['datetime_created', '9999-12-31T23:59:59-05:00'],
      ['datetime_created', '0001-01-01T00:00:00+05:00'],
      ['datetime_started', '2026-01-01T24:00:01Z'],
      ['datetime_started', '2026-01-01T24:00:00.5Z'],
      ['datetime_started', '2026-01-01T10:00:60Z'],
      ['datetime_started', '2026-01-01T10:00:00+16:00'],
    ];
    for (const [field, value] of offCalendar) {
      expect(reason({ ...reference, [field]: value })).toMatch(new RegExp(`^${field}: is not`));
    }
    const at = (text: string, ms: string) => ({ text, ms: Date.parse(ms) });
    expect(ok({ ...reference, datetime_started: '2026-12-31T24:00:00Z' }).datetimeStarted).toEqual(
      at('2026-12-31T24:00:00Z', '2027-01-01T00:00:00Z'),
    );
    expect(ok({ ...reference, datetime_created: '2024-02-29T23:59:59.999+01:00' }).datetimeCreated).toEqual(
      at('2024-02-29T23:59:59.999+01:00', '2024-02-29T22:59:59.999Z'),
    );
    expect(ok({ ...reference, datetime_created: '0001-01-01T00:00:00Z' }).datetimeCreated).toEqual(
      at('0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'),
    );
    expect(ok({ ...reference, datetime_created: '2026-01-01T00:00:00+05' }).datetimeCreated).toEqual(
      at('2026-01-01T00:00:00+05:00', '2025-12-31T19:00:00Z'),
    );
    expect(ok({ ...reference, datetime_created: '9999-12-31T23:59:59Z' }).datetimeCreated?.ms).toBe(
      Date.parse('9999-12-31T23:59:59Z'),
    );
    // Microseconds, as the API prints them, are kept to the digit; no offset means UTC, said outright.
    expect(ok({ ...reference, datetime_created: '2026-11-01T10:30:00.123456' }).datetimeCreated).toEqual(
      at('2026-11-01T10:30:00.123456Z', '2026-11-01T10:30:00.123Z'),
    );

    // A space for the T, and years below 100: Date.parse read this one as 2001.
    expect(ok({ ...reference, datetime_created: '0001-01-01 00:00Z' }).datetimeCreated).toEqual(
      at('0001-01-01 00:00Z', '0001-01-01T00:00:00.000Z'),
    );

    expect(reason({ ...reference, job_priority: 2 ** 31 })).toBe('job_priority: must be a 32-bit integer');
    expect(ok({ ...reference, job_priority: -(2 ** 31) }).jobPriority).toBe(-(2 ** 31));

    expect(reason({ ...reference, job_cost: '1e200000' })).toMatch(
      /^job_cost: has more digits than PostgreSQL/,
    );
    expect(reason({ ...reference, cost_estimate: '1e-16384' })).toMatch(/^cost_estimate: has more digits/);
    expect(reason({ ...reference, cost_estimate: '0.1e-16383' })).toMatch(/^cost_estimate: has more digits/);
    expect(reason({ ...reference, job_cost: '10e131071' })).toMatch(/^job_cost: has more digits/);
    expect(ok({ ...reference, job_cost: '10e131070' }).jobCost).toBe('10e131070');
    expect(ok({ ...reference, job_cost: '0.1e-16382' }).jobCost).toBe('0.1e-16382');
    expect(ok({ ...reference, job_cost: '0.000e131075' }).jobCost).toBe('0.000e131075');
    expect(reason({ ...reference, job_cost: '0e9999999999' })).toMatch(/^job_cost: has more digits/);
    expect(reason({ ...reference, job_cost: '-1e-400' })).toMatch(/^job_cost: must not be negative/);
    expect(ok({ ...reference, job_cost: '-0.000' }).jobCost).toBe('-0.000');
  });

  it('reads every time PostgreSQL can store at the instant the strict ISO 8601 form of it names', () => {
    // parseApiTime computes the instant from the matched fields; Date.parse of the strict form (T,
    // seconds, ±hh:mm) is V8's ISO reader, an independent oracle for every year from 1.
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const time = fc.record({
      date: fc
        .date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9998-12-31T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString().slice(0, 10)),
      separator: fc.constantFrom('T', 't', ' '),
      hour: two(23),
      minute: two(59),
      second: fc.option(two(59)),
      fraction: fc.option(fc.stringMatching(/^\.\d{1,9}$/)),
      zone: fc.option(
        fc.oneof(
          fc.constantFrom('Z', 'z'),
          fc.tuple(fc.constantFrom('+', '-'), two(19), fc.option(two(59)), fc.boolean()),
        ),
      ),
    });
    fc.assert(
      fc.property(time, ({ date, separator, hour, minute, second, fraction, zone }) => {
        const seconds = second === null ? '' : `:${second}${fraction ?? ''}`;
        let written = '';
        let strict = 'Z';
        // PostgreSQL holds offsets up to 15:59.
        let storable = true;
        if (typeof zone === 'string') written = zone;
        else if (zone !== null) {
          const [sign, hours, minutes, colon] = zone;
          written = minutes === null ? `${sign}${hours}` : `${sign}${hours}${colon ? ':' : ''}${minutes}`;
          strict = `${sign}${hours}:${minutes ?? '00'}`;
          storable = Number(hours) <= 15;
        }
        const text = `${date}${separator}${hour}:${minute}${seconds}${written}`;
        const strictSeconds = `${second ?? '00'}${second === null ? '' : `${fraction ?? ''}`.slice(0, 4)}`;
        const expected = Date.parse(`${date}T${hour}:${minute}:${strictSeconds}${strict}`);
        const inRange =
          expected >= Date.parse('0001-01-01T00:00:00Z') && expected < Date.parse('+010000-01-01T00:00:00Z');
        expect(parseApiTime(text)?.ms ?? null).toBe(inRange && storable ? expected : null);
      }),
      { numRuns: 2000 },
    );
  });

  it('reports the job id of a rejected row when it has one', () => {
    const parsed = parseJob({ ...reference, input_tokens: -5 });
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? null : parsed.jobId).toBe('batch_job_12345');
  });
});

describe('makeStorable', () => {
  it('returns a storable value as it is, not a copy', () => {
    const job = { job_id: 'a', sampling_params: { stop: ['x'] }, tags: ['y', { z: 1 }], emoji: '\u{1F600}' };
    const result = makeStorable(job);
    expect(result.value).toBe(job);
    expect(result.paths).toEqual([]);
  });

  it('replaces U+0000 in strings and keys at any depth, naming each place, and leaves the input alone', () => {
    const job = { job_id: 'a', name: 'n\u0000', sampling_params: { 'stop\u0000': ['ok', 'b\u0000c'] } };
    const result = makeStorable(job);
    expect(result.value).toEqual({
      job_id: 'a',
      name: 'n\uFFFD',
      sampling_params: { 'stop\uFFFD': ['ok', 'b\uFFFDc'] },
    });
    expect(result.paths).toEqual([
      'name',
      'sampling_params.stop\uFFFD (key)',
      'sampling_params.stop\uFFFD[1]',
    ]);
    expect(job.name).toBe('n\u0000');
  });

  it('replaces lone surrogates, which jsonb refuses, and keeps paired ones', () => {
    const job = { job_id: 'a', name: 'x\uD800y', description: '\u{1F600}', tags: ['\uDC00'] };
    const result = makeStorable(job);
    expect(result.value).toEqual({
      job_id: 'a',
      name: 'x\uFFFDy',
      description: '\u{1F600}',
      tags: ['\uFFFD'],
    });
    expect(result.paths).toEqual(['name', 'tags[0]']);
  });

  it('copies a key named __proto__ as a key, not as the prototype', () => {
    const job = JSON.parse('{"job_id":"a","name":"n\\u0000","__proto__":{"polluted":true}}') as object;
    const result = makeStorable(job);
    expect(Object.keys(result.value as object)).toEqual(['job_id', 'name', '__proto__']);
    expect(JSON.stringify(result.value)).toBe(
      '{"job_id":"a","name":"n\uFFFD","__proto__":{"polluted":true}}',
    );
    expect(Object.getPrototypeOf(result.value)).toBe(Object.prototype);
  });
});
