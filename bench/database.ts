import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { migrate } from '../src/db/infra/migrate.js';
import { connect } from '../src/db/infra/connect.js';

/** One connection for `work`, closed after it whatever happens. */
export async function withClient<T>(
  databaseUrl: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'sutro-sync-bench' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Scratch databases on one server, created fresh and dropped at the end of the run. */
export class Scratch {
  private readonly created: string[] = [];
  private readonly prefix = `sutro_bench_${randomBytes(3).toString('hex')}`;

  /** URLs of the databases `keep` saved from being dropped. */
  readonly kept: string[] = [];

  /** With `keep`, the databases outlive the run, to be looked into; the caller drops them. */
  constructor(
    readonly adminUrl: string,
    private readonly keep = false,
  ) {}

  private admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    return withClient(this.adminUrl, work);
  }

  urlOf(name: string): string {
    const url = new URL(this.adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /** A new database, migrated unless `empty`; returns its URL. */
  async create(label: string, options: { empty?: boolean } = {}): Promise<string> {
    const name = `${this.prefix}_${label}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
    await this.admin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.query(`CREATE DATABASE ${name}`);
    });
    this.created.push(name);
    const url = this.urlOf(name);
    if (!options.empty) {
      const { database: settings } = loadConfig({});
      const silent = pino({ level: 'silent' });
      const database = connect({ connectionString: url, ssl: false }, silent, {
        limits: settings.limits,
        max: 1,
      });
      try {
        await migrate(database, silent, { lockTimeoutMs: settings.migrationLockTimeoutMs });
      } finally {
        await database.close();
      }
    }
    return url;
  }

  async drop(url: string): Promise<void> {
    const name = new URL(url).pathname.slice(1);
    if (this.keep) {
      if (!this.kept.includes(url)) this.kept.push(url);
      return;
    }
    await this.admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    const at = this.created.indexOf(name);
    if (at >= 0) this.created.splice(at, 1);
  }

  async dropAll(): Promise<void> {
    for (const name of [...this.created]) await this.drop(this.urlOf(name));
  }

  async serverVersion(): Promise<string> {
    return this.admin(async (client) => {
      const result = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      return result.rows[0]?.v ?? '?';
    });
  }
}

export interface Writes {
  /** n_tup_ins + n_tup_upd of sutro.jobs. */
  readonly jobs: number;
  /** n_tup_ins + n_tup_upd of sutro.job_history. */
  readonly history: number;
}

/**
 * Rows written so far to sutro.jobs and sutro.job_history, from pg_stat_user_tables. PostgreSQL 15
 * keeps these counters in shared memory, but a backend adds its own only at the end of a transaction
 * (at most once a second) or when it exits: so this first waits for every other session of the
 * database (the worker's pool) to be gone, which flushes theirs, and reads a fresh snapshot.
 */
export async function writesSoFar(databaseUrl: string): Promise<Writes> {
  return withClient(databaseUrl, async (client) => {
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const others = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      if ((others.rows[0]?.n ?? 0) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await client.query('SELECT pg_stat_clear_snapshot()');
    const result = await client.query<{ relname: string; n: string }>(
      `SELECT relname, (n_tup_ins + n_tup_upd)::text AS n FROM pg_stat_user_tables
          WHERE schemaname = 'sutro' AND relname IN ('jobs', 'job_history')`,
    );
    const of = (name: string) => Number(result.rows.find((r) => r.relname === name)?.n ?? 0);
    return { jobs: of('jobs'), history: of('job_history') };
  });
}

/**
 * What autovacuum does shortly after a large load (PostgreSQL vacuums and analyzes insert-only
 * tables too): fresh statistics and a visibility map. The runs that follow a full load are measured
 * against the database as it will be in production, not against tables the planner has never seen.
 * Every table of the schema, the small ones too: sync_state never analyzed is estimated at 440 rows
 * from its one page, which put sync_health's estimated cost past jit_above_cost, and JIT
 * compilation took 35 ms of a question that answers in 3.
 */
export async function vacuumAnalyze(databaseUrl: string): Promise<void> {
  return withClient(databaseUrl, async (client) => {
    const tables = await client.query<{ name: string }>(
      "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = 'sutro'",
    );
    await client.query(`VACUUM (ANALYZE) ${tables.rows.map((t) => t.name).join(', ')}`);
  });
}

/** Jobs stored at or above `floor`: the part of the listing the stop rule has to read. */
export async function jobsAtOrAbove(databaseUrl: string, floor: string | null): Promise<number> {
  if (floor === null) return 0;
  return withClient(databaseUrl, async (client) => {
    const result = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sutro.jobs WHERE source = 'bench' AND datetime_created >= $1`,
      [floor],
    );
    return result.rows[0]?.n ?? 0;
  });
}

/** Bytes on disk of the sutro schema's tables, their indexes and TOAST included. */
export interface Stored {
  readonly jobs: number;
  readonly history: number;
  /** Every table of the schema, the two above included. */
  readonly all: number;
}

/** What the schema's tables take on disk, after VACUUM (see vacuumAnalyze). */
export async function storedBytes(databaseUrl: string): Promise<Stored> {
  return withClient(databaseUrl, async (client) => {
    const result = await client.query<{ relname: string; bytes: string }>(
      `SELECT c.relname, pg_total_relation_size(c.oid)::text AS bytes
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'sutro' AND c.relkind IN ('r', 'm')`,
    );
    const of = (name: string) => Number(result.rows.find((r) => r.relname === name)?.bytes ?? 0);
    return {
      jobs: of('jobs'),
      history: of('job_history'),
      all: result.rows.reduce((total, r) => total + Number(r.bytes), 0),
    };
  });
}
