import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { startCli, type CliResult, type RunningCli } from './cli.js';

/** A source of a sources file, as a test writes it: the key goes to a file beside it. */
export interface SourceEntry {
  readonly name: string;
  readonly apiUrl: string;
  readonly key: string;
  readonly schedule?: string;
  readonly fullSchedule?: string;
  readonly enabled?: boolean;
}

/** A folder with a sources file and the key files it names; `write` replaces the file (a reload). */
export interface SourcesFolder {
  readonly file: string;
  write(entries: readonly SourceEntry[]): Promise<void>;
  remove(): Promise<void>;
}

export async function sourcesFolder(entries: readonly SourceEntry[]): Promise<SourcesFolder> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sutro-sync-sources-'));
  const file = path.join(dir, 'sources.yaml');
  const write = async (list: readonly SourceEntry[]) => {
    for (const entry of list) await writeFile(path.join(dir, `${entry.name}.key`), `${entry.key}\n`);
    const yaml = list
      .map((entry) =>
        [
          `  - name: ${entry.name}`,
          `    api_url: ${entry.apiUrl}`,
          `    api_key_file: ${entry.name}.key`,
          ...(entry.schedule ? [`    schedule: "${entry.schedule}"`] : []),
          ...(entry.fullSchedule ? [`    full_schedule: "${entry.fullSchedule}"`] : []),
          ...(entry.enabled === false ? ['    enabled: false'] : []),
        ].join('\n'),
      )
      .join('\n');
    // Written whole and renamed into place, as a ConfigMap update is: a reader never sees half a file.
    await writeFile(`${file}.next`, `sources:\n${yaml}\n`);
    const { rename } = await import('node:fs/promises');
    await rename(`${file}.next`, file);
  };
  await write(entries);
  return { file, write, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** `start` processes sharing one database: replicas. */
export function startReplicas(count: number, env: Record<string, string>): RunningCli[] {
  return Array.from({ length: count }, () => startCli(['start'], env));
}

export async function stopReplicas(replicas: readonly RunningCli[]): Promise<CliResult[]> {
  for (const replica of replicas) if (replica.child.exitCode === null) replica.child.kill('SIGTERM');
  return Promise.all(replicas.map((replica) => replica.done));
}

/** A scheduled run as sutro.sync_runs holds it, with the times the checks below need. */
export interface RunRecord {
  readonly id: number;
  readonly source: string;
  readonly status: string;
  readonly mode: string;
  readonly pid: number | null;
  readonly started_at: Date;
  readonly finished_at: Date | null;
  readonly due_at: Date | null;
  readonly error: string | null;
}

export async function runsBySource(pool: pg.Pool): Promise<Map<string, RunRecord[]>> {
  const { rows } = await pool.query<RunRecord>(
    `SELECT id, source, status, mode, pid, started_at, finished_at, due_at, error
       FROM sutro.sync_runs ORDER BY source, started_at`,
  );
  const bySource = new Map<string, RunRecord[]>();
  for (const row of rows) bySource.set(row.source, [...(bySource.get(row.source) ?? []), row]);
  return bySource;
}

/**
 * Pairs of runs of one source that overlapped in time: a run that ended (succeeded, failed,
 * interrupted) must have finished before the next one started. A run abandoned by a killed process
 * has no end of its own (it is recorded when the next run finds it), so it is left out.
 */
export function overlaps(runs: readonly RunRecord[]): string[] {
  const ended = runs.filter((r) => r.status !== 'abandoned' && r.status !== 'running');
  const problems: string[] = [];
  for (const [i, run] of ended.entries()) {
    const next = ended[i + 1];
    if (next !== undefined && run.finished_at !== null && run.finished_at > next.started_at)
      problems.push(`${run.source}: run ${run.id} ended after run ${next.id} started`);
  }
  return problems;
}
