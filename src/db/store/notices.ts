import type { Lease, Notice } from '../../sync/port.js';
import type { Database } from '../infra/connect.js';
import { fencedTransaction } from './lease.js';

/**
 * Records what a run met (sync/port.ts's Notice) and returns what no run of the source had met
 * before: the run says those, and only those. `xmax = 0` tells a row inserted now from one updated.
 */
const RECORD_NOTICES = `
INSERT INTO sutro.notices AS n (source, kind, subject, detail, first_run_id, last_run_id)
SELECT DISTINCT ON (kind, subject) $1, kind, subject, detail, $2, $2
  FROM jsonb_to_recordset($3::jsonb) AS i(kind text, subject text, detail text)
ON CONFLICT (source, kind, subject) DO UPDATE SET
  detail = excluded.detail, last_run_id = excluded.last_run_id, last_seen_at = now(),
  runs_seen = n.runs_seen + 1
RETURNING n.kind, n.subject, n.detail, (n.xmax = 0) AS is_new`;

export function recordNotices(
  db: Database,
  lease: Lease,
  runId: number,
  notices: readonly Notice[],
): Promise<Notice[]> {
  if (notices.length === 0) return Promise.resolve([]);
  return fencedTransaction(db, lease, 'recording what the run met', async (client) => {
    const { rows } = await client.query<Notice & { is_new: boolean }>(RECORD_NOTICES, [
      lease.source,
      runId,
      JSON.stringify(notices),
    ]);
    return rows.filter((row) => row.is_new).map(({ kind, subject, detail }) => ({ kind, subject, detail }));
  });
}
