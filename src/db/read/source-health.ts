import type { Database } from '../infra/connect.js';
import {
  RECENT_SPEND_BY_MODEL,
  recentModelSpendOf,
  type RecentModelSpend,
  type RecentModelSpendRow,
} from './spend.js';

/** What the database says about one source's freshness: read by /readyz and on every scrape. */
export interface SourceHealth {
  readonly lastSuccessAt: Date | null;
  /** Measured with the database's clock, like `last_success_at` itself, so host clock skew cannot matter. */
  readonly secondsSinceLastSuccess: number | null;
  readonly rejectedRows: number;
}

/** What a scrape of /metrics reads: the source's health, and what its recent jobs cost by model. */
export interface ScrapeFigures extends SourceHealth {
  /** One entry per model with jobs created in the last 24 hours; none for a quiet source. */
  readonly spendByModel: readonly RecentModelSpend[];
}

interface HealthRow {
  last_success_at: Date | null;
  age: number | null;
  rejected: number;
}

const HEALTH_OF_SOURCE = `
SELECT s.last_success_at,
       extract(epoch FROM now() - s.last_success_at)::float8 AS age,
       (SELECT count(*)::int FROM sutro.rejected_jobs r WHERE r.source = $1) AS rejected
  FROM (SELECT 1) AS one LEFT JOIN sutro.sync_state s ON s.source = $1`;

function healthOf(row: HealthRow | undefined): SourceHealth {
  return {
    lastSuccessAt: row?.last_success_at ?? null,
    secondsSinceLastSuccess: row?.age ?? null,
    rejectedRows: row?.rejected ?? 0,
  };
}

export async function readSourceHealth(db: Pick<Database, 'pool'>, source: string): Promise<SourceHealth> {
  const result = await db.pool.query<HealthRow>(HEALTH_OF_SOURCE, [source]);
  return healthOf(result.rows[0]);
}

/**
 * One statement, so one round trip on the probes' single connection, and one snapshot and one
 * now() for all the figures of a scrape. The spend rows come as a JSON array in the health row's
 * one row; float8 becomes a JSON number, so nothing is lost on the way to a float64 gauge.
 */
export async function readScrapeFigures(db: Pick<Database, 'pool'>, source: string): Promise<ScrapeFigures> {
  const result = await db.pool.query<HealthRow & { spend: RecentModelSpendRow[] }>(
    `WITH health AS (${HEALTH_OF_SOURCE}),
          spend AS (${RECENT_SPEND_BY_MODEL})
     SELECT health.*, (SELECT coalesce(json_agg(spend), '[]'::json) FROM spend) AS spend FROM health`,
    [source],
  );
  const row = result.rows[0];
  return { ...healthOf(row), spendByModel: (row?.spend ?? []).map(recentModelSpendOf) };
}
