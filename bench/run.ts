/**
 * `npm run bench -- [--jobs N[,N…]] [--delay-ms a,b] [--json] [--database-url URL] [--naive-max N]
 *                   [--only fetch,copy,naive,sync,dashboard,incremental] [--margin-seconds S] [--seed S]
 *                   [--rss-reference-jobs N] [--keep]
 *                   [--only sources --sources N --jobs-per-source N --concurrency 1,4,16 --replicas N
 *                    --replica-concurrency 4,16 --skip-takeover]`
 *
 * Measures sutro-sync beside its floors and a naive baseline on the same simulated account. Every
 * measured scenario runs in a child process of its own (worker.ts), the simulator in another
 * (simulator.ts), so that each peak RSS is the scenario's own and the simulator has its own core.
 * Timings are printed, never asserted. See bench/README.md for what each row means.
 *
 * One script of about 550 lines, read top to bottom: the arguments, how each scenario is measured,
 * the tables, then the run. Its parts share the arguments and the scratch database; worker.ts,
 * simulator.ts, database.ts and report.ts hold what stands alone.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { measureDashboard, type DashboardTiming } from './dashboard.js';
import {
  jobsAtOrAbove,
  Scratch,
  storedBytes,
  vacuumAnalyze,
  writesSoFar,
  type Stored,
  type Writes,
} from './database.js';
import { benchFile, Channel, forkTs, numberList, SimulatorProcess } from './ipc.js';
import { formatCount, formatMb, formatRatio, formatSeconds, table, type Cell } from './report.js';
import {
  measureSources,
  SOURCES_OPTIONS,
  sourcesSettings,
  sourcesTable,
  type SourcesResult,
} from './sources.js';
import type { RssSample, Task, TaskResult } from './worker.js';

const SCENARIOS = ['fetch', 'copy', 'naive', 'sync', 'dashboard', 'incremental', 'sources'] as const;
/** Scenarios run only when asked for by name. */
const ON_REQUEST: readonly string[] = ['dashboard', 'sources'];
type Scenario = (typeof SCENARIOS)[number];

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100000' },
    'delay-ms': { type: 'string', default: '0,20' },
    json: { type: 'boolean', default: false },
    'database-url': { type: 'string', default: 'postgresql://postgres@127.0.0.1:5432/postgres' },
    'naive-max': { type: 'string', default: '20000' },
    // dashboard adds a simulated day to the sync scenario, sources runs the service for minutes.
    only: { type: 'string', default: SCENARIOS.filter((s) => !ON_REQUEST.includes(s)).join(',') },
    // The default of SUTRO_SAFETY_MARGIN_SECONDS.
    'margin-seconds': { type: 'string', default: String(loadConfig({}).sync.safetyMarginSeconds) },
    seed: { type: 'string', default: '1' },
    'rss-reference-jobs': { type: 'string', default: '10000' },
    'concurrent-runs': { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
    ...SOURCES_OPTIONS,
  },
});

if (args.help) {
  process.stdout.write(
    'npm run bench -- [--jobs 100000[,1000000]] [--delay-ms 0,20] [--json] [--database-url URL]\n' +
      '                 [--naive-max 20000] [--only fetch,copy,naive,sync,dashboard,incremental]\n' +
      '                 [--margin-seconds S] [--seed 1] [--rss-reference-jobs 10000] [--concurrent-runs 4]\n' +
      '                 [--keep]\n' +
      '                 [--only sources --sources 200 --jobs-per-source 1000 --concurrency 1,4,16\n' +
      '                  --replicas 2 --replica-concurrency 4,16 --skip-takeover]\n',
  );
  process.exit(0);
}

const numbers = (text: string, flag: string) => numberList(text, flag, { min: 0, whole: false });

