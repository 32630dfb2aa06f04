import { lookup } from 'node:dns/promises';
import { ConfigError, type Config } from '../config.js';
import { pendingMigrations } from '../db/infra/migrate.js';
import { readDatabaseFacts, type DatabaseFacts } from '../db/read/setup-facts.js';
import { readSourcesOverview, type SourceOverview } from '../db/read/status.js';
import type { Logger } from '../log.js';
import { openDatabase, type CommandContext, type OpenDatabase } from '../runtime.js';
import { createSutroClient, SutroApiError, type SutroClient } from '../sutro/client.js';
import { parseJob } from '../sutro/job.js';

/**
 * `sutro-sync doctor`: the setup checked step by step, each step one line that says what it found
 * and, when it fails, what to change. It reads, never writes: no migration, no lease, no run.
 * Every step is bounded (the API's request timeout without retries, the database's connect and
 * statement timeouts, DNS below), so a setup that hangs ends in a failed line, not a hung command.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';

export interface Check {
  readonly area: 'configuration' | 'api' | 'database';
  /** The source a check of the API is about, when the configuration has a sources file. */
  readonly source?: string;
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
}

/** A resolver that never answers (a broken /etc/resolv.conf) would otherwise hold the command for minutes. */
const DNS_TIMEOUT_MS = 10_000;

const MARK: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗', skipped: '-' };

export function formatCheck(check: Check): string {
  const source = check.source === undefined ? '' : ` · ${check.source}`;
  return `${MARK[check.status]} ${check.area}${source} · ${check.name}: ${check.detail}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What the API's settings are called where they come from: the environment, or a sources file. */
interface ApiSettings {
  readonly apiUrl: string | undefined;
  readonly apiKey: string | undefined;
  readonly pageLimit: number;
  /** The source, when it comes from a sources file. */
  readonly source?: string;
  readonly urlName: string;
  readonly keyName: string;
}

async function checkApi(config: Config, settings: ApiSettings): Promise<Check[]> {
  const checks: Check[] = [];
  const tag = settings.source === undefined ? {} : { source: settings.source };
  const add = (name: string, status: CheckStatus, detail: string) =>
    checks.push({ area: 'api', ...tag, name, status, detail });
  // A variable that is not set is a problem of the configuration (exit 2), as an invalid one is.
  const unset = (name: string, detail: string) =>
    checks.push({ area: 'configuration', name, status: 'fail', detail: `not set: ${detail}` });
  const { apiUrl, apiKey, urlName, keyName } = settings;
  if (apiUrl === undefined) {
    unset('SUTRO_API_URL', "your Sutro deployment's URL, https://<deployment> with or without /v1");
    return checks;
  }
  add(urlName, 'ok', `requests go to ${apiUrl}`);
  const host = new URL(apiUrl).hostname.replace(/^\[|\]$/g, '');
  try {
    const address = await withTimeout(lookup(host), DNS_TIMEOUT_MS, `DNS lookup of ${host}`);
    add('DNS', 'ok', `${host} resolves to ${address.address}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    add(
      'DNS',
      'fail',
      `cannot resolve ${host}${code ? ` (${code})` : ''}: check the host name in ${urlName}, and this machine's DNS`,
    );
    return checks;
  }
  if (apiKey === undefined) {
    unset('SUTRO_API_KEY', 'a key created in your Sutro deployment (or SUTRO_API_KEY_FILE)');
    return checks;
  }
  const client: SutroClient = createSutroClient({
    apiUrl,
    apiKey,
    pageLimit: settings.pageLimit,
    timeoutMs: config.sutro.requestTimeoutMs,
    maxResponseBytes: config.sutro.maxResponseBytes,
    retry: { retries: 0 },
  });
  const started = performance.now();
  try {
    await client.tryAuthentication();
    const ms = Math.round(performance.now() - started);
    add('reachable', 'ok', `the deployment answered in ${ms} ms`);
    add(keyName, 'ok', 'the deployment accepts the key (GET /try-authentication)');
  } catch (error) {
    if (error instanceof SutroApiError && (error.status === 401 || error.status === 403)) {
      add('reachable', 'ok', `the deployment answered ${error.status}`);
      add(keyName, 'fail', error.message);
    } else {
      add('reachable', 'fail', messageOf(error));
    }
    return checks;
  }
  try {
    const page = await client.listJobs(null);
    const parsed = page.jobs.map(parseJob);
    const rejected = parsed.flatMap((p, i) =>
      p.ok ? [] : [`job ${i + 1} (${p.jobId ?? 'no job_id'}): ${p.reason}`],
    );
    const newest = parsed.find((p) => p.ok)?.job.datetimeCreated?.text ?? null;
    const summary =
      page.jobs.length === 0
        ? 'the account has no jobs yet (the first sync stores none, which is not an error)'
        : `${page.jobs.length} jobs on the first page${newest ? `, the newest created ${newest}` : ''}, ${page.nextCursor === null ? 'no further pages' : 'more pages follow'}`;
    if (rejected.length > 0) {
      add(
        'list-jobs',
        'warn',
        `${summary}; ${rejected.length} would be rejected (kept in sutro.rejected_jobs): ${rejected.slice(0, 3).join('; ')}`,
      );
    } else add('list-jobs', 'ok', summary);
  } catch (error) {
    add('list-jobs', 'fail', messageOf(error));
  }
  return checks;
}

