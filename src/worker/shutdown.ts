import type { Logger } from '../log.js';

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export interface Shutdown {
  /** Aborted on the first SIGTERM or SIGINT; the run in progress stops after its current page. */
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * The first signal asks for a graceful stop. If the process has not exited `graceMs` later (a
 * write hanging on a dead database), or a second signal arrives, it exits at once: a stop must be
 * bounded, because Kubernetes sends SIGKILL after its own grace period anyway.
 */
export function handleShutdownSignals(log: Logger, graceMs = 20_000): Shutdown {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log.warn({ signal: name }, 'second signal: exiting now');
      process.exit(130);
    }
    log.info({ signal: name, graceMs, notice: true }, 'shutting down: finishing the current page');
    controller.abort(new Error(`received ${name}`));
    timer = setTimeout(() => {
      log.error({ signal: name, graceMs }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
  };
  for (const name of SHUTDOWN_SIGNALS) process.on(name, onSignal);
  return {
    signal: controller.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      for (const name of SHUTDOWN_SIGNALS) process.off(name, onSignal);
    },
  };
}
