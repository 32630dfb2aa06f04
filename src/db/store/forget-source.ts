import type { Database } from '../infra/connect.js';
import { TABLE_CONFIGS } from '../schema/table-list.js';

/**
 * The lease row outlives its source: its fencing token must keep rising, or a process still holding
 * an old token could match a new lease of the same number (see lease.ts).
 */
const KEPT_WHEN_FORGOTTEN = new Set(['sync_leases']);

/**
 * Every table of the schema with a `source` column, but the lease: what forgetting a source empties.
 * Read from the schema, so that a table added later is forgotten with the rest without anyone
 * remembering to list it. full_pass_seen is keyed by run, and goes with the source's runs.
 */
export const TABLES_OF_A_SOURCE: readonly string[] = TABLE_CONFIGS.filter((table) =>
  table.columns.some((column) => column.name === 'source'),
)
  .map((table) => table.name)
  .filter((name) => !KEPT_WHEN_FORGOTTEN.has(name));

/**
 * Deletes everything stored for a source: the demo starts each tour from an empty account. Not while
 * a run holds the source: its lease row is locked first, so none can start meanwhile.
 */
export function forgetSource(db: Database, source: string): Promise<void> {
  return db.transaction({ what: `forgetting source "${source}"` }, async (client) => {
    const lease = await client.query<{ holder: string | null; live: boolean }>(
      'SELECT holder, expires_at > now() AS live FROM sutro.sync_leases WHERE source = $1 FOR UPDATE',
      [source],
    );
    const held = lease.rows[0];
    if (held?.live === true && held.holder !== null) {
      throw new Error(
        `source "${source}" is being synced right now (held by ${held.holder}); try again once that run is over`,
      );
    }
    await client.query(
      'DELETE FROM sutro.full_pass_seen WHERE pass_run_id IN (SELECT id FROM sutro.sync_runs WHERE source = $1)',
      [source],
    );
    for (const table of TABLES_OF_A_SOURCE) {
      await client.query(`DELETE FROM sutro.${table} WHERE source = $1`, [source]);
    }
  });
}
