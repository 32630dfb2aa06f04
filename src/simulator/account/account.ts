import {
  LONGEST_COURSE,
  finishedBy,
  hasEndedAt,
  isSettledAt,
  planJob,
  shifted,
  stateAt,
  type JobPlan,
  type PlanOptions,
  type Timing,
} from './course.js';
import { DAY, HOUR } from './datetime.js';
import { JobIds } from './ids.js';
import {
  DEFAULT_FORMAT,
  renderJob,
  type ApiJob,
  type JobFormat,
  type JobShape,
  type TimestampPrecision,
} from './job-json.js';
import { Random } from './random.js';

export interface AccountOptions {
  /** Jobs listed now. */
  readonly jobs: number;
  readonly seed: number;
  /** Days the listed jobs are spread over (default 200), at most the retention. */
  readonly days?: number;
  /** The simulated present; fixed by default so that runs are reproducible. */
  readonly now?: Date;
  /** Jobs created longer ago than this are no longer listed (default 90: the API keeps about 90 days). */
  readonly retentionDays?: number;
  /**
   * The real API's harmless oddities, each on well under 1% of jobs (default true): lower-case
   * statuses, money and tokens as numeric strings, 3,000,000,000 input tokens, a null
   * `datetime_created`, an unknown extra field.
   */
  readonly quirks?: boolean;
  /** How datetimes are printed: 'ms' (default), 'us' as the API's Python prints them, 's' as the docs show. */
  readonly timestampPrecision?: TimestampPrecision;
  /** 'current' (default) or the 'legacy' job object an older list-jobs page documents. */
  readonly jobShape?: JobShape;
  /** Every job carries fields no reference names (default false). */
  readonly extraFields?: boolean;
  /**
   * Dry runs (about 3% of jobs, run_type DRY_RUN) that succeed without ever getting tokens or a
   * job_cost, as cost-estimate runs are not billed (default false: they are billed like full runs).
   */
  readonly unbilledDryRuns?: boolean;
}

export interface AdvanceOptions {
  /** How far the clock moves. */
  readonly seconds: number;
  /** Jobs created during the interval; default: as many as arrived at the head before. */
  readonly newJobs?: number;
  /**
   * Whether jobs follow their course as time passes (queued, running, finished, cost filled);
   * default true. When false, the jobs already listed are paused: their remaining course moves
   * later by the interval, so only `finish` and `costFills` change them.
   */
  readonly transitions?: boolean;
  /** Unfinished jobs to finish now, oldest first, on top of what their course did. */
  readonly finish?: number;
  /** Succeeded jobs still without a cost to get it now, oldest first. */
  readonly costFills?: number;
}

export interface AdvanceSummary {
  /** Jobs created during the interval, oldest first. */
  readonly added: string[];
  /** Listed jobs whose JSON changed, oldest first. */
  readonly changed: string[];
  /** Jobs no longer listed because they fell out of the retention, oldest first. */
  readonly dropped: string[];
}

/** A fresh account has work in flight: its newest jobs are packed into the last two hours. */
const RECENT_SPAN = 2 * HOUR;
const RECENT_JOBS = 60;
/** Creation times are distinct milliseconds only if neighbours are at least this far apart. */
const MIN_STEP = 20;

const DEFAULT_NOW = '2026-11-01T00:00:00Z';

/** A row put into the listing by insertRaw, just above (newer than) the job `below`. */
interface RawRow {
  readonly below: number;
  readonly raw: unknown;
}

type Located =
  | { readonly kind: 'raw'; readonly slot: number }
  | { readonly kind: 'job'; readonly index: number; readonly slot: number };

/**
 * A Sutro account whose jobs are derived from (seed, index), index 0 the oldest. A job's whole
 * course (queued, running, finished, cost filled) is planned from the seed, and what it lists is
 * that course read at the account's clock; only jobs changed by hand, paused or made to finish early
 * are kept in memory, so a million-job account costs a few MB.
 */
export class SimulatedAccount {
  readonly seed: number;
  private readonly planOptions: PlanOptions;
  private readonly format: JobFormat;
  private readonly retentionMs: number;
  private readonly ids: JobIds;
  private now: number;

  private readonly baseCount: number;
  private readonly baseStart: number;
  private readonly baseStep: number;
  private readonly recentCount: number;
  private readonly recentStart: number;
  private readonly recentStep: number;
  /** Jobs per ms that arrive by default: the rate at the head of the list when the account was made. */
  private readonly arrivalRate: number;

