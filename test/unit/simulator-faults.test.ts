import { describe, expect, it } from 'vitest';
import { SimulatedAccount } from '../../src/simulator/account/account.js';
import { BEHAVIOURS, parseQueuedFault } from '../../src/simulator/faults/fault-json.js';
import { FaultQueue, type RequestTarget } from '../../src/simulator/faults/faults.js';
import { hugeListingParts } from '../../src/simulator/faults/huge-page.js';

const head = (page: number, hasCursor: boolean): RequestTarget => ({
  endpoint: 'list-jobs',
  page,
  hasCursor,
});
const job: RequestTarget = { endpoint: 'jobs', page: null, hasCursor: false };
const elsewhere: RequestTarget = { endpoint: null, page: null, hasCursor: false };

describe('the fault queue', () => {
  it('applies a fault added for ever to every matching request', () => {
    const queue = new FaultQueue();
    queue.add({ kind: 'empty-pages' }, Number.POSITIVE_INFINITY);
    for (let i = 0; i < 100; i += 1) expect(queue.take(head(i, i > 0), () => true)?.kind).toBe('empty-pages');
    expect(queue.pending()).toBe(Number.POSITIVE_INFINITY);
    expect(() => queue.add({ kind: 'reset' }, 0)).toThrow(RangeError);
    expect(() => queue.add({ kind: 'reset' }, 1.5)).toThrow(RangeError);
  });

  it('matches paging faults to paged list-jobs only, a self-cursor only to a request with a cursor', () => {
    const queue = new FaultQueue();
    queue.add({ kind: 'self-cursor' });
    expect(queue.take(job, () => true)).toBeNull();
    expect(queue.take(head(0, false), () => true)).toBeNull();
    expect(queue.take(head(1, true), () => true)?.kind).toBe('self-cursor');
    queue.add({ kind: 'huge-page', megabytes: 1 });
    expect(queue.take(job, () => true)).toBeNull();
    expect(queue.take({ endpoint: 'list-jobs', page: null, hasCursor: false }, () => true)?.kind).toBe(
      'huge-page',
    );
  });

  it('matches host faults to any request, and no other fault to a path outside the API', () => {
    const queue = new FaultQueue();
    queue.add({ kind: 'status', status: 500 });
    expect(queue.take(elsewhere, () => true)).toBeNull();
    queue.add({ kind: 'web-page' });
    expect(queue.take(elsewhere, () => true)?.kind).toBe('web-page');
  });
});

describe('faults as JSON', () => {
  it('accepts every behaviour the command line offers, and "forever"', () => {
    for (const fault of Object.values(BEHAVIOURS))
      expect(parseQueuedFault(fault)).toEqual({ fault, times: 1 });
    expect(parseQueuedFault({ kind: 'same-page', times: 'forever' }).times).toBe(Number.POSITIVE_INFINITY);
    expect(parseQueuedFault({ fault: { kind: 'hang-body' }, times: 3 })).toEqual({
      fault: { kind: 'hang-body' },
      times: 3,
    });
  });

  it.each([
    [{ kind: 'explode' }, /unknown fault kind/],
    [{ kind: 'status', status: 500, shape: 'xml' }, /unknown error shape/],
    [{ kind: 'echo-auth', status: 302 }, /4xx or 5xx/],
    [{ kind: 'echo-auth', contentType: 'yaml' }, /contentType/],
    [{ kind: 'huge-page' }, /megabytes/],
    [{ kind: 'huge-page', megabytes: -1 }, /megabytes/],
    [{ kind: 'reset', times: 'often' }, /times/],
  ])('refuses %j', (fault, message) => {
    expect(() => parseQueuedFault(fault)).toThrow(message);
  });
});

describe('a huge page', () => {
  it('is made of parts of about a MiB, never one string, that join into valid JSON', () => {
    const account = new SimulatedAccount({ jobs: 30, seed: 2 });
    const parts = [...hugeListingParts(account, 3, '{"jobs":[')];
    for (const part of parts) expect(part.length).toBeLessThan(1_100_000);
    const text = `${parts.join('')}],"next_cursor":null}`;
    expect(text.length).toBeGreaterThanOrEqual(3 * 1_048_576);
    const body = JSON.parse(text) as { jobs: { job_id: string }[] };
    expect(body.jobs.map((j) => j.job_id)).toEqual(
      account.page(0, body.jobs.length).map((j) => (j as { job_id: string }).job_id),
    );
  });

  it('pads another account’s jobs when this one lists none', () => {
    const parts = [...hugeListingParts(new SimulatedAccount({ jobs: 0, seed: 2 }), 2, '[')];
    expect((JSON.parse(`${parts.join('')}]`) as unknown[]).length).toBeGreaterThanOrEqual(2);
  });
});