const jobCounts = numbers(args.jobs, 'jobs');
const delays = numbers(args['delay-ms'], 'delay-ms');
const naiveMax = numbers(args['naive-max'], 'naive-max')[0] ?? 20_000;
const marginSeconds = numbers(args['margin-seconds'], 'margin-seconds')[0] ?? 0;
const seed = numbers(args.seed, 'seed')[0] ?? 1;
const rssReferenceJobs = numbers(args['rss-reference-jobs'], 'rss-reference-jobs')[0] ?? 10_000;
const concurrentRuns = numbers(args['concurrent-runs'], 'concurrent-runs')[0] ?? 4;
const only = new Set(args.only.split(',').map((s) => s.trim()));
for (const name of only) {
  if (!(SCENARIOS as readonly string[]).includes(name))
    throw new Error(`--only takes ${SCENARIOS.join(', ')} (got ${name})`);
}
const wants = (scenario: Scenario) => only.has(scenario);
const say = (text: string) => process.stderr.write(`${text}\n`);

// ---------------------------------------------------------------------------------------------
// Children

/** Where the CPU went during a task: the worker, the simulator, and the rest (mostly PostgreSQL). */
interface CpuSplit {
  readonly worker: number;
  readonly simulator: number | null;
  /** The PostgreSQL backends of the worker's sessions (sync rows, server on this machine). */
  readonly postgres: number | null;
  /** Everything else the machine did: PostgreSQL's own processes, the driver, other work. */
  readonly rest: number | null;
}

/** Runs one task in a fresh worker process; `sim` is asked for its CPU time around it. */
async function measure(
  task: Task,
  sim: SimulatorProcess | null = null,
): Promise<TaskResult & { cpu: CpuSplit }> {
  const channel = new Channel(forkTs('worker.ts'));
  try {
    const simBefore = sim === null ? null : await sim.send<number>({ kind: 'cpu' });
    const result = await channel.request<TaskResult>(task);
    const simulator =
      sim === null || simBefore === null ? null : (await sim.send<number>({ kind: 'cpu' })) - simBefore;
    const postgres = (result.detail.postgresCpuSeconds as number | null | undefined) ?? null;
    const rest =
      result.machineCpuSeconds === null
        ? null
        : result.machineCpuSeconds - result.cpuSeconds - (simulator ?? 0) - (postgres ?? 0);
    return { ...result, cpu: { worker: result.cpuSeconds, simulator, postgres, rest } };
  } finally {
    channel.child.disconnect();
    await channel.exit();
  }
}

// ---------------------------------------------------------------------------------------------
// Results

interface Row {
  readonly scenario: string;
  readonly wallMs: number | null;
  readonly jobs: number;
  readonly jobsPerSecond: number | null;
  readonly peakRssMb: number | null;
  /** list-jobs requests the simulator answered. */
  readonly pagesFetched?: number;
  readonly fetchedById?: number;
  /** n_tup_ins + n_tup_upd of sutro.jobs and sutro.job_history during the run. */
  readonly rowsWritten?: Writes;
  readonly note?: string;
  readonly cpu?: CpuSplit;
  readonly detail?: Record<string, unknown>;
}

interface SuiteResult {
  readonly jobs: number;
  readonly delayMs: number;
  readonly rows: Row[];
  readonly ratios: Record<string, number | null>;
  /** The dashboard's questions, timed on the sync scenario's database after a day of hourly runs. */
  readonly dashboard?: DashboardTiming[];
  /** What the full sync's database takes on disk, after VACUUM. */
  readonly stored?: Stored;
  /** The full sync's CPU per job, in words. */
  readonly cpuPerJob?: string;
}

interface IncrementalResult {
  readonly jobs: number;
  readonly delayMs: number;
  readonly rows: (Row & { floorDepthJobs?: number; pagesBeyondFloor?: number })[];
}

const rate = (jobs: number, ms: number | null) => (ms === null || ms <= 0 ? null : (jobs * 1000) / ms);

function row(scenario: string, result: TaskResult & { cpu?: CpuSplit }, extra: Partial<Row> = {}): Row {
  return {
    scenario,
    wallMs: result.wallMs,
    jobs: result.jobs,
    jobsPerSecond: rate(result.jobs, result.wallMs),
    peakRssMb: result.peakRssMb,
    ...(result.cpu ? { cpu: result.cpu } : {}),
    detail: result.detail,
    ...extra,
  };
}

