import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RunMode } from '../../src/sync/port.js';
import { startScheduler, type ScheduleTicks } from '../../src/worker/scheduler.js';

/** The scheduler's rules, with ticks the test fires itself: no clock, no waiting for cron. */

const log = pino({ level: 'silent' });

function handTicks() {
  const handlers = new Map<string, () => void>();
  const stopped: string[] = [];
  const ticks: ScheduleTicks = (expression, name, onTick) => {
    handlers.set(name, onTick);
    return {
      next: () => new Date('2026-12-01T00:15:00Z'),
      stop: () => {
        stopped.push(name);
        return Promise.resolve();
      },
    };
  };
  return { ticks, tick: (name: 'incremental' | 'full') => handlers.get(name)?.(), stopped };
}

/** Runs that end when the test says so, recording what was asked. */
function controlledRuns() {
  const asked: string[] = [];
  const pending: (() => void)[] = [];
  const run = (mode: RunMode, trigger: string) => {
    asked.push(`${mode}:${trigger}`);
    return new Promise<void>((resolve) => pending.push(resolve));
  };
  const finishOne = async () => {
    pending.shift()?.();
    // The scheduler starts a queued run once the finished one's promise chain has settled.
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { run, asked, finishOne, running: () => pending.length };
}

const SCHEDULES = { incremental: '*/15 * * * *', full: '17 3 * * *' };

describe('startScheduler', () => {
  it('runs at start when asked, and on each tick once the run before has ended', async () => {
    const { ticks, tick } = handTicks();
    const runs = controlledRuns();
    const scheduler = startScheduler(SCHEDULES, runs.run, log, { runAtStart: true, ticks });
    expect(runs.asked).toEqual(['incremental:startup']);
    await runs.finishOne();
    tick('incremental');
    expect(runs.asked).toEqual(['incremental:startup', 'incremental:schedule']);
    await runs.finishOne();
    await scheduler.stop();
  });

  it('queues one tick that arrives during a run, and a full pass over an incremental one', async () => {
    const { ticks, tick } = handTicks();
    const runs = controlledRuns();
    const scheduler = startScheduler(SCHEDULES, runs.run, log, { runAtStart: false, ticks });
    tick('incremental');
    tick('incremental'); // queued
    tick('incremental'); // one is queued already: skipped
    tick('full'); // a full pass asks for more: it takes the queued place
    expect(runs.running()).toBe(1);
    await runs.finishOne();
    await runs.finishOne();
    expect(runs.asked).toEqual(['incremental:schedule', 'full:schedule-full']);
    expect(runs.running()).toBe(0);
    await scheduler.stop();
  });

  it('keeps going after a run that throws', async () => {
    const { ticks, tick } = handTicks();
    const asked: string[] = [];
    const scheduler = startScheduler(
      SCHEDULES,
      (mode) => {
        asked.push(mode);
        return Promise.reject(new Error('the database went away'));
      },
      log,
      { runAtStart: false, ticks },
    );
    tick('incremental');
    await new Promise((resolve) => setImmediate(resolve));
    tick('full');
    await new Promise((resolve) => setImmediate(resolve));
    expect(asked).toEqual(['incremental', 'full']);
    await scheduler.stop();
  });

  it('stop waits for the run in progress, drops what was queued and stops both schedules', async () => {
    const { ticks, tick, stopped } = handTicks();
    const runs = controlledRuns();
    const scheduler = startScheduler(SCHEDULES, runs.run, log, { runAtStart: false, ticks });
    tick('incremental');
    tick('full');
    let done = false;
    const stopping = scheduler.stop().then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    await runs.finishOne();
    await stopping;
    expect(stopped.sort()).toEqual(['full', 'incremental']);
    tick('incremental');
    expect(runs.asked).toEqual(['incremental:schedule']);
  });
});
