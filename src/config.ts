import { readFileSync } from 'node:fs';
import path from 'node:path';
import cron from 'node-cron';
import { z } from 'zod';
import type { DatabaseLimits } from './db/infra/errors.js';
import type { LogFormat } from './log.js';
import { databaseConnection, type DatabaseConnection } from './db/infra/tls.js';
import { readDeployment } from './sutro/deployment.js';
import { readSourcesFile, SOURCE_NAME, SOURCE_NAME_RULE, type SourceConfig } from './sources.js';

/**
 * Every setting of the worker, read once from the environment by `loadConfig` and passed down.
 * No other module reads `process.env`.
 */
export interface Config {
  readonly sutro: {
    /** The API key; never logged (see log.ts redaction) and never stored. */
    readonly apiKey: string | undefined;
    /** `<deployment origin>/v1`, read from SUTRO_API_URL as Sutro's SDK reads it (sutro/deployment.ts). */
    readonly apiUrl: string | undefined;
    readonly pageLimit: number;
    readonly requestTimeoutMs: number;
    readonly maxRetries: number;
    readonly maxResponseBytes: number;
  };
  /** SUTRO_SOURCE: the source of the single-source variables. */
  readonly source: string;
  /** SUTRO_SOURCE when it is set: the source `status` and `report` show unless told otherwise. */
  readonly sourceSetting: string | undefined;
  /**
   * What this process syncs: every source of SUTRO_SOURCES_FILE, or the one the single-source
   * variables describe; empty when neither is set (commands that only read the database).
   */
  readonly sources: readonly SourceConfig[];
  /** SUTRO_SOURCES_FILE, resolved; `start` rereads it when it changes or on SIGHUP. */
  readonly sourcesFile: string | undefined;
  readonly database: {
    /** DATABASE_URL as given; undefined: start an embedded PostgreSQL (see db/infra/embedded.ts). */
    readonly url: string | undefined;
    /** The URL less its TLS parameters, and the TLS options they ask for (see db/infra/tls.ts). */
    readonly connection: DatabaseConnection | undefined;
    readonly limits: DatabaseLimits;
    /** How long `migrate` waits for another migration, or for a session that holds a table it alters. */
    readonly migrationLockTimeoutMs: number;
  };
  readonly embedded: { readonly dataDir: string; readonly port: number };
  readonly sync: {
    readonly schedule: string;
    readonly fullSchedule: string;
    readonly safetyMarginSeconds: number;
    /** How long a run's lease lasts past each renewal: how long a crashed worker blocks its source. */
    readonly leaseSeconds: number;
    /** Runs one process has in progress at most (SUTRO_CONCURRENCY). */
    readonly concurrency: number;
    /** How often `start` looks for due sources (SUTRO_POLL_SECONDS), in milliseconds. */
    readonly pollMs: number;
  };
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly readyMaxAgeSeconds: number;
    /** /healthz fails when a run has made no progress for this long. */
    readonly stallSeconds: number;
  };
  readonly logLevel: string;
  /** undefined: `terminal` when stderr is a terminal, else `json` (see log.ts). */
  readonly logFormat: LogFormat | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The messages below say, in a person's words, what a variable must be; loadConfig adds what it was
 * given. Zod's own ("Too big: expected number to be <=100", "expected number, received NaN") speak of
 * the validator, and a value can fail several of its checks at once.
 */

const CRON_FIELDS: Record<string, string> = {
  second: 'second',
  minute: 'minute',
  hour: 'hour',
  dayOfMonth: 'day of the month',
  month: 'month',
  dayOfWeek: 'day of the week',
};

