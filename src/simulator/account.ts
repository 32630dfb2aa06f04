import { Random } from './random.js';

/** A job as list-jobs serves it: plain JSON. */
export type ApiJob = Record<string, unknown> & { job_id: string };

export interface AccountOptions {
  /** Jobs listed now. */
  readonly jobs: number;
  readonly seed: number;
  /** Days the listed jobs are spread over; at most the retention. */
  readonly days?: number;
  /** The simulated present; fixed by default so that runs are reproducible. */
  readonly now?: Date;
  /** Jobs created longer ago than this are no longer listed (the API keeps about 90 days). */
  readonly retentionDays?: number;
  /** The real API's harmless oddities: lower-case statuses, numbers as strings, null creation times. */
  readonly quirks?: boolean;
}

export interface AdvanceOptions {
  readonly seconds: number;
  /** New jobs created during the interval; default about 10 an hour. */
  readonly newJobs?: number;
  /** Let unsettled jobs progress (queued -> running -> succeeded, costs filled); default true. */
  readonly transitions?: boolean;
}

export interface AdvanceSummary {
  readonly added: string[];
  readonly changed: string[];
  readonly dropped: string[];
}

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** USD per million input and output tokens. */
const MODELS: readonly (readonly [name: string, weight: number, input: number, output: number])[] = [
  ['llama-3.1-8b', 35, 0.05, 0.08],
  ['llama-3.3-70b', 20, 0.3, 0.45],
  ['qwen-3-32b', 20, 0.15, 0.3],
  ['gemma-3-12b', 15, 0.08, 0.12],
  ['gpt-oss-120b', 10, 0.25, 0.6],
];
const NAME_PREFIXES = ['support-', 'eval-', 'classify-', 'extract-', 'summarize-', 'translate-'];
const FAILURES = [
  { message: 'Input dataset contains malformed rows', code: 'invalid_input' },
  { message: 'Model replica ran out of memory', code: 'oom' },
  { message: 'JSON schema could not be satisfied', code: 'schema_violation' },
];
const EARLY_STATUSES = ['UNKNOWN', 'PENDING', 'SUBMITTED', 'QUEUED', 'STARTING'] as const;

