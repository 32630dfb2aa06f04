import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { grantReader } from '../../src/db/infra/grants.js';
import { registerSources } from '../../src/db/store/schedule.js';
import { SimulatedAccount, startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import { runSync } from '../../src/sync/engine.js';
import { createTestDatabase, silentLog, type TestDatabase } from '../helpers/database.js';
import {
  ALL_VALUE,
  expandGrafanaSql,
  resolveTimeRange,
  type TimeRange,
  type VariableValue,
} from '../helpers/grafana-macros.js';
import { LEASE_SECONDS } from '../helpers/limits.js';
import { TEST_API_KEY, testApi } from '../helpers/sync.js';

/**
 * Every query the Grafana dashboards of the `bi` profile send (docker/grafana/dashboards/*.json):
 * expanded as Grafana expands them, run as a reader role made by grantReader (as Grafana's data
 * source connects), and each panel's figures compared with the views, read as the owner, of a
 * database synced from the simulator.
 *
 * Grafana does not set the session's time zone, so the panels get whatever the server or the role
 * has: every query runs in a UTC session and in one far from UTC, and must show the same figures.
 * And each runs with the dashboard's $source at All, at two of the database's three sources, and
 * at one: every panel must show the chosen sources' figures, and only theirs.
 *
 * Longer than most files: the figure checks of each panel sit beside the collection of the panels
 * and the one synced database they all read, so that a panel without a check fails here.
 */

const DAY_MS = 86_400_000;
const DASHBOARD_DIR = new URL('../../docker/grafana/dashboards/', import.meta.url);
const DATASOURCE_FILE = new URL('../../docker/grafana/provisioning/datasources/sutro.yaml', import.meta.url);
const DATASOURCE_UID = /^\s*uid:\s*(\S+)\s*$/m.exec(readFileSync(DATASOURCE_FILE, 'utf8'))?.[1];
const POSTGRES_TYPES = new Set(['grafana-postgresql-datasource', 'postgres']);
const ZONES = ['UTC', 'America/Los_Angeles'];
/**
 * When the dashboards are looked at, and the simulated API's clock: 06:00 UTC two days ago. At that
 * hour both ends of the range fall on another day in Los Angeles than in UTC, so a panel whose days
 * follow the session's time zone shows other figures there.
 */
const NOW = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - 2 * DAY_MS + 6 * 3_600_000);
/** A range holding every job with a creation time, to compare the panels with the all-time views. */
const ALL_TIME: TimeRange = { from: new Date('2000-01-01T00:00:00Z'), to: NOW };

// ---------------------------------------------------------------------------------------------
// The dashboards' queries

interface DataSourceRef {
  readonly type?: string;
  readonly uid?: string;
}

interface Target {
  readonly refId?: string;
  readonly datasource?: DataSourceRef | string | null;
  readonly rawSql?: string;
  readonly format?: string;
}

interface Panel {
  readonly id?: number;
  readonly type?: string;
  readonly title?: string;
  readonly datasource?: DataSourceRef | string | null;
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
  readonly libraryPanel?: unknown;
}

interface Variable {
  readonly name: string;
  readonly type: string;
  readonly datasource?: DataSourceRef | string | null;
  readonly query?: string | { readonly rawSql?: string; readonly query?: string };
  readonly multi?: boolean;
  readonly includeAll?: boolean;
  readonly allValue?: string | null;
}

interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly time: { readonly from: string; readonly to: string };
  readonly panels?: readonly Panel[];
  readonly templating?: { readonly list?: readonly Variable[] };
}

interface PanelQuery {
  readonly dashboard: Dashboard;
  /** The panel's title; with the refId when the panel has more than one query. */
  readonly name: string;
  readonly sql: string;
  readonly format: 'table' | 'time_series';
}

interface VariableSpec {
  readonly dashboard: Dashboard;
  readonly name: string;
  readonly multi: boolean;
  readonly includeAll: boolean;
  readonly allValue?: string | null;
  /** The query of a query variable; the others have their values in the dashboard. */
  readonly sql?: string;
  readonly values: readonly string[];
}

const dashboards: Dashboard[] = readdirSync(DASHBOARD_DIR)
  .filter((file) => file.endsWith('.json'))
  .map((file) => JSON.parse(readFileSync(new URL(file, DASHBOARD_DIR), 'utf8')) as Dashboard);