  /** Creation times of the jobs advance() added, index baseCount + k. */
  private readonly addedCreated: number[] = [];
  /** Oldest listed index; those below fell out of the retention. */
  private firstListed = 0;
  /** Courses changed by advance(): paused or finished early. */
  private readonly timings = new Map<number, Timing>();
  /** Fields set by mutate(), which keep their values whatever the course does. */
  private readonly patches = new Map<number, Record<string, unknown>>();
  /** Rows from insertRaw, in listing order: newest first. */
  private readonly rawRows: RawRow[] = [];

  constructor(options: AccountOptions) {
    const retentionDays = options.retentionDays ?? 90;
    const days = options.days ?? 200;
    const now = (options.now ?? new Date(DEFAULT_NOW)).getTime();
    if (!Number.isSafeInteger(options.jobs) || options.jobs < 0)
      throw new RangeError(`jobs must be a non-negative integer (got ${options.jobs})`);
    if (!Number.isInteger(options.seed))
      throw new RangeError(`seed must be an integer (got ${options.seed})`);
    if (!(days > 0)) throw new RangeError(`days must be positive (got ${days})`);
    if (!(retentionDays > 0)) throw new RangeError(`retentionDays must be positive (got ${retentionDays})`);
    if (!Number.isFinite(now)) throw new RangeError('now must be a valid date');

    this.seed = options.seed;
    this.planOptions = { quirks: options.quirks ?? true, unbilledDryRuns: options.unbilledDryRuns ?? false };
    this.format = {
      precision: options.timestampPrecision ?? DEFAULT_FORMAT.precision,
      shape: options.jobShape ?? DEFAULT_FORMAT.shape,
      extraFields: options.extraFields ?? DEFAULT_FORMAT.extraFields,
      seed: options.seed,
    };
    this.retentionMs = retentionDays * DAY;
    this.ids = new JobIds(options.seed);
    this.now = now;
    this.baseCount = options.jobs;

    // The oldest jobs stay a little inside the retention, so that they do not leave at the first advance.
    const spanMs = Math.min(days * DAY, this.retentionMs - Math.min(HOUR, this.retentionMs / 10));
    const recentSpan = Math.min(RECENT_SPAN, spanMs / 4);
    const recentCount = Math.min(RECENT_JOBS, Math.floor(options.jobs / 20));
    // A busy account already has many jobs in its last hours; packing would thin them out.
    const pack = recentCount > 0 && (spanMs / options.jobs) * recentCount > recentSpan;
    this.recentCount = pack ? recentCount : 0;
    this.recentStart = pack ? now - recentSpan : now;
    this.recentStep = pack ? recentSpan / recentCount : 0;
    this.baseStart = now - spanMs;
    this.baseStep = (this.recentStart - this.baseStart) / Math.max(1, options.jobs - this.recentCount);
    if (options.jobs > 0 && Math.min(this.baseStep, pack ? this.recentStep : Infinity) < MIN_STEP) {
      throw new RangeError(`${options.jobs} jobs do not fit in ${days} days with distinct creation times`);
    }
    // An empty account has no rate of its own to keep: it gets a job every ten minutes.
    this.arrivalRate =
      options.jobs === 0 ? 6 / HOUR : pack ? recentCount / recentSpan : options.jobs / spanMs;
  }

  /** The job object this account's jobs are listed in. */
  get jobShape(): JobShape {
    return this.format.shape;
  }

  get currentTime(): Date {
    return new Date(this.now);
  }

  private get total(): number {
    return this.baseCount + this.addedCreated.length;
  }

  /** Strictly increasing with the index; a jitter below 0.9 of a step keeps neighbours apart. */
  private createdAt(index: number): number {
    if (index >= this.baseCount) return this.addedCreated[index - this.baseCount] ?? this.now;
    const jitter = Random.for(this.seed, index, 1).next() * 0.9;
    const recentIndex = index - (this.baseCount - this.recentCount);
    if (recentIndex >= 0) return Math.floor(this.recentStart + (recentIndex + jitter) * this.recentStep);
    return Math.floor(this.baseStart + (index + jitter) * this.baseStep);
  }

  private jobIdOf(index: number): string {
    return this.ids.idOf(index);
  }

