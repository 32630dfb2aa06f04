import type { ReportFormat } from './options.js';
import { readUsageReport, type UsageReport } from '../db/read/analytics.js';
import { count, formatTable, usd, when } from '../format.js';
import type { Secrets } from '../redact.js';
import { openDatabase, type CommandContext } from '../runtime.js';
import { renderHtmlReport } from './report-html.js';

export interface ReportOptions {
  readonly since?: string;
  readonly until?: string;
  readonly format: ReportFormat;
  readonly top: number;
  readonly source?: string;
}

/** The default period: the last 30 UTC days, today included. */
const DEFAULT_DAYS = 30;
const DAY_MS = 86_400_000;
const BAR_WIDTH = 40;

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** Errors stored before redaction existed may still hold a credential an API echoed back. */
function redacted<T extends UsageReport>(report: T, secrets: Secrets): T {
  const f = report.freshness;
  const scrub = (error: string | null) => (error === null ? null : secrets.redact(error));
  return {
    ...report,
    freshness: f === null ? null : { ...f, last_error: scrub(f.last_error) },
    sources: report.sources.map((source) => ({ ...source, last_error: scrub(source.last_error) })),
  };
}

/** What a report covers, for its title: one source, or every source and how many. */
export function scope(report: UsageReport): string {
  if (report.source !== null) return `source "${report.source}"`;
  const names = report.sources.map((s) => s.source);
  return names.length === 0
    ? 'every source (none has data yet)'
    : `every source (${names.length}: ${names.length > 6 ? `${names.slice(0, 6).join(', ')}, …` : names.join(', ')})`;
}

/**
 * `sutro-sync report`: a summary of the period, read from the analytics views, for the terminal, a
 * spreadsheet or, as one HTML page, for readers who do not use SQL. Returns 'usage' for a period that
 * ends before it starts, after saying so on stderr.
 */
export async function runReport(
  { config, log, secrets }: CommandContext,
  options: ReportOptions,
): Promise<'ok' | 'usage'> {
  const today = new Date();
  const until = options.until ?? isoDay(today);
  const since = options.since ?? isoDay(new Date(Date.parse(until) - (DEFAULT_DAYS - 1) * DAY_MS));
  if (since > until) {
    process.stderr.write(`sutro-sync: the period is empty: --since ${since} is after --until ${until}\n`);
    return 'usage';
  }
  const database = await openDatabase(config, log, {
    migrate: false,
    applicationName: 'sutro-sync report',
    secrets,
  });
  // --source, SUTRO_SOURCE, or the one source of the configuration; else every source the database holds.
  const [only] = config.sources;
  const source =
    options.source ??
    config.sourceSetting ??
    (config.sources.length === 1 && only !== undefined ? only.name : null);
  const query = { source, since, until, top: options.top };
  let rendered: string;
  try {
    const report = redacted(await readUsageReport(database, query), secrets);
    rendered =
      options.format === 'json'
        ? JSON.stringify(report, null, 2)
        : options.format === 'csv'
          ? renderCsv(report)
          : options.format === 'html'
            ? renderHtmlReport(report, today)
            : renderTable(report, today);
  } finally {
    await database.close();
  }
  process.stdout.write(`${rendered}\n`);
  return 'ok';
}

