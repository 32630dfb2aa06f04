import { sql } from 'drizzle-orm';
import { jobFieldColumns, trackedFieldColumns, tz } from './job-columns.js';
import { measureColumns, runTimeColumns, usageKeyColumns } from './rollup-columns.js';
import { MODEL_KEY } from './rollup-measures.js';
import { changedAt } from './status-transitions.js';
import { TERMINAL_JOB_STATUSES } from '../../sutro/job-fields.js';
import { NOTICE_KINDS, RUN_MODES, RUN_STATUSES, RUN_TRIGGERS, STOP_REASONS } from '../../sync/port.js';
import { ENDED_WITHOUT_RESULT, HISTORY_CHANGES, sqlList } from './vocabulary.js';
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgSchema,
  primaryKey,
  smallint,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/**
 * The database's tables and indexes; the analysts' views are in views.ts. drizzle-kit generates the
 * migrations in drizzle/ from the two (`npm run db:generate`), and CI checks that it finds nothing
 * left to generate. The SQL that reads and writes these tables is in the other modules of src/db,
 * one concern each.
 */
export const sutro = pgSchema('sutro');

/** `column IN ('a', 'b')`: the CHECK constraint of a column that holds one of a list of words. */
const oneOf = (column: string, words: readonly string[]) => sql.raw(`${column} IN (${sqlList(words)})`);

/**
 * Settled = nothing about the job will change: a terminal status, and for SUCCEEDED also the cost
 * and completion time the API fills in after the status flips. It is stored so that the partial
 * index below finds the unsettled few among millions.
 */
const SUCCEEDED: (typeof TERMINAL_JOB_STATUSES)[number] = 'SUCCEEDED';
const SETTLED = sql.raw(
  `(status IN (${sqlList(ENDED_WITHOUT_RESULT)}) OR (status = '${SUCCEEDED}' AND job_cost IS NOT NULL AND datetime_completed IS NOT NULL))`,
);

export const jobs = sutro.table(
  'jobs',
  {
    source: text('source').notNull(),
    ...jobFieldColumns(),
    raw: jsonb('raw').notNull(),
    settled: boolean('settled').generatedAlwaysAs(SETTLED).notNull(),
    firstSeenAt: tz('first_seen_at').notNull().defaultNow(),
    /**
     * There is deliberately no last_seen_at column: keeping one would rewrite every unchanged row on
     * every run. A job is still listed while missing_since is null; when the API last listed it is
     * derived in the job_facts view from the last complete full pass.
     */
    lastChangedAt: tz('last_changed_at').notNull().defaultNow(),
    /** Set by a complete full pass that did not list the job; cleared when it is listed again. */
    missingSince: tz('missing_since'),
    firstRunId: bigint('first_run_id', { mode: 'number' }),
    lastChangedRunId: bigint('last_changed_run_id', { mode: 'number' }),
  },
  (t) => [
    primaryKey({ columns: [t.source, t.jobId] }),
    index('jobs_created_idx').on(t.source, t.datetimeCreated),
    index('jobs_unsettled_idx')
      .on(t.source, t.datetimeCreated)
      .where(sql`NOT settled`),
    /**
     * The costliest jobs of a period: a probe per day of the period (see db/read/analytics.ts) reads each
     * day's costliest jobs first. job_facts' filters on a source and a range of days use it too.
     */
    index('jobs_day_cost_idx').using(
      'btree',
      t.source,
      sql`((datetime_created AT TIME ZONE 'UTC')::date)`,
      sql`job_cost DESC NULLS LAST`,
    ),
    /**
     * The costliest jobs as a BI tool asks for them: `job_facts … WHERE day >= … ORDER BY job_cost
     * DESC NULLS LAST LIMIT 10`, read in cost order until ten pass the filter instead of every job
     * of the period. No source in the key, so that a question across sources uses it too. Its price
     * per written job is in bench/README.md (measurements behind the design).
     */
    index('jobs_cost_idx').using('btree', sql`job_cost DESC NULLS LAST`),
  ],
);

/** Append-only: one row when a job is first stored and one per change of a tracked field. */
export const jobHistory = sutro.table(
  'job_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    source: text('source').notNull(),
    jobId: text('job_id').notNull(),
    runId: bigint('run_id', { mode: 'number' }),
    observedAt: tz('observed_at').notNull().defaultNow(),
    change: text('change', { enum: HISTORY_CHANGES }).notNull(),
    changedFields: text('changed_fields').array().notNull(),
    ...trackedFieldColumns(),
    previousStatus: text('previous_status'),
    /**
     * When the job entered previous_status, on a row that changes the status: stored by the sync with
     * the row (status-transitions.ts), so that job_status_changes reads it rather than searching the
     * history once per transition, a cost that grows with the day's activity. NULL on first
     * sightings and on rows that change no status.
     */
    previousStatusChangedAt: tz('previous_status_changed_at'),
  },
  (t) => [
    check('job_history_change_check', oneOf('change', HISTORY_CHANGES)),
    index('job_history_job_idx').on(t.source, t.jobId, t.id),
    /**
     * job_status_changes is filtered by changed_at, which sutro.changed_at computes from the row's
     * own columns (views.ts); the index holds the same expression. Over every row, not only the
     * transitions: PostgreSQL keeps statistics for an expression index only when it is not partial,
     * and without them it misjudges a day's changes as a third of the history.
     */
    index('job_history_changed_at_idx').using('btree', sql.raw(changedAt())),
  ],
);

