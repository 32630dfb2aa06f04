import type pg from 'pg';

/** What the database says about one source's freshness: read by /readyz and on every scrape. */
export interface SourceHealth {
  readonly lastSuccessAt: Date | null;
  /** Measured with the database's clock, like `last_success_at` itself, so host clock skew cannot matter. */
  readonly secondsSinceLastSuccess: number | null;
  readonly rejectedRows: number;
}

export async function readSourceHealth(pool: pg.Pool, source: string): Promise<SourceHealth> {
  const result = await pool.query<{ last_success_at: Date | null; age: number | null; rejected: number }>(
    `SELECT s.last_success_at,
            extract(epoch FROM now() - s.last_success_at)::float8 AS age,
            (SELECT count(*)::int FROM sutro.rejected_jobs r WHERE r.source = $1) AS rejected
       FROM (SELECT 1) AS one LEFT JOIN sutro.sync_state s ON s.source = $1`,
    [source],
  );
  const row = result.rows[0];
  return {
    lastSuccessAt: row?.last_success_at ?? null,
    secondsSinceLastSuccess: row?.age ?? null,
    rejectedRows: row?.rejected ?? 0,
  };
}
