import type pg from 'pg';

/**
 * Compares sutro.jobs with the simulator's listing. The expected value of every column is read off
 * the job's raw JSON here, by rules a reader can check against the API reference in a glance, and
 * never by parseJob: the oracle must not share the code it checks. Returns the differences, empty
 * when equal.
 */

type Raw = Record<string, unknown>;

/** Legacy names the API used for the same fields (see sutro/job.ts): the oracle reads them too. */
const LEGACY: Readonly<Record<string, string>> = {
  datetime_created: 'created_at',
  datetime_completed: 'completed_at',
  job_priority: 'priority',
};

function field(raw: Raw, name: string): unknown {
  const value = raw[name] ?? (LEGACY[name] === undefined ? undefined : raw[LEGACY[name]]);
  return value === undefined || value === '' ? null : value;
}

/**
 * An ISO datetime as microseconds since the epoch, from its text: the milliseconds Date reads, plus
 * the digits past them, which PostgreSQL keeps. No offset means UTC.
 */
function micros(text: unknown): string | null {
  if (typeof text !== 'string') return null;
  const trimmed = text.trim();
  const zoned = /(Z|[+-]\d{2}(:?\d{2})?)$/i.test(trimmed) ? trimmed : `${trimmed}Z`;
  const ms = Date.parse(zoned.replace(/([+-]\d{2})$/, '$1:00'));
  const beyondMs = /\.\d{3}(\d{1,3})/.exec(trimmed)?.[1]?.padEnd(3, '0') ?? '000';
  return (BigInt(ms) * 1000n + BigInt(beyondMs)).toString();
}

/** The API's integers and decimals come as numbers or as numeric strings (the simulator's quirks). */
const scalar = (value: unknown): string =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint'
    ? String(value).trim()
    : JSON.stringify(value);
const whole = (value: unknown) => (value === null ? null : BigInt(scalar(value)).toString());
const decimal = (value: unknown) => (value === null ? null : scalar(value));

export async function diffAgainstTruth(
  pool: pg.Pool,
  source: string,
  truth: readonly unknown[],
): Promise<string[]> {
  const epoch = (column: string) =>
    `(extract(epoch FROM ${column}) * 1000000)::numeric(30)::text AS ${column}`;
  const rows = await pool.query<Record<string, string | null> & { raw: unknown }>(
    `SELECT job_id, status, model, ${epoch('datetime_created')}, ${epoch('datetime_started')},
            ${epoch('datetime_completed')}, job_priority::text,
            input_tokens::text, output_tokens::text, num_rows::text, job_cost::text, cost_estimate::text, raw
       FROM sutro.jobs WHERE source = $1`,
    [source],
  );
  const stored = new Map(rows.rows.map((r) => [r.job_id, r]));
  const problems: string[] = [];
  for (const listed of truth) {
    const raw = listed as Raw;
    if (typeof raw.job_id !== 'string') continue;
    const row = stored.get(raw.job_id);
    if (row === undefined) {
      problems.push(`${raw.job_id}: not stored`);
      continue;
    }
    const expected: Record<string, string | null> = {
      status: String(field(raw, 'status')).trim().toUpperCase(),
      model: (field(raw, 'model') as string | null) ?? null,
      datetime_created: micros(field(raw, 'datetime_created')),
      datetime_started: micros(field(raw, 'datetime_started')),
      datetime_completed: micros(field(raw, 'datetime_completed')),
      job_priority: whole(field(raw, 'job_priority')),
      input_tokens: whole(field(raw, 'input_tokens')),
      output_tokens: whole(field(raw, 'output_tokens')),
      num_rows: whole(field(raw, 'num_rows')),
      // numeric keeps the digits it was given, so exact decimal text must come back unchanged.
      job_cost: decimal(field(raw, 'job_cost')),
      cost_estimate: decimal(field(raw, 'cost_estimate')),
    };
    for (const [name, value] of Object.entries(expected)) {
      if (row[name] !== value)
        problems.push(`${raw.job_id}.${name}: stored ${String(row[name])}, API ${String(value)}`);
    }
    if (JSON.stringify(sortKeys(row.raw)) !== JSON.stringify(sortKeys(raw)))
      problems.push(`${raw.job_id}.raw differs`);
  }
  return problems;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}
