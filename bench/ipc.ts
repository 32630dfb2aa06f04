import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AdvanceOptions } from '../src/simulator/index.js';
import type { AdvanceResult, RequestCounts, SimulatorCommand } from './simulator.js';

/**
 * The benchmark runs each measured scenario in a child process of its own, so that its peak RSS is
 * its own (not the orchestrator's, nor the simulator's) and a scenario's garbage never slows the
 * next. Children are TypeScript run through tsx's loader, talking to the parent over Node's IPC
 * channel with numbered requests.
 */

export const BENCH_API_KEY = 'sk_bench_0123456789';

/** The key of the simulator's account at `index` (0 the first), as `sutro-sync simulate --accounts` names them. */
export const accountKey = (index: number): string =>
  index === 0 ? BENCH_API_KEY : `${BENCH_API_KEY}-${index + 1}`;

/** A child's answer to one request. */
export type Reply<T = unknown> =
  { id: number; ok: true; value: T } | { id: number; ok: false; error: string };

export interface Request<T = unknown> {
  readonly id: number;
  readonly body: T;
}

export function benchFile(name: string): string {
  return fileURLToPath(new URL(name, import.meta.url));
}

/** Forks bench/<file> with tsx; stderr goes to the parent's so that failures are seen. */
export function forkTs(file: string, args: readonly string[] = []): ChildProcess {
  return fork(benchFile(file), [...args], {
    execArgv: [
      '--import',
      'tsx',
      ...(file === 'worker.ts' && process.env.BENCH_WORKER_ARGS
        ? process.env.BENCH_WORKER_ARGS.split(' ')
        : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Request/response over one child's IPC channel. */
export class Channel {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited: Error | null = null;

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: Reply) => {
      const entry = this.waiting.get(message.id);
      if (entry === undefined) return;
      this.waiting.delete(message.id);
      if (message.ok) entry.resolve(message.value);
      else entry.reject(new Error(message.error));
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`${child.spawnfile} exited (code ${code}, signal ${signal})`);
      for (const entry of this.waiting.values()) entry.reject(this.exited);
      this.waiting.clear();
    });
  }

  request<T>(body: unknown): Promise<T> {
    if (this.exited !== null) return Promise.reject(this.exited);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, body } satisfies Request);
    });
  }

  /** Resolves when the child has exited. */
  exit(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => this.child.once('exit', () => resolve()));
  }
}

/** In a child: answers requests with `handle`. */
export function serve(handle: (body: unknown) => Promise<unknown>): void {
  process.on('message', (message: Request) => {
    handle(message.body).then(
      (value) => process.send?.({ id: message.id, ok: true, value } satisfies Reply),
      (error: unknown) =>
        process.send?.({
          id: message.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        } satisfies Reply),
    );
  });
}

/** The simulator in a process of its own (simulator.ts), serving `accounts` accounts of `jobs` each. */
export class SimulatorProcess {
  private constructor(
    private readonly channel: Channel,
    readonly url: string,
  ) {}

  static async start(options: {
    readonly jobs: number;
    readonly seed: number;
    readonly latencyMs: number;
    readonly accounts?: number;
  }): Promise<SimulatorProcess> {
    const args = [
      options.jobs,
      options.seed,
      options.latencyMs,
      ...(options.accounts ? [options.accounts] : []),
    ];
    const channel = new Channel(forkTs('simulator.ts', args.map(String)));
    return new SimulatorProcess(channel, await channel.request<string>({ kind: 'url' }));
  }

  send<T>(command: SimulatorCommand): Promise<T> {
    return this.channel.request<T>(command);
  }

  requests(): Promise<RequestCounts> {
    return this.send<RequestCounts>({ kind: 'requests' });
  }

  advance(options: AdvanceOptions): Promise<AdvanceResult> {
    return this.send<AdvanceResult>({ kind: 'advance', options });
  }

  async close(): Promise<void> {
    await this.send({ kind: 'close' }).catch(() => undefined);
    await this.channel.exit();
  }
}

/** A flag's comma-separated numbers, each at least `min` (and whole, when asked); the flag named if not. */
export function numberList(text: string, flag: string, rule: { min: number; whole: boolean }): number[] {
  const list = text.split(',').map((s) => Number(s.trim().replace(/_/g, '')));
  if (list.some((n) => !Number.isFinite(n) || n < rule.min || (rule.whole && !Number.isInteger(n))))
    throw new Error(
      `--${flag} takes ${rule.whole ? 'whole numbers' : 'numbers'} from ${rule.min}, comma separated (got ${text})`,
    );
  return list;
}