function money(value: number): number {
  return Number(value.toFixed(6));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * A Sutro account whose jobs are derived from (seed, index), index 0 the oldest. Only jobs that
 * changed after they were made are kept in memory, so a million-job account costs a few MB.
 */
export class SimulatedAccount {
  private readonly seed: number;
  private readonly quirks: boolean;
  private readonly retentionMs: number;
  private now: number;
  private readonly baseCount: number;
  private readonly baseStart: number;
  /** When the account was made: base jobs look as they did then, until advance() changes them. */
  private readonly genesis: number;
  /** Creation times of jobs added by advance(), index baseCount + k, and when they were added. */
  private readonly addedCreated: number[] = [];
  private readonly addedAt: number[] = [];
  private readonly overrides = new Map<number, ApiJob>();
  /** Indices whose job can still change. */
  private readonly unsettled = new Set<number>();
  private firstListed = 0;
  private advances = 0;
  /** Raw rows inserted for validation tests, each before the job of `beforeIndex`. */
  private readonly extras: { beforeIndex: number; raw: unknown }[] = [];
  private order: number[] | null = null;

  constructor(options: AccountOptions) {
    this.seed = options.seed;
    this.quirks = options.quirks ?? true;
    const retentionDays = options.retentionDays ?? 90;
    this.retentionMs = retentionDays * DAY;
    this.now = (options.now ?? new Date('2026-11-01T00:00:00Z')).getTime();
    this.genesis = this.now;
    const spanMs = Math.min(options.days ?? 200, retentionDays) * DAY - HOUR;
    this.baseCount = options.jobs;
    this.baseStart = this.now - spanMs;
    // Only the newest jobs can be unsettled: everything older than a day has finished.
    for (let i = this.baseCount - 1; i >= 0 && this.now - this.createdAt(i) < DAY; i -= 1) {
      if (!isSettledJob(this.job(i))) this.unsettled.add(i);
    }
  }

  get currentTime(): Date {
    return new Date(this.now);
  }

  private get total(): number {
    return this.baseCount + this.addedCreated.length;
  }

  /**
   * Jobs are spread evenly over the span, except the newest few, which are packed into the last
   * hours so that a fresh account has work in flight (queued, running, awaiting its cost).
   */
  private createdAt(index: number): number {
    if (index >= this.baseCount) return this.addedCreated[index - this.baseCount] ?? this.now;
    const recent = Math.min(40, Math.floor(this.baseCount / 20));
    const fromEnd = this.baseCount - index;
    if (fromEnd <= recent) return Math.floor(this.genesis - (fromEnd / (recent + 1)) * 3 * HOUR);
    const step = (this.genesis - 3 * HOUR - this.baseStart) / Math.max(1, this.baseCount - recent);
    const jitter = Random.for(this.seed, index, 1).next() * step * 0.9;
    return Math.floor(this.baseStart + index * step + jitter);
  }

  private job(index: number): ApiJob {
    const at = index < this.baseCount ? this.genesis : (this.addedAt[index - this.baseCount] ?? this.now);
    return this.overrides.get(index) ?? this.generate(index, this.createdAt(index), at);
  }

  /** A job as it looked at time `at`. */
  private generate(index: number, created: number, at: number): ApiJob {
    const r = Random.for(this.seed, index);
    const [model, , inputPrice, outputPrice] = r.weighted(MODELS.map((m) => [m, m[1]] as const));
    const rows = r.logUniform(10, 50_000);
    let inputTokens = rows * r.int(50, 2_000);
    const outputTokens = rows * r.int(10, 800);
    const huge = this.quirks && r.chance(0.001);
    if (huge) inputTokens = 3_000_000_000;
    const cost = money((inputTokens * inputPrice + outputTokens * outputPrice) / 1e6);
    const estimate = money(cost * (0.7 + r.next() * 0.6));
    const queueMs = r.int(5_000, 20 * 60_000);
    const runMs = Math.round(r.logUniform(30, 4 * 3600) * 1000);
    const age = at - created;
    const named = r.chance(0.8);
    const job: ApiJob = {
      job_id: `job_${index.toString(36).padStart(6, '0')}${Math.floor(r.next() * 1e9).toString(36)}`,
      status: 'SUCCEEDED',
      model,
      system_prompt: r.chance(0.6) ? 'You are a helpful assistant.' : null,
      job_priority: r.chance(0.2) ? 1 : 0,
      datetime_created: iso(created),
      datetime_started: null,
      datetime_completed: null,
      json_schema: r.chance(0.3) ? { type: 'object', properties: { label: { type: 'string' } } } : null,
      sampling_params: {
        temperature: r.pick([0, 0.2, 0.7, 1]),
        top_p: 0.95,
        max_tokens: r.pick([256, 1024, 2048]),
      },
      name: named ? `${r.pick(NAME_PREFIXES)}${r.int(1, 400)}` : null,
      description: r.chance(0.4) ? 'Batch submitted from the Python SDK' : null,
      dataset_id: r.chance(0.7) ? `dataset_${r.int(1, 5_000).toString(36)}` : null,
      input_tokens: null,
      output_tokens: null,
      job_cost: null,
      num_rows: rows,
      failure_reason: null,
      cost_estimate: estimate,
      run_type: 'FULL',
    };
    const outcome = r.weighted([
      ['SUCCEEDED', 88],
      ['FAILED', 8],
      ['CANCELLED', 4],
    ] as const);
    if (age < queueMs) {
      job.status =
        EARLY_STATUSES[
          Math.min(EARLY_STATUSES.length - 1, Math.floor((age / queueMs) * EARLY_STATUSES.length))
        ];
    } else if (age < queueMs + runMs) {
      job.status = 'RUNNING';
      job.datetime_started = iso(created + queueMs);
    } else {
      this.finish(
        job,
        outcome,
        created + queueMs,
        created + queueMs + runMs,
        inputTokens,
        outputTokens,
        cost,
        r,
      );
    }
    if (this.quirks) this.addQuirks(job, r);
    return job;
  }

  private finish(
    job: ApiJob,
    outcome: 'SUCCEEDED' | 'FAILED' | 'CANCELLED',
    started: number,
    completed: number,
    inputTokens: number,
    outputTokens: number,
    cost: number,
    r: Random,
  ): void {
    job.status = outcome;
    if (outcome === 'SUCCEEDED') {
      job.datetime_started = iso(started);
      job.datetime_completed = iso(completed);
      job.input_tokens = inputTokens;
      job.output_tokens = outputTokens;
      job.job_cost = cost;
    } else if (outcome === 'FAILED') {
      job.datetime_started = iso(started);
      job.datetime_completed = iso(completed);
      job.failure_reason = r.pick(FAILURES);
      const done = r.next();
      job.input_tokens = Math.round(inputTokens * done);
      job.output_tokens = Math.round(outputTokens * done);
      job.job_cost = r.chance(0.5) ? 0 : money(cost * done);
    } else {
      job.datetime_started = r.chance(0.5) ? iso(started) : null;
      job.datetime_completed = iso(completed);
    }
  }

  private addQuirks(job: ApiJob, r: Random): void {
    if (r.chance(0.005)) job.status = String(job.status).toLowerCase();
    if (r.chance(0.005) && typeof job.job_cost === 'number') job.job_cost = String(job.job_cost);
    if (r.chance(0.005) && typeof job.input_tokens === 'number') job.input_tokens = String(job.input_tokens);
    if (r.chance(0.002)) job.datetime_created = null;
    if (r.chance(0.003)) job.region = 'us-east-1';
  }

  /** Listed positions, newest first, as indices (or -1 - k for the k-th extra raw row). */
  private listing(): number[] | null {
    if (this.extras.length === 0) return null;
    if (this.order === null) {
      const order: number[] = [];
      for (let i = this.total - 1; i >= this.firstListed; i -= 1) {
        this.extras.forEach((extra, k) => {
          if (extra.beforeIndex === i) order.push(-1 - k);
        });
        order.push(i);
      }
      this.order = order;
    }
    return this.order;
  }

  count(): number {
    return this.listing()?.length ?? this.total - this.firstListed;
  }

  /** The listed row at a position, 0 = newest. */
  jobAt(position: number): ApiJob {
    const order = this.listing();
    const index = order ? order[position] : this.total - 1 - position;
    if (index === undefined || position < 0 || position >= this.count()) {
      throw new RangeError(`no job at position ${position} (${this.count()} listed)`);
    }
    if (index < 0) return this.extras[-1 - index]?.raw as ApiJob;
    return this.job(index);
  }

  /** Rows from `offset`, at most `limit`, as served on a page. */
  page(offset: number, limit: number): unknown[] {
    const end = Math.min(this.count(), offset + limit);
    const rows: unknown[] = [];
    for (let p = offset; p < end; p += 1) rows.push(this.jobAt(p));
    return rows;
  }

  getById(jobId: string): ApiJob | undefined {
    // Job ids start with the base-36 index, so the lookup needs no scan.
    const match = /^job_([0-9a-z]{6})/.exec(jobId);
    if (!match?.[1]) return undefined;
    const index = parseInt(match[1], 36);
    if (index < this.firstListed || index >= this.total) return undefined;
    const job = this.job(index);
    return job.job_id === jobId ? job : undefined;
  }

  /** Every listed row, newest first: the truth tests compare against (small accounts only). */
  snapshot(): ApiJob[] {
    return this.page(0, this.count()) as ApiJob[];
  }

  mutate(jobId: string, patch: Record<string, unknown>): ApiJob {
    const job = this.getById(jobId);
    if (job === undefined) throw new Error(`no listed job ${jobId}`);
    const index = parseInt(jobId.slice(4, 10), 36);
    const changed = { ...job, ...patch } as ApiJob;
    this.overrides.set(index, changed);
    if (isSettledJob(changed)) this.unsettled.delete(index);
    else this.unsettled.add(index);
    return changed;
  }

  /** Puts an arbitrary row (a malformed one, usually) into the listing at `position`. */
  insertRaw(position: number, raw: unknown): void {
    const order = this.listing();
    const at = order ? order[position] : this.total - 1 - position;
    if (at === undefined || position < 0 || position >= this.count()) {
      throw new RangeError(`cannot insert at position ${position} (${this.count()} listed)`);
    }
    const beforeIndex = at < 0 ? (this.extras[-1 - at]?.beforeIndex ?? 0) : at;
    this.extras.push({ beforeIndex, raw });
    this.order = null;
  }

  /** Time passes: new jobs arrive at the head, unsettled jobs progress, old jobs leave the window. */
  advance(options: AdvanceOptions): AdvanceSummary {
    const from = this.now;
    this.now += options.seconds * 1000;
    this.advances += 1;
    const r = new Random((this.seed * 31 + this.advances) >>> 0);
    const summary: AdvanceSummary = { added: [], changed: [], dropped: [] };

    if (options.transitions !== false) {
      for (const index of [...this.unsettled].sort((a, b) => a - b)) {
        const before = this.job(index);
        const after = this.progress(before, this.now, r);
        if (after !== before) {
          this.overrides.set(index, after);
          summary.changed.push(after.job_id);
          if (isSettledJob(after)) this.unsettled.delete(index);
        }
      }
    }

    const arrivals = options.newJobs ?? Math.max(1, Math.round(options.seconds / 360));
    for (let k = 0; k < arrivals; k += 1) {
      const created = Math.floor(from + ((k + 1) / (arrivals + 1)) * (this.now - from));
      const index = this.total;
      this.addedCreated.push(created);
      this.addedAt.push(this.now);
      const job = this.generate(index, created, this.now);
      summary.added.push(job.job_id);
      if (!isSettledJob(job)) this.unsettled.add(index);
    }

    const horizon = this.now - this.retentionMs;
    while (this.firstListed < this.total && this.createdAt(this.firstListed) < horizon) {
      summary.dropped.push(this.job(this.firstListed).job_id);
      this.unsettled.delete(this.firstListed);
      this.overrides.delete(this.firstListed);
      this.firstListed += 1;
    }
    this.order = null;
    return summary;
  }

  private progress(job: ApiJob, at: number, r: Random): ApiJob {
    const created = Date.parse(
      typeof job.datetime_created === 'string' ? job.datetime_created : iso(this.now),
    );
    const status = String(job.status).toUpperCase();
    const next: ApiJob = { ...job };
    if (status === 'SUCCEEDED' && job.job_cost === null) {
      // The cost of a finished job arrives after its status: the "cost fill".
      const rows = Number(job.num_rows);
      next.input_tokens = rows * r.int(50, 2_000);
      next.output_tokens = rows * r.int(10, 800);
      next.job_cost = money(Number(job.cost_estimate) * (0.7 + r.next() * 0.6));
      return next;
    }
    if (EARLY_STATUSES.includes(status as (typeof EARLY_STATUSES)[number])) {
      next.status = r.chance(0.8) ? 'RUNNING' : 'QUEUED';
      if (next.status === 'RUNNING')
        next.datetime_started = iso(Math.min(at, created + r.int(5, 600) * 1000));
      return next.status === job.status ? job : next;
    }
    if (status === 'RUNNING' || status === 'CANCELLING') {
      if (!r.chance(0.7)) return job;
      const started = Date.parse(
        typeof job.datetime_started === 'string' ? job.datetime_started : iso(created),
      );
      const completed = Math.min(at, started + r.int(60, 7_200) * 1000);
      const outcome = status === 'CANCELLING' ? 'CANCELLED' : r.chance(0.9) ? 'SUCCEEDED' : 'FAILED';
      const rows = Number(job.num_rows);
      const estimate = Number(job.cost_estimate);
      this.finish(
        next,
        outcome,
        started,
        completed,
        rows * r.int(50, 2_000),
        rows * r.int(10, 800),
        money(estimate * (0.7 + r.next() * 0.6)),
        r,
      );
      // Some succeeded jobs are listed before their cost is known.
      if (outcome === 'SUCCEEDED' && r.chance(0.15)) {
        next.job_cost = null;
        next.input_tokens = null;
        next.output_tokens = null;
      }
      return next;
    }
    return job;
  }
}

/** Mirrors sutro-sync's own rule, which the simulator must not import (it stands for the API). */
function isSettledJob(job: ApiJob): boolean {
  const status = String(job.status).toUpperCase();
  if (status === 'FAILED' || status === 'CANCELLED') return true;
  return status === 'SUCCEEDED' && job.job_cost !== null && job.datetime_completed !== null;
}
