import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgetSource, TABLES_OF_A_SOURCE } from '../../src/db/store/forget-source.js';
import { SimulatedAccount } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { Simulators, syncOnce } from '../helpers/sync.js';

/**
 * Forgetting a source (the demo's reset) empties every table keyed by source, the rollups included,
 * and leaves every other source as it was. The list of tables comes from the schema, so a table added
 * with a source column is forgotten with the rest.
 */

let db: TestDatabase;
const sims = new Simulators();
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await sims.closeAll();
  await db.drop();
});

async function rowsOf(source: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TABLES_OF_A_SOURCE) {
    const result = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sutro.${table} WHERE source = $1`,
      [source],
    );
    counts[table] = result.rows[0]?.n ?? -1;
  }
  return counts;
}

describe('forgetSource', () => {
  it('covers every table of the database with a source column but the lease', async () => {
    const live = await db.pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.columns c
        WHERE table_schema = 'sutro' AND column_name = 'source'
          AND EXISTS (SELECT 1 FROM information_schema.tables t
                       WHERE t.table_schema = 'sutro' AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE')
        ORDER BY 1`,
    );
    expect([...TABLES_OF_A_SOURCE].sort()).toEqual(
      live.rows.map((row) => row.table_name).filter((name) => name !== 'sync_leases'),
    );
    expect(TABLES_OF_A_SOURCE).toEqual(expect.arrayContaining(['usage_rollup', 'run_time_rollup']));
  });

  it('empties every one of them for the source, and leaves the other sources whole', async () => {
    const sim = await sims.start(new SimulatedAccount({ jobs: 300, seed: 5 }));
    await syncOnce(db.store, sim, 'forgotten', { mode: 'full' });
    await syncOnce(db.store, sim, 'kept', { mode: 'full' });
    const kept = await rowsOf('kept');
    expect((await rowsOf('forgotten')).usage_rollup).toBeGreaterThan(0);

    await forgetSource(db, 'forgotten');

    expect(Object.values(await rowsOf('forgotten'))).toEqual(TABLES_OF_A_SOURCE.map(() => 0));
    expect(await rowsOf('kept')).toEqual(kept);
    const sightings = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sutro.full_pass_seen',
    );
    expect(sightings.rows[0]?.n).toBe(0);
    // The lease stays, so that its token keeps rising across the forgetting.
    const lease = await db.pool.query("SELECT 1 FROM sutro.sync_leases WHERE source = 'forgotten'");
    expect(lease.rowCount).toBe(1);
  });

  it('refuses while a run holds the source', async () => {
    const taken = await db.store.acquireLease({ source: 'busy', holder: 'elsewhere:1:aa', seconds: 60 });
    expect('lease' in taken).toBe(true);
    await expect(forgetSource(db, 'busy')).rejects.toThrow(
      /being synced right now \(held by elsewhere:1:aa\)/,
    );
  });
});