const minus = (a: Writes, b: Writes): Writes => ({ jobs: a.jobs - b.jobs, history: a.history - b.history });

/** One sync run in a worker, with the pages it fetched and the rows it wrote. */
async function syncRun(
  scenario: string,
  sim: SimulatorProcess,
  apiUrl: string,
  databaseUrl: string,
  mode: 'full' | 'incremental',
  extra: Pick<Extract<Task, { kind: 'sync' }>, 'sources' | 'rssAtJobs'> = {},
): Promise<Row> {
  const writesBefore = await writesSoFar(databaseUrl);
  const requestsBefore = await sim.requests();
  const result = await measure({ kind: 'sync', apiUrl, databaseUrl, mode, marginSeconds, ...extra }, sim);
  const requestsAfter = await sim.requests();
  const written = minus(await writesSoFar(databaseUrl), writesBefore);
  return row(scenario, result, {
    pagesFetched: requestsAfter.listJobs - requestsBefore.listJobs,
    fetchedById: requestsAfter.jobs - requestsBefore.jobs,
    rowsWritten: written,
  });
}

// ---------------------------------------------------------------------------------------------
// Scenarios

interface Floors {
  readonly copy: Row;
  readonly bulk: Row;
}

/**
 * The database floors do not depend on the API's delay, so they are measured once per account
 * size: every job is fetched and normalized once (not timed) into two files, then loaded from them.
 */
