import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ClaimedSource, ScheduledSource } from '../../src/db/store/schedule.js';
import type { SourceConfig } from '../../src/sources.js';
import type { FinalRunStatus } from '../../src/sync/port.js';
import {
  nodeCron,
  startDispatcher,
  type ClaimedRunEnd,
  type DispatcherDependencies,
} from '../../src/worker/dispatcher.js';

const log = pino({ level: 'silent' });
const NOW = new Date('2026-12-07T12:00:00Z');
const LATER = new Date('2026-12-07T12:15:00Z');

const source = (name: string, patch: Partial<SourceConfig> = {}): SourceConfig => ({
  name,
  apiUrl: 'http://127.0.0.1:1/v1',
  apiKey: `key-${name}`,
  keyFrom: 'api_key_env KEY',
  pageLimit: 100,
  schedule: '*/15 * * * *',
  fullSchedule: '17 3 * * *',
  enabled: true,
  ...patch,
});

const claimOf = (name: string, mode: 'full' | 'incremental' = 'incremental'): ClaimedSource => ({
  lease: { source: name, token: 1, holder: 'test:1:aa', seconds: 30 },
  mode,
  dueAt: NOW,
  lagSeconds: 0,
  orphaned: false,
});

/**
 * A schedule in memory: every source in `due` is claimable once. Runs end when the test says so, so
 * that a test can hold slots busy and see what the dispatcher does meanwhile.
 */
function harness(due: string[], options: { concurrency?: number } = {}) {
  const pending = new Set(due);
  const claims: { offered: string[]; limit: number }[] = [];
  const ended: { source: string; status: FinalRunStatus; full: boolean }[] = [];
  const registered: { sources: string[]; first: string[] }[] = [];
  const finishers = new Map<string, (end: ClaimedRunEnd) => void>();
  let failClaims = 0;
  const deps: DispatcherDependencies = {
    log,
    ticks: () => ({ stop: () => undefined }),
    cron: { next: () => LATER, nextTwo: () => [LATER, LATER], intervalSeconds: () => 900 },
    register: (sources: readonly ScheduledSource[], firstRunAt) => {
      registered.push({
        sources: sources.map((s) => s.source),
        first: sources.map((s) => firstRunAt(s).toISOString()),
      });
      return Promise.resolve();
    },
    claim: (sources, limit) => {
      claims.push({ offered: sources.map((s) => s.source), limit });
      if (failClaims > 0) {
        failClaims -= 1;
        return Promise.reject(new Error('database unreachable'));
      }
      const taken = sources
        .map((s) => s.source)
        .filter((name) => pending.has(name))
        .slice(0, limit);
      for (const name of taken) pending.delete(name);
      return Promise.resolve(taken.map((name) => claimOf(name)));
    },
    run: (claim) => new Promise((resolve) => finishers.set(claim.lease.source, resolve)),
    recordEnd: ({ source, status, full }) => {
      ended.push({ source, status, full });
      return Promise.resolve();
    },
  };
  const dispatcher = startDispatcher(deps, {
    concurrency: options.concurrency ?? 2,
    pollMs: 1_000,
    runNewSourcesAtOnce: true,
  });
  const finish = async (name: string, end: ClaimedRunEnd) => {
    const resolve = finishers.get(name);
    if (resolve === undefined) throw new Error(`${name} is not running`);
    finishers.delete(name);
    resolve(end);
    // The run's end records it and ticks again: let those promises settle.
    await new Promise((r) => setTimeout(r, 10));
  };
  return {
    dispatcher,
    claims,
    ended,
    registered,
    finish,
    makeDue: (name: string) => pending.add(name),
    failNextClaims: (n: number) => (failClaims = n),
  };
}

