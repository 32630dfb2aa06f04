import { once } from 'node:events';
import { SimulatedAccount, startSimulator } from '../simulator/index.js';

export interface SimulateOptions {
  readonly port: number;
  readonly jobs: number;
  readonly seed: number;
  readonly days: number;
  readonly retentionDays: number;
  readonly latencyMs: number;
  readonly apiKey: string;
  readonly prefix: string;
  readonly retired?: boolean;
  readonly quirks: boolean;
  readonly now?: Date;
}

/** `sutro-sync simulate`: serves the simulator until SIGTERM/SIGINT; it is controlled over /_sim/*. */
export async function runSimulatorCommand(options: SimulateOptions): Promise<number> {
  const account = new SimulatedAccount({
    jobs: options.jobs,
    seed: options.seed,
    days: options.days,
    retentionDays: options.retentionDays,
    quirks: options.quirks,
    // Reports and views count days back from the real date, so the account lives in the present.
    now: options.now ?? new Date(),
  });
  const simulator = await startSimulator({
    account,
    apiKey: options.apiKey,
    port: options.port,
    latencyMs: options.latencyMs,
    pathPrefix: options.prefix,
    retired: options.retired === true,
  });
  process.stdout.write(
    `${JSON.stringify({
      url: simulator.url,
      origin: simulator.origin,
      port: simulator.port,
      jobs: account.count(),
      seed: options.seed,
    })}\n`,
  );
  process.stderr.write(
    `Simulated Sutro API at ${simulator.url} (key "${options.apiKey}", ${account.count()} jobs).\n` +
      `  SUTRO_API_URL=${simulator.url} SUTRO_API_KEY=${options.apiKey} npx sutro-sync sync\n` +
      `  control: POST ${simulator.origin}/_sim/advance {"seconds":3600}\n`,
  );
  await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
  await simulator.close();
  return 0;
}
