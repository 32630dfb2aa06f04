import type { Database } from '../db/infra/connect.js';
import {
  readScrapeFigures,
  readSourceHealth,
  type ScrapeFigures,
  type SourceHealth,
} from '../db/read/source-health.js';

export class HealthProbeTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'HealthProbeTimeoutError';
  }
}

/**
 * A probe must answer before the prober gives up (Kubernetes waits 1 s by default), even when the
 * pool is waiting 10 s for a connection to a dead server. The abandoned query still settles later;
 * its outcome is dropped.
 */
function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HealthProbeTimeoutError(timeoutMs)), timeoutMs);
  });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** readSourceHealth, given up after `timeoutMs` (see withTimeout). */
export function probeSourceHealth(
  db: Pick<Database, 'pool'>,
  source: string,
  timeoutMs: number,
): Promise<SourceHealth> {
  return withTimeout(readSourceHealth(db, source), timeoutMs);
}

/** readScrapeFigures, given up after `timeoutMs` like probeSourceHealth: a scrape has its own timeout. */
export function probeScrapeFigures(
  db: Pick<Database, 'pool'>,
  source: string,
  timeoutMs: number,
): Promise<ScrapeFigures> {
  return withTimeout(readScrapeFigures(db, source), timeoutMs);
}

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready; absent when ready. */
  readonly reason?: string;
  readonly lastSuccessAt?: string | null;
  readonly secondsSinceLastSuccess?: number | null;
}

export interface ReadinessOptions {
  readonly db: Pick<Database, 'pool'>;
  readonly source: string;
  /** SUTRO_READY_MAX_AGE_SECONDS. */
  readonly maxAgeSeconds: number;
  readonly timeoutMs?: number;
}

/**
 * Ready = the database answers and the source's last successful sync, by whichever process ran it
 * (a CronJob, another replica), is younger than `maxAgeSeconds`.
 */
export function createReadinessCheck(options: ReadinessOptions): () => Promise<Readiness> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  return async () => {
    let health: SourceHealth;
    try {
      health = await probeSourceHealth(options.db, options.source, timeoutMs);
    } catch (error) {
      return { ready: false, reason: `database unreachable: ${(error as Error).message}` };
    }
    const { lastSuccessAt, secondsSinceLastSuccess: age } = health;
    const facts = { lastSuccessAt: lastSuccessAt?.toISOString() ?? null, secondsSinceLastSuccess: age };
    if (lastSuccessAt === null || age === null) {
      return { ready: false, reason: `no successful sync yet of source "${options.source}"`, ...facts };
    }
    if (age > options.maxAgeSeconds) {
      return {
        ready: false,
        reason: `last successful sync ${Math.round(age)} s ago, older than ${options.maxAgeSeconds} s (SUTRO_READY_MAX_AGE_SECONDS)`,
        ...facts,
      };
    }
    return { ready: true, ...facts };
  };
}

export interface Liveness {
  readonly healthy: boolean;
  /** Why not healthy; absent when healthy. */
  readonly reason?: string;
  readonly secondsSinceProgress?: number;
}

/**
 * Whether the run in progress still moves: every finished API request and every committed page
 * counts. A run that has done neither for `stallSeconds` is stuck in a way no timeout caught, and
 * /healthz says so, so that a liveness probe restarts the worker (its lease then lapses, and the
 * next run takes the source over). Between runs the worker is idle, which is healthy.
 */
export class ProgressWatch {
  private running: { readonly label: string; lastProgress: number } | null = null;

  constructor(
    private readonly stallSeconds: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  runStarted(label: string): void {
    this.running = { label, lastProgress: this.now() };
  }

  progressed(): void {
    if (this.running !== null) this.running.lastProgress = this.now();
  }

  runEnded(): void {
    this.running = null;
  }

  liveness(): Liveness {
    if (this.running === null) return { healthy: true };
    const quiet = (this.now() - this.running.lastProgress) / 1000;
    const secondsSinceProgress = Math.round(quiet);
    if (quiet <= this.stallSeconds) return { healthy: true, secondsSinceProgress };
    return {
      healthy: false,
      reason: `${this.running.label} has made no progress for ${secondsSinceProgress} s (SUTRO_STALL_SECONDS=${this.stallSeconds})`,
      secondsSinceProgress,
    };
  }
}
