/**
 * One measured scenario in a process of its own (see ipc.ts): run.ts forks this file, sends one
 * task, and gets back the figures, peak RSS included. The clock starts when the work starts, so
 * the process start and tsx's compilation are not counted.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import pino from 'pino';
import { connect } from '../src/db/infra/connect.js';
import { boundHeapGrowth } from '../src/memory.js';
import { jobs as jobsTable } from '../src/db/schema/tables.js';
import { loadConfig } from '../src/config.js';
import { createSyncStore } from '../src/db/store/store.js';
import type { RunMode } from '../src/sync/port.js';
import type { PageProgress } from '../src/sync/vocabulary.js';
import { createSutroClient, type JobsApi } from '../src/sutro/client.js';
import type { ApiTime } from '../src/sutro/job.js';
import { runSync } from '../src/sync/engine.js';
import { parsePage } from '../src/sync/page.js';
import { COLUMNS, columnTexts } from './records.js';
import { copyFrom, copyText } from './copy.js';
import { withClient } from './database.js';
import { BENCH_API_KEY, serve } from './ipc.js';

export type Task =
  /** Nothing: the RSS of a worker with every module loaded, for reference. */
  | { readonly kind: 'idle' }
  /**
   * The network floor: page through list-jobs with the project's client, discard the pages. With
   * `apiKeys`, every account in turn, one after another (the sources scenario's floor).
   */
  | { readonly kind: 'fetch'; readonly apiUrl: string; readonly apiKeys?: readonly string[] }
  /** Not measured: fetch and normalize every job once, into files for the database floors. */
  | {
      readonly kind: 'prefetch';
      readonly apiUrl: string;
      readonly copyFile: string;
      readonly bulkFile: string;
    }
  /** The database floor: COPY the prefetched rows into an unlogged table. */
  | { readonly kind: 'copy'; readonly databaseUrl: string; readonly copyFile: string }
  /** The best plain-SQL bulk load: INSERT … SELECT of 10,000 rows a statement into an unlogged table. */
  | { readonly kind: 'bulk'; readonly databaseUrl: string; readonly bulkFile: string }
  /** What a user writes by hand: one drizzle upsert per job, each its own transaction. */
  | {
      readonly kind: 'naive';
      readonly apiUrl: string;
      readonly databaseUrl: string;
      readonly maxJobs: number;
    }
  /** sutro-sync itself: one runSync. */
  | {
      readonly kind: 'sync';
      readonly apiUrl: string;
      readonly databaseUrl: string;
      readonly mode: RunMode;
      readonly marginSeconds: number;
      /** Runs this many sources at once, each the whole account (source bench-1, bench-2…); 1: source bench. */
      readonly sources?: number;
      /** Jobs listed at which to record the process's RSS, for the RSS-over-the-pass row. */
      readonly rssAtJobs?: readonly number[];
    };

/** The process's memory when a run had listed `jobs` jobs. */
export interface RssSample {
  readonly jobs: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
}

export interface TaskResult {
  readonly wallMs: number;
  readonly jobs: number;
  readonly pages: number;
  /** process.resourceUsage().maxRSS of this process, in MB. */
  readonly peakRssMb: number;
  /** CPU seconds (user + system) this process spent on the task. */
  readonly cpuSeconds: number;
  /** CPU seconds every process of the machine spent during the task (Linux only). */
  readonly machineCpuSeconds: number | null;
  readonly detail: Record<string, unknown>;
}

/** Rows per statement of the bulk insert: large enough that per-statement costs vanish. */
export const BULK_ROWS = 10_000;

const log = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'warn' }, pino.destination(2));
// The worker runs under the memory policy bin/sutro-sync.js gives the product's process.
boundHeapGrowth(process.env.NODE_OPTIONS, process.execArgv);
const UNLOGGED = 'bench_floor';

/** SUTRO_PAGE_LIMIT's default, and the API's maximum. */
const PAGE_LIMIT = 100;

function api(apiUrl: string, apiKey = BENCH_API_KEY): JobsApi {
  return createSutroClient({
    apiUrl,
    apiKey,
    pageLimit: PAGE_LIMIT,
    timeoutMs: 60_000,
    maxResponseBytes: loadConfig({}).sutro.maxResponseBytes,
  });
}

/** What a hand-written upsert would bind: a Date (to the millisecond). */
const asDate = (time: ApiTime | null) => (time === null ? null : new Date(time.ms));

/** Every page of list-jobs, in order. */
async function* pages(client: JobsApi, maxJobs = Infinity): AsyncGenerator<readonly unknown[]> {
  let cursor: string | null = null;
  let seen = 0;
  do {
    const page = await client.listJobs(cursor);
    yield page.jobs;
    seen += page.jobs.length;
    cursor = page.nextCursor;
  } while (cursor !== null && seen < maxJobs);
}

/** The lines of a file, read a megabyte at a time (readline buffers far ahead of a slow reader). */
async function* lines(file: string): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const parts = (rest + (chunk as string)).split('\n');
    rest = parts.pop() ?? '';
    yield* parts;
  }
  if (rest !== '') yield rest;
}

