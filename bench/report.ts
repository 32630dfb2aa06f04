/** Plain-text tables for the terminal. */

export type Cell = string | number | null;

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '' : integer.format(n);
}

export function formatSeconds(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  const s = ms / 1000;
  return s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s.toFixed(2);
}

export function formatRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return '';
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}x`;
}

export function formatMb(mb: number | null | undefined): string {
  return mb === null || mb === undefined ? '' : mb.toFixed(0);
}

/** Columns right-aligned except the first; a header rule under the header. */
export function table(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = (c: Cell) => (c === null ? '' : String(c));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i] ?? null).length)));
  const line = (cells: readonly Cell[]) =>
    cells
      .map((c, i) => (i === 0 ? text(c).padEnd(widths[i] ?? 0) : text(c).padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
