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

export interface LogOptions {
  readonly level: string;
  /**
   * What must never reach a log line (the API key, the database password). Read at every write, so
   * a secret learned later (the embedded server's password) is scrubbed from then on.
   */
  readonly secrets: Secrets;
  /** Human-readable output; the default is JSON unless stdout is a terminal. */
  readonly pretty?: boolean;
  readonly destination?: pino.DestinationStream;
}

export function createLogger(options: LogOptions): Logger {
  const { secrets } = options;
  const pretty = options.pretty ?? (process.stdout.isTTY && options.destination === undefined);
  const loggerOptions: pino.LoggerOptions = {
    level: options.level,
    base: { name: 'sutro-sync' },
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    serializers: { err: pino.stdSerializers.errWithCause },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: {
      // The last line of defence: whatever path a secret took into a log call (an error message, a
      // cause, a URL, an API error body that echoes the Authorization header), the serialized line
      // is scrubbed before it is written.
      streamWrite: (line) => secrets.redact(line),
    },
  };
  if (options.destination !== undefined) return pino(loggerOptions, options.destination);
  if (pretty) {
    return pino({
      ...loggerOptions,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname,name' } },
    });
  }
  return pino(loggerOptions);
}
