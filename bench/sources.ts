/**
 * The `sources` scenario (issue 19): many sources in one service. The simulator serves one account
 * per source over HTTP; a sources file names them all, each with its key in a file; the real `start`
 * command syncs them into a scratch database, as one replica or several. It runs from dist/ through
 * bin/sutro-sync.js, as `npm start`, the image and systemd run it: that process, not a tsx worker,
 * is what a user deploys, and tsx's compiler would add its own memory to every peak RSS. Every figure
 * of a pass is read from what the service writes (sutro.sync_runs, sutro.sync_leases), never from
 * its logs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { BIN } from '../test/helpers/cli.js';
import { ensureFreshBuild } from '../test/helpers/fresh-build.js';
import { sourcesFolder, type SourcesFolder } from '../test/helpers/sources.js';
import type { Scratch } from './database.js';
import { accountKey, Channel, forkTs, numberList, SimulatorProcess } from './ipc.js';
import { formatCount, formatMb, formatRatio, formatSeconds, table, type Cell } from './report.js';
import type { Task, TaskResult } from './worker.js';

/** The scenario's flags, spread into run.ts's parseArgs options. */
export const SOURCES_OPTIONS = {
  sources: { type: 'string', default: '200' },
  'jobs-per-source': { type: 'string', default: '1000' },
  // One replica at each of these; then `--replicas` replicas at each of `--replica-concurrency`.
  concurrency: { type: 'string', default: '1,4,16' },
  replicas: { type: 'string', default: '2' },
  'replica-concurrency': { type: 'string', default: '4,16' },
  'skip-takeover': { type: 'boolean', default: false },
} as const;

export interface SourcesSettings {
  readonly sources: number;
  readonly jobsPerSource: number;
  readonly delayMs: number;
  readonly seed: number;
  readonly concurrencies: readonly number[];
  readonly replicas: number;
  readonly replicaConcurrencies: readonly number[];
  readonly takeover: boolean;
}

/** One pass of every source by `replicas` processes of `start` at `concurrency` runs each. */
export interface SourcesRow {
  readonly replicas: number;
  readonly concurrency: number;
  /** From the first due time to the last run's end, both as the database recorded them. */
  readonly wallMs: number;
  /** The sum of every account's fetch-only time, over the runs at once (replicas × concurrency). */
  readonly floorMs: number;
  /** From spawning the processes to the first due time: node, the modules, migrate, register. */
  readonly startupMs: number;
  /** VmHWM of each process just before it was stopped. */
  readonly peakRssMb: readonly (number | null)[];
  /** CPU seconds during the pass: the service processes, the simulator, the rest (mostly PostgreSQL). */
  readonly cpu: { readonly service: number | null; readonly simulator: number; readonly rest: number | null };
  /** started_at − due_at over the runs. */
  readonly lagP50Ms: number;
  readonly lagP95Ms: number;
  readonly lagMaxMs: number;
  /** One source's run, started to finished, median. */
  readonly runP50Ms: number;
  /** The runs' time over wall × slots: how full the slots were. */
  readonly slotsBusy: number;
  /** From a run's end to the start of the run that takes its slot, median (see PASS_FIGURES). */
  readonly handoffP50Ms: number | null;
  /** Runs each process made, by pid order of their first run. */
  readonly runsPerProcess: readonly number[];
  readonly pages: number;
}

/** kill -9 of one of two replicas mid-pass: how long until its sources run again on the other. */
export interface TakeoverResult {
  readonly concurrency: number;
  /** Sources the killed replica held: running, or claimed and about to start. */
  readonly orphans: number;
  /** Sources that had succeeded when the kill came. */
  readonly succeededAtKill: number;
  /** From the kill to the orphans' lease expiry, and to their runs' start on the other replica. */
  readonly expiryMs: readonly [min: number, max: number];
  readonly takeoverMs: readonly [min: number, max: number];
  /** From the kill to the end of the last run of a source that was not orphaned. */
  readonly othersDoneMs: number;
  readonly leaseSeconds: number;
  readonly pollSeconds: number;
}

