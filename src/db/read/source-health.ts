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

/** What a scrape of /metrics reads of a source: its health, and what its recent jobs cost by model. */
export interface ScrapeFigures extends SourceHealth {
  /** One entry per model with jobs created in the last 24 hours; none for a quiet source. */
  readonly spendByModel: readonly RecentModelSpend[];
}

interface HealthRow {
  source: string;
  last_success_at: Date | null;
  age: number | null;
  rejected: number;
}

/** One row per source of $1, those never synced included. */
const HEALTH_OF_SOURCES = `
SELECT wanted.source, s.last_success_at,
       extract(epoch FROM now() - s.last_success_at)::float8 AS age,
       (SELECT count(*)::int FROM sutro.rejected_jobs r WHERE r.source = wanted.source) AS rejected
  FROM unnest($1::text[]) AS wanted(source)
  LEFT JOIN sutro.sync_state s ON s.source = wanted.source`;

function healthOf(row: HealthRow | undefined): SourceHealth {
  return {
    lastSuccessAt: row?.last_success_at ?? null,
    secondsSinceLastSuccess: row?.age ?? null,
    rejectedRows: row?.rejected ?? 0,
  };
}

export async function readSourcesHealth(
  db: Pick<Database, 'pool'>,
  sources: readonly string[],
): Promise<ReadonlyMap<string, SourceHealth>> {
  const result = await db.pool.query<HealthRow>(HEALTH_OF_SOURCES, [sources]);
  return new Map(sources.map((source) => [source, healthOf(result.rows.find((r) => r.source === source))]));
}

/**
 * One statement, so one round trip on the probes' single connection, and one snapshot and one
 * now() for all the figures of a scrape. Each source's spend rows come as a JSON array in its
 * health row; float8 becomes a JSON number, so nothing is lost on the way to a float64 gauge.
 */
export async function readScrapeFigures(
  db: Pick<Database, 'pool'>,
  sources: readonly string[],
): Promise<ReadonlyMap<string, ScrapeFigures>> {
  const result = await db.pool.query<HealthRow & { spend: RecentModelSpendRow[] }>(
    `WITH health AS (${HEALTH_OF_SOURCES}),
          spend AS (${RECENT_SPEND_BY_MODEL})
     SELECT health.*,
            (SELECT coalesce(json_agg(spend), '[]'::json) FROM spend WHERE spend.source = health.source) AS spend
       FROM health`,
    [sources],
  );
  return new Map(
    sources.map((source) => {
      const row = result.rows.find((r) => r.source === source);
      return [source, { ...healthOf(row), spendByModel: (row?.spend ?? []).map(recentModelSpendOf) }];
    }),
  );
}
