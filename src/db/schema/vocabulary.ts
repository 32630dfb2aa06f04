import { TERMINAL_JOB_STATUSES } from '../../sutro/job-fields.js';

/**
 * The words the database stores where a column holds one of a few values: each list is declared
 * once in TypeScript (the run's vocabulary in sync/port.ts, the job's terminal statuses in
 * sutro/job-fields.ts, the history's change kinds here), and the schema turns it into a CHECK
 * constraint and the SQL that tests for it. CHECKs rather than enum types: a migration that adds a
 * word is an ordinary ALTER in its own transaction, where a new enum value cannot be used in the
 * transaction that adds it.
 */

/** A row of sutro.job_history records a job's first sighting or a change of a tracked field. */
export const HISTORY_CHANGES = ['first_seen', 'changed'] as const;
export type HistoryChange = (typeof HISTORY_CHANGES)[number];

/** The terminal statuses in which no cost will come: settled as they are. */
export const ENDED_WITHOUT_RESULT = TERMINAL_JOB_STATUSES.filter((status) => status !== 'SUCCEEDED');

/** `'a', 'b'`: a list of words as SQL literals, for IN (…). The words are the constants above. */
export const sqlList = (words: readonly string[]): string =>
  words.map((word) => `'${word.replaceAll("'", "''")}'`).join(', ');