export interface SourcesResult {
  readonly sources: number;
  readonly jobsPerSource: number;
  readonly delayMs: number;
  /** Every account fetched one after another with the project's client, in a worker process. */
  readonly fetchOnlyMs: number;
  readonly fetchOnlyPerAccountMsP50: number | null;
  readonly rows: readonly SourcesRow[];
  readonly takeover: TakeoverResult | null;
}

/** A schedule that does not fire during the benchmark: only the first pass of each source runs. */
const NEVER_IN_THE_BENCH = '0 0 1 1 *';
const POLL_MS = 250;
const PASS_TIMEOUT_MS = 20 * 60_000;
/** /proc/<pid>/stat counts CPU in clock ticks, 100 a second on Linux (USER_HZ). */
const TICKS_PER_SECOND = 100;

type Say = (text: string) => void;

const numbers = (text: string, flag: string) => numberList(text, flag, { min: 1, whole: true });

export function sourcesSettings(
  values: {
    readonly sources: string;
    readonly 'jobs-per-source': string;
    readonly concurrency: string;
    readonly replicas: string;
    readonly 'replica-concurrency': string;
    readonly 'skip-takeover': boolean;
  },
  common: { readonly delayMs: number; readonly seed: number },
): SourcesSettings {
  const one = (text: string, name: string) => numbers(text, name)[0] ?? 1;
  return {
    ...common,
    sources: one(values.sources, 'sources'),
    jobsPerSource: one(values['jobs-per-source'], 'jobs-per-source'),
    concurrencies: numbers(values.concurrency, 'concurrency'),
    replicas: one(values.replicas, 'replicas'),
    replicaConcurrencies: numbers(values['replica-concurrency'], 'replica-concurrency'),
    takeover: !values['skip-takeover'],
  };
}

// ---------------------------------------------------------------------------------------------
// Processes

/** One task in a fresh bench worker (worker.ts), as run.ts measures its rows. */
async function inWorker(task: Task): Promise<TaskResult> {
  const channel = new Channel(forkTs('worker.ts'));
  try {
    return await channel.request<TaskResult>(task);
  } finally {
    channel.child.disconnect();
    await channel.exit();
  }
}

/** A `start` process: its exit, and the end of what it wrote to stderr, for when it fails. */
interface Replica {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderrTail(): string;
}

function startReplica(env: Record<string, string>): Replica {
  const child = spawn(process.execPath, [BIN, 'start'], {
    // Only what the benchmark sets: the caller's own SUTRO_* must not leak in.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4_000);
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { child, exited, stderrTail: () => tail };
}

/** Peak RSS (VmHWM) and CPU seconds of a live process, from /proc; nulls where there is none. */
async function processFigures(pid: number): Promise<{ peakRssMb: number | null; cpuSeconds: number | null }> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    // The fields after the command name, which may hold spaces: state is the first, utime the 12th.
    const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(stat[11]) + Number(stat[12]);
    return {
      peakRssMb: hwm === undefined ? null : Number(hwm) / 1024,
      cpuSeconds: Number.isFinite(ticks) ? ticks / TICKS_PER_SECOND : null,
    };
  } catch {
    return { peakRssMb: null, cpuSeconds: null };
  }
}

