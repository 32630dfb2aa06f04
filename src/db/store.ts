import type pg from 'pg';
import type { SyncStore } from '../sync/port.js';
import type { DatabaseLimits } from './errors.js';
import { planIncremental } from './incremental-plan.js';
import { acquireLease, releaseLease, renewLease } from './lease.js';
import type { Logger } from '../log.js';
import { NamedStatements } from './named-statements.js';
import { writePage } from './page-write.js';
import { discardPass, finishRun, readState, recoverStaleRuns, setRunMode, startRun } from './runs.js';
import { inTransaction } from './transaction.js';

/**
 * The sync's storage port (sync/port.ts) on PostgreSQL. Each concern has its module: leases
 * (lease.ts), the incremental plan (incremental-plan.ts), the page write (page-write.ts) and the
 * bookkeeping of runs (runs.ts); every transaction goes through transaction.ts under `limits`.
 * `log` hears once when the connection turns out not to keep prepared statements.
 */
export function createSyncStore(pool: pg.Pool, limits: DatabaseLimits, log?: Logger): SyncStore {
  const statements = new NamedStatements(log);
  return {
    acquireLease: (request) => acquireLease(pool, limits, request),
    renewLease: (lease) => renewLease(pool, limits, lease),
    releaseLease: (lease) => releaseLease(pool, limits, lease),
    recoverStaleRuns: (lease) => recoverStaleRuns(pool, limits, lease),
    readState: (source) => readState(pool, limits, source),
    startRun: (lease, start) => startRun(pool, limits, lease, start),
    planIncremental: (source, options) =>
      inTransaction(pool, { what: 'planning the incremental run', limits, readOnly: true }, (client) =>
        planIncremental(client, source, options),
      ),
    writePage: (lease, write) => writePage(pool, limits, statements, lease, write),
    discardPass: (lease, passRunId) => discardPass(pool, limits, lease, passRunId),
    setRunMode: (lease, runId, mode) => setRunMode(pool, limits, lease, runId, mode),
    finishRun: (lease, runId, passRunId, outcome) =>
      finishRun(pool, limits, lease, runId, passRunId, outcome),
  };
}