function describeDatabase(config: Config, database: OpenDatabase): string {
  if (config.database.url === undefined)
    return `embedded PostgreSQL (DATABASE_URL unset) in ${config.embedded.dataDir}`;
  return database.displayUrl;
}

function urlPort(config: Config): number | null {
  const url = config.database.connection?.connectionString;
  if (url === undefined || !URL.canParse(url)) return null;
  return Number(new URL(url).port || 5432);
}

function databaseChecks(
  config: Config,
  facts: DatabaseFacts,
  migrations: Awaited<ReturnType<typeof pendingMigrations>>,
): Check[] {
  const checks: Check[] = [];
  const add = (name: string, status: CheckStatus, detail: string) =>
    checks.push({ area: 'database', name, status, detail });
  add(
    'server',
    'ok',
    `PostgreSQL ${facts.serverVersion}, database "${facts.database}" as role "${facts.user}"`,
  );

  const tls = config.database.connection?.ssl;
  if (config.database.url === undefined)
    add('TLS', 'ok', 'not needed: the embedded server listens on 127.0.0.1 only');
  else if (tls === false) {
    const host = new URL(config.database.connection?.connectionString ?? 'postgres://localhost').hostname;
    const local = ['localhost', '127.0.0.1', '::1', '[::1]'].includes(host) || host.startsWith('/');
    add(
      'TLS',
      local ? 'ok' : 'warn',
      local
        ? 'not encrypted, on this machine'
        : `not encrypted to ${host}: add sslmode=verify-full (and DATABASE_CA_FILE for a private CA) to DATABASE_URL`,
    );
  } else add('TLS', 'ok', `encrypted, ${config.database.connection?.tlsDescription ?? ''}`);

  const port = urlPort(config);
  if (port !== null && facts.serverPort !== null && facts.serverPort !== port) {
    add(
      'pooler',
      'ok',
      `DATABASE_URL's port ${port} is not the server's ${facts.serverPort}: a pooler or proxy stands between; ` +
        'sutro-sync works through transaction and session pooling alike',
    );
  }

  const schemaBlocked = facts.schemaExists && !facts.schemaUsable;
  if (schemaBlocked) {
    add(
      'privileges',
      'fail',
      `role "${facts.user}" has no USAGE on schema sutro: GRANT USAGE ON SCHEMA sutro TO "${facts.user}"`,
    );
  } else if (!facts.schemaExists && !facts.canCreateSchema) {
    add(
      'privileges',
      'fail',
      `schema sutro does not exist and role "${facts.user}" may not create it: GRANT CREATE ON DATABASE "${facts.database}" TO "${facts.user}", or run \`sutro-sync migrate\` once as the owner`,
    );
  } else if (facts.tablesNotWritable.length > 0) {
    add(
      'privileges',
      'fail',
      `role "${facts.user}" cannot write ${facts.tablesNotWritable.join(', ')}: the worker must connect as the role that ran \`sutro-sync migrate\` (a reader role from grant-reader cannot sync)`,
    );
  } else
    add(
      'privileges',
      'ok',
      `role "${facts.user}" can ${facts.schemaExists ? 'write schema sutro' : 'create schema sutro'}`,
    );

  if (migrations.pending === null) {
    add(
      'migrations',
      'fail',
      `role "${facts.user}" may not read drizzle.__drizzle_migrations, the ledger of applied migrations: connect as the role that ran \`sutro-sync migrate\``,
    );
  } else if (migrations.pending === 0) add('migrations', 'ok', `all ${migrations.total} applied`);
  else if (facts.schemaExists && facts.tablesNotOwned.length > 0) {
    add(
      'migrations',
      'fail',
      `${migrations.pending} of ${migrations.total} pending, and role "${facts.user}" does not own ${facts.tablesNotOwned.join(', ')}: run \`sutro-sync migrate\` as their owner`,
    );
  } else {
    add(
      'migrations',
      'ok',
      `${migrations.pending} of ${migrations.total} pending: sync and start apply them (or \`sutro-sync migrate\`)`,
    );
  }

  // With a sources file, each source has its own line (sourceChecks).
  if (config.sourcesFile !== undefined) return checks;
  const source = facts.source;
  const name = `source "${config.source}"`;
  if (source === null || (source.lastSuccessAt === null && source.lastError === null)) {
    add(name, 'ok', 'not synced yet: `sutro-sync sync` runs the first (full) sync');
  } else {
    const lease =
      source.leaseHolder === null
        ? ''
        : `; a run holds its lease (${source.leaseHolder}, ${source.leaseExpiresInSeconds !== null && source.leaseExpiresInSeconds > 0 ? `for ${Math.ceil(source.leaseExpiresInSeconds)} s more unless renewed` : 'expired: the next run takes over'})`;
    const last = `last success ${source.lastSuccessAt?.toISOString() ?? 'never'}`;
    if (source.lastError !== null) add(name, 'warn', `${last}; last error: ${source.lastError}${lease}`);
    else add(name, 'ok', `${last}${lease}`);
  }
  return checks;
}