/** Busy CPU seconds of the whole machine since boot, from /proc/stat; null elsewhere. */
async function machineCpuSeconds(): Promise<number | null> {
  try {
    const fields = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]?.trim().split(/\s+/).slice(1);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (fields ?? []).map(Number);
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// What the database says

interface Progress {
  readonly succeeded: number;
  readonly failed: readonly string[];
}

const PROGRESS = `
SELECT count(DISTINCT source) FILTER (WHERE status = 'succeeded')::int AS succeeded,
       coalesce(array_agg(source || ': ' || coalesce(error, status)) FILTER (WHERE status = 'failed'), '{}') AS failed
  FROM sutro.sync_runs`;

async function progress(client: pg.Client): Promise<Progress> {
  const { rows } = await client.query<{ succeeded: number; failed: string[] }>(PROGRESS);
  return { succeeded: rows[0]?.succeeded ?? 0, failed: rows[0]?.failed ?? [] };
}

/** Polls until every source has a succeeded run, or `until` says stop; fails on a failed run or a dead replica. */
async function waitForPass(
  client: pg.Client,
  sources: number,
  replicas: readonly Replica[],
  until: (p: Progress) => boolean = (p) => p.succeeded >= sources,
): Promise<Progress> {
  const deadline = Date.now() + PASS_TIMEOUT_MS;
  for (;;) {
    const now = await progress(client);
    if (now.failed.length > 0)
      throw new Error(`${now.failed.length} runs failed, the first: ${now.failed[0] ?? ''}`);
    if (until(now)) return now;
    const dead = replicas.find((r) => r.child.exitCode !== null);
    if (dead !== undefined)
      throw new Error(`a replica exited (code ${dead.child.exitCode}):\n${dead.stderrTail()}`);
    if (Date.now() > deadline)
      throw new Error(`the pass did not end within ${PASS_TIMEOUT_MS / 60_000} min (${now.succeeded} done)`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * The pass's figures from sutro.sync_runs: every scheduled run, with the time it served. A handoff
 * is a slot passing from one run to the next: while sources wait, each end in a process frees the
 * slot the run `$1` starts later in that process takes (the first `$1` starts took the empty slots).
 */
const PASS_FIGURES = `
WITH runs AS (
  SELECT pid, started_at, finished_at, due_at,
         extract(epoch FROM started_at - due_at) * 1000 AS lag_ms,
         extract(epoch FROM finished_at - started_at) * 1000 AS run_ms
    FROM sutro.sync_runs WHERE due_at IS NOT NULL
),
ends AS (SELECT pid, finished_at, row_number() OVER (PARTITION BY pid ORDER BY finished_at) AS n FROM runs),
starts AS (SELECT pid, started_at, row_number() OVER (PARTITION BY pid ORDER BY started_at) AS n FROM runs),
handoffs AS (
  SELECT extract(epoch FROM s.started_at - e.finished_at) * 1000 AS gap_ms
    FROM ends e JOIN starts s ON s.pid = e.pid AND s.n = e.n + $1
)
SELECT extract(epoch FROM max(finished_at) - min(due_at))::float8 * 1000 AS wall_ms,
       extract(epoch FROM min(due_at))::float8 * 1000 AS first_due_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms) AS lag_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms) AS lag_p95,
       max(lag_ms)::float8 AS lag_max,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY run_ms) AS run_p50,
       sum(run_ms)::float8 AS busy_ms,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap_ms) FROM handoffs) AS handoff_p50,
       (SELECT array_agg(n ORDER BY first) FROM (
          SELECT count(*)::int AS n, min(started_at) AS first FROM runs GROUP BY pid) p) AS per_process
  FROM runs`;

interface PassFigures {
  readonly wallMs: number;
  readonly firstDueMs: number;
  readonly lagP50Ms: number;
  readonly lagP95Ms: number;
  readonly lagMaxMs: number;
  readonly runP50Ms: number;
  readonly busyMs: number;
  readonly handoffP50Ms: number | null;
  readonly runsPerProcess: number[];
}

async function passFigures(client: pg.Client, concurrency: number): Promise<PassFigures> {
  const { rows } = await client.query<{
    wall_ms: number;
    first_due_ms: number;
    lag_p50: number;
    lag_p95: number;
    lag_max: number;
    run_p50: number;
    busy_ms: number;
    handoff_p50: number | null;
    per_process: number[];
  }>(PASS_FIGURES, [concurrency]);
  const r = rows[0];
  if (r === undefined) throw new Error('no scheduled run was recorded');
  return {
    wallMs: r.wall_ms,
    firstDueMs: r.first_due_ms,
    lagP50Ms: r.lag_p50,
    lagP95Ms: r.lag_p95,
    lagMaxMs: r.lag_max,
    runP50Ms: r.run_p50,
    busyMs: r.busy_ms,
    handoffP50Ms: r.handoff_p50,
    runsPerProcess: r.per_process,
  };
}

// ---------------------------------------------------------------------------------------------
// The rows

interface Context {
  readonly settings: SourcesSettings;
  readonly scratch: Scratch;
  readonly sim: SimulatorProcess;
  readonly folder: SourcesFolder;
  readonly fetchOnlyMs: number;
  readonly say: Say;
}

/** A fresh database, `replicas` processes of `start`, and a client to watch what they write. */
async function startPass(context: Context, label: string, replicas: number, concurrency: number) {
  const databaseUrl = await context.scratch.create(label);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'sutro-sync-bench' });
  await client.connect();
  const spawnedAt = Date.now();
  const machineBefore = await machineCpuSeconds();
  const simBefore = await context.sim.send<number>({ kind: 'cpu' });
  const requestsBefore = (await context.sim.send<{ listJobs: number }>({ kind: 'requests' })).listJobs;
  const processes = Array.from({ length: replicas }, () =>
    startReplica({
      DATABASE_URL: databaseUrl,
      SUTRO_SOURCES_FILE: context.folder.file,
      SUTRO_CONCURRENCY: String(concurrency),
      SUTRO_HTTP_PORT: '0',
    }),
  );
  const stop = async () => {
    for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    const ends = await Promise.all(processes.map((p) => p.exited));
    await client.end();
    await context.scratch.drop(databaseUrl);
    return ends;
  };
  return { databaseUrl, client, spawnedAt, machineBefore, simBefore, requestsBefore, processes, stop };
}

async function measurePass(context: Context, replicas: number, concurrency: number): Promise<SourcesRow> {
  const { settings, sim, say } = context;
  say(`  sources: ${replicas} replica${replicas === 1 ? '' : 's'} at concurrency ${concurrency}…`);
  const pass = await startPass(context, `sources_${replicas}x${concurrency}`, replicas, concurrency);
  let stopped = false;
  try {
    await waitForPass(pass.client, settings.sources, pass.processes);
    // Read before stopping: VmHWM and the CPU counters go with the process.
    const figures = await Promise.all(pass.processes.map((p) => processFigures(p.child.pid ?? 0)));
    const machineAfter = await machineCpuSeconds();
    const simCpu = (await sim.send<number>({ kind: 'cpu' })) - pass.simBefore;
    const pages = (await sim.send<{ listJobs: number }>({ kind: 'requests' })).listJobs - pass.requestsBefore;
    const db = await passFigures(pass.client, concurrency);
    stopped = true;
    const ends = await pass.stop();
    const failed = ends.find((end) => end.code !== 0);
    if (failed !== undefined)
      throw new Error(`a replica did not stop cleanly (code ${failed.code}, signal ${failed.signal})`);
    const service = figures.every((f) => f.cpuSeconds !== null)
      ? figures.reduce((sum, f) => sum + (f.cpuSeconds ?? 0), 0)
      : null;
    const slots = replicas * concurrency;
    return {
      replicas,
      concurrency,
      wallMs: db.wallMs,
      floorMs: context.fetchOnlyMs / slots,
      startupMs: db.firstDueMs - pass.spawnedAt,
      peakRssMb: figures.map((f) => f.peakRssMb),
      cpu: {
        service,
        simulator: simCpu,
        rest:
          service === null || machineAfter === null || pass.machineBefore === null
            ? null
            : machineAfter - pass.machineBefore - service - simCpu,
      },
      lagP50Ms: db.lagP50Ms,
      lagP95Ms: db.lagP95Ms,
      lagMaxMs: db.lagMaxMs,
      runP50Ms: db.runP50Ms,
      slotsBusy: db.busyMs / (db.wallMs * slots),
      handoffP50Ms: db.handoffP50Ms,
      runsPerProcess: db.runsPerProcess,
      pages,
    };
  } finally {
    if (!stopped) await pass.stop();
  }
}

/**
 * Two replicas; once a quarter of the sources have synced, the one holding runs is killed with -9.
 * Its runs' leases lapse, and the other replica claims those sources again (their runs continue
 * the pass where it stopped). Measured from the kill, by the database's clock.
 */
async function measureTakeover(context: Context, concurrency: number): Promise<TakeoverResult> {
  const { settings, say } = context;
  say(`  sources: takeover, 2 replicas at concurrency ${concurrency}, one killed with -9 mid-pass…`);
  const pass = await startPass(context, `sources_takeover`, 2, concurrency);
  try {
    const atKill = await waitForPass(
      pass.client,
      settings.sources,
      pass.processes,
      (p) => p.succeeded >= settings.sources / 4,
    );
    const victim = pass.processes[0] as Replica;
    const victimPid = victim.child.pid ?? 0;
    victim.child.kill('SIGKILL');
    await victim.exited;
    const killed = await pass.client.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    const killedAt = killed.rows[0]?.now ?? new Date();
    // The leases the dead process held: nobody can take them before they lapse. A source it had
    // claimed but not yet started (no run_id yet) is orphaned all the same.
    const held = await pass.client.query<{ source: string; expires_at: Date }>(
      `SELECT source, expires_at FROM sutro.sync_leases WHERE holder LIKE $1`,
      [`%:${victimPid}:%`],
    );
    if (held.rows.length === 0) throw new Error('the killed replica held no source');
    await waitForPass(pass.client, settings.sources, pass.processes.slice(1));
    const orphans = held.rows.map((r) => r.source);
    const resumed = await pass.client.query<{ source: string; started_at: Date }>(
      `SELECT source, min(started_at) AS started_at FROM sutro.sync_runs
        WHERE source = ANY($1) AND pid <> $2 AND started_at > $3 GROUP BY source`,
      [orphans, victimPid, killedAt],
    );
    const others = await pass.client.query<{ done: Date }>(
      `SELECT max(finished_at) AS done FROM sutro.sync_runs WHERE NOT (source = ANY($1))`,
      [orphans],
    );
    if (resumed.rows.length !== orphans.length) throw new Error('not every orphaned source ran again');
    const since = (t: Date) => t.getTime() - killedAt.getTime();
    const span = (list: number[]) => [Math.min(...list), Math.max(...list)] as const;
    const defaults = loadConfig({}).sync;
    return {
      concurrency,
      orphans: orphans.length,
      succeededAtKill: atKill.succeeded,
      expiryMs: span(held.rows.map((r) => since(r.expires_at))),
      takeoverMs: span(resumed.rows.map((r) => since(r.started_at))),
      othersDoneMs: since(others.rows[0]?.done ?? killedAt),
      leaseSeconds: defaults.leaseSeconds,
      pollSeconds: defaults.pollMs / 1000,
    };
  } finally {
    await pass.stop();
  }
}

export async function measureSources(
  scratch: Scratch,
  settings: SourcesSettings,
  say: Say,
): Promise<SourcesResult> {
  const stale = await ensureFreshBuild();
  if (stale.length > 0) say(`  sources: rebuilt dist/ (${stale.length} files were stale)`);
  const keys = Array.from({ length: settings.sources }, (_, i) => accountKey(i));
  const sim = await SimulatorProcess.start({
    jobs: settings.jobsPerSource,
    seed: settings.seed,
    latencyMs: settings.delayMs,
    accounts: settings.sources,
  });
  const { url } = sim;
  const folder = await sourcesFolder([]);
  try {
    await folder.write(
      keys.map((key, i) => ({
        name: `source-${String(i + 1).padStart(3, '0')}`,
        apiUrl: url,
        key,
        schedule: NEVER_IN_THE_BENCH,
        fullSchedule: NEVER_IN_THE_BENCH,
      })),
    );
    say(`  sources: fetch-only, ${settings.sources} accounts one after another…`);
    const fetched = await inWorker({ kind: 'fetch', apiUrl: url, apiKeys: keys });
    const perAccount = [...((fetched.detail.perAccountMs as number[] | undefined) ?? [])].sort(
      (a, b) => a - b,
    );
    const context: Context = { settings, scratch, sim, folder, fetchOnlyMs: fetched.wallMs, say };
    const rows: SourcesRow[] = [];
    for (const concurrency of settings.concurrencies) rows.push(await measurePass(context, 1, concurrency));
    if (settings.replicas > 1) {
      for (const concurrency of settings.replicaConcurrencies)
        rows.push(await measurePass(context, settings.replicas, concurrency));
    }
    const takeover = settings.takeover
      ? await measureTakeover(context, settings.replicaConcurrencies[0] ?? 4)
      : null;
    return {
      sources: settings.sources,
      jobsPerSource: settings.jobsPerSource,
      delayMs: settings.delayMs,
      fetchOnlyMs: fetched.wallMs,
      fetchOnlyPerAccountMsP50: perAccount[Math.floor(perAccount.length / 2)] ?? null,
      rows,
      takeover,
    };
  } finally {
    await sim.close();
    await folder.remove();
  }
}

// ---------------------------------------------------------------------------------------------
// Output

const ms = (n: number) => n.toFixed(0);

export function sourcesTable(result: SourcesResult): string {
  const rows = result.rows.map((r): Cell[] => {
    const s = (n: number | null) => (n === null ? '?' : n.toFixed(1));
    return [
      `${r.replicas} × concurrency ${r.concurrency}`,
      formatSeconds(r.startupMs),
      formatSeconds(r.wallMs),
      formatSeconds(r.floorMs),
      formatRatio(r.wallMs / r.floorMs),
      r.peakRssMb.map(formatMb).join(' / '),
      `${s(r.cpu.service)} / ${s(r.cpu.simulator)} / ${s(r.cpu.rest)}`,
      `${ms(r.lagP50Ms)} / ${ms(r.lagP95Ms)}`,
      formatSeconds(r.runP50Ms),
      `${(r.slotsBusy * 100).toFixed(0)}%`,
      r.handoffP50Ms === null ? null : ms(r.handoffP50Ms),
      r.runsPerProcess.join(' / '),
      formatCount(r.pages),
    ];
  });
  const t = result.takeover;
  const range = ([a, b]: readonly [number, number]) => `${formatSeconds(a)} to ${formatSeconds(b)} s`;
  return [
    `sources (issue 19): ${formatCount(result.sources)} sources × ${formatCount(result.jobsPerSource)} jobs, ` +
      `page delay ${result.delayMs} ms; fetch-only, one after another: ${formatSeconds(result.fetchOnlyMs)} s` +
      ` (${formatSeconds(result.fetchOnlyPerAccountMsP50)} s an account, median)`,
    table(
      [
        'replicas × runs at once',
        'start-up s',
        'wall s',
        'floor s',
        'wall/floor',
        'peak RSS MB',
        'CPU s: service/sim/db+other',
        'lag p50/p95 ms',
        'run p50 s',
        'slots busy',
        'handoff p50 ms',
        'runs per process',
        'pages',
      ],
      rows,
    ),
    ...(t === null
      ? []
      : [
          `takeover: 2 replicas at concurrency ${t.concurrency}, one killed with -9 after ` +
            `${formatCount(t.succeededAtKill)} sources had synced: its ${t.orphans} sources' leases ` +
            `lapsed ${range(t.expiryMs)} after the kill, and ran again on the other ${range(t.takeoverMs)} after it ` +
            `(lease ${t.leaseSeconds} s + poll ${t.pollSeconds} s = ${t.leaseSeconds + t.pollSeconds} s); ` +
            `the other sources were done ${formatSeconds(t.othersDoneMs)} s after the kill`,
        ]),
  ].join('\n');
}