const cronExpression = z.string().superRefine((value, ctx) => {
  const result = cron.validateDetailed(value);
  if (result.valid) return;
  const why = result.errors.map((e) => {
    const field = CRON_FIELDS[e.field];
    if (field !== undefined) return `${JSON.stringify(e.value)} is not a valid ${field}`;
    const fields = /but got (\d+)/.exec(e.message)?.[1];
    if (fields !== undefined) return `it has ${fields} fields`;
    return value.trim() === '' ? 'it is empty' : 'it holds characters no cron expression has';
  });
  ctx.addIssue({
    code: 'custom',
    message: `must be a cron expression of 5 fields, minute hour day month weekday, such as "*/15 * * * *" (or 6, with the second first), but ${why.join(', ')}`,
  });
});

const integer = (min: number, max: number) => {
  const error = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};

const oneOfWords = <const T extends readonly [string, ...string[]]>(words: T) =>
  z.enum(words, { error: `must be one of ${words.join(', ')}` });

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL')
  .refine((v) => URL.canParse(v), 'must be a URL such as postgresql://user:password@host:5432/database');

const envSchema = z.object({
  SUTRO_API_URL: optionalText.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const read = readDeployment(value);
    if ('problem' in read) {
      ctx.addIssue({ code: 'custom', message: read.problem });
      return z.NEVER;
    }
    return read.deployment.base;
  }),
  SUTRO_PAGE_LIMIT: integer(1, 100).default(100),
  SUTRO_REQUEST_TIMEOUT_MS: integer(100, 600_000).default(30_000),
  SUTRO_MAX_RETRIES: integer(0, 20).default(5),
  // A page of 100 jobs is tens of kilobytes, and under a megabyte with long prompts: 32 MB leaves room
  // for any real page while a runaway answer is stopped long before it threatens the worker's memory
  // (a 32 MB body costs about 100 MB while it is decoded and parsed).
  SUTRO_MAX_RESPONSE_MB: integer(1, 1_024).default(32),
  SUTRO_SOURCE: z.string().regex(SOURCE_NAME, SOURCE_NAME_RULE).default('default'),
  SUTRO_SOURCES_FILE: optionalText,
  // A run mostly waits on the API, so a few in flight hide its latency; each holds two database
  // connections and two pages at most. Four already keep a 2-core machine that also runs PostgreSQL
  // nearly busy, and more only slow each run (bench/README.md, many sources): add replicas instead.
  SUTRO_CONCURRENCY: integer(1, 64).default(4),
  // A due source waits at most this long for a replica with a free slot to notice it; a finished
  // run claims the next due source at once without waiting for it.
  SUTRO_POLL_SECONDS: z.coerce.number().min(0.1).max(300).default(5),
  DATABASE_URL: optionalText.pipe(postgresUrl.optional()),
  DATABASE_CA_FILE: optionalText,
  // A statement of the worker's takes milliseconds; the slowest, marking a million jobs missing at
  // the end of a full pass, a few seconds. A minute is far past both and still ends a run whose
  // database froze well within two minutes (the client gives up 10 s later, see db/infra/errors.ts).
  SUTRO_DB_STATEMENT_TIMEOUT_MS: integer(1_000, 3_600_000).default(60_000),
  // The worker's own writes never wait on each other (one run per source); a lock wait means a
  // stranger holds a row or table, and ten seconds says so early.
  SUTRO_DB_LOCK_TIMEOUT_MS: integer(100, 600_000).default(10_000),
  // A migration waits for another process's migration to finish and for sessions (a BI query) that
  // hold a table it alters; a minute covers an index built on a large table.
  SUTRO_MIGRATION_LOCK_TIMEOUT_MS: integer(100, 3_600_000).default(60_000),
  // Renewed every third of it: a live worker keeps the lease through two failed renewals in a row,
  // and a crashed one blocks its source for at most this long. (A run's own writes renew it too.)
  SUTRO_LEASE_SECONDS: integer(2, 3_600).default(30),
  SUTRO_EMBEDDED_PG_DIR: z
    .string()
    .min(1, { error: 'must be the path of a folder' })
    .default('.sutro-sync/pg'),
  SUTRO_EMBEDDED_PG_PORT: integer(1, 65535).default(54329),
  SUTRO_SYNC_SCHEDULE: cronExpression.default('*/15 * * * *'),
  SUTRO_FULL_SYNC_SCHEDULE: cronExpression.default('17 3 * * *'),
  // Five minutes absorbs an API that orders by a timestamp slightly off datetime_created, while
  // staying within a page or two of the floor at a million jobs (~8 new jobs a minute); an hour
  // would make every no-change run read five pages at that density.
  SUTRO_SAFETY_MARGIN_SECONDS: integer(0, 30 * 86_400).default(300),
  SUTRO_HTTP_HOST: z
    .string()
    .trim()
    .min(1, { error: 'must be a host name or address to listen on, such as 127.0.0.1 or 0.0.0.0' })
    .default('127.0.0.1'),
  SUTRO_HTTP_PORT: integer(0, 65535).default(9464),
  // Longer than the longest quiet a healthy run can have: a capped Retry-After (300 s) or a
  // database statement at its timeout (70 s). A run is in progress whenever an API request or a
  // page write finishes.
  SUTRO_STALL_SECONDS: integer(10, 86_400).default(600),
  SUTRO_READY_MAX_AGE_SECONDS: integer(1, 30 * 86_400).default(3_600),
  LOG_LEVEL: oneOfWords(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: oneOfWords(['auto', 'json', 'terminal']).default('auto'),
});

