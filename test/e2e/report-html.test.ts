import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/**
 * `report --format html` as its reader sees it: the page rendered by a real browser, with scripts
 * off and the network cut, its figures read back from the DOM and compared with `--format json`.
 * Chromium is Debian's (CHROMIUM_PATH); without it the file is skipped, except where
 * TEST_REQUIRE_CHROMIUM=1 (CI) makes that an error.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM && process.env.TEST_REQUIRE_CHROMIUM === '1')
  throw new Error(`TEST_REQUIRE_CHROMIUM=1, but there is no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);

const KEY = 'sk_test_report_html';
const SOURCE = 'report-html';
const SINCE = '2026-10-01';
const UNTIL = '2026-10-31';
/** Not a real host: the route below answers it, and any other request is refused. */
const PAGE_URL = 'http://report.invalid/report.html';
const HOSTILE_NAME = `<script>alert("name")</script> & 'quotes'`;
const HOSTILE_MODEL = `<b onmouseover="alert('model')">shiny</b>`;
const BROWSER_MS = 30_000;

const cents = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const usd = (value: string) => cents.format(value as `${number}`);
const counts = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const count = (value: string | number) => counts.format(value as `${number}`);

/** USD as an exact count of 10^-9: the simulator's amounts have at most 6 decimals. */
function nano(value: string): bigint {
  const [whole = '0', fraction = ''] = value.split('.');
  if (fraction.replace(/0+$/, '').length > 9) throw new Error(`more than 9 decimals: ${value}`);
  return BigInt(whole + fraction.padEnd(9, '0').slice(0, 9));
}

interface JsonReport {
  totals: {
    jobs: number;
    jobs_with_cost: number;
    input_tokens: string;
    output_tokens: string;
    total_tokens: string;
    cost_usd: string;
    cost_estimate_usd: string;
  };
  models: { model: string | null; jobs: number; cost_usd: string }[];
  daily: { day: string; cost_usd: string }[];
  top_jobs: { job_id: string; name: string | null; cost_usd: string }[];
  freshness: { last_success_at: string };
}

/** The little of the DOM the page functions below use (the project compiles without lib "dom"). */
interface DomElement {
  getAttribute(name: string): string | null;
  querySelector(selector: string): { textContent: string | null } | null;
}

interface Segment {
  day: string | null;
  model: string | null;
  value: string | null;
  title: string;
}

let db: TestDatabase;
let sim: RunningSimulator;
let browser: Browser;
let dir: string;

