import { expect } from 'vitest';
import type { TestDatabase } from './database.js';
import { diffAgainstTruth } from './truth.js';

/** Lets the source's lease lapse now, as time would: the test's way to skip waiting for it. */
export async function expireLease(db: TestDatabase, source: string): Promise<void> {
  const moved = await db.pool.query(
    `UPDATE sutro.sync_leases SET expires_at = now() - interval '1 second' WHERE source = $1 AND expires_at > now()`,
    [source],
  );
  expect(moved.rowCount).toBe(1);
}

/**
 * Every one of the account's `jobs` once, each with one first_seen history row, none marked missing,
 * all equal to the API's `listing`: what a crash must leave behind.
 */
export async function expectExactCopy(
  db: TestDatabase,
  source: string,
  jobs: number,
  listing: readonly unknown[],
): Promise<void> {
  const facts = await db.pool.query<{ jobs: number; first_seen: number; missing: number }>(
    `SELECT count(*)::int AS jobs, count(*) FILTER (WHERE missing_since IS NOT NULL)::int AS missing,
            (SELECT count(*)::int FROM sutro.job_history h WHERE h.source = $1 AND h.change = 'first_seen') AS first_seen
       FROM sutro.jobs WHERE source = $1`,
    [source],
  );
  expect(facts.rows[0]).toEqual({ jobs, first_seen: jobs, missing: 0 });
  expect(await diffAgainstTruth(db.pool, source, listing)).toEqual([]);
}
