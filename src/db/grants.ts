import pg from 'pg';

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
  /** Reasons the role may still be able to write, despite these grants. */
  readonly warnings: readonly string[];
}

/**
 * Grants `role` USAGE on schema sutro and SELECT on every table and view in it, and makes the tables
 * and views that later migrations create readable too. Default privileges attach to the role that
 * creates the objects, so this must run as the role that runs `sutro-sync migrate` (the worker's).
 * All or nothing: one transaction.
 */
export async function grantReader(pool: pg.Pool, role: string): Promise<ReaderGrant> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const found = await client.query<{ rolname: string; rolsuper: boolean; member_of_owner: boolean }>(
      `SELECT rolname, rolsuper, pg_has_role(rolname, current_user, 'USAGE') AS member_of_owner
         FROM pg_roles WHERE lower(rolname) = lower($1)
        ORDER BY rolname = $1 DESC LIMIT 1`,
      [role],
    );
    const target = found.rows[0];
    if (target?.rolname !== role) throw new UnknownRoleError(role, target?.rolname ?? null);

    const owner =
      (await client.query<{ owner: string }>('SELECT current_user AS owner')).rows[0]?.owner ?? '';
    if (role === owner) {
      throw new Error(
        `role "${role}" is the role sutro-sync connects as and owns schema sutro; a reader must be another role`,
      );
    }
    const quoted = pg.escapeIdentifier(role);
    await client.query('BEGIN');
    try {
      await client.query(`GRANT USAGE ON SCHEMA sutro TO ${quoted}`);
      // ALL TABLES covers views and materialized views as well.
      await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA sutro TO ${quoted}`);
      await client.query(
        `ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA sutro GRANT SELECT ON TABLES TO ${quoted}`,
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw new Error(`cannot grant "${role}" read access to schema sutro: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const relations = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'sutro' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND has_table_privilege($1, c.oid, 'SELECT')`,
      [role],
    );
    const warnings: string[] = [];
    if (target.rolsuper) warnings.push(`"${role}" is a superuser: it can write whatever it is granted`);
    else if (target.member_of_owner)
      warnings.push(`"${role}" is a member of "${owner}" and inherits its right to write`);
    return { role, owner, relations: relations.rows[0]?.n ?? 0, warnings };
  } finally {
    // A connection that could not even roll back is destroyed rather than returned to the pool.
    client.release(broken);
  }
}
