import type { Logger } from '../log.js';
import { LeaseLostError, type Lease, type LeaseHolder, type SyncStore } from './port.js';

/**
 * How a run holds its source: it takes the lease (waiting for it, within a bound, if asked), then
 * renews it every third of its length while the run lives, so that two renewals in a row may fail
 * (a database hiccup) before it lapses. Every write of the run renews it too (the fence), so the
 * timer matters only while the run waits on the API.
 */

export function describeHolder(source: string, held: LeaseHolder): string {
  const parts = [
    held.runId === null ? null : `run ${held.runId}`,
    held.holder === null ? null : `held by ${held.holder}`,
    held.expiresInSeconds === null
      ? 'one of its writes in progress'
      : `its lease expires in ${Math.max(0, Math.ceil(held.expiresInSeconds))} s unless renewed`,
  ].filter((part) => part !== null);
  return `another sync of source "${source}" is in progress (${parts.join(', ')})`;
}

export type LeaseAttempt =
  | { readonly lease: Lease }
  | { readonly heldBy: LeaseHolder; readonly waitedSeconds: number; readonly stopped: boolean };

/** How often a waiting run asks again: a released lease is taken within a second. */
const POLL_MS = 1_000;

/**
 * Takes the lease, or waits for it up to `waitSeconds` (0: do not wait). Stops waiting when
 * `signal` aborts (a shutdown), reporting the holder as it was last seen.
 */
export async function takeLease(
  store: SyncStore,
  request: { source: string; holder: string; seconds: number },
  options: { waitSeconds: number; signal?: AbortSignal; log: Logger },
): Promise<LeaseAttempt> {
  const started = performance.now();
  const deadline = started + options.waitSeconds * 1000;
  let announced = false;
  for (;;) {
    const attempt = await store.acquireLease(request);
    if ('lease' in attempt) return attempt;
    const waitedSeconds = (performance.now() - started) / 1000;
    const left = deadline - performance.now();
    if (left <= 0 || options.signal?.aborted) {
      return { heldBy: attempt.heldBy, waitedSeconds, stopped: options.signal?.aborted === true };
    }
    if (!announced) {
      options.log.info(
        { source: request.source, waitSeconds: options.waitSeconds, notice: true },
        `${describeHolder(request.source, attempt.heldBy)}; waiting for it`,
      );
      announced = true;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(POLL_MS, left));
      function done() {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', done);
        resolve();
      }
      options.signal?.addEventListener('abort', done, { once: true });
    });
  }
}

export interface HeldLease {
  /** Aborts, with a LeaseLostError, once a renewal finds the lease taken by another run. */
  readonly lost: AbortSignal;
  /** Stops renewing; the run's last write (finishRun) releases the lease. */
  stop(): void;
}

export function keepLease(store: SyncStore, lease: Lease, log: Logger): HeldLease {
  const controller = new AbortController();
  let renewing = false;
  const renew = async () => {
    if (renewing || controller.signal.aborted) return;
    renewing = true;
    try {
      if (!(await store.renewLease(lease))) controller.abort(new LeaseLostError(lease));
    } catch (error) {
      // A write of this run holds the row (55P03, lock timeout): it renews the lease at its commit.
      // Anything else: the next renewal, or the run's next write, tries again; the lease outlives two misses.
      if ((error as { code?: unknown }).code === '55P03') return;
      log.warn({ err: error, source: lease.source }, 'could not renew the lease; trying again');
    } finally {
      renewing = false;
    }
  };
  const timer = setInterval(() => void renew(), (lease.seconds * 1000) / 3);
  timer.unref();
  return {
    lost: controller.signal,
    stop: () => clearInterval(timer),
  };
}
