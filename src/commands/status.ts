import { readSourcesOverview, readStatus, type RunRow, type SourceOverview } from '../db/read/status.js';
import { formatTable } from '../format.js';
import { openDatabase, type CommandContext } from '../runtime.js';
import { EXIT } from './exit-codes.js';

export interface StatusOptions {
  readonly json?: boolean;
  readonly runs: number;
  readonly source?: string;
}

/** The schema drift of a run, for `status`: empty when its jobs matched the API reference. */
function driftLine(run: RunRow | undefined): string {
  if (run === undefined) return '';
  const parts = [
    run.jobs_in_legacy_shape > 0 ? `${run.jobs_in_legacy_shape} jobs in the legacy shape` : null,
    run.jobs_with_unknown_fields > 0
      ? `${run.jobs_with_unknown_fields} jobs with fields the API reference does not name (${run.unknown_fields.join(', ')}; kept in raw)`
      : null,
    run.jobs_with_missing_fields > 0
      ? `${run.jobs_with_missing_fields} jobs without ${run.missing_fields.join(', ')} (stored as null)`
      : null,
  ].filter((part) => part !== null);
  return parts.length === 0 ? '' : `schema drift in run ${run.id}: ${parts.join('; ')}`;
}

function ago(seconds: number | null): string {
  if (seconds === null) return 'never';
  const s = Math.max(0, Math.round(seconds));
  return s < 120
    ? `${s} s ago`
    : s < 7_200
      ? `${Math.round(s / 60)} min ago`
      : `${Math.round(s / 3_600)} h ago`;
}

/** The table of every source: its freshness, who runs it, when it runs next, its last error. */
function overviewLines(overview: readonly SourceOverview[], anyConfigured: boolean): string[] {
  if (overview.length === 0) return ['no source is configured, and none has data in this database yet'];
  // Without a configuration (status needs none), no source is "dropped": each simply has data.
  const dropped = anyConfigured ? overview.filter((o) => !o.configured).map((o) => o.source) : [];
  return [
    `sources: ${overview.length}${dropped.length > 0 ? ` (not in the configuration, their data kept: ${dropped.join(', ')})` : ''}`,
    formatTable(
      overview.map((o) => ({
        source: o.source,
        last_success: ago(o.seconds_since_last_success),
        running: o.holder === null ? '' : `run ${o.run_id ?? '(starting)'} on ${o.holder}`,
        next_due: o.next_due_at?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '',
        failures: o.failures ?? '',
        jobs: o.jobs,
        last_error:
          o.last_error === null
            ? ''
            : o.last_error.length > 80
              ? `${o.last_error.slice(0, 79)}…`
              : o.last_error,
      })),
    ),
  ];
}

/**
 * `sutro-sync status`: every source in one table (configured, or with data here), and the details of
 * one (the checkpoint, the lease, the stored jobs, what was said about its data, the last runs):
 * the one `--source` names, or the only one there is.
 */
export async function runStatus(
  { config, log, secrets }: CommandContext,
  options: StatusOptions,
): Promise<number> {
  const database = await openDatabase(config, log, { migrate: false, secrets });
  // Errors stored before redaction existed may still hold a credential an API echoed back.
  const print = (text: string) => process.stdout.write(`${secrets.redact(text)}\n`);
  try {
    const configured = config.sources.map((source) => source.name);
    const overview = await readSourcesOverview(database, configured);
    const only =
      configured.length === 1
        ? configured[0]
        : configured.length === 0 && overview.length === 1
          ? overview[0]?.source
          : undefined;
    const source = options.source ?? config.sourceSetting ?? only;
    const report = source === undefined ? null : await readStatus(database, source, options.runs);
    if (options.json) {
      print(JSON.stringify({ ...report, sources: overview }, null, 2));
      return EXIT.ok;
    }
    const head = [`database: ${database.displayUrl}`, ...overviewLines(overview, configured.length > 0)];
    if (report === null) {
      print([...head, '', 'details of one source: sutro-sync status --source NAME'].join('\n'));
      return EXIT.ok;
    }
    const s = report.state;
    const lease = report.lease;
    const lines = [
      `source: ${report.source}`,
      `last success: ${s?.last_success_at?.toISOString() ?? 'never'}    last full pass: ${s?.last_full_pass_at?.toISOString() ?? 'never'}`,
      s?.resume_cursor
        ? `unfinished full pass: continues at page ${s.resume_pages}`
        : 'no unfinished full pass',
      s?.last_error ? `last error (${s.last_error_at?.toISOString() ?? ''}): ${s.last_error}` : '',
      lease?.holder
        ? `running: run ${lease.run_id ?? '(starting)'} held by ${lease.holder}, lease ${lease.expires_in_seconds > 0 ? `expires in ${Math.ceil(lease.expires_in_seconds)} s unless renewed` : `expired ${Math.floor(-lease.expires_in_seconds)} s ago (its holder stopped; the next run takes over)`}`
        : '',
      driftLine(report.runs[0]),
      '',
      'jobs by status:',
      formatTable(report.jobsByStatus),
      `rejected rows: ${report.rejected}${report.rejected > report.rejectedRows.length ? `, the ${report.rejectedRows.length} seen last:` : ''}`,
      ...(report.rejectedRows.length === 0
        ? []
        : [formatTable(report.rejectedRows, ['job_id', 'times_seen', 'last_seen_at', 'reason'])]),
      '',
      // Said once, when a run first met them; here for as long as they are stored.
      `said once about the data (sutro.notices): ${report.noticeCount}${report.noticeCount > report.notices.length ? `, the ${report.notices.length} newest:` : ''}`,
      ...(report.notices.length === 0
        ? []
        : [formatTable(report.notices, ['kind', 'subject', 'detail', 'first_seen_at', 'runs_seen'])]),
      '',
      'recent runs:',
      formatTable(report.runs, [
        'id',
        'mode',
        'trigger',
        'status',
        'started_at',
        'pages',
        'jobs_seen',
        'jobs_inserted',
        'jobs_updated',
        'jobs_unchanged',
        'jobs_rejected',
        'stop_reason',
      ]),
    ];
    print([...head, '', ...lines.filter((l, i) => l !== '' || i > 5)].join('\n'));
    return EXIT.ok;
  } finally {
    await database.close();
  }
}