async function measureFloors(scratch: Scratch, jobs: number): Promise<Floors> {
  say(`  floors: prefetching ${formatCount(jobs)} jobs into files (not timed)…`);
  const dir = await mkdtemp(join(tmpdir(), 'sutro-bench-'));
  const sim = await SimulatorProcess.start({ jobs, seed, latencyMs: 0 });
  const { url } = sim;
  const databaseUrl = await scratch.create('floors');
  try {
    const copyFile = join(dir, 'jobs.copy');
    const bulkFile = join(dir, 'jobs.ndjson');
    await measure({ kind: 'prefetch', apiUrl: url, copyFile, bulkFile });
    say('  copy-only…');
    const copy = row('copy-only (COPY → unlogged)', await measure({ kind: 'copy', databaseUrl, copyFile }));
    say('  bulk-insert-only…');
    const bulk = row('bulk-insert-only (unlogged)', await measure({ kind: 'bulk', databaseUrl, bulkFile }));
    return { copy, bulk };
  } finally {
    await sim.close();
    await scratch.drop(databaseUrl);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Where in the full pass the RSS-over-the-pass row samples the worker's RSS: shares of the account. */
const RSS_POINTS = [0.1, 0.25, 0.5, 0.75, 1];

async function measureSuite(
  scratch: Scratch,
  jobs: number,
  delayMs: number,
  floors: Floors | null,
  rssReference: Row[] | null,
): Promise<SuiteResult> {
  const rows: Row[] = [];
  const sim = await SimulatorProcess.start({ jobs, seed, latencyMs: delayMs });
  const { url } = sim;
  try {
    let fetchRow: Row | null = null;
    if (wants('fetch')) {
      say('  fetch-only…');
      const fetched = await measure({ kind: 'fetch', apiUrl: url }, sim);
      fetchRow = row('fetch-only', fetched, { pagesFetched: fetched.pages });
      rows.push(fetchRow);
    }
    if (floors !== null) rows.push(floors.copy, floors.bulk);

    let naiveRow: Row | null = null;
    if (wants('naive')) {
      say(`  naive (first ${formatCount(Math.min(naiveMax, jobs))} jobs)…`);
      const databaseUrl = await scratch.create('naive');
      try {
        const result = await measure({ kind: 'naive', apiUrl: url, databaseUrl, maxJobs: naiveMax }, sim);
        const perJob = rate(result.jobs, result.wallMs);
        const sampled = result.jobs < jobs;
        naiveRow = {
          scenario: sampled ? `naive (${formatCount(result.jobs / 1000)}k sample)` : 'naive',
          // The whole account at the sample's rate.
          wallMs: perJob === null ? null : (jobs * 1000) / perJob,
          jobs,
          jobsPerSecond: perJob,
          peakRssMb: result.peakRssMb,
          note: sampled
            ? `est. from ${formatCount(result.jobs)} jobs in ${formatSeconds(result.wallMs)} s`
            : undefined,
          detail: { ...result.detail, sampleJobs: result.jobs, sampleWallMs: result.wallMs },
        };
        rows.push(naiveRow);
      } finally {
        await scratch.drop(databaseUrl);
      }
    }

    const ratios: Record<string, number | null> = {};
    let dashboard: DashboardTiming[] | undefined;
    let stored: Stored | undefined;
    let cpuPerJob: string | undefined;
    if (wants('sync') || wants('dashboard')) {
      const databaseUrl = await scratch.create('sync');
      try {
        say('  sutro-sync full…');
        const full = await syncRun('sutro-sync full', sim, url, databaseUrl, 'full', {
          rssAtJobs: RSS_POINTS.map((share) => Math.round(share * jobs)),
        });
        const floor = Math.max(fetchRow?.wallMs ?? 0, floors?.copy.wallMs ?? 0);
        ratios['wall / max(fetch-only, copy-only)'] =
          floor > 0 && full.wallMs !== null ? full.wallMs / floor : null;
        ratios['naive / sutro-sync'] =
          naiveRow?.wallMs != null && full.wallMs !== null ? naiveRow.wallMs / full.wallMs : null;
        ratios['wall / fetch-only'] =
          fetchRow?.wallMs != null && full.wallMs !== null ? full.wallMs / fetchRow.wallMs : null;
        if (full.cpu !== undefined) cpuPerJob = perJobCpu(full.cpu, full.jobs);
        rows.push(full);
        const samples = (full.detail?.rssSamples as RssSample[] | undefined) ?? [];
        if (samples.length > 0) {
          rows.push({
            scenario: 'sutro-sync full: RSS during the pass',
            wallMs: null,
            jobs,
            jobsPerSecond: null,
            peakRssMb: Math.max(...samples.map((sample) => sample.rssMb)),
            note: `MB at ${RSS_POINTS.map((p) => `${p * 100}%`).join('/')}: ${samples
              .map((sample) => Math.round(sample.rssMb))
              .join('/')} (heap used ${samples.map((sample) => Math.round(sample.heapUsedMb)).join('/')})`,
          });
        }
        const reference = rssReference?.[0];
        if (rssReference !== null && reference !== undefined) {
          rows.push(...rssReference);
          ratios[`peak RSS ${formatCount(jobs)} / ${formatCount(reference.jobs)} jobs`] =
            full.peakRssMb !== null && reference.peakRssMb !== null
              ? full.peakRssMb / reference.peakRssMb
              : null;
        }

        await vacuumAnalyze(databaseUrl);
        stored = await storedBytes(databaseUrl);
        say('  sutro-sync incremental, no change…');
        rows.push(await syncRun('sutro-sync incremental, no change', sim, url, databaseUrl, 'incremental'));

        // 1% of the account changes: jobs in flight finish, the rest are new arrivals (a settled job
        // below the floor does not change, and if it did only a full pass would be expected to see it).
        const changedTarget = Math.max(1, Math.round(jobs / 100));
        const finish = Math.min(20, changedTarget);
        const advanced = await sim.advance({
          seconds: 3600,
          newJobs: changedTarget - finish,
          transitions: false,
          finish,
        });
        say('  sutro-sync incremental, 1% changed…');
        rows.push({
          ...(await syncRun('sutro-sync incremental, 1% changed', sim, url, databaseUrl, 'incremental')),
          note: `${formatCount(advanced.added)} new + ${formatCount(advanced.changed)} changed`,
        });

        if (wants('dashboard')) {
          // A day of the account as a dashboard meets it: hourly runs while jobs arrive, run, finish
          // and get their costs, so that the last day's status changes are a day's worth.
          say('  dashboard: a day of hourly incremental runs…');
          let now = '';
          for (let hour = 0; hour < 24; hour += 1) {
            ({ now } = await sim.advance({ seconds: 3600 }));
            await syncRun('hourly run', sim, url, databaseUrl, 'incremental');
          }
          await vacuumAnalyze(databaseUrl);
          say('  dashboard: the questions…');
          dashboard = await measureDashboard(databaseUrl, now);
        }
      } finally {
        await scratch.drop(databaseUrl);
      }
    }
    return {
      jobs,
      delayMs,
      rows,
      ratios,
      ...(dashboard === undefined ? {} : { dashboard }),
      ...(stored === undefined ? {} : { stored }),
      ...(cpuPerJob === undefined ? {} : { cpuPerJob }),
    };
  } finally {
    await sim.close();
  }
}

/** Issue 3's figures: an incremental run after 50 new and 20 changed jobs, beside a full pass. */
async function measureIncremental(
  scratch: Scratch,
  jobs: number,
  delayMs: number,
): Promise<IncrementalResult> {
  const sim = await SimulatorProcess.start({ jobs, seed, latencyMs: delayMs });
  const { url } = sim;
  const databaseUrl = await scratch.create('incremental');
  const withDepth = async (r: Row) => {
    const floor = (r.detail?.floor as string | null | undefined) ?? null;
    if (floor === null) return r;
    const depth = await jobsAtOrAbove(databaseUrl, floor);
    return { ...r, floorDepthJobs: depth, pagesBeyondFloor: (r.pagesFetched ?? 0) - Math.ceil(depth / 100) };
  };
  try {
    say('  incremental: initial full load…');
    const rows: IncrementalResult['rows'] = [];
    rows.push(await syncRun('initial full load', sim, url, databaseUrl, 'full'));
    await vacuumAnalyze(databaseUrl);
    say('  incremental: no change…');
    rows.push(await withDepth(await syncRun('incremental, no change', sim, url, databaseUrl, 'incremental')));
    const advanced = await sim.advance({ seconds: 900, newJobs: 50, transitions: false, finish: 20 });
    say('  incremental: 50 new + 20 changed…');
    rows.push({
      ...(await withDepth(
        await syncRun('incremental, 50 new + 20 changed', sim, url, databaseUrl, 'incremental'),
      )),
      note: `${advanced.added} new + ${advanced.changed} changed`,
    });
    say('  incremental: full pass of the same data…');
    rows.push(await syncRun('full pass, same data', sim, url, databaseUrl, 'full'));
    return { jobs, delayMs, rows };
  } finally {
    await sim.close();
    await scratch.drop(databaseUrl);
  }
}

async function measureRssReference(scratch: Scratch, jobs: number): Promise<Row[]> {
  say(`  sutro-sync full at ${formatCount(jobs)} jobs (RSS reference)…`);
  const idle = await measure({ kind: 'idle' });
  const sim = await SimulatorProcess.start({ jobs, seed, latencyMs: 0 });
  const { url } = sim;
  const databaseUrl = await scratch.create('rss_reference');
  try {
    const r = await syncRun(
      `sutro-sync full, ${formatCount(jobs)} jobs (RSS ref.)`,
      sim,
      url,
      databaseUrl,
      'full',
    );
    const together: Row[] = [];
    if (concurrentRuns > 1) {
      say(`  ${concurrentRuns} sources at once, ${formatCount(jobs)} jobs each…`);
      const all = await syncRun(
        `sutro-sync full, ${concurrentRuns} sources at once`,
        sim,
        url,
        databaseUrl,
        'full',
        { sources: concurrentRuns },
      );
      const extra =
        all.peakRssMb !== null && r.peakRssMb !== null
          ? (all.peakRssMb - r.peakRssMb) / (concurrentRuns - 1)
          : null;
      together.push({
        ...all,
        note: `one process, ${formatCount(jobs)} jobs each; ${extra === null ? '?' : extra.toFixed(0)} MB per extra run`,
      });
    }
    return [
      { ...r, note: 'delay 0 ms' },
      ...together,
      {
        scenario: 'worker process, modules loaded, idle',
        wallMs: null,
        jobs: 0,
        jobsPerSecond: null,
        peakRssMb: idle.peakRssMb,
        note: 'node + tsx + the modules every row loads',
      },
    ];
  } finally {
    await sim.close();
    await scratch.drop(databaseUrl);
  }
}

/** Busy cores of the whole machine over `ms`, from /proc/stat; null where there is none. */
async function machineLoad(ms: number): Promise<number | null> {
  const busy = async () => {
    try {
      const fields = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]?.trim().split(/\s+/).slice(1);
      const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (fields ?? []).map(
        Number,
      );
      return (user + nice + system + irq + softirq + steal) / 100;
    } catch {
      return null;
    }
  };
  const before = await busy();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = await busy();
  return before === null || after === null ? null : (after - before) / (ms / 1000);
}

// ---------------------------------------------------------------------------------------------
// Output

function writesCell(w: Writes | undefined): Cell {
  return w === undefined ? null : `${formatCount(w.jobs)} + ${formatCount(w.history)}`;
}

function cpuCell(cpu: CpuSplit | undefined): Cell {
  if (cpu === undefined) return null;
  const s = (n: number | null) => (n === null ? '?' : n.toFixed(1));
  return `${s(cpu.worker)} / ${s(cpu.simulator)} / ${s(cpu.postgres)} / ${s(cpu.rest)}`;
}

/** Worker plus PostgreSQL backends, the figure issue 20 sets a bound on; `other` beside it. */
function perJobCpu(cpu: CpuSplit, jobs: number): string {
  const us = (seconds: number | null) => (seconds === null ? '?' : ((seconds * 1e6) / jobs).toFixed(0));
  const total = cpu.postgres === null ? null : cpu.worker + cpu.postgres;
  return (
    `CPU per job of the full sync: ${us(total)} µs = worker ${us(cpu.worker)} + PostgreSQL backends ` +
    `${us(cpu.postgres)} (other processes of the machine: ${us(cpu.rest)})`
  );
}

function storedLine(stored: Stored, jobs: number): string {
  const perJob = (bytes: number) => formatCount(bytes / jobs);
  return (
    `stored after the full sync (VACUUM, tables + indexes + TOAST): ${perJob(stored.all)} bytes/job ` +
    `(sutro.jobs ${perJob(stored.jobs)}, job_history ${perJob(stored.history)}, ` +
    `the rest ${perJob(stored.all - stored.jobs - stored.history)}); ${formatMb(stored.all / 2 ** 20)} MB`
  );
}

function suiteTable(suite: SuiteResult): string {
  const rows = suite.rows.map((r): Cell[] => [
    r.scenario,
    formatSeconds(r.wallMs),
    formatCount(r.jobsPerSecond),
    formatMb(r.peakRssMb),
    r.pagesFetched === undefined ? null : formatCount(r.pagesFetched),
    writesCell(r.rowsWritten),
    cpuCell(r.cpu),
    r.note ?? null,
  ]);
  const ratios = Object.entries(suite.ratios)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `  ${k}: ${formatRatio(v)}`);
  return [
    `${formatCount(suite.jobs)} jobs, page delay ${suite.delayMs} ms`,
    table(
      [
        'scenario',
        'wall s',
        'jobs/s',
        'peak RSS MB',
        'pages',
        'rows written (jobs + history)',
        'CPU s: worker/sim/pg/other',
        'note',
      ],
      rows,
    ),
    ...(ratios.length > 0 ? ['ratios (sutro-sync full):', ...ratios] : []),
    ...(suite.cpuPerJob === undefined ? [] : [suite.cpuPerJob]),
    ...(suite.stored === undefined ? [] : [storedLine(suite.stored, suite.jobs)]),
    ...(suite.dashboard === undefined
      ? []
      : [
          'dashboard after a day of hourly runs (EXPLAIN ANALYZE, planning + execution, best of 3, warm):',
          ...suite.dashboard.map(
            (d) => `  ${d.question}: ${d.bestMs.toFixed(1)} ms (${formatCount(d.rows)} rows)`,
          ),
        ]),
  ].join('\n');
}

