import cron from 'node-cron';
import type { Logger } from '../log.js';
import type { RunMode, RunTrigger } from '../sync/port.js';

export interface Schedules {
  readonly incremental: string;
  readonly full: string;
}

/** One cron schedule's ticks: node-cron's by default, a test's own to tick without waiting for a clock. */
export interface Ticks {
  /** The time of the next tick, for the log line that says when the worker syncs next. */
  next(): Date | null;
  stop(): Promise<void>;
}

export type ScheduleTicks = (expression: string, name: string, onTick: () => void) => Ticks;

const cronTicks: ScheduleTicks = (expression, name, onTick) => {
  const task = cron.schedule(expression, onTick, { name });
  return {
    next: () => task.getNextRun(),
    stop: async () => {
      await task.destroy();
    },
  };
};

export interface Scheduler {
  /** Resolves once the run in progress (if any) has finished; no run starts after `stop`. */
  stop(): Promise<void>;
}

/**
 * Runs `run` on two cron schedules, one run at a time in this process. A tick that arrives while a
 * run is in progress is not dropped if it asks for more (a full pass during an incremental run): it
 * runs next. Runs in other processes are kept apart by the source's lease (db/store/lease.ts), not here.
 */
export function startScheduler(
  schedules: Schedules,
  run: (mode: RunMode, trigger: RunTrigger) => Promise<void>,
  log: Logger,
  options: { runAtStart: boolean; ticks?: ScheduleTicks },
): Scheduler {
  const ticks = options.ticks ?? cronTicks;
  let current: Promise<void> | null = null;
  let queued: RunMode | null = null;
  let stopped = false;

  const request = (mode: RunMode, trigger: RunTrigger) => {
    if (stopped) return;
    if (current !== null) {
      if (mode === 'full' || queued === null) {
        log.info({ mode, trigger }, 'a run is in progress; this one runs when it ends');
        queued = mode === 'full' || queued === 'full' ? 'full' : 'incremental';
      } else {
        log.info({ mode, trigger }, 'a run is in progress and another is queued; skipping this tick');
      }
      return;
    }
    current = (async () => {
      try {
        await run(mode, trigger);
      } catch (error) {
        // One bad run must not take the worker down; the next tick tries again.
        log.error({ err: error, mode, trigger }, 'scheduled run failed');
      } finally {
        current = null;
        const next = queued;
        queued = null;
        if (next !== null) request(next, next === 'full' ? 'schedule-full' : 'schedule');
      }
    })();
  };

  const tasks: Ticks[] = [
    ticks(schedules.incremental, 'incremental', () => request('incremental', 'schedule')),
    ticks(schedules.full, 'full', () => request('full', 'schedule-full')),
  ];
  log.info(
    {
      incremental: schedules.incremental,
      full: schedules.full,
      nextIncremental: tasks[0]?.next()?.toISOString(),
      nextFull: tasks[1]?.next()?.toISOString(),
      notice: `syncing on "${schedules.incremental}" (incremental) and "${schedules.full}" (full pass)`,
    },
    'scheduler started',
  );
  if (options.runAtStart) request('incremental', 'startup');

  return {
    async stop() {
      stopped = true;
      queued = null;
      for (const task of tasks) await task.stop();
      await current;
    },
  };
}
