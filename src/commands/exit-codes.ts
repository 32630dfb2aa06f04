import type { CommandContext } from '../runtime.js';

/**
 * Exit codes of every command, documented in the README. A run skipped because another holds the
 * source's lease, or stopped by SIGTERM, is not a failure: a CronJob must not retry it.
 */
export const EXIT = { ok: 0, syncFailed: 1, usage: 2, database: 3 } as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The command's last line on stderr, scrubbed of the secrets it knows; returns `code`. */
export function fail(context: Pick<CommandContext, 'secrets'>, message: string, code: number): number {
  process.stderr.write(`sutro-sync: ${context.secrets.redact(message)}\n`);
  return code;
}
