import cron from 'node-cron';
import type { ClaimedSource, ScheduledSource } from '../db/store/schedule.js';
import type { Logger } from '../log.js';
import type { SourceConfig } from '../sources.js';
import type { FinalRunStatus } from '../sync/port.js';

/**
 * Runs every source of the configuration on its own schedule, at most `concurrency` at once in this
 * process, sharing the work with any other replica through the database: at each tick it claims as
 * many due sources as it has free slots (oldest due first, so none starves), and a run that ends
 * frees its slot and ticks again at once. A slow or failing source holds one slot and backs off
 * alone (db/store/schedule.ts); the others keep their times.
 */

/** The poll's ticks: a timer by default, a test's own to tick without waiting for a clock. */
export type PollTicks = (intervalMs: number, onTick: () => void) => { stop(): void };

const timerTicks: PollTicks = (intervalMs, onTick) => {
  const timer = setInterval(onTick, intervalMs);
  return { stop: () => clearInterval(timer) };
};

/** How a claimed run ended; null when the run could not even start or record its end. */
export type ClaimedRunEnd = { readonly status: FinalRunStatus } | null;

export interface DispatcherDependencies {
  /** Registers the sources in the schedule; a new one is first due at `firstRunAt`. */
  readonly register: (
    sources: readonly ScheduledSource[],
    firstRunAt: (source: ScheduledSource) => Date,
  ) => Promise<void>;
  /** Claims up to `limit` of the due sources among `sources`, with their leases. */
  readonly claim: (sources: readonly ScheduledSource[], limit: number) => Promise<ClaimedSource[]>;
  /** Runs a claimed source to its end; it holds the claim's lease and frees it. */
  readonly run: (claim: ClaimedSource, source: SourceConfig) => Promise<ClaimedRunEnd>;
  /** Tells the schedule how a claimed run ended (its failures, its retry time). */
  readonly recordEnd: (end: {
    source: string;
    status: FinalRunStatus;
    full: boolean;
    intervalSeconds: number;
  }) => Promise<void>;
  readonly log: Logger;
  readonly ticks?: PollTicks;
  /** How cron expressions fire; node-cron's reading by default. */
  readonly cron?: CronReading;
}

export interface CronReading {
  /** The next time `expression` fires, after now. */
  next(expression: string): Date;
  /** The next two. */
  nextTwo(expression: string): readonly [Date, Date];
  /** The seconds between two of its times (the next two): the unit of a failing source's backoff. */
  intervalSeconds(expression: string): number;
}

export interface DispatcherOptions {
  readonly concurrency: number;
  readonly pollMs: number;
  /** A source the schedule has never seen is due at once (true), or at its first cron time. */
  readonly runNewSourcesAtOnce: boolean;
}

export interface Dispatcher {
  /** The configuration's sources, now or after a reload: registered before the next claim. */
  setSources(sources: readonly SourceConfig[]): Promise<void>;
  /** Claims what is due for the free slots and starts it; what a tick of the poll does. */
  tick(): Promise<void>;
  /** The sources this process is running now. */
  running(): readonly string[];
  /** Claims nothing more and resolves once the runs in progress have ended (they stop on the shutdown signal). */
  stop(): Promise<void>;
}

/**
 * Each expression's next times as node-cron last read them, and when. A tick reads every source's
 * times (to claim, and to know when to wake), and node-cron takes 60 to 150 µs a reading: with 200
 * sources that was half the service's CPU and 90 ms between one run's end and the next one's start
 * (bench/README.md, many sources). The times from now are the ones read earlier until the first of
 * them comes (or the clock moves back), and sources mostly share a few expressions.
 */
const readings = new Map<
  string,
  { readonly task: ReturnType<typeof cron.createTask>; at: number; times: readonly Date[] }
>();

/** How many times a reading keeps: nextTwo's. */
const TIMES_KEPT = 2;

/** node-cron's next `count` times for `expression`, from now, in the process's time zone (TZ). */
function cronTimes(expression: string, count: number): readonly Date[] {
  let reading = readings.get(expression);
  if (reading === undefined) {
    // A task that is never started: node-cron's own reading of the expression, and no timer.
    reading = { task: cron.createTask(expression, () => undefined), at: -Infinity, times: [] };
    readings.set(expression, reading);
  }
  const now = Date.now();
  const first = reading.times[0];
  if (first === undefined || first.getTime() <= now || now < reading.at || reading.times.length < count) {
    reading.times = reading.task.getNextRuns(Math.max(count, TIMES_KEPT));
    reading.at = now;
  }
  if (reading.times.length < count)
    throw new Error(`the cron expression ${expression} does not fire ${count} times`);
  return reading.times.slice(0, count);
}

export const nodeCron: CronReading = {
  next: (expression) => cronTimes(expression, 1)[0] as Date,
  nextTwo: (expression) => cronTimes(expression, 2) as [Date, Date],
  intervalSeconds: (expression) => {
    const [first, second] = cronTimes(expression, 2) as [Date, Date];
    return (second.getTime() - first.getTime()) / 1000;
  },
};

