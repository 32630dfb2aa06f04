import type { SyncStore } from '../../sync/port.js';
import type { Database } from '../infra/connect.js';
import { planIncremental } from './incremental-plan.js';
import { acquireLease, releaseLease, renewLease } from './lease.js';
import { recordNotices } from './notices.js';
import { writePage } from './page-write.js';
import { discardPass, finishRun, readState, recoverStaleRuns, setRunMode, startRun } from './runs.js';

/**
 * The sync's storage port (sync/port.ts) on PostgreSQL. Each concern has its module: leases
 * (lease.ts), the incremental plan (incremental-plan.ts), the page write (page-write.ts), what a run
 * says once (notices.ts) and the bookkeeping of runs (runs.ts); every transaction goes through the
 * database handle.
 */
export function createSyncStore(db: Database): SyncStore {
  return {
    acquireLease: (request) => acquireLease(db, request),
    renewLease: (lease) => renewLease(db, lease),
    releaseLease: (lease) => releaseLease(db, lease),
    recoverStaleRuns: (lease) => recoverStaleRuns(db, lease),
    readState: (source) => readState(db, source),
    startRun: (lease, start) => startRun(db, lease, start),
    planIncremental: (source, options) =>
      db.transaction({ what: 'planning the incremental run', readOnly: true }, (client) =>
        planIncremental(client, source, options),
      ),
    writePage: (lease, write) => writePage(db, lease, write),
    discardPass: (lease, passRunId) => discardPass(db, lease, passRunId),
    setRunMode: (lease, runId, mode) => setRunMode(db, lease, runId, mode),
    recordNotices: (lease, runId, notices) => recordNotices(db, lease, runId, notices),
    finishRun: (lease, runId, passRunId, outcome) => finishRun(db, lease, runId, passRunId, outcome),
  };
}
