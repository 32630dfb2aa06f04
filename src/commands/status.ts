import { readStatus, type RunRow } from '../db/read/status.js';
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

/** `sutro-sync status`: the checkpoint, the lease, the stored jobs and the last runs of a source. */
export async function runStatus(
  { config, log, secrets }: CommandContext,
  options: StatusOptions,
): Promise<number> {
  const source = options.source ?? config.source;
  const database = await openDatabase(config, log, { migrate: false, secrets });
  // Errors stored before redaction existed may still hold a credential an API echoed back.
  const print = (text: string) => process.stdout.write(`${secrets.redact(text)}\n`);
  try {
    const report = await readStatus(database, source, options.runs);
    if (options.json) {
      print(JSON.stringify(report, null, 2));
      return EXIT.ok;
    }
    const s = report.state;
    const lease = report.lease;
    const lines = [
      `source: ${report.source}    database: ${database.displayUrl}`,
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
    print(lines.filter((l, i) => l !== '' || i > 5).join('\n'));
    return EXIT.ok;
  } finally {
    await database.close();
  }
}