function incrementalTable(result: IncrementalResult): string {
  const rows = result.rows.map((r): Cell[] => [
    r.scenario,
    r.pagesFetched === undefined ? null : formatCount(r.pagesFetched),
    r.floorDepthJobs === undefined ? null : formatCount(r.floorDepthJobs),
    r.pagesBeyondFloor === undefined ? null : formatCount(r.pagesBeyondFloor),
    formatSeconds(r.wallMs),
    writesCell(r.rowsWritten),
    r.note ?? null,
  ]);
  return [
    `incremental (issue 3): ${formatCount(result.jobs)} stored jobs, page delay ${result.delayMs} ms`,
    table(
      [
        'run',
        'pages',
        'jobs at/above floor',
        'pages beyond',
        'wall s',
        'rows written (jobs + history)',
        'note',
      ],
      rows,
    ),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

const scratch = new Scratch(args['database-url'], args.keep);
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  say('interrupted: dropping the scratch databases…');
  void scratch.dropAll().finally(() => process.exit(130));
});

const startedAt = new Date();
const busyCoresBefore = await machineLoad(2000);
const environment = {
  startedAt: startedAt.toISOString(),
  node: process.version,
  postgres: await scratch.serverVersion(),
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? '?',
  jobs: jobCounts,
  delaysMs: delays,
  naiveMax,
  marginSeconds,
  seed,
  scenarios: [...only],
  /** Cores other work kept busy in the two seconds before the run: anything above ~0.1 skews it. */
  busyCoresBefore,
};
say(
  `sutro-sync benchmark: node ${environment.node}, PostgreSQL ${environment.postgres}, ` +
    `${environment.cpus} CPUs (${environment.cpuModel})`,
);
if (busyCoresBefore !== null && busyCoresBefore > 0.3) {
  say(
    `warning: ${busyCoresBefore.toFixed(1)} cores were busy before the benchmark started; ` +
      'other work on this machine skews every timing below.',
  );
}