async function write(stream: WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

async function endStream(stream: WriteStream): Promise<void> {
  stream.end();
  await once(stream, 'finish');
}

/** An unlogged table with sutro.jobs' columns (and generated column, and defaults) but no index. */
async function createUnlogged(client: pg.Client): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${UNLOGGED}`);
  await client.query(
    `CREATE UNLOGGED TABLE ${UNLOGGED} (LIKE sutro.jobs INCLUDING DEFAULTS INCLUDING GENERATED)`,
  );
}

const COLUMN_LIST = `source, ${COLUMNS.map(([name]) => name).join(', ')}`;

async function run(task: Task): Promise<Omit<TaskResult, 'peakRssMb' | 'cpuSeconds' | 'machineCpuSeconds'>> {
  switch (task.kind) {
    case 'idle':
      return { wallMs: 0, jobs: 0, pages: 0, detail: {} };

    case 'fetch': {
      const clients = (task.apiKeys ?? [BENCH_API_KEY]).map((key) => api(task.apiUrl, key));
      const started = performance.now();
      let count = 0;
      let pageCount = 0;
      const perAccountMs: number[] = [];
      for (const client of clients) {
        const accountStarted = performance.now();
        for await (const page of pages(client)) {
          count += page.length;
          pageCount += 1;
        }
        perAccountMs.push(performance.now() - accountStarted);
      }
      const detail = task.apiKeys === undefined ? {} : { perAccountMs };
      return { wallMs: performance.now() - started, jobs: count, pages: pageCount, detail };
    }

    case 'prefetch': {
      const client = api(task.apiUrl);
      const started = performance.now();
      const copy = createWriteStream(task.copyFile, { highWaterMark: 1 << 20 });
      const bulk = createWriteStream(task.bulkFile, { highWaterMark: 1 << 20 });
      let batch: string[] = [];
      let count = 0;
      let rejected = 0;
      let pageCount = 0;
      const flush = async () => {
        if (batch.length > 0) await write(bulk, `[${batch.join(',')}]\n`);
        batch = [];
      };
      for await (const page of pages(client)) {
        pageCount += 1;
        const parsed = parsePage(page);
        rejected += parsed.rejected.length;
        const lines: string[] = [];
        for (const job of parsed.jobs) {
          const texts = columnTexts(job);
          lines.push(`bench\t${texts.map(copyText).join('\t')}\n`);
          batch.push(JSON.stringify(Object.fromEntries(COLUMNS.map(([name], i) => [name, texts[i]]))));
          count += 1;
        }
        await write(copy, lines.join(''));
        if (batch.length >= BULK_ROWS) await flush();
      }
      await flush();
      await Promise.all([endStream(copy), endStream(bulk)]);
      return { wallMs: performance.now() - started, jobs: count, pages: pageCount, detail: { rejected } };
    }

    case 'copy':
      return withClient(task.databaseUrl, async (client) => {
        await createUnlogged(client);
        const started = performance.now();
        const rows = await copyFrom(
          client,
          `COPY ${UNLOGGED} (${COLUMN_LIST}) FROM STDIN`,
          createReadStream(task.copyFile, { highWaterMark: 1 << 20 }),
        );
        const wallMs = performance.now() - started;
        await client.query(`DROP TABLE ${UNLOGGED}`);
        return { wallMs, jobs: rows, pages: 0, detail: {} };
      });

    case 'bulk':
      return withClient(task.databaseUrl, async (client) => {
        await createUnlogged(client);
        const recordset = COLUMNS.map(([name, type]) => `${name} ${type}`).join(', ');
        const text = `INSERT INTO ${UNLOGGED} (${COLUMN_LIST})
          SELECT 'bench', * FROM jsonb_to_recordset($1::jsonb) AS r(${recordset})`;
        const started = performance.now();
        let rows = 0;
        let statements = 0;
        for await (const line of lines(task.bulkFile)) {
          const result = await client.query({ name: 'bench-bulk', text, values: [line] });
          rows += result.rowCount ?? 0;
          statements += 1;
        }
        const wallMs = performance.now() - started;
        await client.query(`DROP TABLE ${UNLOGGED}`);
        return { wallMs, jobs: rows, pages: 0, detail: { statements } };
      });

    case 'naive': {
      const client = api(task.apiUrl);
      const pool = new pg.Pool({ connectionString: task.databaseUrl, max: 1 });
      const db = drizzle(pool);
      const started = performance.now();
      let count = 0;
      let pageCount = 0;
      try {
        for await (const page of pages(client, task.maxJobs)) {
          pageCount += 1;
          for (const job of parsePage(page).jobs) {
            const values = {
              status: job.status,
              model: job.model,
              systemPrompt: job.systemPrompt,
              jobPriority: job.jobPriority,
              datetimeCreated: asDate(job.datetimeCreated),
              datetimeStarted: asDate(job.datetimeStarted),
              datetimeCompleted: asDate(job.datetimeCompleted),
              jsonSchema: job.jsonSchema,
              samplingParams: job.samplingParams,
              name: job.name,
              description: job.description,
              datasetId: job.datasetId,
              inputTokens: job.inputTokens,
              outputTokens: job.outputTokens,
              jobCost: job.jobCost,
              numRows: job.numRows,
              failureReason: job.failureReason,
              costEstimate: job.costEstimate,
              runType: job.runType,
              raw: job.raw,
            };
            await db
              .insert(jobsTable)
              .values({ source: 'bench', jobId: job.jobId, ...values })
              .onConflictDoUpdate({
                target: [jobsTable.source, jobsTable.jobId],
                set: { ...values, lastChangedAt: sql`now()` },
              });
            count += 1;
          }
        }
      } finally {
        await pool.end();
      }
      return { wallMs: performance.now() - started, jobs: count, pages: pageCount, detail: {} };
    }

    case 'sync': {
      // What a user gets without configuring anything: the default limits and lease, and the pool
      // the service opens for this many concurrent runs (runtime.ts).
      const defaults = loadConfig({});
      const sources = task.sources ?? 1;
      const database = connect({ connectionString: task.databaseUrl, ssl: false }, log, {
        limits: defaults.database.limits,
        applicationName: 'sutro-sync-bench',
        ...(sources > 1 ? { max: 2 * sources + 2 } : {}),
      });
      try {
        const store = createSyncStore(database);
        const samples: RssSample[] = [];
        const points = [...(task.rssAtJobs ?? [])];
        const onPage = (progress: PageProgress) => {
          while (points.length > 0 && progress.totals.seen >= (points[0] ?? Infinity)) {
            points.shift();
            const memory = process.memoryUsage();
            samples.push({
              jobs: progress.totals.seen,
              rssMb: memory.rss / 2 ** 20,
              heapUsedMb: memory.heapUsed / 2 ** 20,
            });
          }
        };
        const started = performance.now();
        const names = sources === 1 ? ['bench'] : Array.from({ length: sources }, (_, i) => `bench-${i + 1}`);
        const results = await Promise.all(
          names.map((source) =>
            runSync(
              { store, api: api(task.apiUrl), log, ...(sources === 1 ? { onPage } : {}) },
              {
                source,
                mode: task.mode,
                trigger: 'cli',
                safetyMarginSeconds: task.marginSeconds,
                pageLimit: PAGE_LIMIT,
                leaseSeconds: defaults.sync.leaseSeconds,
              },
            ),
          ),
        );
        const wallMs = performance.now() - started;
        const postgresCpu = await backendCpuSeconds(database.pool);
        for (const result of results) {
          if (result.skipped) throw new Error(result.reason);
          if (result.error !== null) throw result.error;
        }
        const [result] = results;
        if (result === undefined || result.skipped) throw new Error('no run');
        const sum = (of: (r: (typeof results)[number] & { skipped: false }) => number) =>
          results.reduce((total, r) => total + (r.skipped ? 0 : of(r)), 0);
        return {
          wallMs,
          jobs: sum((r) => r.seen),
          pages: sum((r) => r.pages),
          detail: {
            mode: result.mode,
            stopReason: result.stopReason,
            inserted: sum((r) => r.inserted),
            updated: sum((r) => r.updated),
            unchanged: sum((r) => r.unchanged),
            rejected: sum((r) => r.rejected),
            historyRows: sum((r) => r.historyRows),
            refreshedById: sum((r) => r.refreshedById),
            floor: result.floor?.toISOString() ?? null,
            sources,
            rssSamples: samples,
            postgresCpuSeconds: postgresCpu,
          },
        };
      } finally {
        await database.close();
      }
    }
  }
}

/**
 * CPU seconds the PostgreSQL backends of `pool` have used since they started, from /proc: the
 * database's share of a run whatever else the machine is doing. Null when the server is not on
 * this machine. Sessions the pool closed during the run (idle for 10 s) are not counted.
 */
async function backendCpuSeconds(pool: pg.Pool): Promise<number | null> {
  const backends = await pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'sutro-sync-bench'`,
  );
  let seconds = 0;
  try {
    for (const { pid } of backends.rows) {
      // Fields 14 and 15 (utime, stime), in clock ticks, after the command name in parentheses.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      seconds += (Number(fields[11]) + Number(fields[12])) / 100;
    }
  } catch {
    return null;
  }
  return Number.isFinite(seconds) ? seconds : null;
}

// The parent owns this process: when it goes, so does this one.
process.on('disconnect', () => process.exit(0));

/** Busy CPU seconds of the whole machine since boot, from /proc/stat; null elsewhere. */
function machineCpu(): number | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]
      ?.trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    if (fields === undefined || fields.length < 8) return null;
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / 100;
  } catch {
    return null;
  }
}

serve(async (body) => {
  const machine = machineCpu();
  const cpu = process.cpuUsage();
  const result = await run(body as Task);
  const used = process.cpuUsage(cpu);
  const machineAfter = machineCpu();
  return {
    ...result,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    cpuSeconds: (used.user + used.system) / 1e6,
    machineCpuSeconds: machine === null || machineAfter === null ? null : machineAfter - machine,
  } satisfies TaskResult;
});
