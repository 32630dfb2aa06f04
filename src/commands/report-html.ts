import type { ModelDaySpend, ModelSpend, UsageReport } from '../db/read/analytics.js';
import { count, usd, when } from '../format.js';

/**
 * Text that is already HTML. Only `markup` makes one, and it escapes every other value put into it,
 * so a job name from the database cannot reach the page as markup, whichever template it goes through.
 * (The tag is not called `html` because prettier would reformat the templates, and their whitespace.)
 */
class Markup {
  constructor(readonly text: string) {}
}

type Part = Markup | string | number | null | undefined | readonly Part[];

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Safe both as element text and inside a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

function render(part: Part): string {
  if (part === null || part === undefined) return '';
  if (part instanceof Markup) return part.text;
  if (typeof part === 'string' || typeof part === 'number') return escapeHtml(String(part));
  return part.map(render).join('');
}

function markup(strings: TemplateStringsArray, ...parts: Part[]): Markup {
  return new Markup(strings.reduce((out, text, i) => out + render(parts[i - 1]) + text));
}

/** Tableau 10: distinct at a glance, also in print; models beyond it get hues a golden angle apart. */
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

function color(index: number): string {
  return PALETTE[index] ?? `hsl(${Math.round((index * 137.508) % 360)} 55% 50%)`;
}

function modelName(model: string | null): string {
  return model ?? '(none)';
}

/**
 * A swatch as SVG rather than a CSS background: browsers leave backgrounds out when printing, and a
 * printed report is what finance files.
 */
function swatch(fill: string): Markup {
  return markup`<svg class="swatch" width="12" height="12" aria-hidden="true"><rect width="12" height="12" rx="2" fill="${fill}"/></svg>`;
}

/** A figure shown rounded, with its exact value beside it for whoever reads the page by machine. */
function figure(exact: string | number, shown: string, column?: string): Markup {
  const named = column === undefined ? null : markup` data-column="${column}"`;
  return markup`<td class="number"${named} data-value="${exact}">${shown}</td>`;
}

function optional(value: string | null, format: (value: string) => string): Markup {
  return value === null ? markup`<td class="number"></td>` : figure(value, format(value));
}

const CHART = { width: 960, height: 380, left: 84, right: 16, top: 16, bottom: 96 } as const;
/** About this many gridlines, at round amounts. */
const TICKS = 5;
/** At most this many day labels under the bars, so that they never overlap. */
const DAY_LABELS = 20;

function yAxis(highest: number): { step: number; ceiling: number; decimals: number } {
  if (highest <= 0) return { step: 1, ceiling: 1, decimals: 0 };
  const rough = highest / TICKS;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5].find((m) => m * magnitude >= rough) ?? 10) * magnitude;
  return {
    step,
    ceiling: step * Math.ceil(highest / step),
    decimals: Math.max(0, -Math.floor(Math.log10(step))),
  };
}

function px(n: number): string {
  return n.toFixed(2);
}

/**
 * Daily spend as stacked bars, one segment per model with spend that day, in the order of the model
 * table (the costliest at the bottom). Each bar and segment carries its amount as a <title>, which
 * browsers show on hover without any script. A segment never shrinks below one unit, so that a cent
 * on a day of thousands still has something to hover.
 */
