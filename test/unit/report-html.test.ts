import { describe, expect, it } from 'vitest';
import { renderHtmlReport } from '../../src/commands/report-html.js';
import type { UsageReport } from '../../src/db/read/analytics.js';
import { renderTable } from '../../src/commands/report.js';

const NOW = new Date('2026-10-04T12:00:00Z');
const HOSTILE_NAME = `<script>alert(1)</script> "quoted" & 'single'`;
const HOSTILE_MODEL = `<img src=x onerror="alert(2)">`;

function report(overrides: Partial<UsageReport> = {}): UsageReport {
  return {
    source: 'acme',
    since: '2026-10-01',
    until: '2026-10-03',
    totals: {
      jobs: 5,
      jobs_with_cost: 3,
      input_tokens: '1200000',
      output_tokens: '34567',
      total_tokens: '1234567',
      cost_usd: '1234.5678',
      cost_estimate_usd: '1300.104',
    },
    models: [
      {
        model: 'llama-3.1-8b',
        succeeded: 2,
        failed: 1,
        jobs: 3,
        jobs_with_cost: 2,
        input_tokens: '1000000',
        output_tokens: '30000',
        total_tokens: '1030000',
        cost_usd: '1234.0000',
        cost_estimate_usd: '1290.1',
      },
      {
        model: HOSTILE_MODEL,
        succeeded: 1,
        failed: 0,
        jobs: 1,
        jobs_with_cost: 1,
        input_tokens: '200000',
        output_tokens: '4567',
        total_tokens: '204567',
        cost_usd: '0.5678',
        cost_estimate_usd: '10.004',
      },
      {
        model: null,
        succeeded: 0,
        failed: 0,
        jobs: 1,
        jobs_with_cost: 0,
        input_tokens: '0',
        output_tokens: '0',
        total_tokens: '0',
        cost_usd: '0',
        cost_estimate_usd: '0',
      },
    ],
    daily: [
      { day: '2026-10-01', jobs: 3, total_tokens: '1030000', cost_usd: '1000.0000' },
      { day: '2026-10-02', jobs: 0, total_tokens: '0', cost_usd: '0' },
      { day: '2026-10-03', jobs: 2, total_tokens: '204567', cost_usd: '234.5678' },
    ],
    daily_models: [
      { day: '2026-10-01', model: 'llama-3.1-8b', jobs: 3, cost_usd: '1000.0000' },
      { day: '2026-10-03', model: 'llama-3.1-8b', jobs: 0, cost_usd: '234.0000' },
      { day: '2026-10-03', model: HOSTILE_MODEL, jobs: 1, cost_usd: '0.5678' },
      { day: '2026-10-03', model: null, jobs: 1, cost_usd: '0' },
    ],
    top_jobs: [
      {
        source: 'main',
        job_id: 'job-1',
        name: HOSTILE_NAME,
        model: 'llama-3.1-8b',
        status: 'SUCCEEDED',
        day: '2026-10-01',
        input_tokens: '900000',
        output_tokens: '20000',
        total_tokens: '920000',
        cost_usd: '1000.0000',
        cost_estimate_usd: '1100.1',
        run_seconds: '3601.5',
      },
      {
        source: 'main',
        job_id: 'job-"2"',
        name: null,
        model: HOSTILE_MODEL,
        status: 'FAILED',
        day: '2026-10-03',
        input_tokens: null,
        output_tokens: null,
        total_tokens: null,
        cost_usd: '0.5678',
        cost_estimate_usd: null,
        run_seconds: null,
      },
    ],
    freshness: {
      last_success_at: new Date('2026-10-04T11:45:00Z'),
      seconds_since_last_success: 900,
      last_full_pass_at: new Date('2026-10-04T02:00:00Z'),
      seconds_since_last_full_pass: 36_000,
      last_run_status: 'failed',
      last_error: 'HTTP 502 from <gateway> & "proxy"',
      last_error_at: new Date('2026-10-04T11:50:00Z'),
      jobs: 1234,
      listed_jobs: 1200,
      missing_jobs: 34,
      rejected_rows: 2,
    },
    sources: [],
    ...overrides,
  };
}

/** The text of the element carrying `attribute` (its first such element). */
function textAt(page: string, attribute: string): string | undefined {
  const escaped = attribute.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`<[^>]*\\s${escaped}[^>]*>([^<]*)<`).exec(page)?.[1];
}