const suites: SuiteResult[] = [];
const incrementals: IncrementalResult[] = [];
const sources: SourcesResult[] = [];
let rssReference: Row[] | null = null;
// The sources scenario has its own account sizes; --jobs is the size of the others'.
const perAccount = SCENARIOS.some((s) => s !== 'sources' && wants(s));
try {
  for (const jobs of perAccount ? jobCounts : []) {
    say(`${formatCount(jobs)} jobs`);
    const floors = wants('copy') ? await measureFloors(scratch, jobs) : null;
    if (wants('sync') && rssReferenceJobs > 0 && jobs > rssReferenceJobs && rssReference === null) {
      rssReference = await measureRssReference(scratch, rssReferenceJobs);
    }
    for (const delayMs of delays) {
      say(`${formatCount(jobs)} jobs, page delay ${delayMs} ms`);
      if (wants('fetch') || wants('naive') || wants('sync') || wants('dashboard') || floors !== null) {
        const suite = await measureSuite(scratch, jobs, delayMs, floors, wants('sync') ? rssReference : null);
        suites.push(suite);
        if (!args.json) process.stdout.write(`\n${suiteTable(suite)}\n\n`);
      }
      if (wants('incremental')) {
        const result = await measureIncremental(scratch, jobs, delayMs);
        incrementals.push(result);
        if (!args.json) process.stdout.write(`\n${incrementalTable(result)}\n\n`);
      }
    }
  }
  for (const delayMs of wants('sources') ? delays : []) {
    const result = await measureSources(scratch, sourcesSettings(args, { delayMs, seed }), say);
    sources.push(result);
    if (!args.json) process.stdout.write(`\n${sourcesTable(result)}\n\n`);
  }
} finally {
  if (!interrupted) await scratch.dropAll();
}

const results = { environment, suites, incrementals, sources };
const dir = benchFile('results');
await mkdir(dir, { recursive: true });
const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
if (args.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
say(`results written to ${file}`);
for (const url of scratch.kept) say(`kept (drop it when done): ${url}`);
