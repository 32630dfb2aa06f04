import pg from 'pg';
import { LeaseLostError, type Lease, type LeaseHolder } from '../../sync/port.js';
import type { Database } from '../infra/connect.js';
import type { RowOf } from '../schema/rows.js';
import type { syncLeases } from '../schema/tables.js';
import { type DatabaseError, SQLSTATE } from '../infra/errors.js';

/**
 * Run ownership: one run per source at a time, across processes, machines and connection poolers.
 * The lease is a row of sutro.sync_leases (see schema.ts), taken and renewed in short ordinary
 * transactions, so nothing depends on which server connection a pooler hands out, and only the
 * worker's role, which may write that table, can take it.
 *
 * Every write of a run opens its transaction with the fence: an UPDATE of the lease row that
 * matches only the holder's own token and renews the expiry. It locks the row until the write
 * commits, so a process taking the lease over waits for the write in flight; once the token has
 * moved on, the fence matches nothing and the write is refused. A process that lost its lease
 * (paused, partitioned, its lease expired and taken) can therefore never write another page, move
 * the checkpoint or mark jobs missing, whatever it believes.
 */

const ACQUIRE = `
INSERT INTO sutro.sync_leases AS l (source, token, holder, acquired_at, renewed_at, expires_at)
VALUES ($1, 1, $2, now(), now(), now() + make_interval(secs => $3))
ON CONFLICT (source) DO UPDATE
   SET token = l.token + 1, holder = excluded.holder, run_id = NULL,
       acquired_at = now(), renewed_at = now(), expires_at = excluded.expires_at
 WHERE l.expires_at <= now()
RETURNING token`;

const READ_HOLDER = `
SELECT holder, run_id, extract(epoch FROM expires_at - now())::float8 AS expires_in
  FROM sutro.sync_leases WHERE source = $1`;

/**
 * Takes the source's lease if nobody holds it or its holder let it expire; otherwise says who holds
 * it. A holder busy writing a page keeps the row locked: waiting lock_timeout for it would only
 * delay the answer, so that too counts as held.
 */
export async function acquireLease(
  db: Database,
  request: { source: string; holder: string; seconds: number },
): Promise<{ lease: Lease } | { heldBy: LeaseHolder }> {
  try {
    const token = await db.transaction(
      { what: `taking the lease of source "${request.source}"` },
      async (client) => {
        const taken = await client.query<Pick<RowOf<typeof syncLeases>, 'token'>>(ACQUIRE, [
          request.source,
          request.holder,
          request.seconds,
        ]);
        return taken.rows[0]?.token;
      },
    );
    if (token !== undefined) return { lease: { ...request, token } };
  } catch (error) {
    if ((error as DatabaseError).code !== SQLSTATE.lockNotAvailable) throw error;
    return { heldBy: { holder: null, runId: null, expiresInSeconds: null } };
  }
  const held = await db.pool.query<
    Pick<RowOf<typeof syncLeases>, 'holder' | 'run_id'> & { expires_in: number }
  >(READ_HOLDER, [request.source]);
  const row = held.rows[0];
  return {
    heldBy: {
      holder: row?.holder ?? null,
      runId: row?.run_id ?? null,
      expiresInSeconds: row?.expires_in ?? null,
    },
  };
}

/**
 * The fence, as a statement without parameters for a transaction's prelude and epilogue (see
 * transaction.ts): it renews the lease from this moment (clock_timestamp, not the transaction's
 * start) and locks its row until the transaction ends, or matches nothing. Run again right before
 * COMMIT, it leaves a whole lease length after a write that took longer than one: while the write
 * held the row no one could take it, and at its commit the lease must not be found expired.
 */
function fenceStatement(lease: Lease): string {
  return `UPDATE sutro.sync_leases SET expires_at = clock_timestamp() + make_interval(secs => ${Math.trunc(lease.seconds)}), renewed_at = clock_timestamp()
 WHERE source = ${pg.escapeLiteral(lease.source)} AND token = ${Math.trunc(lease.token)} AND holder = ${pg.escapeLiteral(lease.holder)}`;
}

/**
 * A transaction that runs only while `lease` is held: the fence opens it (in the same round trip as
 * BEGIN), and a lost lease throws LeaseLostError before `work` writes anything.
 */
export function fencedTransaction<T>(
  db: Database,
  lease: Lease,
  what: string,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const fence = fenceStatement(lease);
  return db.transaction({ what, prelude: fence, epilogue: fence }, async (client, [fenced]) => {
    if (fenced?.rowCount !== 1) throw new LeaseLostError(lease, what);
    return work(client);
  });
}

/**
 * Renews the lease; false when it has been lost (taken over after it expired, or released). A write
 * of the run in flight holds the row and renews it at its commit, so waiting for it longer than a
 * renewal interval is pointless: the wait for the row is cut to that, and ends as a lock timeout.
 */
export async function renewLease(db: Database, lease: Lease): Promise<boolean> {
  const { limits } = db;
  const renewal = { ...limits, lockTimeoutMs: Math.min(limits.lockTimeoutMs, (lease.seconds * 1000) / 3) };
  try {
    await db.transaction(
      {
        what: `renewing the lease of source "${lease.source}"`,
        limits: renewal,
        prelude: fenceStatement(lease),
      },
      (_client, [fenced]) => {
        if (fenced?.rowCount !== 1) throw new LeaseLostError(lease, 'renewing the lease');
        return Promise.resolve();
      },
    );
    return true;
  } catch (error) {
    if (error instanceof LeaseLostError) return false;
    throw error;
  }
}

/** The statement that frees the lease, for the transaction that ends the run (see runs). */
export const RELEASE_LEASE = `
UPDATE sutro.sync_leases SET holder = NULL, run_id = NULL, expires_at = now()
 WHERE source = $1 AND token = $2 AND holder = $3`;

/** Frees the lease when no run was recorded to end with it; a lease already lost is left alone. */
export async function releaseLease(db: Database, lease: Lease): Promise<void> {
  await db.transaction({ what: `releasing the lease of source "${lease.source}"` }, (client) =>
    client.query(RELEASE_LEASE, [lease.source, lease.token, lease.holder]),
  );
}
