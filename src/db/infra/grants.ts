import pg from 'pg';
import type { Database } from './connect.js';

/** Read-only access to schema sutro for BI tools and analysts: `sutro-sync grant-reader <role>`. */

export class UnknownRoleError extends Error {
  constructor(
    readonly role: string,
    suggestion: string | null,
  ) {
    super(
      `role "${role}" does not exist${suggestion === null ? '' : ` (did you mean "${suggestion}"? role names are case-sensitive)`}; ` +
        `create it first, e.g. CREATE ROLE ${pg.escapeIdentifier(suggestion ?? role)} LOGIN PASSWORD '…'`,
    );
    this.name = 'UnknownRoleError';
  }
}

export interface ReaderGrant {
  readonly role: string;
  /** The role whose future tables and views the reader can read: the one that runs migrations. */
  readonly owner: string;
  /** Tables and views of schema sutro the role can read now. */
  readonly relations: number;
  /** Whether the role's transactions are read-only unless it says otherwise (default_transaction_read_only). */
  readonly readOnlyByDefault: boolean;
  /** Reasons the role may still be able to write, despite these grants. */
  readonly warnings: readonly string[];
}

/**
 * Grants `role` USAGE on schema sutro and SELECT on every table and view in it, and makes the tables
 * and views that later migrations create readable too. Default privileges attach to the role that
 * creates the objects, so this must run as the role that runs `sutro-sync migrate` (the worker's).
 * The grants are one transaction. The role is then made read-only by default in this database
 * (default_transaction_read_only, which also refuses CREATE TEMP TABLE), where the worker's role may.
 * It gets no privilege on sutro.sync_leases beyond SELECT, so it can never take a source's lease.
 */
export async function grantReader(db: Database, role: string): Promise<ReaderGrant> {
  const found = await db.pool.query<{
    rolname: string;
    rolsuper: boolean;
    member_of_owner: boolean;
    owner: string;
  }>(
    `SELECT rolname, rolsuper, pg_has_role(rolname, current_user, 'USAGE') AS member_of_owner, current_user AS owner
       FROM pg_roles WHERE rolname = $1`,
    [role],
  );
  const target = found.rows[0];
  if (target === undefined) throw new UnknownRoleError(role, await similarRole(db, role));
  const { owner } = target;
  if (role === owner) {
    throw new Error(
      `role "${role}" is the role sutro-sync connects as and owns schema sutro; a reader must be another role`,
    );
  }
  const quoted = pg.escapeIdentifier(role);
  try {
    await db.transaction({ what: `granting "${role}" read access` }, async (client) => {
      await client.query(`GRANT USAGE ON SCHEMA sutro TO ${quoted}`);
      // ALL TABLES covers views and materialized views as well.
      await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA sutro TO ${quoted}`);
      await client.query(
        `ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA sutro GRANT SELECT ON TABLES TO ${quoted}`,
      );
    });
  } catch (error) {
    throw new Error(`cannot grant "${role}" read access to schema sutro: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const warnings: string[] = [];
  let readOnlyByDefault = true;
  const readOnly = `ALTER ROLE ${quoted} IN DATABASE ${pg.escapeIdentifier(await databaseName(db))} SET default_transaction_read_only = on`;
  try {
    await db.transaction({ what: `making "${role}" read-only by default` }, (client) =>
      client.query(readOnly),
    );
  } catch (error) {
    // Setting another role's defaults takes CREATEROLE (or, from PostgreSQL 16, ADMIN on the role).
    readOnlyByDefault = false;
    warnings.push(
      `"${role}" is not read-only by default (${(error as Error).message}); a superuser can make it so: ${readOnly}`,
    );
  }
  const after = await db.pool.query<{ relations: number; temporary: boolean; database: string }>(
    `SELECT (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'sutro' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                AND has_table_privilege($1, c.oid, 'SELECT')) AS relations,
            has_database_privilege($1, current_database(), 'TEMPORARY') AS temporary,
            current_database() AS database`,
    [role],
  );
  const facts = after.rows[0];
  if (target.rolsuper) warnings.push(`"${role}" is a superuser: it can write whatever it is granted`);
  else if (target.member_of_owner)
    warnings.push(`"${role}" is a member of "${owner}" and inherits its right to write`);
  // A read-only transaction refuses CREATE TEMP TABLE too; without that default, the TEMPORARY
  // privilege every role has on a database through PUBLIC lets the reader create them.
  if (!readOnlyByDefault && facts?.temporary) {
    warnings.push(
      `"${role}" can create temporary tables, through the TEMPORARY privilege PUBLIC has on every database ` +
        `by default; to take it away: REVOKE TEMPORARY ON DATABASE ${pg.escapeIdentifier(facts.database)} ` +
        `FROM PUBLIC, then GRANT it back to the roles that need it`,
    );
  }
  return {
    role,
    owner,
    relations: facts?.relations ?? 0,
    readOnlyByDefault,
    warnings,
  };
}

async function databaseName(db: Database): Promise<string> {
  const result = await db.pool.query<{ name: string }>('SELECT current_database() AS name');
  return result.rows[0]?.name ?? '';
}

/**
 * A role whose name differs only in case. Compared here, not with SQL lower(): role names have the
 * "C" collation, under which lower() leaves non-ASCII capitals (É) as they are.
 */
async function similarRole(db: Database, role: string): Promise<string | null> {
  const all = await db.pool.query<{ rolname: string }>('SELECT rolname FROM pg_roles');
  const wanted = role.toLowerCase();
  return all.rows.find((r) => r.rolname.toLowerCase() === wanted)?.rolname ?? null;
}