/** Absent means the default data source, which provisioning makes the sutro one. */
function isSutro(ref: DataSourceRef | string | null | undefined): boolean {
  if (ref === undefined || ref === null) return true;
  return typeof ref === 'object' && POSTGRES_TYPES.has(ref.type ?? '') && ref.uid === DATASOURCE_UID;
}

const queries: PanelQuery[] = [];
const variables: VariableSpec[] = [];
/** What a dashboard holds that this file cannot run, each named. */
const unchecked: string[] = [];

function collectPanels(dashboard: Dashboard, panels: readonly Panel[]): void {
  for (const panel of panels) {
    const title = panel.title ?? `panel #${panel.id ?? '?'}`;
    const where = `${dashboard.title}: "${title}"`;
    if (panel.libraryPanel !== undefined)
      unchecked.push(`${where} is a library panel, kept outside the file`);
    collectPanels(dashboard, panel.panels ?? []);
    const targets = panel.targets ?? [];
    for (const target of targets) {
      const refId = target.refId ?? '?';
      const name = targets.length > 1 ? `${title} [${refId}]` : title;
      if (!isSutro(target.datasource ?? panel.datasource)) {
        unchecked.push(`${where} ${refId} queries ${JSON.stringify(target.datasource ?? panel.datasource)}`);
      } else if (typeof target.rawSql !== 'string' || target.rawSql.trim() === '') {
        unchecked.push(`${where} ${refId} has no raw SQL`);
      } else if (target.format !== 'table' && target.format !== 'time_series') {
        unchecked.push(
          `${where} ${refId} has format ${JSON.stringify(target.format)}, not table or time_series`,
        );
      } else {
        queries.push({ dashboard, name, sql: target.rawSql, format: target.format });
      }
    }
  }
}