describe.skipIf(!HAVE_CHROMIUM)('report --format html in Chromium', () => {
  let json: JsonReport;
  let html: string;
  let page: Page;
  const requests: string[] = [];
  /** What Chromium says about the page: a refused load, a violation of its Content-Security-Policy. */
  const messages: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sutro-sync-report-html-'));
    db = await createTestDatabase();
    sim = await startSimulator({
      account: new SimulatedAccount({ jobs: 800, seed: 77, days: 30, now: new Date('2026-10-31T18:00:00Z') }),
      apiKey: KEY,
      port: 0,
    });
    // What a careless page would turn into markup, sent by the API: a job's name, and a model's.
    const jobs = sim.account.snapshot();
    const costliest = jobs.reduce((a, b) => (Number(b.job_cost ?? 0) > Number(a.job_cost ?? 0) ? b : a));
    sim.account.mutate(costliest.job_id, { name: HOSTILE_NAME });
    for (const job of jobs.filter((j) => j.model === 'gemma-3-12b'))
      sim.account.mutate(job.job_id, { model: HOSTILE_MODEL });
    const env = { SUTRO_API_URL: sim.url, SUTRO_API_KEY: KEY, DATABASE_URL: db.url, SUTRO_SOURCE: SOURCE };
    const sync = await runCli(['sync'], env);
    expect(sync.code, sync.stderr).toBe(0);

    const period = ['--since', SINCE, '--until', UNTIL, '--top', '10'];
    const [asJson, asHtml] = await Promise.all([
      runCli(['report', '--format', 'json', ...period], env),
      runCli(['report', '--format', 'html', ...period], env),
    ]);
    expect(asJson.code, asJson.stderr).toBe(0);
    expect(asHtml.code, asHtml.stderr).toBe(0);
    json = JSON.parse(asJson.stdout) as JsonReport;
    html = asHtml.stdout;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox'],
      timeout: BROWSER_MS,
    });
    const context = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 1280, height: 900 },
    });
    context.setDefaultTimeout(BROWSER_MS);
    page = await context.newPage();
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => messages.push(message.text()));
    await page.route('**/*', (route) =>
      route.request().url() === PAGE_URL
        ? route.fulfill({ body: html, contentType: 'text/html; charset=utf-8' })
        : route.abort('blockedbyclient'),
    );
    await page.goto(PAGE_URL, { waitUntil: 'load', timeout: BROWSER_MS });
  });

  afterAll(async () => {
    await browser?.close();
    await sim?.close();
    await db?.drop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('loads without asking the network for anything', () => {
    expect(requests).toEqual([PAGE_URL]);
    expect(messages).toEqual([]);
  });

  it('shows the totals of the JSON report, to the cent, with their exact values', async () => {
    expect(json.models.length).toBeGreaterThan(1);
    const totals = json.totals;
    const expected: [string, string | number, string][] = [
      ['cost_usd', totals.cost_usd, usd(totals.cost_usd)],
      ['cost_estimate_usd', totals.cost_estimate_usd, usd(totals.cost_estimate_usd)],
      ['jobs', totals.jobs, count(totals.jobs)],
      ['jobs_without_cost', totals.jobs - totals.jobs_with_cost, count(totals.jobs - totals.jobs_with_cost)],
      ['total_tokens', totals.total_tokens, count(totals.total_tokens)],
    ];
    for (const [name, exact, shown] of expected) {
      const figure = page.locator(`[data-total="${name}"]`);
      expect(await figure.innerText(), name).toBe(shown);
      expect(await figure.getAttribute('data-value'), name).toBe(String(exact));
    }
    const tokens = await page
      .locator('.card', { has: page.locator('[data-total="total_tokens"]') })
      .innerText();
    expect(tokens).toContain(`${count(totals.input_tokens)} in, ${count(totals.output_tokens)} out`);
  });

  it('lists the models and the costliest jobs of the JSON report, names shown as text', async () => {
    const rows = page.locator('table.models tbody tr');
    expect(await rows.count()).toBe(json.models.length);
    for (const [i, m] of json.models.entries()) {
      const row = rows.nth(i);
      expect((await row.locator('td').first().innerText()).trim()).toBe(m.model ?? '(none)');
      const cost = row.locator('[data-column="cost_usd"]');
      expect(await cost.innerText()).toBe(usd(m.cost_usd));
      expect(await cost.getAttribute('data-value')).toBe(m.cost_usd);
    }
    expect(json.models.map((m) => m.model)).toContain(HOSTILE_MODEL);

    const jobs = page.locator('tr[data-job-id]');
    expect(
      await jobs.evaluateAll((trs: DomElement[]) => trs.map((tr) => tr.getAttribute('data-job-id'))),
    ).toEqual(json.top_jobs.map((j) => j.job_id));
    for (const [i, j] of json.top_jobs.entries()) {
      const cost = jobs.nth(i).locator('[data-column="cost_usd"]');
      expect(await cost.innerText()).toBe(usd(j.cost_usd));
      expect(await cost.getAttribute('data-value')).toBe(j.cost_usd);
    }
    const named = json.top_jobs.findIndex((j) => j.name === HOSTILE_NAME);
    expect(named).toBeGreaterThanOrEqual(0);
    expect(await jobs.nth(named).locator('td').nth(1).innerText()).toBe(HOSTILE_NAME);
    // Had either name become markup, these elements would exist.
    expect(await page.locator('body script, body b, [onmouseover]').count()).toBe(0);
  });

  it('draws one segment per day and model with spend, carrying its amount', async () => {
    const drawn = await page.locator('svg.chart rect.segment').evaluateAll((rects: DomElement[]): Segment[] =>
      rects.map((r) => ({
        day: r.getAttribute('data-day'),
        model: r.getAttribute('data-model'),
        value: r.getAttribute('data-value'),
        title: r.querySelector('title')?.textContent ?? '',
      })),
    );
    const spend = await db.pool.query<{ day: string; model: string | null; cost_usd: string }>(
      `SELECT day::text AS day, model, sum(cost_usd)::text AS cost_usd
         FROM sutro.daily_usage
        WHERE source = $1 AND day BETWEEN $2::date AND $3::date
        GROUP BY day, model HAVING sum(cost_usd) > 0`,
      [SOURCE, SINCE, UNTIL],
    );
    const key = (s: { day: string | null; model: string | null }) => `${s.day} ${s.model}`;
    const byKey = (a: { day: string | null; model: string | null }, b: typeof a) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
    expect(drawn.map((s) => ({ day: s.day, model: s.model, value: s.value })).sort(byKey)).toEqual(
      spend.rows.map((s) => ({ day: s.day, model: s.model, value: s.cost_usd })).sort(byKey),
    );
    for (const s of drawn)
      expect(
        s.title.startsWith(`${s.day}, ${s.model ?? '(none)'}: ${usd(s.value ?? '')} USD (`),
        s.title,
      ).toBe(true);

    // The segments add up to the JSON report's days and models, exactly.
    const total = (segments: Segment[]) => segments.reduce((sum, s) => sum + nano(s.value ?? '0'), 0n);
    for (const d of json.daily)
      expect(total(drawn.filter((s) => s.day === d.day)), d.day).toBe(nano(d.cost_usd));
    for (const m of json.models)
      expect(total(drawn.filter((s) => s.model === m.model)), String(m.model)).toBe(nano(m.cost_usd));
    expect(await page.locator('svg.chart g.day').count()).toBe(
      json.daily.filter((d) => nano(d.cost_usd) > 0n).length,
    );
    expect((await page.locator('.legend li').allInnerTexts()).map((t) => t.trim())).toEqual(
      json.models.map((m) => m.model ?? '(none)'),
    );
  });

  it('says how fresh the data is', async () => {
    const at = json.freshness.last_success_at.replace(/\.\d+Z$/, 'Z');
    expect(await page.locator('[data-freshness="last_success_at"]').innerText()).toContain(at);
  });

  it('renders to a screenshot', async () => {
    const file = path.join(dir, 'report.png');
    await page.screenshot({ path: file, fullPage: true, timeout: BROWSER_MS });
    const png = await readFile(file);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.length).toBeGreaterThan(20_000);
  });
});