describe('renderHtmlReport', () => {
  it('escapes every string from the database, in text and in attributes', () => {
    const page = renderHtmlReport(report(), NOW);
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).not.toContain('alert(1)</script>');
    expect(page).toContain(
      '<td class="text">&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &amp; &#39;single&#39;</td>',
    );
    expect(page).toContain('data-model="&lt;img src=x onerror=&quot;alert(2)&quot;&gt;"');
    expect(page).toContain('data-job-id="job-&quot;2&quot;"');
    expect(page).toContain('HTTP 502 from &lt;gateway&gt; &amp; &quot;proxy&quot;');
    // Every attribute value is quoted, so no database string can open an attribute of its own.
    expect(page).not.toContain(`onerror="alert(2)"`);
  });

  it('references nothing outside itself: no script, no URL, a policy that forbids fetching', () => {
    const page = renderHtmlReport(report(), NOW);
    expect(page).not.toMatch(/https?:\/\//);
    expect(page).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
    expect(page).not.toMatch(/url\(|@import/i);
    const references = [...page.matchAll(/\s(?:src|href|xlink:href)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]);
    expect(references.every((r) => r?.startsWith('#'))).toBe(true);
    expect(page).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });

  it('shows the totals as the table format does, to the cent, with the exact values beside them', () => {
    const r = report();
    const page = renderHtmlReport(r, NOW);
    const table = renderTable(r, NOW);
    expect(table).toContain(
      'Total: 5 jobs, 1,234,567 tokens (1,200,000 in, 34,567 out), 1,234.57 USD billed',
    );
    expect(table).toContain('(2 of the jobs have no cost yet)');
    expect(table).toContain('add up to 1,300.10 USD');
    expect(textAt(page, 'data-total="cost_usd"')).toBe('1,234.57');
    expect(page).toContain('data-total="cost_usd" data-value="1234.5678"');
    expect(textAt(page, 'data-total="jobs"')).toBe('5');
    expect(textAt(page, 'data-total="total_tokens"')).toBe('1,234,567');
    expect(page).toContain('1,200,000 in, 34,567 out');
    expect(textAt(page, 'data-total="jobs_without_cost"')).toBe('2');
    expect(page).toContain('2 of the jobs have no cost yet');
    expect(textAt(page, 'data-total="cost_estimate_usd"')).toBe('1,300.10');
    expect(page).toContain('data-total="cost_estimate_usd" data-value="1300.104"');
  });

  it('lists every model and the costliest jobs with their figures', () => {
    const page = renderHtmlReport(report(), NOW);
    expect(textAt(page, 'data-column="cost_usd" data-value="1234.0000"')).toBe('1,234.00');
    expect(textAt(page, 'data-column="cost_usd" data-value="0.5678"')).toBe('0.57');
    expect(page).toMatch(/<tr><td class="text"><svg[^]*?<\/svg> \(none\)<\/td>/);
    const jobRows = [...page.matchAll(/<tr data-job-id="([^"]*)">/g)].map((m) => m[1]);
    expect(jobRows).toEqual(['job-1', 'job-&quot;2&quot;']);
    expect(page).toContain('<td class="number" data-value="3601.5">3,602</td>');
    expect(page).toContain('<h2>The 2 costliest jobs</h2>');
    expect(page).toContain(
      '<dt>Last successful sync</dt><dd data-freshness="last_success_at">2026-10-04T11:45:00Z (15 min ago)</dd>',
    );
    expect(page).toContain(
      '1,234 jobs (1,200 still listed by the API, 34 kept beyond its window), 2 rejected rows',
    );
  });

  it('draws one segment per day and model with spend, with its amount in a tooltip', () => {
    const page = renderHtmlReport(report(), NOW);
    const segments = [...page.matchAll(/<rect class="segment" ([^>]*)><title>([^<]*)<\/title>/g)];
    expect(segments.map((s) => s[2])).toEqual([
      '2026-10-01, llama-3.1-8b: 1,000.00 USD (3 jobs)',
      '2026-10-03, llama-3.1-8b: 234.00 USD (0 jobs)',
      '2026-10-03, &lt;img src=x onerror=&quot;alert(2)&quot;&gt;: 0.57 USD (1 jobs)',
    ]);
    expect(segments[2]?.[1]).toContain('data-value="0.5678"');
    // The day of no spend has no bar; the days with spend have their total.
    expect(
      [...page.matchAll(/<g class="day" data-day="([^"]*)" data-value="([^"]*)">/g)].map((m) => m.slice(1)),
    ).toEqual([
      ['2026-10-01', '1000.0000'],
      ['2026-10-03', '234.5678'],
    ]);
    // Round gridlines: the highest bar is 1,000.00, so steps of 200 up to it.
    const ticks = [...page.matchAll(/<text class="tick" x="76" [^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(ticks).toEqual(['0', '200', '400', '600', '800', '1,000']);
    for (const model of ['llama-3.1-8b', '(none)']) expect(page).toContain(`</svg> ${model}</li>`);
  });

  it('says so when the period has no jobs and no sync has run', () => {
    const empty = report({
      totals: { ...report().totals, jobs: 0, jobs_with_cost: 0, cost_usd: '0', cost_estimate_usd: '0' },
      models: [],
      daily: [{ day: '2026-10-01', jobs: 0, total_tokens: '0', cost_usd: '0' }],
      daily_models: [],
      top_jobs: [],
      freshness: null,
    });
    const page = renderHtmlReport(empty, NOW);
    expect(page).toContain('No spend in this period');
    expect(page).toContain('No jobs were created in this period.');
    expect(page).toContain('No job of this period has a cost yet.');
    expect(page).toContain('No sync of source “acme” has run yet');
    expect(page).not.toContain('class="segment"');
  });
});