/** One bar per day, in eighths of a character so that small days still show. */
function bar(value: number, max: number): string {
  if (max <= 0 || value <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * BAR_WIDTH * 8));
  return '█'.repeat(Math.floor(eighths / 8)) + (['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8] ?? '');
}

function freshnessLines(report: UsageReport): string[] {
  const f = report.freshness;
  if (report.source === null) {
    if (report.sources.length === 0) return ['  no sync of any source has run yet'];
    return report.sources.map(
      (s) =>
        `  ${s.source}: last successful sync ${when(s.last_success_at, s.seconds_since_last_success)}; ` +
        `last run ${s.last_run_status ?? 'none'}${s.last_error ? `: ${s.last_error}` : ''}`,
    );
  }
  if (f === null) return [`  no sync of source "${report.source}" has run yet`];
  return [
    `  last successful sync: ${when(f.last_success_at, f.seconds_since_last_success)}`,
    `  last full pass:       ${when(f.last_full_pass_at, f.seconds_since_last_full_pass)}`,
    `  last run:             ${f.last_run_status ?? 'none'}${f.last_error ? `: ${f.last_error}` : ''}`,
    `  stored:               ${count(f.jobs)} jobs (${count(f.listed_jobs)} still listed by the API, ` +
      `${count(f.missing_jobs)} kept beyond its window), ${count(f.rejected_rows)} rejected rows`,
  ];
}

export function renderTable(report: UsageReport, now: Date): string {
  const t = report.totals;
  const uncosted = t.jobs - t.jobs_with_cost;
  const maxDay = Math.max(0, ...report.daily.map((d) => Number(d.cost_usd)));
  const dayWidth = Math.max(...report.daily.map((d) => usd(d.cost_usd).length));
  return [
    `Usage of ${scope(report)}, ${report.since} to ${report.until} (UTC days the jobs were created), ` +
      `as of ${now.toISOString().replace(/\.\d+Z$/, 'Z')}`,
    '',
    `Total: ${count(t.jobs)} jobs, ${count(t.total_tokens)} tokens (${count(t.input_tokens)} in, ` +
      `${count(t.output_tokens)} out), ${usd(t.cost_usd)} USD billed` +
      (uncosted > 0 ? ` (${count(uncosted)} of the jobs have no cost yet)` : '') +
      `; Sutro's estimates for all ${count(t.jobs)} jobs add up to ${usd(t.cost_estimate_usd)} USD`,
    '',
    'Spend per model:',
    formatTable(
      report.models.map((m) => ({
        model: m.model ?? '(none)',
        jobs: count(m.jobs),
        succeeded: count(m.succeeded),
        failed: count(m.failed),
        input_tokens: count(m.input_tokens),
        output_tokens: count(m.output_tokens),
        cost_usd: usd(m.cost_usd),
        estimate_usd: usd(m.cost_estimate_usd),
      })),
    ),
    ...(report.source === null
      ? [
          '',
          'Spend per source:',
          formatTable(
            report.sources.map((s) => ({
              source: s.source,
              jobs: count(s.jobs),
              total_tokens: count(s.total_tokens),
              cost_usd: usd(s.cost_usd),
            })),
          ),
        ]
      : []),
    '',
    `Top ${report.top_jobs.length} jobs by cost:`,
    formatTable(
      report.top_jobs.map((j) => ({
        ...(report.source === null ? { source: j.source } : {}),
        job_id: j.job_id,
        name: j.name ?? '',
        model: j.model ?? '(none)',
        status: j.status,
        day: j.day,
        total_tokens: j.total_tokens === null ? '' : count(j.total_tokens),
        cost_usd: usd(j.cost_usd),
        estimate_usd: j.cost_estimate_usd === null ? '' : usd(j.cost_estimate_usd),
        run_seconds: j.run_seconds === null ? '' : count(j.run_seconds),
      })),
    ),
    '',
    'Daily spend (USD):',
    ...report.daily.map(
      (d) =>
        `${d.day}  ${bar(Number(d.cost_usd), maxDay).padEnd(BAR_WIDTH)}  ${usd(d.cost_usd).padStart(dayWidth)}  ` +
        `(${count(d.jobs)} jobs)`,
    ),
    '',
    'Data freshness:',
    ...freshnessLines(report),
  ].join('\n');
}

const CSV_COLUMNS = [
  'section',
  'day',
  'model',
  'job_id',
  'name',
  'status',
  'jobs',
  'input_tokens',
  'output_tokens',
  'total_tokens',
  'cost_usd',
  'cost_estimate_usd',
  'last_success_at',
  'seconds_since_last_success',
  'source',
] as const;

type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | null>>;

function csvField(value: string | number | null | undefined): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * One table in long form, so that a spreadsheet or `csvkit` reads it at once: `section` says what a
 * row is (total, model, day, top_job, source, freshness) and the columns a section has no use for are
 * empty.
 * Figures are exact, unrounded.
 */
export function renderCsv(report: UsageReport): string {
  const rows: CsvRow[] = [
    { section: 'total', ...report.totals },
    ...report.models.map((m) => ({ section: 'model', ...m, status: null })),
    ...report.daily.map((d) => ({ section: 'day', ...d })),
    ...report.top_jobs.map((j) => ({ section: 'top_job', ...j, jobs: 1 })),
    ...report.sources.map((s) => ({
      section: 'source',
      ...s,
      last_success_at: s.last_success_at?.toISOString() ?? null,
    })),
  ];
  if (report.freshness !== null) {
    rows.push({
      section: 'freshness',
      jobs: report.freshness.jobs,
      last_success_at: report.freshness.last_success_at?.toISOString() ?? null,
      seconds_since_last_success: report.freshness.seconds_since_last_success,
    });
  }
  return [
    CSV_COLUMNS.join(','),
    ...rows.map((row) => CSV_COLUMNS.map((c) => csvField(row[c])).join(',')),
  ].join('\n');
}
