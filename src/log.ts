import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log object. The API key itself is also scrubbed
 * from every serialized error (see `redactSecrets`), because a secret can hide in a message string
 * where no path reaches it.
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
  /** Strings that must never reach a log line (the API key, the database password). */
  readonly secrets: readonly string[];
  /** Human-readable output; the default is JSON unless stdout is a terminal. */
  readonly pretty?: boolean;
  readonly destination?: pino.DestinationStream;
}

export function redactSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join('[REDACTED]');
  }
  return result;
}

export function passwordOf(databaseUrl: string | undefined): string[] {
  if (databaseUrl === undefined) return [];
  const password = URL.canParse(databaseUrl) ? decodeURIComponent(new URL(databaseUrl).password) : '';
  return password === '' ? [] : [password];
}

export function createLogger(options: LogOptions): Logger {
  const secrets = options.secrets.filter((s) => s.length >= 4);
  const pretty = options.pretty ?? (process.stdout.isTTY && options.destination === undefined);
  const loggerOptions: pino.LoggerOptions = {
    level: options.level,
    base: { name: 'sutro-sync' },
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    serializers: { err: pino.stdSerializers.errWithCause },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: {
      // The last line of defence: whatever path a secret took into a log call (an error message, a
      // cause, a URL), the serialized line is scrubbed before it is written.
      streamWrite: (line) => redactSecrets(line, secrets),
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
