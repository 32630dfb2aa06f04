import type { SyncStore } from '../../src/sync/port.js';
import { createSutroClient, type JobsApi } from '../../src/sutro/client.js';
import { runSync } from '../../src/sync/engine.js';
import type { SyncDependencies, SyncOptions, SyncResult } from '../../src/sync/vocabulary.js';
import { startSimulator, type RunningSimulator, type SimulatedAccount } from '../../src/simulator/index.js';
import { silentLog } from './database.js';
import { LEASE_SECONDS, MAX_RESPONSE_BYTES } from './limits.js';

export const TEST_API_KEY = 'sk_test_sync_0123';

export type CompletedRun = Extract<SyncResult, { skipped: false }>;

/** Simulators a test file starts, closed together in afterAll. */
export class Simulators {
  private readonly running: RunningSimulator[] = [];

  async start(account: SimulatedAccount, latencyMs = 0): Promise<RunningSimulator> {
    const sim = await startSimulator({ account, apiKey: TEST_API_KEY, port: 0, latencyMs });
    this.running.push(sim);
    return sim;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.running.map((s) => s.close()));
  }
}

/** The real client against a simulator, with retries short enough for tests and the default size limit. */
export function testApi(sim: Pick<RunningSimulator, 'url'>, pageLimit = 100, apiKey = TEST_API_KEY): JobsApi {
  return createSutroClient({
    apiUrl: sim.url,
    apiKey,
    pageLimit,
    timeoutMs: 5_000,
    maxResponseBytes: MAX_RESPONSE_BYTES,
    retry: { retries: 1, minTimeoutMs: 5, maxTimeoutMs: 10 },
  });
}

/** One run of the engine, in-process; a skipped run (lock held elsewhere) fails the test. */
export async function syncOnce(
  store: SyncStore,
  sim: RunningSimulator,
  source: string,
  options: Partial<SyncOptions> & { pageLimit?: number; onPage?: SyncDependencies['onPage'] } = {},
): Promise<CompletedRun> {
  const { pageLimit, onPage, ...rest } = options;
  const result = await runSync(
    { store, api: testApi(sim, pageLimit), log: silentLog, ...(onPage ? { onPage } : {}) },
    {
      source,
      mode: 'incremental',
      trigger: 'cli',
      safetyMarginSeconds: 600,
      leaseSeconds: LEASE_SECONDS,
      ...rest,
    },
  );
  if (result.skipped) throw new Error(result.reason);
  return result;
}