for (const dashboard of dashboards) {
  collectPanels(dashboard, dashboard.panels ?? []);
  for (const variable of dashboard.templating?.list ?? []) {
    const where = `${dashboard.title}: variable $${variable.name}`;
    const includeAll = Boolean(variable.includeAll);
    const multi = Boolean(variable.multi) || includeAll;
    const all = { includeAll, allValue: variable.allValue };
    const text = typeof variable.query === 'string' ? variable.query : undefined;
    const sql =
      text ??
      (typeof variable.query === 'object' ? (variable.query.rawSql ?? variable.query.query) : undefined);
    if (variable.type === 'query' && isSutro(variable.datasource) && sql !== undefined) {
      variables.push({ dashboard, name: variable.name, multi, ...all, sql, values: [] });
    } else if (variable.type === 'custom' && text !== undefined) {
      variables.push({
        dashboard,
        name: variable.name,
        multi,
        ...all,
        values: text.split(',').map((v) => v.trim()),
      });
    } else if ((variable.type === 'constant' || variable.type === 'textbox') && text !== undefined) {
      variables.push({ dashboard, name: variable.name, multi: false, includeAll: false, values: [text] });
    } else {
      unchecked.push(`${where} of type ${variable.type} has no value this file can give it`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The database, synced from three simulated accounts

type Row = Record<string, unknown>;

/** A row of sutro.daily_usage with a day, as text: the figures the panels must show. */
interface UsageRow {
  readonly day: string;
  readonly model: string | null;
  readonly [column: string]: string | null;
}

let db: TestDatabase;
const simulators: RunningSimulator[] = [];
const roles: string[] = [];
let readerUrl: URL;
let usage: UsageRow[];
/** Jobs each source's API listed: what sync_health must count. */
const listedJobs = new Map<string, number>();

async function sync(sim: RunningSimulator, source: string) {
  const result = await runSync(
    { store: db.store, api: testApi(sim, 100), log: silentLog },
    { source, mode: 'full', trigger: 'cli', safetyMarginSeconds: 600, leaseSeconds: LEASE_SECONDS },
  );
  if (result.skipped) throw new Error(result.reason);
  return result;
}

async function simulate(jobs: number, seed: number, quirks = true): Promise<RunningSimulator> {
  const account = new SimulatedAccount({ jobs, seed, days: 60, retentionDays: 90, quirks, now: NOW });
  const sim = await startSimulator({ account, apiKey: TEST_API_KEY, port: 0 });
  simulators.push(sim);
  return sim;
}

beforeAll(async () => {
  db = await createTestDatabase();
  // The side account is synced first, and its second run fails: the freshness panels then have a
  // stalest source to find and a failure to show.
  // A third account, without the quirks (its rows all valid), so that two sources of three are a
  // choice of $source other than All.
  const side = await simulate(200, 77);
  const main = await simulate(800, 4243);
  const third = await simulate(150, 9001, false);
  main.account.insertRaw(5, { status: 'RUNNING', model: 'llama-3.1-8b' });
  expect(await sync(side, 'side')).toMatchObject({ status: 'succeeded' });
  expect(await sync(main, 'main')).toMatchObject({ status: 'succeeded' });
  expect(await sync(third, 'third')).toMatchObject({ status: 'succeeded' });
  side.faults.add({ kind: 'status', status: 401 }, 1);
  expect(await sync(side, 'side')).toMatchObject({ status: 'failed' });
  // A source a worker has scheduled and not synced yet (just added to the sources file): $source
  // offers it, and the panels show it without data.
  const schedule = {
    schedule: '*/15 * * * *',
    fullSchedule: '17 3 * * *',
    followingRunAt: NOW,
    thenRunAt: NOW,
    followingFullAt: NOW,
    thenFullAt: NOW,
  };
  await registerSources(db, [{ source: 'waiting', ...schedule }], () => NOW);
  for (const [source, sim] of [
    ['side', side],
    ['main', main],
    ['third', third],
  ] as const) {
    listedJobs.set(source, sim.account.snapshot().filter((raw) => typeof raw.job_id === 'string').length);
  }

  usage = (
    await db.pool.query<UsageRow>(
      `SELECT source, day::text AS day, model, jobs::text, num_rows::text, input_tokens::text,
              output_tokens::text, total_tokens::text, cost_usd::text, cost_estimate_usd::text,
              jobs_with_cost::text
         FROM sutro.daily_usage WHERE day IS NOT NULL`,
    )
  ).rows;

  const role = `sutro_grafana_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  roles.push(role);
  // What `sutro-sync grant-reader` does, as the role that ran the migrations.
  expect(await grantReader(db, role)).toMatchObject({
    readOnlyByDefault: true,
    warnings: [],
  });
  readerUrl = new URL(db.url);
  readerUrl.username = role;
  readerUrl.password = password;
});

afterAll(async () => {
  await Promise.all(simulators.map((s) => s.close()));
  await db.drop();
  // Only now that the database holding their grants is gone can the roles be dropped.
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  await admin.end();
});

// ---------------------------------------------------------------------------------------------
// The figures each panel must show, from the views as the owner reads them

const midnight = (day: string) => Date.parse(`${day}T00:00:00Z`);
/**
 * The days a panel over `range` covers: those whose first instant (UTC) lies in it, as bars are
 * drawn; of the chosen sources, or of all.
 */
const usageIn = (range: TimeRange, sources?: readonly string[]) =>
  usage.filter(
    (r) =>
      midnight(r.day) >= range.from.getTime() &&
      midnight(r.day) <= range.to.getTime() &&
      (sources === undefined || sources.includes(r.source ?? '')),
  );
const total = (rows: readonly UsageRow[], column: string) =>
  rows.reduce((sum, r) => sum + Number(r[column]), 0);
const modelName = (model: unknown) => (typeof model === 'string' ? model : '(none)');

function dashboardRange(dashboard: Dashboard): TimeRange {
  return resolveTimeRange(dashboard.time, NOW);
}

async function viewRows<T extends Row = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db.pool.query<T>(sql, params)).rows;
}

function expectOneFigure(name: string, rows: readonly Row[], column: string, expected: number): void {
  expect(rows, `${name}: a stat of one row`).toHaveLength(1);
  expect(rows[0]?.[column], `${name}: ${column}`).toBeCloseTo(expected, 6);
}

/** Compares a table of figures per model (or source) with figures of the same names, row by row. */
function expectPerKey(name: string, key: string, rows: readonly Row[], expected: Map<string, Row>): void {
  expect(rows.map((r) => modelName(r[key])).sort(), `${name}: its ${key}s`).toEqual(
    [...expected.keys()].sort(),
  );
  for (const { [key]: which, ...figures } of rows) {
    const want = expected.get(modelName(which)) ?? {};
    for (const [column, value] of Object.entries(figures)) {
      expect(column in want, `${name}: column ${column} has no figure in the views to compare with`).toBe(
        true,
      );
      expect(value, `${name}: ${column} of ${modelName(which)}`).toBeCloseTo(Number(want[column]), 6);
    }
  }
}

/** Sums the figures of usage rows by one of their columns (model, source). */
function sumBy(key: 'model' | 'source', rows: readonly UsageRow[]): Map<string, Row> {
  const byKey = new Map<string, Row>();
  for (const row of rows) {
    const into = byKey.get(modelName(row[key])) ?? {};
    for (const [column, value] of Object.entries(row)) {
      if (column !== 'model' && column !== 'day' && column !== 'source')
        into[column] = Number(into[column] ?? 0) + Number(value);
    }
    byKey.set(modelName(row[key]), into);
  }
  return byKey;
}

interface PanelCheck {
  readonly name: string;
  readonly dashboard: Dashboard;
  /** The sources the dashboard's $source stands for: the chosen ones, or every one for All. */
  readonly sources: readonly string[];
  /** The panel's query, expanded for `range`, as the reader in the session's time zone. */
  readonly run: (range: TimeRange) => Promise<Row[]>;
}

const CHECKS: Record<string, (panel: PanelCheck) => Promise<void>> = {
  'Spend in the period (USD)': async ({ name, dashboard, sources, run }) => {
    const range = dashboardRange(dashboard);
    expectOneFigure(name, await run(range), 'USD', total(usageIn(range, sources), 'cost_usd'));
  },

  'Jobs in the period': async ({ name, dashboard, sources, run }) => {
    const range = dashboardRange(dashboard);
    expectOneFigure(name, await run(range), 'jobs', total(usageIn(range, sources), 'jobs'));
  },

  'Since the last successful sync': async ({ name, dashboard, sources, run }) => {
    // The age grows while the test runs: it must lie between the stalest source's before and after.
    const stalest = `SELECT max(seconds_since_last_success)::float8 AS age FROM sutro.sync_health WHERE source = ANY($1)`;
    const [before] = await viewRows(stalest, [sources]);
    const rows = await run(dashboardRange(dashboard));
    const [after] = await viewRows(stalest, [sources]);
    expect(rows, `${name}: a stat of one row`).toHaveLength(1);
    expect(rows[0]?.age, `${name}: age`).toBeGreaterThanOrEqual(Number(before?.age));
    expect(rows[0]?.age, `${name}: age`).toBeLessThanOrEqual(Number(after?.age));
  },

  'Rejected rows': async ({ name, dashboard, sources, run }) => {
    const rejected = await viewRows<{ source: string; n: number }>(
      'SELECT source, rejected_rows::int AS n FROM sutro.sync_health ORDER BY source',
    );
    expect(
      rejected.map((r) => [r.source, r.n]),
      'sync_health: the malformed row the main account lists',
    ).toEqual([
      ['main', 1],
      ['side', 0],
      ['third', 0],
    ]);
    const chosen = rejected.filter((r) => sources.includes(r.source)).reduce((sum, r) => sum + r.n, 0);
    expectOneFigure(name, await run(dashboardRange(dashboard)), 'rows', chosen);
  },

  'Spend per model per day (USD)': async ({ name, dashboard, sources, run }) => {
    const range = dashboardRange(dashboard);
    const expected = new Map<string, number>();
    for (const row of usageIn(range, sources)) {
      const key = `${new Date(midnight(row.day)).toISOString()} ${modelName(row.model)}`;
      expected.set(key, (expected.get(key) ?? 0) + Number(row.cost_usd));
    }
    const rows = await run(range);
    const points = new Map(
      rows.map((r) => [`${(r.time as Date).toISOString()} ${String(r.metric)}`, r.value]),
    );
    expect([...points.keys()].sort(), `${name}: one bar per UTC day and model`).toEqual(
      [...expected.keys()].sort(),
    );
    expect(points.size, `${name}: no day and model twice`).toBe(rows.length);
    for (const [key, value] of expected) expect(points.get(key), `${name}: ${key}`).toBeCloseTo(value, 6);
  },

  'Per model in the period': async ({ name, dashboard, sources, run }) => {
    const range = dashboardRange(dashboard);
    const rows = await run(range);
    expectPerKey(name, 'model', rows, sumBy('model', usageIn(range, sources)));
    const costs = rows.map((r) => Number(r.cost_usd));
    expect(costs, `${name}: the costliest model first`).toEqual([...costs].sort((a, b) => b - a));

    // Over all time the table is sutro.model_usage, but for the jobs without a creation time, which
    // no time range holds.
    const models = sumBy(
      'model',
      await viewRows<UsageRow>(
        `SELECT model, jobs::text, input_tokens::text, output_tokens::text, cost_usd::text
           FROM sutro.model_usage WHERE source = ANY($1)
         UNION ALL
         SELECT model, (-count(*))::text, (-coalesce(sum(input_tokens), 0))::text,
                (-coalesce(sum(output_tokens), 0))::text, (-coalesce(sum(job_cost), 0))::text
           FROM sutro.job_facts WHERE day IS NULL AND source = ANY($1) GROUP BY model`,
        [sources],
      ),
    );
    const dated = new Map([...models].filter(([, figures]) => Number(figures.jobs) !== 0));
    expectPerKey(`${name}, over all time`, 'model', await run(ALL_TIME), dated);
  },

  'Per source in the period': async ({ name, dashboard, sources, run }) => {
    const range = dashboardRange(dashboard);
    const rows = await run(range);
    const expected = sumBy('source', usageIn(range, sources));
    expectPerKey(name, 'source', rows, expected);
    expect([...expected.keys()].sort(), `${name}: the chosen sources but the one not synced yet`).toEqual(
      sources.filter((source) => source !== 'waiting').sort(),
    );
    const costs = rows.map((r) => Number(r.cost_usd));
    expect(costs, `${name}: the costliest source first`).toEqual([...costs].sort((a, b) => b - a));
  },

  'Sync health per source': async ({ name, dashboard, sources, run }) => {
    const health = `SELECT * FROM sutro.sync_health WHERE source = ANY($1) ORDER BY source`;
    const before = await viewRows(health, [sources]);
    const rows = await run(dashboardRange(dashboard));
    const after = await viewRows(health, [sources]);
    expect(
      rows.map((r) => r.source),
      `${name}: one row per chosen source synced at least once`,
    ).toEqual(sources.filter((source) => source !== 'waiting').sort());
    expect(
      (await viewRows(`SELECT * FROM sutro.sync_health ORDER BY source`)).map((r) => [
        r.source,
        Number(r.jobs),
        Number(r.rejected_rows),
        r.last_run_status,
      ]),
      'sync_health, against what was synced',
    ).toEqual([
      ['main', listedJobs.get('main'), 1, 'succeeded'],
      ['side', listedJobs.get('side'), 0, 'failed'],
      ['third', listedJobs.get('third'), 0, 'succeeded'],
    ]);
    rows.forEach((row, i) => {
      const [earlier, later] = [before[i] ?? {}, after[i] ?? {}];
      for (const [column, value] of Object.entries(row)) {
        if (column === 'age_s') {
          // Rounded seconds since the last success, between the view's before and after.
          expect(Number(value), `${name}: age_s of ${String(row.source)}`).toBeGreaterThanOrEqual(
            Math.round(Number(earlier.seconds_since_last_success)),
          );
          expect(Number(value), `${name}: age_s of ${String(row.source)}`).toBeLessThanOrEqual(
            Math.round(Number(later.seconds_since_last_success)),
          );
        } else {
          expect(column in later, `${name}: column ${column} is not one of sutro.sync_health`).toBe(true);
          // Grafana's driver reads int8 as text, sutro-sync's pool as a number.
          const int8AsText = (v: unknown) => (typeof v === 'number' ? String(v) : v);
          expect(value, `${name}: ${column} of ${String(row.source)}`).toEqual(int8AsText(later[column]));
        }
      }
    });
  },
};

// ---------------------------------------------------------------------------------------------
// What the panels are run with

/**
 * The choices of $source every panel is checked with: All (Grafana's "$__all", which becomes every
 * option), two of the three sources, and one. Any other variable keeps All, or all its values.
 */
const SELECTIONS: readonly { readonly name: string; readonly source: readonly string[] }[] = [
  { name: 'All', source: [ALL_VALUE] },
  { name: 'main and third', source: ['main', 'third'] },
  { name: 'side alone', source: ['side'] },
];
const SOURCES = ['main', 'side', 'third', 'waiting'];

/** A variable's values for a selection: its options as the reader found them, and what is chosen. */
function chosen(
  variable: VariableSpec,
  options: readonly string[],
  selection: (typeof SELECTIONS)[number],
): VariableValue {
  const values =
    variable.name === 'source'
      ? selection.source
      : variable.includeAll
        ? [ALL_VALUE]
        : variable.multi
          ? options
          : options.slice(0, 1);
  return {
    name: variable.name,
    multi: variable.multi,
    values,
    options,
    ...(variable.allValue !== undefined ? { allValue: variable.allValue } : {}),
  };
}

/** The sources a selection stands for. */
function sourcesOf(selection: (typeof SELECTIONS)[number], options: readonly string[]): readonly string[] {
  return selection.source[0] === ALL_VALUE ? options : selection.source;
}

// ---------------------------------------------------------------------------------------------

describe('the dashboards', () => {
  it('hold only queries this file can run: raw SQL of the provisioned sutro data source', () => {
    expect(DATASOURCE_UID, 'the uid in provisioning/datasources/sutro.yaml').toBeDefined();
    expect(queries.length, 'dashboard queries found').toBeGreaterThan(0);
    expect(unchecked, 'what the dashboards hold that this file cannot run').toEqual([]);
  });

  it('have each panel checked against the views below', () => {
    const names = queries.map((q) => q.name);
    expect(
      names.filter((n) => CHECKS[n] === undefined),
      'panels without a check in CHECKS',
    ).toEqual([]);
    expect(
      Object.keys(CHECKS).filter((n) => !names.includes(n)),
      'checks of panels no dashboard has',
    ).toEqual([]);
  });

  it('look at a period that holds some of the jobs, but not all', () => {
    for (const dashboard of dashboards) {
      const period = usageIn(dashboardRange(dashboard));
      expect(total(period, 'jobs'), dashboard.title).toBeGreaterThan(0);
      expect(total(period, 'jobs'), dashboard.title).toBeLessThan(total(usage, 'jobs'));
    }
  });

  it('have a $source of several values with All, which every panel is filtered by', () => {
    for (const dashboard of dashboards) {
      const source = variables.find((v) => v.dashboard === dashboard && v.name === 'source');
      expect(source, `${dashboard.title}: a variable $source`).toMatchObject({
        multi: true,
        includeAll: true,
      });
      // A custom all value would stand for something else than the sources the list offers.
      expect(source?.allValue ?? null, `${dashboard.title}: $source's All is its options`).toBeNull();
      for (const query of queries.filter((q) => q.dashboard === dashboard))
        expect(query.sql, `${query.name}: filtered by $source`).toMatch(/\bsource IN \(\$\{source\}\)/);
    }
  });

  it("expand $source's All as Grafana does: every option, or nothing when there is none", () => {
    const range = dashboardRange(dashboards[0] as Dashboard);
    const all = (options: string[]): VariableValue => ({
      name: 'source',
      multi: true,
      values: [ALL_VALUE],
      options,
    });
    const sql = 'SELECT 1 WHERE source IN (${source})';
    expect(expandGrafanaSql(sql, { range, variables: [all(['main', "O'Brien"])] })).toBe(
      "SELECT 1 WHERE source IN ('main','O''Brien')",
    );
    expect(expandGrafanaSql(sql, { range, variables: [all([])] })).toBe('SELECT 1 WHERE source IN ()');
    expect(
      expandGrafanaSql(sql, { range, variables: [{ ...all(['main']), allValue: "'*'" }] }),
      'a custom all value goes in as it is',
    ).toBe("SELECT 1 WHERE source IN ('*')");
    expect(() =>
      expandGrafanaSql(sql, { range, variables: [{ name: 'source', multi: false, values: [ALL_VALUE] }] }),
    ).toThrow(/no "All" option/);
  });
});

describe.each(ZONES)('as the reader role, in a session in %s', (zone) => {
  let reader: pg.Pool;
  /** The options of each variable, as its query finds them when every variable before it is at All. */
  const options = new Map<VariableSpec, readonly string[]>();

  beforeAll(async () => {
    reader = new pg.Pool({ connectionString: readerUrl.toString(), options: `-c TimeZone=${zone}`, max: 2 });
    // In the dashboard's order, as Grafana resolves them: a variable's query may use those before it.
    for (const variable of variables) {
      let found = variable.values;
      if (variable.sql !== undefined) {
        const sql = expandGrafanaSql(variable.sql, {
          range: dashboardRange(variable.dashboard),
          variables: valuesFor(variable.dashboard, SELECTIONS[0] as (typeof SELECTIONS)[number]),
        });
        const result = await reader.query<Row>(sql).catch((error: Error) => {
          throw new Error(`variable $${variable.name} of ${variable.dashboard.title}: ${error.message}`);
        });
        found = result.rows.map((r) => String(r.__value ?? Object.values(r)[0]));
      }
      if (found.length === 0)
        throw new Error(`variable $${variable.name} has no value to run the panels with`);
      options.set(variable, [...new Set(found)]);
    }
  });

  afterAll(async () => {
    await reader.end();
  });

  /** The variables of a dashboard whose options are known by now, as a selection sets them. */
  function valuesFor(dashboard: Dashboard, selection: (typeof SELECTIONS)[number]): VariableValue[] {
    return variables
      .filter((v) => v.dashboard === dashboard && options.has(v))
      .map((v) => chosen(v, options.get(v) ?? [], selection));
  }

  function sourceOptions(dashboard: Dashboard): readonly string[] {
    const source = variables.find((v) => v.dashboard === dashboard && v.name === 'source');
    return (source && options.get(source)) ?? [];
  }

  async function runPanel(
    query: PanelQuery,
    range: TimeRange,
    selection: (typeof SELECTIONS)[number],
  ): Promise<Row[]> {
    const sql = expandGrafanaSql(query.sql, { range, variables: valuesFor(query.dashboard, selection) });
    const result = await reader.query<Row>(sql).catch((error: Error) => {
      throw new Error(`panel "${query.name}" of ${query.dashboard.title} fails: ${error.message}\n${sql}`);
    });
    if (query.format === 'time_series') {
      // Grafana turns a long frame into series only with a time column in ascending order.
      const times = result.rows.map((r) => (r.time instanceof Date ? r.time.getTime() : Number.NaN));
      expect(times.every(Number.isFinite), `${query.name}: a "time" column of timestamps`).toBe(true);
      expect(times, `${query.name}: rows in ascending time`).toEqual([...times].sort((a, b) => a - b));
    }
    return result.rows;
  }

  it('offers in $source every source of the database, in order', () => {
    for (const dashboard of dashboards) expect(sourceOptions(dashboard), dashboard.title).toEqual(SOURCES);
  });

  it('runs the query of every panel, with every choice of $source', async () => {
    const failures: string[] = [];
    for (const selection of SELECTIONS) {
      for (const query of queries) {
        await runPanel(query, dashboardRange(query.dashboard), selection).catch((error: Error) =>
          failures.push(`$source at ${selection.name}: ${error.message}`),
        );
      }
    }
    expect(failures, 'panels whose query fails as the reader').toEqual([]);
  });

  describe.each(SELECTIONS.map((s) => [s.name, s] as const))('with $source at %s', (_, selection) => {
    it.each(queries.map((q) => [q.name, q] as const))(
      '"%s" shows what the views hold',
      async (name, query) => {
        const check = CHECKS[name];
        if (check === undefined) throw new Error(`panel "${name}" has no check of its figures in CHECKS`);
        await check({
          name,
          dashboard: query.dashboard,
          sources: sourcesOf(selection, sourceOptions(query.dashboard)),
          run: (range) => runPanel(query, range, selection),
        });
      },
    );
  });

  it('is still refused every write', async () => {
    const writes = [
      `UPDATE sutro.sync_state SET last_error = 'from grafana'`,
      `DELETE FROM sutro.jobs`,
      `CREATE TABLE sutro.grafana_notes (note text)`,
    ];
    const client = await reader.connect();
    try {
      for (const sql of writes) {
        // Read-only by default (25006), and without the privilege even when it asks to write (42501).
        await expect(client.query(sql), sql).rejects.toMatchObject({ code: '25006' });
        await client.query('BEGIN READ WRITE');
        await expect(client.query(sql), sql).rejects.toMatchObject({ code: '42501' });
        await client.query('ROLLBACK');
      }
    } finally {
      client.release();
    }
  });
});