export type Environment = Record<string, string | undefined>;

/** What a sources file replaces: setting both is refused, as neither would be what was meant. */
const SINGLE_SOURCE_VARIABLES = ['SUTRO_API_URL', 'SUTRO_API_KEY', 'SUTRO_API_KEY_FILE', 'SUTRO_SOURCE'];

const API_KEY_MISSING =
  'SUTRO_API_KEY: is required for this command: a key created in your Sutro deployment (or set SUTRO_API_KEY_FILE)';
const API_URL_MISSING =
  "SUTRO_API_URL: is required for this command: your Sutro deployment's URL, https://<deployment> with or " +
  'without /v1 (the simulator, `sutro-sync simulate`, serves http://127.0.0.1:8787 with the key sim-key)';

function readSecretFile(variable: string, file: string, problems: string[]): string | undefined {
  try {
    const value = readFileSync(file, 'utf8').trim();
    if (value === '') problems.push(`${variable}: file ${file} is empty`);
    return value === '' ? undefined : value;
  } catch (error) {
    problems.push(`${variable}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

/**
 * A variable's value as an error message may quote it: never a secret. DATABASE_URL is not quoted
 * at all, because a value that fails to parse cannot be masked reliably (a key=value string, a
 * password holding '@', one in the query string).
 */
function quotable(variable: string, value: string | undefined): string {
  if (value === undefined) return 'null';
  if (variable === 'SUTRO_API_KEY' || variable === 'DATABASE_URL')
    return 'a value not shown, as it may hold a secret';
  // A URL may carry credentials, and a value that is no URL at all may be a key pasted in the wrong place.
  if (variable === 'SUTRO_API_URL') {
    if (!URL.canParse(value.trim())) return 'a value not shown, as it may hold a secret';
    const url = new URL(value.trim());
    if (url.username !== '' || url.password !== '') [url.username, url.password] = ['***', '***'];
    return JSON.stringify(url.toString());
  }
  return JSON.stringify(value);
}

export interface LoadOptions {
  /** The command calls the API (sync, start): a missing key or URL is one more problem to report. */
  readonly needsApi?: boolean;
}

/**
 * Validates the whole environment at once so that one start reports every bad variable, not the first.
 * `*_FILE` variables (Docker and Kubernetes secrets) take the place of their plain counterparts.
 */
export function loadConfig(
  env: Environment = process.env,
  cwd = process.cwd(),
  options: LoadOptions = {},
): Config {
  const parsed = envSchema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    // One problem per variable, whichever of its checks failed, with what it was given said once
    // (a deployment URL's problem already quotes the part of it that is wrong).
    const named = new Set<string>();
    for (const issue of parsed.error.issues) {
      const variable = issue.path.join('.');
      if (named.has(variable)) continue;
      named.add(variable);
      const given = issue.message.includes('(got ') ? '' : ` (got ${quotable(variable, env[variable])})`;
      problems.push(`${variable}: ${issue.message}${given}`);
    }
  }
  const e = parsed.data;

  // Read apart from the schema, so that their problems are named even when another variable fails it.
  let apiKey = optionalText.parse(env.SUTRO_API_KEY);
  const apiKeyFile = optionalText.parse(env.SUTRO_API_KEY_FILE);
  if (apiKeyFile !== undefined) {
    if (apiKey !== undefined)
      problems.push('SUTRO_API_KEY_FILE: set either SUTRO_API_KEY or SUTRO_API_KEY_FILE, not both');
    else apiKey = readSecretFile('SUTRO_API_KEY_FILE', apiKeyFile, problems);
  }
  if (apiKey !== undefined && /\s/.test(apiKey)) problems.push('SUTRO_API_KEY: must not contain whitespace');

  const sourcesFile = optionalText.parse(env.SUTRO_SOURCES_FILE);
  const singleSource = SINGLE_SOURCE_VARIABLES.filter((name) => optionalText.parse(env[name]) !== undefined);
  if (sourcesFile !== undefined && singleSource.length > 0) {
    problems.push(
      `SUTRO_SOURCES_FILE: set either SUTRO_SOURCES_FILE or the single-source variables (${singleSource.join(', ')}), not both`,
    );
  }
  if (sourcesFile === undefined) {
    if (apiKey === undefined && apiKeyFile === undefined && options.needsApi) problems.push(API_KEY_MISSING);
    if (options.needsApi && optionalText.parse(env.SUTRO_API_URL) === undefined)
      problems.push(API_URL_MISSING);
  }
  let sources: readonly SourceConfig[] = [];
  const resolvedSourcesFile = sourcesFile === undefined ? undefined : path.resolve(cwd, sourcesFile);
  if (resolvedSourcesFile !== undefined && e !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(resolvedSourcesFile, 'utf8');
    } catch (error) {
      problems.push(
        `SUTRO_SOURCES_FILE: cannot read ${resolvedSourcesFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    if (text !== undefined) {
      const read = readSourcesFile({
        file: sourcesFile ?? resolvedSourcesFile,
        folder: path.dirname(resolvedSourcesFile),
        text,
        defaults: {
          pageLimit: e.SUTRO_PAGE_LIMIT,
          schedule: e.SUTRO_SYNC_SCHEDULE,
          fullSchedule: e.SUTRO_FULL_SYNC_SCHEDULE,
        },
        env,
        readKeyFile: (file) => readFileSync(file, 'utf8'),
      });
      if ('problems' in read) problems.push(...read.problems);
      else sources = read.sources;
    }
  } else if (e?.SUTRO_API_URL !== undefined && apiKey !== undefined) {
    sources = [
      {
        name: e.SUTRO_SOURCE,
        apiUrl: e.SUTRO_API_URL,
        apiKey,
        keyFrom: apiKeyFile === undefined ? 'SUTRO_API_KEY' : `SUTRO_API_KEY_FILE ${apiKeyFile}`,
        pageLimit: e.SUTRO_PAGE_LIMIT,
        schedule: e.SUTRO_SYNC_SCHEDULE,
        fullSchedule: e.SUTRO_FULL_SYNC_SCHEDULE,
        enabled: true,
      },
    ];
  }

  let databaseUrl = e?.DATABASE_URL;
  const databaseUrlFile = optionalText.parse(env.DATABASE_URL_FILE);
  if (databaseUrlFile !== undefined) {
    if (optionalText.parse(env.DATABASE_URL) !== undefined)
      problems.push('DATABASE_URL_FILE: set either DATABASE_URL or DATABASE_URL_FILE, not both');
    else {
      databaseUrl = readSecretFile('DATABASE_URL_FILE', databaseUrlFile, problems);
      const check = postgresUrl.safeParse(databaseUrl);
      if (databaseUrl !== undefined && !check.success) {
        problems.push(
          `DATABASE_URL_FILE: the file's content ${check.error.issues[0]?.message ?? 'is invalid'}`,
        );
      }
    }
  }

  let connection: DatabaseConnection | undefined;
  const caFile = optionalText.parse(env.DATABASE_CA_FILE);
  if (databaseUrl !== undefined && URL.canParse(databaseUrl)) {
    const tls = databaseConnection({
      url: databaseUrl,
      caFile,
      readFile: (file) => readFileSync(path.resolve(cwd, file), 'utf8'),
    });
    problems.push(...tls.problems);
    connection = tls.connection;
  } else if (caFile !== undefined && databaseUrl === undefined) {
    problems.push('DATABASE_CA_FILE: the embedded PostgreSQL (DATABASE_URL unset) does not use TLS');
  }

  if (problems.length > 0 || e === undefined) throw new ConfigError(problems);

  return {
    sutro: {
      apiKey,
      apiUrl: e.SUTRO_API_URL,
      pageLimit: e.SUTRO_PAGE_LIMIT,
      requestTimeoutMs: e.SUTRO_REQUEST_TIMEOUT_MS,
      maxRetries: e.SUTRO_MAX_RETRIES,
      maxResponseBytes: e.SUTRO_MAX_RESPONSE_MB * 1024 * 1024,
    },
    source: e.SUTRO_SOURCE,
    sourceSetting: optionalText.parse(env.SUTRO_SOURCE) === undefined ? undefined : e.SUTRO_SOURCE,
    sources,
    sourcesFile: resolvedSourcesFile,
    database: {
      url: databaseUrl,
      connection,
      limits: {
        statementTimeoutMs: e.SUTRO_DB_STATEMENT_TIMEOUT_MS,
        lockTimeoutMs: e.SUTRO_DB_LOCK_TIMEOUT_MS,
      },
      migrationLockTimeoutMs: e.SUTRO_MIGRATION_LOCK_TIMEOUT_MS,
    },
    embedded: { dataDir: path.resolve(cwd, e.SUTRO_EMBEDDED_PG_DIR), port: e.SUTRO_EMBEDDED_PG_PORT },
    sync: {
      schedule: e.SUTRO_SYNC_SCHEDULE,
      fullSchedule: e.SUTRO_FULL_SYNC_SCHEDULE,
      safetyMarginSeconds: e.SUTRO_SAFETY_MARGIN_SECONDS,
      leaseSeconds: e.SUTRO_LEASE_SECONDS,
      concurrency: e.SUTRO_CONCURRENCY,
      pollMs: Math.round(e.SUTRO_POLL_SECONDS * 1000),
    },
    http: {
      host: e.SUTRO_HTTP_HOST,
      port: e.SUTRO_HTTP_PORT,
      readyMaxAgeSeconds: e.SUTRO_READY_MAX_AGE_SECONDS,
      stallSeconds: e.SUTRO_STALL_SECONDS,
    },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT === 'auto' ? undefined : e.LOG_FORMAT,
  };
}

/**
 * The sources of a command that calls the API (sync, start, doctor). Those commands load their
 * configuration with `needsApi`, so that a missing key or URL is reported with the rest; this is
 * what they read the sources with.
 */
export function requireSources(config: Config): readonly SourceConfig[] {
  if (config.sources.length > 0) return config.sources;
  throw new ConfigError(
    config.sourcesFile === undefined
      ? [API_KEY_MISSING, API_URL_MISSING]
      : ['SUTRO_SOURCES_FILE: lists no source'],
  );
}

/** A description of every variable, for the README and `--help`. Kept beside the schema it documents. */
export const ENVIRONMENT_VARIABLES: ReadonlyArray<
  readonly [name: string, fallback: string, meaning: string]
> = [
  ['SUTRO_API_KEY', '(required for sync/start)', 'Sutro API key, sent as `Authorization: Key <key>`'],
  [
    'SUTRO_API_KEY_FILE',
    '',
    'File holding the API key (Docker/Kubernetes secrets); instead of SUTRO_API_KEY',
  ],
  [
    'SUTRO_API_URL',
    '(required for sync/start)',
    "Your Sutro deployment's URL, https://<deployment>, with or without /v1 (http for localhost only)",
  ],
  ['SUTRO_SOURCE', 'default', 'Label of the account; several accounts can sync into one database'],
  [
    'SUTRO_SOURCES_FILE',
    '',
    'YAML file of sources (name, api_url, api_key_file or api_key_env, schedules): several accounts at once',
  ],
  ['SUTRO_CONCURRENCY', '4', 'Runs one process has in progress at most (`start`, `sync --all`)'],
  ['SUTRO_POLL_SECONDS', '5', 'How often `start` looks for due sources; a finished run looks at once'],
  ['DATABASE_URL', '(embedded PostgreSQL)', 'postgres:// URL; unset starts an embedded PostgreSQL'],
  ['DATABASE_URL_FILE', '', 'File holding DATABASE_URL'],
  [
    'DATABASE_CA_FILE',
    '',
    'CA bundle that signed the server certificate (or sslrootcert= in DATABASE_URL); implies TLS',
  ],
  [
    'SUTRO_DB_STATEMENT_TIMEOUT_MS',
    '60000',
    'Longest one database statement may run; the client gives a silent connection up 10 s later',
  ],
  ['SUTRO_DB_LOCK_TIMEOUT_MS', '10000', 'Longest a statement waits for a lock another session holds'],
  [
    'SUTRO_MIGRATION_LOCK_TIMEOUT_MS',
    '60000',
    'Longest `migrate` waits for another migration or a session holding a table it alters',
  ],
  [
    'SUTRO_LEASE_SECONDS',
    '30',
    'A run holds its source by a lease renewed every third of this; a crashed run frees it after this long',
  ],
  [
    'SUTRO_EMBEDDED_PG_DIR',
    '.sutro-sync/pg',
    'Data folder of the embedded PostgreSQL (kept across restarts)',
  ],
  ['SUTRO_EMBEDDED_PG_PORT', '54329', 'Port of the embedded PostgreSQL'],
  ['SUTRO_SYNC_SCHEDULE', '*/15 * * * *', 'Cron schedule of incremental runs (`start`)'],
  ['SUTRO_FULL_SYNC_SCHEDULE', '17 3 * * *', 'Cron schedule of full passes (`start`)'],
  [
    'SUTRO_SAFETY_MARGIN_SECONDS',
    '300',
    'How far below the oldest unsettled job an incremental run still reads',
  ],
  ['SUTRO_PAGE_LIMIT', '100', 'Jobs per list-jobs page (1-100)'],
  ['SUTRO_REQUEST_TIMEOUT_MS', '30000', 'Timeout of one API request'],
  ['SUTRO_MAX_RETRIES', '5', 'Retries of one API request (network errors, 408, 429, 5xx)'],
  ['SUTRO_MAX_RESPONSE_MB', '32', 'Largest API answer read; a larger one fails the run as it streams in'],
  [
    'SUTRO_HTTP_HOST',
    '127.0.0.1',
    'Address /healthz, /readyz and /metrics listen on; 0.0.0.0 in a container (the image sets it)',
  ],
  ['SUTRO_HTTP_PORT', '9464', 'Port of /healthz, /readyz and /metrics (`start`); 0 disables'],
  ['SUTRO_READY_MAX_AGE_SECONDS', '3600', '/readyz fails when the last successful sync is older'],
  ['SUTRO_STALL_SECONDS', '600', '/healthz fails when a run has made no progress for this long'],
  ['LOG_LEVEL', 'info', 'fatal, error, warn, info, debug, trace or silent; stack traces at debug and trace'],
  [
    'LOG_FORMAT',
    'auto',
    'json (a JSON object per line on stderr) or terminal (short lines); auto: terminal when stderr is one',
  ],
];
