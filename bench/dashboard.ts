import { withClient } from './database.js';

/**
 * The questions a dashboard asks (issue 14), as a BI tool writes them against the views: each is
 * timed by EXPLAIN ANALYZE on the database the sync scenario filled, after a day of hourly syncs.
 * `$1` stands for now(): the simulated account keeps a clock of its own, and "the last 30 days" are
 * the account's.
 */
export const DASHBOARD_QUESTIONS = [
  {
    question: 'spend per day and model, last 30 days',
    sql: `SELECT day, model, sum(jobs), sum(total_tokens), sum(cost_usd)
            FROM sutro.daily_usage WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date - 29
           GROUP BY day, model ORDER BY day, model`,
  },
  {
    question: 'spend per model, all time',
    sql: 'SELECT * FROM sutro.model_usage',
  },
  {
    question: 'the 10 costliest jobs of 30 days',
    sql: `SELECT job_id, model, job_cost FROM sutro.job_facts
           WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date - 29
           ORDER BY job_cost DESC NULLS LAST LIMIT 10`,
  },
  { question: 'sync health', sql: 'SELECT * FROM sutro.sync_health' },
  {
    question: "the last day's status changes",
    sql: `SELECT * FROM sutro.job_status_changes WHERE changed_at >= $1::timestamptz - interval '1 day'`,
  },
] as const;

export interface DashboardTiming {
  readonly question: string;
  /** Planning plus execution as EXPLAIN ANALYZE reports them, best of `runs`, warm. */
  readonly bestMs: number;
  readonly rows: number;
  /** The plan of the best run, as EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) gave it: where the time went. */
  readonly plan: unknown;
}

interface ExplainRoot {
  readonly Plan: { readonly 'Actual Rows': number };
  readonly 'Planning Time': number;
  readonly 'Execution Time': number;
}

/** Each question `runs` times after one unmeasured run that warms the cache; the best run counts. */
export async function measureDashboard(
  databaseUrl: string,
  now: string,
  runs = 3,
): Promise<DashboardTiming[]> {
  return withClient(databaseUrl, async (client) => {
    const timings: DashboardTiming[] = [];
    for (const { question, sql } of DASHBOARD_QUESTIONS) {
      const values = sql.includes('$1') ? [now] : [];
      await client.query(sql, values);
      let best: { ms: number; rows: number; plan: unknown } | null = null;
      for (let run = 0; run < runs; run += 1) {
        const result = await client.query<{ 'QUERY PLAN': ExplainRoot[] }>(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`,
          values,
        );
        const root = result.rows[0]?.['QUERY PLAN'][0];
        if (root === undefined) throw new Error(`EXPLAIN ANALYZE of "${question}" returned no plan`);
        const ms = root['Planning Time'] + root['Execution Time'];
        if (best === null || ms < best.ms) best = { ms, rows: root.Plan['Actual Rows'], plan: root };
      }
      if (best !== null) timings.push({ question, bestMs: best.ms, rows: best.rows, plan: best.plan });
    }
    return timings;
  });
}