/** Each configured source as the database has it: synced or not, its last error, who runs it. */
function sourceChecks(overview: readonly SourceOverview[]): Check[] {
  return overview
    .filter((o) => o.configured)
    .map((o): Check => {
      const name = `source "${o.source}"`;
      if (o.last_success_at === null && o.last_error === null)
        return {
          area: 'database',
          name,
          status: 'ok',
          detail: 'not synced yet: its first run is a full pass',
        };
      const last = `last success ${o.last_success_at?.toISOString() ?? 'never'}`;
      const running = o.holder === null ? '' : `; run ${o.run_id ?? '(starting)'} in progress on ${o.holder}`;
      return o.last_error === null
        ? { area: 'database', name, status: 'ok', detail: `${last}${running}` }
        : {
            area: 'database',
            name,
            status: 'warn',
            detail: `${last}; last error: ${o.last_error}${running}`,
          };
    });
}

async function checkDatabase(config: Config, log: Logger, context: CommandContext): Promise<Check[]> {
  let database: OpenDatabase;
  try {
    database = await openDatabase(config, log, {
      migrate: false,
      applicationName: 'sutro-sync doctor',
      secrets: context.secrets,
    });
  } catch (error) {
    return [{ area: 'database', name: 'connection', status: 'fail', detail: messageOf(error) }];
  }
  try {
    const connected: Check = {
      area: 'database',
      name: 'connection',
      status: 'ok',
      detail: describeDatabase(config, database),
    };
    const facts = await readDatabaseFacts(database, config.source);
    const migrations = await pendingMigrations(database);
    const sources =
      config.sourcesFile === undefined || facts.tablesNotWritable.length > 0 || !facts.schemaExists
        ? []
        : sourceChecks(
            await readSourcesOverview(
              database,
              config.sources.map((s) => s.name),
            ),
          );
    return [connected, ...databaseChecks(config, facts, migrations), ...sources];
  } catch (error) {
    return [{ area: 'database', name: 'queries', status: 'fail', detail: messageOf(error) }];
  } finally {
    await database.close();
  }
}

/**
 * Runs every check and prints them, one line each (or JSON). Exit code 0 when none failed, 1 when
 * one did, 2 when a variable is invalid (the other checks need the configuration, and are not run)
 * or a variable they need is not set (they run as far as they can without it).
 */
export async function runDoctor(load: () => CommandContext, options: { json?: boolean }): Promise<number> {
  const print = (checks: readonly Check[], redact: (text: string) => string) => {
    const text = options.json
      ? JSON.stringify({ ok: checks.every((c) => c.status !== 'fail'), checks }, null, 2)
      : checks.map(formatCheck).join('\n');
    process.stdout.write(`${redact(text)}\n`);
  };
  let context: CommandContext;
  try {
    context = load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    print(
      error.problems.map((problem) => ({
        area: 'configuration',
        name: 'environment',
        status: 'fail',
        detail: problem,
      })),
      (text) => text,
    );
    return 2;
  }
  const { config, log, secrets } = context;
  const apiChecks =
    config.sourcesFile === undefined
      ? await checkApi(config, {
          apiUrl: config.sutro.apiUrl,
          apiKey: config.sutro.apiKey,
          pageLimit: config.sutro.pageLimit,
          urlName: 'SUTRO_API_URL',
          keyName: 'SUTRO_API_KEY',
        })
      : (
          await Promise.all(
            config.sources.map((source) =>
              checkApi(config, {
                apiUrl: source.apiUrl,
                apiKey: source.apiKey,
                pageLimit: source.pageLimit,
                source: source.name,
                urlName: 'api_url',
                keyName: `key (${source.keyFrom})`,
              }),
            ),
          )
        ).flat();
  const failing = [...new Set(apiChecks.flatMap((c) => (c.status === 'fail' && c.source ? [c.source] : [])))];
  const checks: Check[] = [
    {
      area: 'configuration',
      name: 'environment',
      status: 'ok',
      detail:
        config.sourcesFile === undefined
          ? `every variable is valid; source "${config.source}"`
          : `every variable and the sources file are valid: ${config.sources.length} sources (${config.sources.map((s) => s.name).join(', ')})`,
    },
    ...apiChecks,
    ...(config.sourcesFile !== undefined && config.sources.length > 1
      ? [
          {
            area: 'api',
            name: 'sources',
            status: failing.length === 0 ? 'ok' : 'fail',
            detail:
              failing.length === 0
                ? `all ${config.sources.length} sources answer`
                : `${failing.length} of ${config.sources.length} sources fail: ${failing.join(', ')}`,
          } satisfies Check,
        ]
      : []),
    ...(await checkDatabase(config, log, context)),
  ];
  print(checks, (text) => secrets.redact(text));
  const failed = checks.filter((c) => c.status === 'fail');
  if (failed.some((c) => c.area === 'configuration')) return 2;
  return failed.length > 0 ? 1 : 0;
}
