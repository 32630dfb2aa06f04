import type { Database } from '../db/infra/connect.js';
import {
  readScrapeFigures,
  readSourcesHealth,
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

/** readSourcesHealth, given up after `timeoutMs` (see withTimeout). */
export function probeSourcesHealth(
  db: Pick<Database, 'pool'>,
  sources: readonly string[],
  timeoutMs: number,
): Promise<ReadonlyMap<string, SourceHealth>> {
  return withTimeout(readSourcesHealth(db, sources), timeoutMs);
}

/** readScrapeFigures, given up after `timeoutMs` like probeSourcesHealth: a scrape has its own timeout. */
export function probeScrapeFigures(
  db: Pick<Database, 'pool'>,
  sources: readonly string[],
  timeoutMs: number,
): Promise<ReadonlyMap<string, ScrapeFigures>> {
  return withTimeout(readScrapeFigures(db, sources), timeoutMs);
}

/** A source whose last success is older than SUTRO_READY_MAX_AGE_SECONDS, or that never succeeded. */
export interface LateSource {
  readonly source: string;
  readonly lastSuccessAt: string | null;
  readonly secondsSinceLastSuccess: number | null;
}

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready; absent when ready. */
  readonly reason?: string;
  /** The sources the check covered: the enabled sources of the configuration. */
  readonly sources?: number;
  /** The late ones among them, named whether or not they make the process unready. */
  readonly late?: readonly LateSource[];
  /** With one source, its figures, as before there were several. */
  readonly lastSuccessAt?: string | null;
  readonly secondsSinceLastSuccess?: number | null;
}

export interface ReadinessOptions {
  readonly db: Pick<Database, 'pool'>;
  /** The enabled sources of the configuration, as it stands when the probe comes (reloads change it). */
  readonly sources: () => readonly string[];
  /** SUTRO_READY_MAX_AGE_SECONDS. */
  readonly maxAgeSeconds: number;
  readonly timeoutMs?: number;
}

function lateness(source: string, late: LateSource, maxAgeSeconds: number): string {
  return late.secondsSinceLastSuccess === null
    ? `no successful sync yet of source "${source}"`
    : `last successful sync of source "${source}" ${Math.round(late.secondsSinceLastSuccess)} s ago, older than ${maxAgeSeconds} s (SUTRO_READY_MAX_AGE_SECONDS)`;
}

/**
 * Ready = the database answers and not every source is late: a source is late when its last
 * successful sync, by whichever process ran it (another replica, a CronJob), is older than
 * `maxAgeSeconds` or has not happened. Readiness decides whether a replica serves and whether a
 * rollout goes on; one source's refused key or dead API says nothing about the replica, so it is
 * named in the body (and alerted on per source) but does not make every replica unready and stall
 * each rollout. When every source is late, nothing is syncing at all, and the replica is unready,
 * as it was with the one source before there were several.
 */
export function createReadinessCheck(options: ReadinessOptions): () => Promise<Readiness> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  return async () => {
    const sources = options.sources();
    let health: ReadonlyMap<string, SourceHealth>;
    try {
      health = await probeSourcesHealth(options.db, sources, timeoutMs);
    } catch (error) {
      return { ready: false, reason: `database unreachable: ${(error as Error).message}` };
    }
    const figures = sources.map((source): LateSource => {
      const figure = health.get(source);
      return {
        source,
        lastSuccessAt: figure?.lastSuccessAt?.toISOString() ?? null,
        secondsSinceLastSuccess: figure?.secondsSinceLastSuccess ?? null,
      };
    });
    const late = figures.filter(
      (f) => f.secondsSinceLastSuccess === null || f.secondsSinceLastSuccess > options.maxAgeSeconds,
    );
    const [only] = figures;
    const single =
      figures.length === 1 && only !== undefined
        ? { lastSuccessAt: only.lastSuccessAt, secondsSinceLastSuccess: only.secondsSinceLastSuccess }
        : {};
    const facts = { sources: sources.length, late, ...single };
    if (sources.length > 0 && late.length === sources.length) {
      const reason =
        late.length === 1 && late[0] !== undefined
          ? lateness(late[0].source, late[0], options.maxAgeSeconds)
          : `every source is late: ${late.map((l) => lateness(l.source, l, options.maxAgeSeconds)).join('; ')}`;
      return { ready: false, reason, ...facts };
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
 * Whether the runs in progress still move: every finished API request and every committed page of a
 * run counts for it. A run that has done neither for `stallSeconds` is stuck in a way no timeout
 * caught, and /healthz says so, so that a liveness probe restarts the worker (its leases then lapse,
 * and the other replicas take its sources over). Between runs the worker is idle, which is healthy.
 */
export class ProgressWatch {
  private readonly running = new Map<string, { readonly label: string; lastProgress: number }>();

  constructor(
    private readonly stallSeconds: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `key` names the run (its source): runs of different sources move on their own. */
  runStarted(key: string, label: string): void {
    this.running.set(key, { label, lastProgress: this.now() });
  }

  progressed(key: string): void {
    const run = this.running.get(key);
    if (run !== undefined) run.lastProgress = this.now();
  }

  runEnded(key: string): void {
    this.running.delete(key);
  }

  liveness(): Liveness {
    if (this.running.size === 0) return { healthy: true };
    let stalest: { readonly label: string; readonly quiet: number } | null = null;
    for (const run of this.running.values()) {
      const quiet = (this.now() - run.lastProgress) / 1000;
      if (stalest === null || quiet > stalest.quiet) stalest = { label: run.label, quiet };
    }
    const quiet = stalest?.quiet ?? 0;
    const secondsSinceProgress = Math.round(quiet);
    if (quiet <= this.stallSeconds) return { healthy: true, secondsSinceProgress };
    return {
      healthy: false,
      reason: `${stalest?.label ?? 'a run'} has made no progress for ${secondsSinceProgress} s (SUTRO_STALL_SECONDS=${this.stallSeconds})`,
      secondsSinceProgress,
    };
  }
}