export const syncRuns = sutro.table(
  'sync_runs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    source: text('source').notNull(),
    /** An incremental run that had to page to the end becomes 'full'. */
    mode: text('mode', { enum: RUN_MODES }).notNull(),
    requestedMode: text('requested_mode', { enum: RUN_MODES }).notNull(),
    trigger: text('trigger', { enum: RUN_TRIGGERS }).notNull(),
    status: text('status', { enum: RUN_STATUSES }).notNull().default('running'),
    startedAt: tz('started_at').notNull().defaultNow(),
    finishedAt: tz('finished_at'),
    heartbeatAt: tz('heartbeat_at').notNull().defaultNow(),
    pages: integer('pages').notNull().default(0),
    jobsSeen: integer('jobs_seen').notNull().default(0),
    jobsInserted: integer('jobs_inserted').notNull().default(0),
    jobsUpdated: integer('jobs_updated').notNull().default(0),
    jobsUnchanged: integer('jobs_unchanged').notNull().default(0),
    jobsRejected: integer('jobs_rejected').notNull().default(0),
    historyRows: integer('history_rows').notNull().default(0),
    jobsMarkedMissing: integer('jobs_marked_missing').notNull().default(0),
    /** Schema drift (sync/drift.ts): jobs with fields the API reference does not name, kept in raw. */
    jobsWithUnknownFields: integer('jobs_with_unknown_fields').notNull().default(0),
    /** Jobs lacking fields of the reference, stored as null. */
    jobsWithMissingFields: integer('jobs_with_missing_fields').notNull().default(0),
    /** Jobs in the API's legacy shape (created_at for datetime_created, …), read as today's fields. */
    jobsInLegacyShape: integer('jobs_in_legacy_shape').notNull().default(0),
    unknownFields: text('unknown_fields')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    missingFields: text('missing_fields')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    stopReason: text('stop_reason', { enum: STOP_REASONS }),
    /** The run whose unfinished full pass this one continued. */
    resumedFromRunId: bigint('resumed_from_run_id', { mode: 'number' }),
    floor: tz('floor'),
    /** The due time a scheduled run served (start's replicas); started_at minus it is the scheduling lag. */
    dueAt: tz('due_at'),
    error: text('error'),
    host: text('host'),
    pid: integer('pid'),
  },
  (t) => [
    check('sync_runs_mode_check', oneOf('mode', RUN_MODES)),
    check('sync_runs_requested_mode_check', oneOf('requested_mode', RUN_MODES)),
    check('sync_runs_trigger_check', oneOf('trigger', RUN_TRIGGERS)),
    check('sync_runs_status_check', oneOf('status', RUN_STATUSES)),
    check('sync_runs_stop_reason_check', oneOf('stop_reason', STOP_REASONS)),
    index('sync_runs_source_started_idx').on(t.source, t.startedAt),
    index('sync_runs_running_idx')
      .on(t.source)
      .where(sql`status = 'running'`),
  ],
);

/** The checkpoint, one row per source. */
export const syncState = sutro.table('sync_state', {
  source: text('source').primaryKey(),
  /** Set while a full pass is unfinished: where the next run continues. */
  resumeCursor: text('resume_cursor'),
  /** The run that started the unfinished pass; its sightings are in full_pass_seen. */
  resumePassRunId: bigint('resume_pass_run_id', { mode: 'number' }),
  resumePages: integer('resume_pages').notNull().default(0),
  lastRunId: bigint('last_run_id', { mode: 'number' }),
  lastSuccessAt: tz('last_success_at'),
  lastSuccessRunId: bigint('last_success_run_id', { mode: 'number' }),
  lastFullPassAt: tz('last_full_pass_at'),
  lastError: text('last_error'),
  lastErrorAt: tz('last_error_at'),
  updatedAt: tz('updated_at').notNull().defaultNow(),
});

/**
 * Who may run a source now: one row per source, written only by the worker's role (readers get
 * SELECT), so no other role can take or hold it, and kept in ordinary rows, so it works through any
 * connection pooler. A run takes the lease when it is free or expired, renews it while it lives, and
 * every write of the run checks in its own transaction that it still holds it (lease.ts); a holder
 * that dies stops renewing, and the lease expires.
 */