  private indexOfId(jobId: string): number | undefined {
    const index = this.ids.indexOf(jobId);
    return index === undefined || index < this.firstListed || index >= this.total ? undefined : index;
  }

  private plan(index: number): JobPlan {
    return planJob(this.seed, index, this.createdAt(index), this.jobIdOf(index), this.planOptions);
  }

  private timingOf(index: number, plan: JobPlan): Timing {
    return this.timings.get(index) ?? plan.timing;
  }

  /** Job `index` as listed at time `t`, with the fields set by hand. */
  private render(index: number, t: number): ApiJob {
    const plan = this.plan(index);
    const job = renderJob(plan, stateAt(plan, this.timingOf(index, plan), t), this.format);
    const patch = this.patches.get(index);
    if (patch !== undefined) {
      for (const [field, value] of Object.entries(structuredClone(patch))) {
        if (value === undefined) delete job[field];
        else job[field] = value;
      }
    }
    return job;
  }

  /** Where a listing position falls; `slot` is the index in rawRows at or after which it lies. */
  private locate(position: number): Located {
    let slot = 0;
    for (const row of this.rawRows) {
      const rowPosition = this.total - 1 - row.below + slot;
      if (rowPosition === position) return { kind: 'raw', slot };
      if (rowPosition > position) break;
      slot += 1;
    }
    return { kind: 'job', index: this.total - 1 - (position - slot), slot };
  }

  private checkPosition(position: number, allowEnd: boolean): void {
    const limit = allowEnd ? this.count() : this.count() - 1;
    if (!Number.isInteger(position) || position < 0 || position > limit) {
      throw new RangeError(`no position ${position}: ${this.count()} rows are listed`);
    }
  }

  /** Rows listed now: jobs within the retention and raw rows. */
  count(): number {
    return this.total - this.firstListed + this.rawRows.length;
  }

  /** The listed row at a position, 0 = newest; a row from insertRaw comes back as it was given. */
  jobAt(position: number): ApiJob {
    this.checkPosition(position, false);
    const at = this.locate(position);
    if (at.kind === 'raw') return structuredClone(this.rawRows[at.slot]?.raw) as ApiJob;
    return this.render(at.index, this.now);
  }

  /** Rows from `offset`, at most `limit`, newest first, as served on a page. */
  page(offset: number, limit: number): unknown[] {
    const end = Math.min(this.count(), offset + limit);
    const rows: unknown[] = [];
    for (let position = Math.max(0, offset); position < end; position += 1) rows.push(this.jobAt(position));
    return rows;
  }

  getById(jobId: string): ApiJob | undefined {
    const index = this.indexOfId(jobId);
    if (index !== undefined) return this.render(index, this.now);
    const row = this.rawRows.find((r) => (r.raw as { job_id?: unknown } | null)?.job_id === jobId);
    return row === undefined ? undefined : (structuredClone(row.raw) as ApiJob);
  }

  /** Every listed row, newest first: the truth tests compare against (small accounts only). */
  snapshot(): ApiJob[] {
    return this.page(0, this.count()) as ApiJob[];
  }

  /**
   * Sets fields of a listed job. They keep these values from now on, while the other fields go on
   * following the job's course; a field set to `undefined` is left out of the JSON.
   */
  mutate(jobId: string, patch: Readonly<Record<string, unknown>>): ApiJob {
    if ('job_id' in patch && patch.job_id !== jobId) throw new Error('mutate cannot change a job_id');
    const index = this.indexOfId(jobId);
    if (index !== undefined) {
      this.patches.set(index, { ...this.patches.get(index), ...structuredClone(patch) });
      return this.render(index, this.now);
    }
    const row = this.rawRows.find((r) => (r.raw as { job_id?: unknown } | null)?.job_id === jobId);
    if (row === undefined || typeof row.raw !== 'object' || row.raw === null)
      throw new Error(`no listed job ${jobId}`);
    Object.assign(row.raw, structuredClone(patch));
    return structuredClone(row.raw) as ApiJob;
  }

  /**
   * Puts an arbitrary row (a malformed one, usually) into the listing at `position` (0..count()),
   * pushing the row there and those after it one position down. It leaves the listing with the job
   * just above it, or at the first advance when it was put at the end.
   */
  insertRaw(position: number, raw: unknown): void {
    this.checkPosition(position, true);
    const row = structuredClone(raw);
    if (position === this.count()) {
      this.rawRows.push({ below: this.firstListed - 1, raw: row });
      return;
    }
    const at = this.locate(position);
    const below = at.kind === 'raw' ? (this.rawRows[at.slot]?.below ?? this.firstListed - 1) : at.index;
    this.rawRows.splice(at.slot, 0, { below, raw: row });
  }

