import { once } from 'node:events';
import {
  SimulatedAccount,
  startSimulator,
  type JobShape,
  type QueuedFault,
  type RunningSimulator,
  type TimestampPrecision,
} from '../simulator/index.js';
import { EXIT } from './exit-codes.js';

export interface SimulateOptions {
  readonly port: number;
  readonly jobs: number;
  readonly seed: number;
  readonly days: number;
  readonly retentionDays: number;
  readonly latencyMs: number;
  readonly apiKey: string;
  /** Accounts the deployment serves: the first read with apiKey, the others with `${apiKey}-2`, … */
  readonly accounts: number;
  readonly prefix: string;
  readonly retired?: boolean;
  readonly quirks: boolean;
  readonly now?: Date;
  readonly timestamps?: TimestampPrecision;
  readonly jobShape?: JobShape;
  readonly extraFields?: boolean;
  readonly unbilledDryRuns?: boolean;
  /** From --behave: misbehaviours applied to every matching request. */
  readonly behave?: readonly QueuedFault[];
  /** From --fault: faults as the control API queues them. */
  readonly fault?: readonly QueuedFault[];
}

/**
 * `sutro-sync simulate`: serves the simulator until SIGTERM/SIGINT; it is controlled over /_sim/*. A
 * taken port is a usage error (exit 2) that says how to choose another.
 */
export async function runSimulatorCommand(options: SimulateOptions): Promise<number> {
  if (options.accounts < 1) {
    process.stderr.write('sutro-sync: --accounts must be 1 or more\n');
    return EXIT.usage;
  }
  const accountOf = (index: number) =>
    new SimulatedAccount({
      jobs: options.jobs,
      seed: options.seed + index,
      days: options.days,
      retentionDays: options.retentionDays,
      quirks: options.quirks,
      timestampPrecision: options.timestamps ?? 'ms',
      jobShape: options.jobShape ?? 'current',
      extraFields: options.extraFields === true,
      unbilledDryRuns: options.unbilledDryRuns === true,
      // Reports and views count days back from the real date, so the account lives in the present.
      now: options.now ?? new Date(),
    });
  const keyOf = (index: number) => (index === 0 ? options.apiKey : `${options.apiKey}-${index + 1}`);
  const account = accountOf(0);
  const more = Array.from({ length: Math.max(0, options.accounts - 1) }, (_, i) => ({
    apiKey: keyOf(i + 1),
    account: accountOf(i + 1),
  }));
  let simulator: RunningSimulator;
  try {
    simulator = await startSimulator({
      account,
      apiKey: options.apiKey,
      moreAccounts: more,
      port: options.port,
      latencyMs: options.latencyMs,
      pathPrefix: options.prefix,
      retired: options.retired === true,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    process.stderr.write(
      `sutro-sync: port ${options.port} is taken by another process: choose another with --port <port>, or --port 0 for any free one\n`,
    );
    return EXIT.usage;
  }
  for (const { fault, times } of [...(options.behave ?? []), ...(options.fault ?? [])]) {
    simulator.faults.add(fault, times);
  }
  process.stdout.write(
    `${JSON.stringify({
      url: simulator.url,
      origin: simulator.origin,
      port: simulator.port,
      jobs: account.count(),
      seed: options.seed,
      accounts: simulator.accounts.map((a, i) => ({
        key: a.apiKey,
        jobs: a.account.count(),
        seed: options.seed + i,
      })),
    })}\n`,
  );
  process.stderr.write(
    `Simulated Sutro API at ${simulator.url} (key "${options.apiKey}", ${account.count()} jobs` +
      (more.length > 0
        ? `; ${more.length} more accounts, keys "${keyOf(1)}" to "${keyOf(more.length)}"`
        : '') +
      ').\n' +
      `  SUTRO_API_URL=${simulator.url} SUTRO_API_KEY=${options.apiKey} npx sutro-sync sync\n` +
      `  control: POST ${simulator.origin}/_sim/advance {"seconds":3600}\n`,
  );
  await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
  await simulator.close();
  return 0;
}
