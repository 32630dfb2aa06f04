/**
 * The simulated API in a process of its own: it has its own core to render pages on, and its
 * memory is not counted against sutro-sync. Started by run.ts; controlled over IPC.
 *
 *   tsx bench/simulator.ts <jobs> <seed> <latencyMs> [accounts]
 *
 * With several accounts (the sources scenario), each has `jobs` jobs and its own seed, read with its
 * own key (ipc.ts `accountKey`), as one Sutro deployment serves several accounts.
 */
import { SimulatedAccount, startSimulator, type AdvanceOptions } from '../src/simulator/index.js';
import { accountKey, BENCH_API_KEY, serve } from './ipc.js';

export type SimulatorCommand =
  | { readonly kind: 'url' }
  | { readonly kind: 'latency'; readonly ms: number }
  /** Requests served so far, per endpoint, summed over the accounts. */
  | { readonly kind: 'requests' }
  /** CPU seconds this process has used so far. */
  | { readonly kind: 'cpu' }
  | { readonly kind: 'advance'; readonly options: AdvanceOptions }
  | { readonly kind: 'close' };

export interface AdvanceResult {
  readonly added: number;
  readonly changed: number;
  readonly dropped: number;
  /** The account's clock after the move (ISO 8601). */
  readonly now: string;
}

export interface RequestCounts {
  readonly listJobs: number;
  readonly jobs: number;
}

// The parent owns this process: when it goes, so does this one.
process.on('disconnect', () => process.exit(0));

const [jobs = '0', seed = '1', latency = '0', accounts = '1'] = process.argv.slice(2);
const accountAt = (index: number) => new SimulatedAccount({ jobs: Number(jobs), seed: Number(seed) + index });
const account = accountAt(0);
const sim = await startSimulator({
  account,
  apiKey: BENCH_API_KEY,
  moreAccounts: Array.from({ length: Number(accounts) - 1 }, (_, i) => ({
    apiKey: accountKey(i + 1),
    account: accountAt(i + 1),
  })),
  port: 0,
  latencyMs: Number(latency),
});
const served = (endpoint: 'list-jobs' | 'jobs') =>
  sim.accounts.reduce((sum, tenant) => sum + tenant.requests.count(endpoint), 0);

serve(async (body) => {
  const command = body as SimulatorCommand;
  switch (command.kind) {
    case 'url':
      return sim.url;
    case 'latency':
      for (const tenant of sim.accounts) tenant.setLatency(command.ms);
      return command.ms;
    case 'requests':
      return {
        listJobs: served('list-jobs'),
        jobs: served('jobs'),
      } satisfies RequestCounts;
    case 'cpu': {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    }
    case 'advance': {
      const summary = account.advance(command.options);
      return {
        added: summary.added.length,
        changed: summary.changed.length,
        dropped: summary.dropped.length,
        now: account.currentTime.toISOString(),
      } satisfies AdvanceResult;
    }
    case 'close':
      await sim.close();
      setImmediate(() => process.exit(0));
      return null;
  }
});