/** How much after a due time the dispatcher looks for it: another replica's clock may run behind. */
const WAKE_AFTER_DUE_MS = 50;

export function startDispatcher(deps: DispatcherDependencies, options: DispatcherOptions): Dispatcher {
  const { log } = deps;
  const cronReading = deps.cron ?? nodeCron;
  const next = (expression: string) => cronReading.next(expression);
  let wake: NodeJS.Timeout | undefined;
  let sources: readonly SourceConfig[] = [];
  let registered = true;
  let stopped = false;
  const runs = new Map<string, Promise<void>>();
  /** A tick in progress, and whether another was asked for meanwhile. */
  let ticking: Promise<void> | null = null;
  let again = false;
  let failing = false;

  const scheduled = (source: SourceConfig): ScheduledSource => {
    const [followingRunAt, thenRunAt] = cronReading.nextTwo(source.schedule);
    const [followingFullAt, thenFullAt] = cronReading.nextTwo(source.fullSchedule);
    return {
      source: source.name,
      schedule: source.schedule,
      fullSchedule: source.fullSchedule,
      followingRunAt,
      thenRunAt,
      followingFullAt,
      thenFullAt,
    };
  };

  const register = async (): Promise<void> => {
    const enabled = sources.filter((source) => source.enabled).map(scheduled);
    if (enabled.length > 0) {
      const now = new Date();
      await deps.register(enabled, (source) => (options.runNewSourcesAtOnce ? now : source.followingRunAt));
    }
    registered = true;
  };

  const start = (claim: ClaimedSource, source: SourceConfig): void => {
    const name = claim.lease.source;
    const full = claim.mode === 'full';
    const run = (async () => {
      let end: ClaimedRunEnd = null;
      try {
        end = await deps.run(claim, source);
      } catch (error) {
        log.error({ err: error, source: name }, 'scheduled run failed');
      }
      try {
        await deps.recordEnd({
          source: name,
          status: end?.status ?? 'failed',
          full,
          intervalSeconds: cronReading.intervalSeconds(source.schedule),
        });
      } catch (error) {
        // The schedule is advisory past this point: the due time was consumed at the claim, so the
        // source simply runs at its next one.
        log.warn({ err: error, source: name }, 'could not record the end of the run in the schedule');
      }
    })().finally(() => {
      runs.delete(name);
      void tick();
    });
    runs.set(name, run);
  };

  const claimOnce = async (): Promise<void> => {
    if (!registered) await register();
    const free = options.concurrency - runs.size;
    if (free <= 0) return;
    const byName = new Map(sources.map((source) => [source.name, source]));
    const candidates = sources.filter((source) => source.enabled && !runs.has(source.name)).map(scheduled);
    const claims = await deps.claim(candidates, free);
    for (const claim of claims) {
      const source = byName.get(claim.lease.source);
      // A source a reload removed while it was being claimed is not run: its lease lapses unused.
      if (source !== undefined) start(claim, source);
    }
  };

  const tick = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (ticking !== null) {
      again = true;
      return ticking;
    }
    ticking = (async () => {
      do {
        again = false;
        try {
          await claimOnce();
          if (failing) log.info({ notice: true }, 'claiming due sources works again');
          failing = false;
        } catch (error) {
          // The database is out of reach, or a claim timed out: the next tick tries again.
          if (!failing)
            log.warn({ err: error }, 'could not claim due sources; trying again at the next tick');
          failing = true;
        }
      } while (again && !stopped);
    })().finally(() => {
      ticking = null;
      wakeAtNextDue();
    });
    return ticking;
  };

  /**
   * Ticks again when the soonest due time of the sources here comes, if that is before the next
   * poll: a source due every minute then waits milliseconds for its slot, not up to a poll. The poll
   * still finds what this process cannot foresee (a lease that expired, another replica's reload).
   */
  const wakeAtNextDue = () => {
    clearTimeout(wake);
    if (stopped) return;
    const due = sources
      .filter((source) => source.enabled && !runs.has(source.name))
      .flatMap((source) => [next(source.schedule).getTime(), next(source.fullSchedule).getTime()]);
    if (due.length === 0) return;
    const inMs = Math.max(0, Math.min(...due) - Date.now()) + WAKE_AFTER_DUE_MS;
    if (inMs >= options.pollMs) return;
    wake = setTimeout(() => void tick(), inMs);
    wake.unref();
  };

  const ticks = (deps.ticks ?? timerTicks)(options.pollMs, () => void tick());

  return {
    async setSources(list) {
      sources = list;
      registered = false;
      try {
        await register();
      } catch (error) {
        log.warn(
          { err: error },
          'could not register the sources in the schedule; trying again at the next tick',
        );
      }
    },
    tick,
    running: () => [...runs.keys()],
    async stop() {
      stopped = true;
      ticks.stop();
      clearTimeout(wake);
      await ticking;
      await Promise.all(runs.values());
    },
  };
}