  /** First index created after `t`, by binary search over the strictly increasing creation times. */
  private firstCreatedAfter(t: number): number {
    let low = this.firstListed;
    let high = this.total;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.createdAt(mid) > t) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  /** Indices that may change after `t`, ascending. */
  private unsettledAt(t: number): number[] {
    const recent = this.firstCreatedAfter(t - LONGEST_COURSE);
    const indices: number[] = [];
    for (const [index, timing] of this.timings) {
      if (index >= this.firstListed && index < recent && !isSettledAt(timing, t)) indices.push(index);
    }
    indices.sort((a, b) => a - b);
    for (let index = recent; index < this.total; index += 1) indices.push(index);
    return indices;
  }

  /** Time passes: new jobs arrive at the head, jobs follow their course, old jobs leave the listing. */
  advance(options: AdvanceOptions): AdvanceSummary {
    const { seconds, newJobs, finish = 0, costFills = 0 } = options;
    if (!Number.isFinite(seconds) || seconds < 0)
      throw new RangeError(`seconds must be a non-negative number (got ${seconds})`);
    for (const [name, value] of [
      ['newJobs', newJobs ?? 0],
      ['finish', finish],
      ['costFills', costFills],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0)
        throw new RangeError(`${name} must be a non-negative integer (got ${value})`);
    }
    const from = this.now;
    let to = from + Math.round(seconds * 1000);
    const summary: AdvanceSummary = { added: [], changed: [], dropped: [] };

    const candidates = this.unsettledAt(from);
    const before = new Map(candidates.map((index) => [index, JSON.stringify(this.render(index, from))]));
    if (options.transitions === false) {
      for (const index of candidates) {
        const timing = this.timingOf(index, this.plan(index));
        if (!isSettledAt(timing, from)) this.timings.set(index, shifted(timing, from, to - from));
      }
    }

    const arrivals = newJobs ?? Math.round(this.arrivalRate * (to - from));
    let previous = this.total > 0 ? this.createdAt(this.total - 1) : -Infinity;
    for (let k = 0; k < arrivals; k += 1) {
      const created = Math.max(previous + 1, Math.floor(from + ((k + 1) / (arrivals + 1)) * (to - from)));
      this.addedCreated.push(created);
      summary.added.push(this.jobIdOf(this.total - 1));
      previous = created;
    }
    // Arrivals need distinct milliseconds: a short interval with many of them lasts a little longer.
    to = Math.max(to, previous);
    this.now = to;

    let finishing = finish;
    let filling = costFills;
    for (const index of candidates) {
      if (finishing === 0 && filling === 0) break;
      // A job changed by hand shows what the test made of it; its course is not to be touched.
      if (this.patches.has(index)) continue;
      const plan = this.plan(index);
      const timing = this.timingOf(index, plan);
      if (finishing > 0 && !hasEndedAt(timing, to)) {
        this.timings.set(index, finishedBy(timing, plan.outcome, plan.created, from, to));
        finishing -= 1;
      } else if (filling > 0 && hasEndedAt(timing, to) && !isSettledAt(timing, to)) {
        this.timings.set(index, { ...timing, costAt: to });
        filling -= 1;
      }
    }

    const horizon = to - this.retentionMs;
    while (this.firstListed < this.total && this.createdAt(this.firstListed) < horizon) {
      summary.dropped.push(this.jobIdOf(this.firstListed));
      this.timings.delete(this.firstListed);
      this.patches.delete(this.firstListed);
      this.firstListed += 1;
    }
    for (let slot = this.rawRows.length - 1; slot >= 0; slot -= 1) {
      const row = this.rawRows[slot] as RawRow;
      if (row.below >= this.firstListed - 1) break;
      this.rawRows.splice(slot, 1);
      const jobId = (row.raw as { job_id?: unknown } | null)?.job_id;
      if (typeof jobId === 'string') summary.dropped.push(jobId);
    }

    for (const index of candidates) {
      if (index < this.firstListed) continue;
      const after = this.render(index, to);
      if (JSON.stringify(after) !== before.get(index)) summary.changed.push(after.job_id);
    }
    return summary;
  }
}
