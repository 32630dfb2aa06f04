/**
 * How the commands print figures for people: plain-text tables, counts, dollars and times
 * (status, demo, report and its HTML page).
 */

/** A plain-text table, columns aligned, numbers to the right. */
export function formatTable<T extends object>(
  rows: readonly T[],
  columns?: readonly (keyof T & string)[],
): string {
  if (rows.length === 0) return '(none)';
  const keys: readonly string[] = columns ?? Object.keys(rows[0] ?? {});
  const cell = (value: unknown): string => {
    if (value === null || value === undefined) return '';
    if (value instanceof Date) return value.toISOString().replace('.000Z', 'Z');
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
      return String(value);
    return JSON.stringify(value);
  };
  const cells = rows.map((row) => keys.map((k) => cell((row as Record<string, unknown>)[k])));
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const numeric = keys.map((_, i) => cells.every((r) => r[i] === '' || /^-?[\d.,]+$/.test(r[i] ?? '')));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(keys), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

const counts = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const cents = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** Decimal text from Postgres, formatted without passing through a float. */
export function count(value: string | number): string {
  return counts.format(value as `${number}`);
}

/** USD to the cent, as every format that rounds shows it. */
export function usd(value: string): string {
  return cents.format(value as `${number}`);
}

function ago(seconds: number | null): string {
  if (seconds === null) return '';
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s ago`;
  if (s < 7_200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.floor(s / 3_600)} h ${Math.round((s % 3_600) / 60)} min ago`;
  return `${Math.floor(s / 86_400)} d ${Math.round((s % 86_400) / 3_600)} h ago`;
}

export function when(date: Date | null, seconds: number | null): string {
  return date === null ? 'never' : `${date.toISOString().replace(/\.\d+Z$/, 'Z')} (${ago(seconds)})`;
}
