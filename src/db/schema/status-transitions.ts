/**
 * What a status transition is, in SQL, for the places that need it: the view that lists them and the
 * index it reads (views.ts, schema.ts), the page write that stores when a job entered its previous
 * status (page-write.ts), and migration 0010, which stored it for the history written before.
 *
 * A history row is a transition when it is a job's first sighting or its status differs from the
 * one before; rows that record a cost or a time arriving without a status change are not.
 */
export const isTransition = (row: string) =>
  `(${row}.change = 'first_seen' OR ${row}.status IS DISTINCT FROM ${row}.previous_status)`;

/**
 * When the row's status began: sutro.changed_at (migration 0005) of the row's own columns, those of
 * `row` or, without it, unqualified as an index on job_history holds them. The index and the view
 * must compute the same expression, or the planner cannot use one for the other.
 */
export const changedAt = (row?: string) => {
  const column = (name: string) => (row === undefined ? name : `${row}.${name}`);
  const columns = [
    'status',
    'change',
    'datetime_created',
    'datetime_started',
    'datetime_completed',
    'observed_at',
  ];
  return `sutro.changed_at(${columns.map(column).join(', ')})`;
};

/**
 * When the job `jobId` of `source` entered the status of its latest transition (before the history
 * row `beforeId`, when given): one probe of job_history_job_idx, newest first.
 */
export const latestTransitionAt = (source: string, jobId: string, beforeId?: string) => `(
    SELECT ${changedAt('t')} FROM sutro.job_history t
    WHERE t.source = ${source} AND t.job_id = ${jobId}${beforeId === undefined ? '' : ` AND t.id < ${beforeId}`}
      AND ${isTransition('t')}
    ORDER BY t.id DESC
    LIMIT 1)`;

/**
 * Migration 0010's backfill, verbatim (a test keeps the two equal): each transition row written
 * before the column existed gets the time its job entered the status it left.
 */
export const BACKFILL_PREVIOUS_STATUS_CHANGED_AT = `UPDATE sutro.job_history h
SET previous_status_changed_at = ${latestTransitionAt('h.source', 'h.job_id', 'h.id')}
WHERE h.change <> 'first_seen' AND h.status IS DISTINCT FROM h.previous_status`;