function chart(report: UsageReport, colors: ReadonlyMap<string | null, string>): Markup {
  const { width, height, left, right, top, bottom } = CHART;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const baseline = top + plotHeight;
  const segments = new Map<string, ModelDaySpend[]>();
  for (const spend of report.daily_models) {
    if (Number(spend.cost_usd) <= 0) continue;
    segments.set(spend.day, [...(segments.get(spend.day) ?? []), spend]);
  }
  const order = [...colors.keys()];
  for (const daySegments of segments.values())
    daySegments.sort((a, b) => order.indexOf(a.model) - order.indexOf(b.model));
  const stacked = (day: string) =>
    (segments.get(day) ?? []).reduce((total, s) => total + Number(s.cost_usd), 0);
  const { step, ceiling, decimals } = yAxis(Math.max(0, ...report.daily.map((d) => stacked(d.day))));
  const amounts = new Intl.NumberFormat('en-US', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
  const y = (amount: number) => baseline - (amount / ceiling) * plotHeight;
  const slot = plotWidth / report.daily.length;
  const barWidth = slot * 0.75;
  const labelEvery = Math.ceil(report.daily.length / DAY_LABELS);

  const gridlines = Array.from({ length: Math.round(ceiling / step) + 1 }, (_, i) => {
    const at = y(i * step);
    return markup`<line class="grid" x1="${left}" x2="${width - right}" y1="${px(at)}" y2="${px(at)}"/>
<text class="tick" x="${left - 8}" y="${px(at + 4)}" text-anchor="end">${amounts.format(i * step)}</text>
`;
  });
  const bars = report.daily.map((d, i) => {
    const x = left + i * slot + (slot - barWidth) / 2;
    let stackTop = baseline;
    const rects = (segments.get(d.day) ?? []).map((s) => {
      const h = Math.max(1, (Number(s.cost_usd) / ceiling) * plotHeight);
      stackTop -= h;
      const model = s.model === null ? null : markup` data-model="${s.model}"`;
      return markup`<rect class="segment" data-day="${s.day}"${model} data-value="${s.cost_usd}" x="${px(x)}" y="${px(stackTop)}" width="${px(barWidth)}" height="${px(h)}" fill="${colors.get(s.model) ?? color(0)}"><title>${s.day}, ${modelName(s.model)}: ${usd(s.cost_usd)} USD (${count(s.jobs)} jobs)</title></rect>`;
    });
    const bar =
      rects.length === 0
        ? null
        : markup`<g class="day" data-day="${d.day}" data-value="${d.cost_usd}"><title>${d.day}: ${usd(d.cost_usd)} USD billed, ${count(d.jobs)} jobs</title>${rects}</g>
`;
    const cx = px(left + (i + 0.5) * slot);
    const label =
      i % labelEvery === 0
        ? markup`<text class="tick" x="${cx}" y="${baseline + 14}" text-anchor="end" transform="rotate(-40 ${cx} ${baseline + 14})">${d.day}</text>
`
        : null;
    return [bar, label];
  });
  const empty =
    segments.size === 0
      ? markup`<text class="empty" x="${left + plotWidth / 2}" y="${top + plotHeight / 2}" text-anchor="middle">No spend in this period</text>`
      : null;
  return markup`<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="chart-title">
<title id="chart-title">Daily spend per model in USD, ${report.since} to ${report.until}</title>
${gridlines}<line class="axis" x1="${left}" x2="${width - right}" y1="${baseline}" y2="${baseline}"/>
${bars}${empty}
<text class="axis-title" transform="rotate(-90)" x="${-(top + plotHeight / 2)}" y="18" text-anchor="middle">USD billed</text>
<text class="axis-title" x="${left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">UTC day the jobs were created</text>
</svg>`;
}

function dailyTable(report: UsageReport, models: readonly (string | null)[]): Markup {
  const spend = new Map<string, Map<string | null, ModelDaySpend>>();
  for (const s of report.daily_models)
    spend.set(s.day, (spend.get(s.day) ?? new Map<string | null, ModelDaySpend>()).set(s.model, s));
  const rows = report.daily.map((d) => {
    const cells = models.map((m) => {
      const s = spend.get(d.day)?.get(m);
      return s === undefined ? markup`<td class="number"></td>` : figure(s.cost_usd, usd(s.cost_usd));
    });
    return markup`<tr data-day="${d.day}"><td>${d.day}</td>${figure(d.jobs, count(d.jobs))}${cells}${figure(d.cost_usd, usd(d.cost_usd))}</tr>
`;
  });
  return markup`<table>
<thead><tr><th>Day</th><th class="number">Jobs</th>${models.map((m) => markup`<th class="number">${modelName(m)}</th>`)}<th class="number">USD billed</th></tr></thead>
<tbody>
${rows}</tbody>
</table>`;
}

function modelTable(report: UsageReport, colors: ReadonlyMap<string | null, string>): Markup {
  if (report.models.length === 0) return markup`<p>No jobs were created in this period.</p>`;
  const t = report.totals;
  const rows = report.models.map((m) => {
    const model = m.model === null ? null : markup` data-model="${m.model}"`;
    const uncosted = m.jobs - m.jobs_with_cost;
    return markup`<tr${model}><td class="text">${swatch(colors.get(m.model) ?? color(0))} ${modelName(m.model)}</td>${[
      figure(m.jobs, count(m.jobs), 'jobs'),
      figure(m.succeeded, count(m.succeeded), 'succeeded'),
      figure(m.failed, count(m.failed), 'failed'),
      figure(uncosted, count(uncosted), 'jobs_without_cost'),
      figure(m.input_tokens, count(m.input_tokens), 'input_tokens'),
      figure(m.output_tokens, count(m.output_tokens), 'output_tokens'),
      figure(m.cost_usd, usd(m.cost_usd), 'cost_usd'),
      figure(m.cost_estimate_usd, usd(m.cost_estimate_usd), 'cost_estimate_usd'),
    ]}</tr>
`;
  });
  const sum = (pick: (m: ModelSpend) => number) => report.models.reduce((n, m) => n + pick(m), 0);
  return markup`<table class="models">
<thead><tr><th>Model</th><th class="number">Jobs</th><th class="number">Succeeded</th><th class="number">Failed</th><th class="number">No cost yet</th><th class="number">Input tokens</th><th class="number">Output tokens</th><th class="number">USD billed</th><th class="number">Sutro's estimate (USD)</th></tr></thead>
<tbody>
${rows}</tbody>
<tfoot><tr><th>Total</th>${[
    figure(t.jobs, count(t.jobs)),
    figure(
      sum((m) => m.succeeded),
      count(sum((m) => m.succeeded)),
    ),
    figure(
      sum((m) => m.failed),
      count(sum((m) => m.failed)),
    ),
    figure(t.jobs - t.jobs_with_cost, count(t.jobs - t.jobs_with_cost)),
    figure(t.input_tokens, count(t.input_tokens)),
    figure(t.output_tokens, count(t.output_tokens)),
    figure(t.cost_usd, usd(t.cost_usd)),
    figure(t.cost_estimate_usd, usd(t.cost_estimate_usd)),
  ]}</tr></tfoot>
</table>`;
}

function topJobsTable(report: UsageReport): Markup {
  if (report.top_jobs.length === 0) return markup`<p>No job of this period has a cost yet.</p>`;
  const rows = report.top_jobs.map(
    (j) =>
      markup`<tr data-job-id="${j.job_id}"><td class="id">${j.job_id}</td><td class="text">${j.name}</td><td class="text">${modelName(j.model)}</td><td>${j.status}</td><td>${j.day}</td>${[
        optional(j.total_tokens, count),
        figure(j.cost_usd, usd(j.cost_usd), 'cost_usd'),
        optional(j.cost_estimate_usd, usd),
        optional(j.run_seconds, count),
      ]}</tr>
`,
  );
  return markup`<table class="jobs">
<thead><tr><th>Job id</th><th>Name</th><th>Model</th><th>Status</th><th>Day</th><th class="number">Tokens</th><th class="number">USD billed</th><th class="number">Sutro's estimate (USD)</th><th class="number">Run time (s)</th></tr></thead>
<tbody>
${rows}</tbody>
</table>`;
}

function freshness(report: UsageReport): Markup {
  const f = report.freshness;
  if (report.source === null) return sourcesTable(report);
  if (f === null)
    return markup`<p class="warning">No sync of source “${report.source}” has run yet: this database holds nothing from Sutro.</p>`;
  const error = f.last_error === null ? null : markup`: ${f.last_error}`;
  return markup`<dl class="freshness">
<dt>Last successful sync</dt><dd data-freshness="last_success_at">${when(f.last_success_at, f.seconds_since_last_success)}</dd>
<dt>Last full pass</dt><dd>${when(f.last_full_pass_at, f.seconds_since_last_full_pass)}</dd>
<dt>Last run</dt><dd>${f.last_run_status ?? 'none'}${error}</dd>
<dt>Stored</dt><dd>${count(f.jobs)} jobs (${count(f.listed_jobs)} still listed by the API, ${count(f.missing_jobs)} kept beyond its window), ${count(f.rejected_rows)} rejected rows</dd>
</dl>`;
}

/** Every source's share of the period and its freshness, for the report of every source. */
function sourcesTable(report: UsageReport): Markup {
  if (report.sources.length === 0)
    return markup`<p class="warning">No sync has run yet: this database holds nothing from Sutro.</p>`;
  const rows = report.sources.map(
    (
      s,
    ) => markup`<tr><td>${s.source}</td><td class="number">${count(s.jobs)}</td><td class="number">${count(s.total_tokens)}</td><td class="number">${usd(s.cost_usd)}</td><td>${when(s.last_success_at, s.seconds_since_last_success)}</td><td>${s.last_run_status ?? 'none'}${s.last_error === null ? '' : markup`: ${s.last_error}`}</td></tr>
`,
  );
  return markup`<table class="sources">
<thead><tr><th>Source</th><th class="number">Jobs</th><th class="number">Tokens</th><th class="number">USD billed</th><th>Last successful sync</th><th>Last run</th></tr></thead>
<tbody>
${rows}</tbody>
</table>`;
}

function total(name: string, exact: string | number, shown: string, label: string, note: string): Markup {
  return markup`<div class="card"><h3>${label}</h3><p class="figure" data-total="${name}" data-value="${exact}">${shown}</p><p class="note">${note}</p></div>
`;
}

const STYLE = `
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1120px; padding: 24px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 13px; font-weight: 600; color: var(--muted); margin: 0; }
.subtitle, .note, footer { color: var(--muted); }
.totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; margin-top: 20px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: var(--panel); }
.card .figure { font-size: 22px; font-weight: 600; margin: 4px 0 2px; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.card .note { margin: 0; font-size: 12px; }
.chart { width: 100%; height: auto; display: block; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { stroke: var(--ink); stroke-width: 1; }
.chart .tick { font-size: 11px; fill: var(--muted); }
.chart .axis-title { font-size: 12px; fill: var(--ink); }
.chart .empty { font-size: 16px; fill: var(--muted); }
.chart .segment { stroke: #fff; stroke-width: 0.5; }
.legend { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
.swatch { vertical-align: -1px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { font-size: 12px; color: var(--muted); font-weight: 600; }
tfoot th, tfoot td { font-weight: 600; border-bottom: none; border-top: 2px solid var(--ink); }
tbody tr:nth-child(even) { background: var(--panel); }
.number { text-align: right; white-space: nowrap; }
.id { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
td { white-space: nowrap; }
td.text { white-space: normal; overflow-wrap: anywhere; }
details { margin-top: 12px; }
summary { cursor: pointer; color: var(--muted); }
.freshness { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
.freshness dt { color: var(--muted); }
.freshness dd { margin: 0; overflow-wrap: anywhere; }
.warning { padding: 8px 12px; border-radius: 6px; background: #fff8c5; border: 1px solid #d4a72c; }
footer { margin-top: 32px; font-size: 12px; }
@media print { body { padding: 0; } section { break-inside: avoid; } details:not([open]) { display: none; } }
`;

/**
 * One self-contained page for readers of a spend report who do not use SQL: no script, no fonts,
 * no image files, nothing fetched when it opens (its Content-Security-Policy forbids it), so that it
 * can be mailed or archived and still looks the same offline. Amounts are shown to the cent, as the
 * table format shows them; every figure's exact value is in its `data-value` attribute.
 */
export function renderHtmlReport(report: UsageReport, now: Date): string {
  const t = report.totals;
  const uncosted = t.jobs - t.jobs_with_cost;
  const models = [...new Set([...report.models, ...report.daily_models].map((m) => m.model))];
  const colors = new Map(models.map((m, i) => [m, color(i)]));
  const generated = now.toISOString().replace(/\.\d+Z$/, 'Z');
  return markup`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="generator" content="sutro-sync report">
<title>Sutro spend ${report.since} to ${report.until} (${report.source ?? 'every source'})</title>
<style>${new Markup(STYLE)}</style>
</head>
<body>
<header>
<h1>Sutro spend, ${report.since} to ${report.until}</h1>
<p class="subtitle">${report.source === null ? `Every account (${report.sources.length})` : `Account “${report.source}”`}, jobs created on these UTC days. Generated ${generated} by sutro-sync from its copy of the account: see <a href="#freshness">data freshness</a>.</p>
</header>
<section class="totals" aria-label="Totals">
${total('cost_usd', t.cost_usd, usd(t.cost_usd), 'USD billed', uncosted > 0 ? `${count(uncosted)} of the jobs have no cost yet` : 'every job has its cost')}${total('cost_estimate_usd', t.cost_estimate_usd, usd(t.cost_estimate_usd), "Sutro's estimate (USD)", `for all ${count(t.jobs)} jobs`)}${total('jobs', t.jobs, count(t.jobs), 'Jobs', `${count(t.jobs_with_cost)} with a cost`)}${total('jobs_without_cost', uncosted, count(uncosted), 'Jobs with no cost yet', 'counted as 0 USD billed')}${total('total_tokens', t.total_tokens, count(t.total_tokens), 'Tokens', `${count(t.input_tokens)} in, ${count(t.output_tokens)} out`)}</section>
<section>
<h2>Daily spend per model</h2>
<figure>
${chart(report, colors)}
<figcaption><ul class="legend">${models.map((m) => markup`<li>${swatch(colors.get(m) ?? color(0))} ${modelName(m)}</li>`)}</ul></figcaption>
</figure>
<details><summary>The same as a table</summary>
${dailyTable(report, models)}
</details>
</section>
<section>
<h2>Spend per model</h2>
${modelTable(report, colors)}
</section>
<section>
<h2>The ${count(report.top_jobs.length)} costliest jobs</h2>
${topJobsTable(report)}
</section>
<section id="freshness">
<h2>Data freshness</h2>
${freshness(report)}
</section>
<footer>
<p>USD billed is the cost Sutro reported for each job; a job whose cost is not reported yet counts as 0 until it is, which is why Sutro's estimate is shown beside it. Amounts are rounded to the cent here; <code>sutro-sync report --format csv</code> gives them exact.</p>
</footer>
</body>
</html>`.text;
}
