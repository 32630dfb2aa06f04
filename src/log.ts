import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type { Secrets } from './redact.js';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log object. Every serialized line is also scrubbed
 * (see redact.ts), because a secret can hide in a message string where no path reaches it.
 */
const REDACTED_PATHS = [
  'apiKey',
  '*.apiKey',
  'authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'databaseUrl',
  '*.databaseUrl',
  'password',
  '*.password',
];

/**
 * `json`: one JSON object per line, every field (for log collectors, and wherever stderr is not a
 * terminal). `terminal`: for a person at a terminal, one short line per event worth reading:
 * warnings, errors, and the lines a log call marks as a notice (a run's summary, where the embedded
 * database listens); the JSON lines hold the detail.
 */
export type LogFormat = 'json' | 'terminal';

export interface LogOptions {
  readonly level: string;
  /**
   * What must never reach a log line (the API key, the database password). Read at every write, so
   * a secret learned later (the embedded server's password) is scrubbed from then on.
   */
  readonly secrets: Secrets;
  /** Default: `terminal` when stderr is a terminal, else `json`. */
  readonly format?: LogFormat;
  /** Default: stderr. Standard output carries only what a command prints as its result. */
  readonly destination?: pino.DestinationStream;
  /** Where the `terminal` format writes; default: stderr. */
  readonly terminal?: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>;
}

/** Stack traces are for debugging: at info they turn one failure into dozens of lines. */
const STACK_LEVELS = new Set(['debug', 'trace']);

function withoutStacks(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  delete copy.stack;
  if (copy.cause !== undefined) copy.cause = withoutStacks(copy.cause);
  return copy;
}

const CLEAR_LINE = '\r\x1b[2K';

/**
 * The terminal's lines: warnings and errors, and info lines marked `notice` (`true`: show the
 * message; a string: show it instead); `notice: false` keeps a warning or error off the terminal
 * when another line says the same (a run's failure, which its summary line repeats). An error's message follows the line's. The line clears what
 * the progress line drew first (see progress.ts).
 */
function terminalStream(stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>): pino.DestinationStream {
  // Loaded for a terminal only: a process whose stderr is a pipe (a service, a CronJob) never needs it.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const prettify = prettyFactory({
    colorize: stream.isTTY === true && process.env.NO_COLOR === undefined,
    translateTime: 'SYS:HH:MM:ss',
    hideObject: true,
    ignore: 'pid,hostname,name',
    singleLine: true,
    messageFormat: (record, messageKey) => {
      const notice = record.notice;
      const text = record[messageKey];
      const message = typeof notice === 'string' ? notice : typeof text === 'string' ? text : '';
      const error = (record.err as { message?: unknown } | undefined)?.message;
      return typeof error === 'string' && !message.includes(error) ? `${message}: ${error}` : message;
    },
  });
  return {
    write(line: string) {
      const record = JSON.parse(line) as { level: number; notice?: unknown };
      if (record.notice === false || (record.level < 40 && record.notice === undefined)) return;
      const text = prettify(record);
      stream.write(`${stream.isTTY === true ? CLEAR_LINE : ''}${text}${text.endsWith('\n') ? '' : '\n'}`);
    },
  };
}

export function createLogger(options: LogOptions): Logger {
  const { secrets } = options;
  const errorSerializer = pino.stdSerializers.errWithCause;
  const loggerOptions: pino.LoggerOptions = {
    level: options.level,
    base: { name: 'sutro-sync' },
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    serializers: {
      err: STACK_LEVELS.has(options.level)
        ? errorSerializer
        : (error: Error) => withoutStacks(errorSerializer(error)) as ReturnType<typeof errorSerializer>,
    },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: {
      // The last line of defence: whatever path a secret took into a log call (an error message, a
      // cause, a URL, an API error body that echoes the Authorization header), the serialized line
      // is scrubbed before it is written.
      streamWrite: (line) => secrets.redact(line),
    },
  };
  if (options.destination !== undefined) return pino(loggerOptions, options.destination);
  const format = options.format ?? (process.stderr.isTTY ? 'terminal' : 'json');
  return pino(
    loggerOptions,
    format === 'terminal'
      ? terminalStream(options.terminal ?? process.stderr)
      : pino.destination({ fd: 2, sync: true }),
  );
}
