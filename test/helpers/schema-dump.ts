import type pg from 'pg';

/**
 * The schema `sutro` as the migrations leave it, as text a reviewer can read in a diff: each table
 * with its columns, constraints, indexes and comments, each view with its columns' comments and its
 * definition as PostgreSQL deparses it, each function. Read from the catalogs, sorted by name, so
 * that the same schema gives the same text on any machine (pg_dump's output depends on its version).
 */
export async function dumpSchema(db: pg.Pool | pg.ClientBase, schema = 'sutro'): Promise<string> {
  const out: string[] = [
    `-- Schema ${schema} as the migrations in drizzle/ leave it, read from PostgreSQL's catalogs.`,
    '-- Written by `npm run db:dump`; the tests fail when it is stale. Not applied by anything.',
    '',
  ];
  const relations = await db.query<{ oid: number; name: string; kind: string; comment: string | null }>(
    `SELECT c.oid, c.relname AS name, c.relkind AS kind, obj_description(c.oid, 'pg_class') AS comment
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm')
      ORDER BY c.relkind = 'v', c.relname`,
    [schema],
  );
  for (const relation of relations.rows) {
    const qualified = `${schema}.${relation.name}`;
    const columns = await db.query<{
      name: string;
      type: string;
      not_null: boolean;
      default: string | null;
      generated: string;
      comment: string | null;
    }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
              pg_get_expr(d.adbin, d.adrelid) AS default, a.attgenerated AS generated,
              col_description(a.attrelid, a.attnum) AS comment
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [relation.oid],
    );
    const isView = relation.kind === 'v' || relation.kind === 'm';
    out.push(`${isView ? 'VIEW' : 'TABLE'} ${qualified}`);
    if (relation.comment !== null) out.push(`  -- ${relation.comment}`);
    for (const c of columns.rows) {
      const generated = c.generated === 's' ? ` GENERATED ALWAYS AS (${c.default ?? ''}) STORED` : '';
      const fallback = c.default !== null && c.generated !== 's' ? ` DEFAULT ${c.default}` : '';
      out.push(`  ${c.name} ${c.type}${c.not_null ? ' NOT NULL' : ''}${fallback}${generated}`);
      if (c.comment !== null) out.push(`    -- ${c.comment}`);
    }
    if (isView) {
      const definition = await db.query<{ sql: string }>('SELECT pg_get_viewdef($1::oid, true) AS sql', [
        relation.oid,
      ]);
      out.push(`  AS ${(definition.rows[0]?.sql ?? '').trim().replace(/\n/g, '\n  ')}`);
    } else {
      const constraints = await db.query<{ name: string; definition: string }>(
        `SELECT conname AS name, pg_get_constraintdef(oid, true) AS definition
           FROM pg_constraint WHERE conrelid = $1 ORDER BY conname`,
        [relation.oid],
      );
      for (const c of constraints.rows) out.push(`  CONSTRAINT ${c.name} ${c.definition}`);
      const indexes = await db.query<{ definition: string }>(
        `SELECT pg_get_indexdef(i.indexrelid) AS definition
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = $1 ORDER BY c.relname`,
        [relation.oid],
      );
      for (const i of indexes.rows) out.push(`  ${i.definition}`);
    }
    out.push('');
  }
  const functions = await db.query<{ definition: string }>(
    `SELECT pg_get_functiondef(p.oid) AS definition
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = $1 ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)`,
    [schema],
  );
  for (const f of functions.rows) out.push(f.definition.trim(), '');
  return `${out.join('\n').trimEnd()}\n`;
}
