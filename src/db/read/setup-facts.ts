import type { Database } from '../infra/connect.js';
import { TABLE_CONFIGS } from '../schema/table-list.js';

/** What `sutro-sync doctor` asks the database, in one read-only transaction. */

export interface DatabaseFacts {
  readonly serverVersion: string;
  readonly serverVersionNumber: number;
  readonly user: string;
  readonly database: string;
  /** The port the server answers on; null over a Unix socket. Differs from the URL's behind a pooler. */
  readonly serverPort: number | null;
  /** The TLS protocol of the server's side of this session (behind a pooler: the pooler's), or null. */
  readonly serverTls: string | null;
  readonly schemaExists: boolean;
  /** USAGE on schema sutro: without it, its tables are invisible to the role. */
  readonly schemaUsable: boolean;
  /** May the role create schema sutro (and drizzle's ledger), as the first migration does. */
  readonly canCreateSchema: boolean;
  /** Tables of the schema that exist but that the role cannot read and write. */
  readonly tablesNotWritable: readonly string[];
  /** Tables that exist and that the role cannot alter, as a pending migration may need to. */
  readonly tablesNotOwned: readonly string[];
  readonly source: {
    readonly lastSuccessAt: Date | null;
    readonly lastError: string | null;
    readonly leaseHolder: string | null;
    readonly leaseExpiresInSeconds: number | null;
  } | null;
}

/** Every table of the Drizzle schema, schema-qualified: the tables a worker writes. */
export const SUTRO_TABLES: readonly string[] = TABLE_CONFIGS.filter((table) => table.schema === 'sutro').map(
  (table) => `sutro.${table.name}`,
);

export function readDatabaseFacts(db: Database, source: string): Promise<DatabaseFacts> {
  const options = { what: 'checking the database', readOnly: true };
  return db.transaction(options, async (client) => {
    const server = await client.query<{
      version: string;
      number: number;
      user: string;
      database: string;
      port: number | null;
      tls: string | null;
      schema_exists: boolean;
      schema_usable: boolean;
      can_create: boolean;
    }>(
      `SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS number,
              current_user AS user, current_database() AS database, inet_server_port() AS port,
              (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl) AS tls,
              to_regnamespace('sutro') IS NOT NULL AS schema_exists,
              coalesce((SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = 'sutro'), false) AS schema_usable,
              has_database_privilege(current_database(), 'CREATE') AS can_create`,
    );
    const facts = server.rows[0];
    if (facts === undefined) throw new Error('the database answered no row to a SELECT without FROM');
    // From the catalogs: to_regclass raises, rather than answers null, in a schema the role may not use.
    const tables = await client.query<{ name: string; writable: boolean; owned: boolean }>(
      `SELECT n.nspname || '.' || c.relname AS name,
              has_schema_privilege(n.oid, 'USAGE')
              -- A list of privileges asks whether any of them is held: each is asked on its own.
              AND has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')
              AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE') AS writable,
              pg_has_role(c.relowner, 'USAGE') AS owned
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname || '.' || c.relname = ANY ($1::text[])
        ORDER BY array_position($1::text[], n.nspname || '.' || c.relname)`,
      [SUTRO_TABLES],
    );
    let sourceFacts: DatabaseFacts['source'] = null;
    const tableExists = (name: string) => tables.rows.some((t) => t.name === name && t.writable);
    if (tableExists('sutro.sync_state') && tableExists('sutro.sync_leases')) {
      const state = await client.query<{
        last_success_at: Date | null;
        last_error: string | null;
        holder: string | null;
        expires_in_seconds: number | null;
      }>(
        `SELECT s.last_success_at, s.last_error, l.holder,
                extract(epoch FROM l.expires_at - now())::float8 AS expires_in_seconds
           FROM (SELECT $1::text AS source) AS wanted
           LEFT JOIN sutro.sync_state s USING (source)
           LEFT JOIN sutro.sync_leases l ON l.source = wanted.source AND l.holder IS NOT NULL`,
        [source],
      );
      const row = state.rows[0];
      sourceFacts = {
        lastSuccessAt: row?.last_success_at ?? null,
        lastError: row?.last_error ?? null,
        leaseHolder: row?.holder ?? null,
        leaseExpiresInSeconds: row?.holder ? (row.expires_in_seconds ?? null) : null,
      };
    }
    return {
      serverVersion: facts.version,
      serverVersionNumber: facts.number,
      user: facts.user,
      database: facts.database,
      serverPort: facts.port,
      serverTls: facts.tls,
      schemaExists: facts.schema_exists,
      schemaUsable: facts.schema_usable,
      canCreateSchema: facts.can_create,
      tablesNotWritable: tables.rows.filter((t) => !t.writable).map((t) => t.name),
      tablesNotOwned: tables.rows.filter((t) => !t.owned).map((t) => t.name),
      source: sourceFacts,
    };
  });
}
