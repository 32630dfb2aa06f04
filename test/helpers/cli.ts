import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/sutro-sync.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** What the command printed as its result: never a log line. */
  readonly stdout: string;
  /** stderr without the JSON log lines: what a person reads (the last line of a failure, say). */
  readonly stderr: string;
  /** stderr as written, log lines included. */
  readonly rawStderr: string;
  /** stderr's JSON log lines, parsed. */
  readonly logs: Record<string, unknown>[];
}

export interface RunningCli {
  readonly child: ChildProcess;
  /** Everything printed so far (stderr with its log lines). */
  output(): { stdout: string; stderr: string };
  /** Resolves when a log line matches. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  done: Promise<CliResult>;
}

/**
 * Where Node.js 22+ keeps the compiled CLI between the suite's hundreds of processes (Node.js 20
 * ignores it): each would otherwise compile the same few hundred modules anew.
 */
const COMPILE_CACHE = path.join(tmpdir(), 'sutro-sync-test-compile-cache');

/** Only what the test passes: the developer's own SUTRO_* or DATABASE_URL must not leak in. */
function environment(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_COMPILE_CACHE: COMPILE_CACHE,
    LOG_LEVEL: 'info',
    ...env,
  };
}

/** A JSON log line, or null for anything else a command prints (tables, pretty JSON). */
function parseLogLine(line: string): Record<string, unknown> | null {
  if (!line.startsWith('{"level"')) return null;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function parseLogs(stderr: string): Record<string, unknown>[] {
  return stderr.split('\n').flatMap((line): Record<string, unknown>[] => {
    const parsed = parseLogLine(line);
    return parsed === null ? [] : [parsed];
  });
}

function withoutLogs(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => parseLogLine(line) === null)
    .join('\n')
    .replace(/^\n+/, '');
}

export function startCli(args: readonly string[], env: Record<string, string>, cwd?: string): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: environment(env),
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: {
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const parsed = parseLogLine(line);
      if (parsed === null) continue;
      for (const waiter of [...waiters]) {
        if (waiter.match(parsed)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(parsed);
        }
      }
    }
  });
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout,
        stderr: withoutLogs(stderr),
        rawStderr: stderr,
        logs: parseLogs(stderr),
      }),
    );
  });
  return {
    child,
    output: () => ({ stdout, stderr }),
    waitForLog(match, timeoutMs = 30_000) {
      const earlier = parseLogs(stderr).find(match);
      if (earlier) return Promise.resolve(earlier);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching log line within ${timeoutMs} ms:\n${stdout}\n${stderr}`)),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
    done,
  };
}

export function runCli(
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<CliResult> {
  return startCli(args, env, cwd).done;
}
