/** Plain-text tables for the terminal commands (status, demo, report). */
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