describe('the dispatcher', () => {
  it('registers the enabled sources, new ones due at once', async () => {
    const h = harness([]);
    await h.dispatcher.setSources([source('a'), source('off', { enabled: false }), source('b')]);
    expect(h.registered).toHaveLength(1);
    expect(h.registered[0]?.sources).toEqual(['a', 'b']);
    expect(new Date(h.registered[0]?.first[0] ?? '').getTime()).toBeGreaterThan(Date.now() - 5_000);
  });

  it('claims no more than its free slots, and a finished run frees its slot at once', async () => {
    const h = harness(['a', 'b', 'c']);
    await h.dispatcher.setSources([source('a'), source('b'), source('c')]);
    await h.dispatcher.tick();
    expect(h.dispatcher.running()).toEqual(['a', 'b']);
    expect(h.claims.at(-1)).toEqual({ offered: ['a', 'b', 'c'], limit: 2 });

    // Both slots are busy: a tick claims nothing.
    const before = h.claims.length;
    await h.dispatcher.tick();
    expect(h.claims).toHaveLength(before);

    await h.finish('a', { status: 'succeeded' });
    expect(h.ended).toEqual([{ source: 'a', status: 'succeeded', full: false }]);
    // The freed slot was filled without waiting for the poll, and a running source is never offered.
    expect(h.dispatcher.running()).toEqual(['b', 'c']);
    expect(h.claims.at(-1)).toEqual({ offered: ['a', 'c'], limit: 1 });
  });

  it('records a run that threw as failed, and goes on', async () => {
    const h = harness(['a']);
    await h.dispatcher.setSources([source('a')]);
    await h.dispatcher.tick();
    await h.finish('a', null);
    expect(h.ended).toEqual([{ source: 'a', status: 'failed', full: false }]);
    h.makeDue('a');
    await h.dispatcher.tick();
    expect(h.dispatcher.running()).toEqual(['a']);
  });

  it('survives a claim that fails, and claims at the next tick', async () => {
    const h = harness(['a']);
    await h.dispatcher.setSources([source('a')]);
    h.failNextClaims(1);
    await h.dispatcher.tick();
    expect(h.dispatcher.running()).toEqual([]);
    await h.dispatcher.tick();
    expect(h.dispatcher.running()).toEqual(['a']);
  });

  it('after a reload, offers the new sources only, and stop waits for the runs in progress', async () => {
    const h = harness(['a', 'b', 'c']);
    await h.dispatcher.setSources([source('a')]);
    await h.dispatcher.tick();
    expect(h.dispatcher.running()).toEqual(['a']);
    await h.dispatcher.setSources([source('a'), source('c')]);
    await h.dispatcher.tick();
    expect(h.dispatcher.running()).toEqual(['a', 'c']);
    expect(h.registered.at(-1)?.sources).toEqual(['a', 'c']);

    let stopped = false;
    const stopping = h.dispatcher.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(stopped).toBe(false);
    await h.finish('a', { status: 'interrupted' });
    await h.finish('c', { status: 'interrupted' });
    await stopping;
    expect(stopped).toBe(true);
    // Nothing more is claimed once stopped, whatever is due.
    const claimsAtStop = h.claims.length;
    await h.dispatcher.tick();
    expect(h.claims).toHaveLength(claimsAtStop);
  });
});

describe('nodeCron, read once per expression until its next time comes', () => {
  afterEach(() => vi.useRealTimers());
  const at = (iso: string) => new Date(`2026-12-07T${iso}Z`);

  it('gives the times from now, as a fresh reading would, before and after the first one comes', () => {
    vi.useFakeTimers({ now: at('12:00:30') });
    expect(nodeCron.nextTwo('*/5 * * * * *')).toEqual([at('12:00:35'), at('12:00:40')]);
    vi.setSystemTime(at('12:00:34.999'));
    expect(nodeCron.next('*/5 * * * * *')).toEqual(at('12:00:35'));
    vi.setSystemTime(at('12:00:35'));
    expect(nodeCron.nextTwo('*/5 * * * * *')).toEqual([at('12:00:40'), at('12:00:45')]);
    expect(nodeCron.intervalSeconds('*/5 * * * * *')).toBe(5);
  });

  it('reads again when the clock moves back', () => {
    vi.useFakeTimers({ now: at('12:00:30') });
    expect(nodeCron.next('*/7 * * * * *')).toEqual(at('12:00:35'));
    vi.setSystemTime(at('12:00:20'));
    expect(nodeCron.next('*/7 * * * * *')).toEqual(at('12:00:21'));
  });
});