export const syncLeases = sutro.table('sync_leases', {
  source: text('source').primaryKey(),
  /**
   * The fencing token: raised by one at every taking of the lease, so a process that lost the lease
   * (it expired and another took it) can no longer match it, whatever its clock or its state.
   */
  token: bigint('token', { mode: 'number' }).notNull(),
  /** host:pid:nonce of the process holding it; null once released. */
  holder: text('holder'),
  /** The run the lease serves, once started. */
  runId: bigint('run_id', { mode: 'number' }),
  acquiredAt: tz('acquired_at').notNull().defaultNow(),
  renewedAt: tz('renewed_at').notNull().defaultNow(),
  /** The lease is free from this time on (the database's clock, so host clocks cannot disagree). */
  expiresAt: tz('expires_at').notNull(),
});

/**
 * When each source is next due, in the database so that every replica of `start` agrees (see
 * store/schedule.ts). A replica claims a due source together with its lease, in one short
 * transaction, and moves the due time on as it claims it: a source runs once per due time, whichever
 * replica runs it. A run whose holder dies leaves its lease unreleased, and is claimed again as soon
 * as the lease expires.
 */
export const sourceSchedules = sutro.table('source_schedules', {
  source: text('source').primaryKey(),
  /** The next incremental run is due from this time on. */
  nextRunAt: tz('next_run_at').notNull(),
  /** The next full pass is due from this time on. */
  nextFullAt: tz('next_full_at').notNull(),
  /** The cron expressions the due times come from: a reload that changes one sets them anew. */
  schedule: text('schedule').notNull(),
  fullSchedule: text('full_schedule').notNull(),
  /** Runs in a row that failed (or whose process died): how far the next attempt is put back. */
  failures: integer('failures').notNull().default(0),
  /** While a source keeps failing, it is not claimed before this time, whatever is due. */
  retryAt: tz('retry_at'),
  /** The due time the last claim served, and when it was claimed: the scheduling lag. */
  lastDueAt: tz('last_due_at'),
  lastClaimedAt: tz('last_claimed_at'),
  updatedAt: tz('updated_at').notNull().defaultNow(),
});

/**
 * The job ids a full pass has listed so far, written with each page so that a pass resumed after a
 * crash still knows what its first pages saw when it marks the unlisted jobs missing.
 */
export const fullPassSeen = sutro.table(
  'full_pass_seen',
  {
    passRunId: bigint('pass_run_id', { mode: 'number' }).notNull(),
    jobId: text('job_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.passRunId, t.jobId] })],
);

/** The sums the analytics views read, per source, UTC day of creation, model and status (rollups.ts). */
export const usageRollup = sutro.table('usage_rollup', { ...usageKeyColumns(), ...measureColumns() }, (t) => [
  uniqueIndex('usage_rollup_key_idx').on(
    t.source,
    t.day,
    t.status,
    ...MODEL_KEY.map((expression) => sql.raw(expression)),
  ),
]);

/** Succeeded jobs per source, model and run-time bucket: the sketch of model_usage's percentiles (rollups.ts). */
export const runTimeRollup = sutro.table('run_time_rollup', runTimeColumns(), (t) => [
  uniqueIndex('run_time_rollup_key_idx').on(
    t.source,
    t.bucket,
    ...MODEL_KEY.map((expression) => sql.raw(expression)),
  ),
]);

/** Dead-letter queue: rows of a page that failed validation, once per distinct raw row. */
export const rejectedJobs = sutro.table(
  'rejected_jobs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    source: text('source').notNull(),
    jobId: text('job_id'),
    reason: text('reason').notNull(),
    raw: jsonb('raw').notNull(),
    rawHash: text('raw_hash').notNull(),
    firstRunId: bigint('first_run_id', { mode: 'number' }),
    lastRunId: bigint('last_run_id', { mode: 'number' }),
    page: integer('page'),
    firstSeenAt: tz('first_seen_at').notNull().defaultNow(),
    lastSeenAt: tz('last_seen_at').notNull().defaultNow(),
    timesSeen: integer('times_seen').notNull().default(1),
    positionOnPage: smallint('position_on_page'),
  },
  (t) => [uniqueIndex('rejected_jobs_source_hash_idx').on(t.source, t.rawHash)],
);

/**
 * What the sync has told a person about a source's data, once per kind and subject (sync/port.ts's
 * Notice says what each is): a later run that meets it again says nothing, and `status` lists them.
 */
export const notices = sutro.table(
  'notices',
  {
    source: text('source').notNull(),
    kind: text('kind', { enum: NOTICE_KINDS }).notNull(),
    subject: text('subject').notNull(),
    /** As the last run that met it put it (the fields of a scrubbed job). */
    detail: text('detail'),
    firstRunId: bigint('first_run_id', { mode: 'number' }),
    lastRunId: bigint('last_run_id', { mode: 'number' }),
    firstSeenAt: tz('first_seen_at').notNull().defaultNow(),
    lastSeenAt: tz('last_seen_at').notNull().defaultNow(),
    /** How many runs met it. */
    runsSeen: integer('runs_seen').notNull().default(1),
  },
  (t) => [
    primaryKey({ columns: [t.source, t.kind, t.subject] }),
    check('notices_kind_check', oneOf('kind', NOTICE_KINDS)),
  ],
);
