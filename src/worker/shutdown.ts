import type { Logger } from '../log.js';

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export interface Shutdown {
  /**
   * Aborted on the first SIGTERM or SIGINT, or when the process that started this one goes away;
   * the run in progress stops after its current page.
   */
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * How often the worker looks whether the process that started it still runs. `npx sutro-sync start`
 * under a supervisor runs the worker as npm's child, and npm exits on SIGTERM without passing the
 * signal on: the worker, reparented, would run on unsupervised. A changed parent pid says so within
 * a second. (In a container the worker is pid 1 or tini's child, and its parent never changes.)
 */
const PARENT_CHECK_MS = 1_000;

/**
 * The first signal asks for a graceful stop. If the process has not exited `graceMs` later (a
 * write hanging on a dead database), or a second signal arrives, it exits at once: a stop must be
 * bounded, because Kubernetes sends SIGKILL after its own grace period anyway.
 */
export function handleShutdownSignals(log: Logger, graceMs = 20_000): Shutdown {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const stop = (reason: string, fields: Record<string, unknown>) => {
    log.info({ ...fields, graceMs, notice: true }, `shutting down (${reason}): finishing the current page`);
    controller.abort(new Error(reason));
    timer = setTimeout(() => {
      log.error({ ...fields, graceMs }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
  };
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log.warn({ signal: name }, 'second signal: exiting now');
      process.exit(130);
    }
    stop(`received ${name}`, { signal: name });
  };
  for (const name of SHUTDOWN_SIGNALS) process.on(name, onSignal);
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent || controller.signal.aborted) return;
    clearInterval(watch);
    stop(`the process that started it, pid ${parent}, went away`, { parent });
  }, PARENT_CHECK_MS);
  watch.unref();
  return {
    signal: controller.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      clearInterval(watch);
      for (const name of SHUTDOWN_SIGNALS) process.off(name, onSignal);
    },
  };
}
