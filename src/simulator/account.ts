import { Random } from './random.js';

/**
 * A job as list-jobs serves it, fields in the reference's order. The types are those of a clean job;
 * the quirks (see `AccountOptions.quirks`), `mutate` and `insertRaw` can put other values in.
 */
export interface ApiJob {
  model: string;
  system_prompt: string | null;
  job_priority: number;
  status: string;
  datetime_created: string | null;
  datetime_started: string | null;
  datetime_completed: string | null;
  json_schema: Record<string, unknown> | null;
  sampling_params: Record<string, unknown>;
  name: string | null;
  description: string | null;
  dataset_id: string | null;
  input_tokens: number | string | null;
  output_tokens: number | string | null;
  job_cost: number | string | null;
  num_rows: number | null;
  failure_reason: { message: string; code: string } | null;
  cost_estimate: number | string | null;
  run_type: string;
  job_id: string;
  [extra: string]: unknown;
}

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

type Outcome = 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
type FailureReason = { readonly message: string; readonly code: string };

/** When each event of a job's course happens, in epoch ms. */
interface Timing {
  /** The statuses before a job starts, each with the moment it began; the first at creation. */
  readonly stages: readonly (readonly [status: string, from: number])[];
  /** Null for a job cancelled before it started. */
  readonly startedAt: number | null;
  readonly cancellingAt: number | null;
  /** When the job reached its terminal status. */
  readonly endAt: number;
  /** When a succeeded job's tokens and cost are known; later than endAt for a "cost fill". */
  readonly costAt: number;
}

interface Quirks {
  readonly lowerCaseStatus: boolean;
  readonly costAsText: boolean;
  readonly estimateAsText: boolean;
  readonly tokensAsText: boolean;
  readonly hugeInput: boolean;
  readonly nullCreated: boolean;
  readonly region: string | null;
}

/** Everything about a job that does not depend on the time: a pure function of (seed, index). */
interface Blueprint {
  readonly jobId: string;
  readonly created: number;
  readonly outcome: Outcome;
  readonly model: string;
  readonly systemPrompt: string | null;
  readonly priority: number;
  readonly jsonSchema: Record<string, unknown> | null;
  readonly samplingParams: Record<string, unknown>;
  readonly name: string | null;
  readonly description: string | null;
  readonly datasetId: string | null;
  readonly numRows: number;
  readonly runType: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cost: number;
  readonly costEstimate: number;
  /** What a failed or cancelled job reports of the work it did. */
  readonly partial: {
    readonly inputTokens: number | null;
    readonly outputTokens: number | null;
    readonly cost: number | null;
  };
  readonly failure: FailureReason;
  readonly timing: Timing;
  readonly quirks: Quirks | null;
}

const SECOND = 1_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const MIN_QUEUE = 5 * SECOND;
const MAX_QUEUE = 20 * MINUTE;
const MIN_RUN = 30 * SECOND;
const MAX_RUN = 2 * HOUR;
const MAX_CANCELLING = 5 * MINUTE;
const MAX_COST_DELAY = 30 * MINUTE;
/** No job's natural course lasts longer, so older jobs are settled and need no looking at. */
const LONGEST_COURSE = MAX_QUEUE + MAX_RUN + MAX_CANCELLING + MAX_COST_DELAY;

/** A fresh account has work in flight: its newest jobs are packed into the last two hours. */
const RECENT_SPAN = 2 * HOUR;
const RECENT_JOBS = 60;
/** Creation times are distinct milliseconds only if neighbours are at least this far apart. */
const MIN_STEP = 20;

const DEFAULT_NOW = '2026-11-01T00:00:00Z';

/** Prices in USD per million input and output tokens; small models are the workhorses. */
const MODELS: readonly (readonly [
  model: { readonly name: string; readonly input: number; readonly output: number },
  weight: number,
])[] = [
  [{ name: 'llama-3.1-8b', input: 0.05, output: 0.08 }, 35],
  [{ name: 'llama-3.3-70b', input: 0.3, output: 0.45 }, 20],
  [{ name: 'qwen-3-32b', input: 0.15, output: 0.3 }, 20],
  [{ name: 'gemma-3-12b', input: 0.08, output: 0.12 }, 15],
  [{ name: 'gpt-oss-120b', input: 0.25, output: 0.6 }, 10],
];

/** USD per million input and output tokens, by model: job_cost is tokens times these, to 6 decimals. */
export const MODEL_PRICES: Readonly<Record<string, { readonly input: number; readonly output: number }>> =
  Object.fromEntries(MODELS.map(([{ name, input, output }]) => [name, { input, output }]));
const OUTCOMES: readonly (readonly [Outcome, number])[] = [
  ['SUCCEEDED', 88],
  ['FAILED', 8],
  ['CANCELLED', 4],
];
const PARTIAL_COSTS = [
  ['zero', 50],
  ['null', 25],
  ['partial', 25],
] as const;
const SYSTEM_PROMPTS = [
  'You are a helpful assistant.',
  'You are a customer support agent. Answer politely and concisely.',
  'Classify the text into exactly one of the given labels. Answer with the label only.',
  'Extract the requested fields from the document as JSON.',
  'Summarize the text in at most three sentences.',
];
/** Name prefixes are what analysts group by, so they repeat; the topics and numbers vary. */
const NAMES: readonly (readonly [prefix: string, topics: readonly string[]])[] = [
  ['support-', ['tickets', 'chat-replies', 'email-triage']],
  ['eval-', ['mmlu', 'gsm8k', 'regression', 'helpfulness']],
  ['classify-', ['intent', 'sentiment', 'topic', 'spam']],
  ['extract-', ['invoices', 'entities', 'contacts']],
  ['summarize-', ['calls', 'articles', 'reviews']],
  ['translate-', ['de', 'fr', 'ja', 'es']],
];
const DESCRIPTIONS = [
  'Processing customer inquiries',
  'Nightly batch from the data warehouse',
  'Benchmark run before the model upgrade',
  'Backfill of last quarter',
  'Submitted from the Python SDK',
];
const FAILURES: readonly FailureReason[] = [
  { message: 'Input dataset contains malformed rows', code: 'invalid_input' },
  { message: 'Model replica ran out of memory', code: 'out_of_memory' },
  { message: 'Output did not match the JSON schema', code: 'schema_violation' },
  { message: 'Job exceeded its maximum run time', code: 'timeout' },
  { message: 'Internal error; the job can be retried', code: 'internal_error' },
];
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'];

function jsonSchema(kind: number): Record<string, unknown> {
  if (kind === 0) {
    return {
      type: 'object',
      properties: { label: { type: 'string', enum: ['positive', 'negative', 'neutral'] } },
      required: ['label'],
    };
  }
  if (kind === 1) {
    return {
      type: 'object',
      properties: { name: { type: 'string' }, email: { type: 'string' }, amount: { type: 'number' } },
      required: ['name'],
    };
  }
  return { type: 'object', properties: { summary: { type: 'string', maxLength: 500 } } };
}

/** USD rounded to 6 decimals, as the API bills. */
function money(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);
/** The date part of the last day formatted: neighbouring jobs share it, and Date is slow at this. */
let isoDay = Number.NaN;
let isoDayPrefix = '';

/** What `new Date(ms).toISOString()` says, several times faster, for the page after page of a big account. */
function iso(ms: number): string {
  const day = Math.floor(ms / DAY);
  if (day !== isoDay) {
    isoDay = day;
    isoDayPrefix = new Date(day * DAY).toISOString().slice(0, 11);
  }
  const rest = ms - day * DAY;
  return `${isoDayPrefix}${pad2(Math.floor(rest / HOUR))}:${pad2(Math.floor(rest / MINUTE) % 60)}:${pad2(
    Math.floor(rest / SECOND) % 60,
  )}.${pad3(rest % SECOND)}Z`;
}

/**
 * Job ids encode the index through an invertible scramble of 32 bits, so that getById needs no
 * index of ids, yet ids do not sort like creation times (a sync must not rely on that).
 */
const ID_MULTIPLIER = 0x2c1b3c6d;
const ID_MIXER = 0x5bd1e995;
const ID_MULTIPLIER_INVERSE = inverse32(ID_MULTIPLIER);
const ID_MIXER_INVERSE = inverse32(ID_MIXER);
const ID_PATTERN = /^job_([0-9a-z]{7})[0-9a-f]{6}$/;

/** The multiplicative inverse of an odd number modulo 2^32, by Newton's iteration. */
function inverse32(odd: number): number {
  let inverse = odd;
  for (let i = 0; i < 5; i += 1) inverse = Math.imul(inverse, 2 - Math.imul(odd, inverse));
  return inverse >>> 0;
}

function scrambleIndex(index: number, salt: number): number {
  let x = (Math.imul(index, ID_MULTIPLIER) + salt) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return Math.imul(x, ID_MIXER) >>> 0;
}

function unscrambleIndex(value: number, salt: number): number {
  let x = Math.imul(value, ID_MIXER_INVERSE) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return Math.imul((x - salt) >>> 0, ID_MULTIPLIER_INVERSE) >>> 0;
}

function shifted(timing: Timing, after: number, delta: number): Timing {
  const move = (at: number) => (at > after ? at + delta : at);
  return {
    stages: timing.stages.map(([status, from]) => [status, move(from)] as const),
    startedAt: timing.startedAt === null ? null : move(timing.startedAt),
    cancellingAt: timing.cancellingAt === null ? null : move(timing.cancellingAt),
    endAt: move(timing.endAt),
    costAt: move(timing.costAt),
  };
}

/**
 * The course of a job made to finish at `at`, with figures known at once. `since` is when it was
 * last seen unfinished, so that a start filled in now lies after what was listed before.
 */
function finishedBy(timing: Timing, outcome: Outcome, created: number, since: number, at: number): Timing {
  const startedBefore = timing.startedAt !== null && timing.startedAt <= at ? timing.startedAt : null;
  if (outcome === 'CANCELLED') {
    const cancelling =
      startedBefore !== null && timing.cancellingAt !== null && timing.cancellingAt <= at
        ? timing.cancellingAt
        : null;
    return { ...timing, startedAt: startedBefore, cancellingAt: cancelling, endAt: at, costAt: at };
  }
  const startedAt = startedBefore ?? Math.floor((Math.max(created, since) + at) / 2);
  return { ...timing, startedAt, cancellingAt: null, endAt: at, costAt: at };
}

function isSettledAt(timing: Timing, t: number): boolean {
  return t >= timing.endAt && t >= timing.costAt;
}

function hasEndedAt(timing: Timing, t: number): boolean {
  return t >= timing.endAt;
}

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
  private readonly quirks: boolean;
  private readonly retentionMs: number;
  private readonly idSalt: number;
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
    this.quirks = options.quirks ?? true;
    this.retentionMs = retentionDays * DAY;
    this.idSalt = Random.for(options.seed, -1, 3).int(0, 0xffffffff);
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

  /** The scrambled index, then six hex digits that make ids look like the API's random ones. */
  private jobIdOf(index: number): string {
    const scrambled = scrambleIndex(index, this.idSalt);
    const tail = (Math.imul(scrambled ^ this.idSalt, 0x9e3779b1) >>> 8).toString(16).padStart(6, '0');
    return `job_${scrambled.toString(36).padStart(7, '0')}${tail}`;
  }

  private indexOfId(jobId: string): number | undefined {
    const match = ID_PATTERN.exec(jobId);
    if (!match?.[1]) return undefined;
    const index = unscrambleIndex(parseInt(match[1], 36), this.idSalt);
    if (index < this.firstListed || index >= this.total || this.jobIdOf(index) !== jobId) return undefined;
    return index;
  }

  private blueprint(index: number): Blueprint {
    const r = Random.for(this.seed, index);
    const model = r.weighted(MODELS);
    const dryRun = r.chance(0.03);
    const numRows = dryRun ? r.int(5, 20) : r.logUniform(10, 50_000);
    const maxTokens = r.pick([256, 512, 1024, 2048, 4096]);
    const temperature = r.pick([0, 0.2, 0.7, 1]);
    const inputPerRow = r.int(50, 2_000);
    const outputPerRow = r.int(10, Math.min(800, maxTokens));
    const estimateRatio = r.between(0.75, 1.25);
    const systemPrompt = r.chance(0.7) ? r.pick(SYSTEM_PROMPTS) : null;
    const priority = r.chance(0.2) ? 1 : 0;
    const schemaKind = r.chance(0.3) ? r.int(0, 2) : null;
    const samplingSeed = r.chance(0.2) ? r.int(1, 10_000) : null;
    const [prefix, topics] = r.pick(NAMES);
    const named = r.chance(0.85);
    const name = `${prefix}${r.pick(topics)}-${r.int(1, 999)}`;
    const description = r.chance(0.5) ? r.pick(DESCRIPTIONS) : null;
    const datasetId = r.chance(0.75) ? `dataset_${r.hex(10)}` : null;
    const queueMs = r.int(MIN_QUEUE, MAX_QUEUE);
    const runMs = r.logUniform(MIN_RUN, MAX_RUN);
    const outcome = r.weighted(OUTCOMES);
    const unknownAtFirst = r.chance(0.03);
    // How far through its run (or queue) a failed or cancelled job got.
    const progress = r.between(0.05, 0.95);
    const cancelledBeforeStart = r.chance(0.4);
    const cancellingMs = r.int(10 * SECOND, MAX_CANCELLING);
    const costDelayMs = r.chance(0.15) ? r.int(MINUTE, MAX_COST_DELAY) : 0;
    const failure = r.pick(FAILURES);
    const partialTokens = r.chance(0.6);
    const partialCost = r.weighted(PARTIAL_COSTS);

    const quirks = this.quirks ? this.quirksOf(index) : null;
    const inputTokens = quirks?.hugeInput ? 3_000_000_000 : numRows * inputPerRow;
    const outputTokens = numRows * outputPerRow;
    const cost = money((inputTokens * model.input + outputTokens * model.output) / 1e6);

    const created = this.createdAt(index);
    const stages = [
      [unknownAtFirst ? 'UNKNOWN' : 'PENDING', created],
      ['SUBMITTED', created + Math.floor(queueMs * 0.2)],
      ['QUEUED', created + Math.floor(queueMs * 0.45)],
      ['STARTING', created + Math.floor(queueMs * 0.9)],
    ] as const;
    const started = created + queueMs;
    let timing: Timing;
    if (outcome === 'SUCCEEDED') {
      const endAt = started + runMs;
      timing = { stages, startedAt: started, cancellingAt: null, endAt, costAt: endAt + costDelayMs };
    } else if (outcome === 'FAILED') {
      const endAt = started + Math.floor(runMs * progress);
      timing = { stages, startedAt: started, cancellingAt: null, endAt, costAt: endAt };
    } else if (cancelledBeforeStart) {
      const endAt = created + Math.floor(queueMs * progress);
      timing = { stages, startedAt: null, cancellingAt: null, endAt, costAt: endAt };
    } else {
      const cancellingAt = started + Math.floor(runMs * progress);
      const endAt = cancellingAt + cancellingMs;
      timing = { stages, startedAt: started, cancellingAt, endAt, costAt: endAt };
    }

    return {
      jobId: this.jobIdOf(index),
      created,
      outcome,
      model: model.name,
      systemPrompt,
      priority,
      jsonSchema: schemaKind === null ? null : jsonSchema(schemaKind),
      samplingParams: {
        temperature,
        top_p: temperature === 0 ? 1 : 0.95,
        max_tokens: maxTokens,
        ...(samplingSeed === null ? {} : { seed: samplingSeed }),
      },
      name: named ? name : null,
      description,
      datasetId,
      numRows,
      runType: dryRun ? 'DRY_RUN' : 'FULL',
      inputTokens,
      outputTokens,
      cost,
      costEstimate: money(cost / estimateRatio),
      partial: {
        inputTokens: partialTokens ? Math.round(inputTokens * progress) : null,
        outputTokens: partialTokens ? Math.round(outputTokens * progress) : null,
        cost: partialCost === 'zero' ? 0 : partialCost === 'null' ? null : money(cost * progress),
      },
      failure,
      timing,
      quirks,
    };
  }

  /** Drawn from their own stream, so that switching quirks off leaves every other field as it was. */
  private quirksOf(index: number): Quirks {
    const q = Random.for(this.seed, index, 2);
    return {
      lowerCaseStatus: q.chance(0.004),
      costAsText: q.chance(0.004),
      estimateAsText: q.chance(0.003),
      tokensAsText: q.chance(0.004),
      hugeInput: q.chance(0.002),
      nullCreated: q.chance(0.002),
      region: q.chance(0.003) ? q.pick(REGIONS) : null,
    };
  }

  private timingOf(index: number, blueprint: Blueprint): Timing {
    return this.timings.get(index) ?? blueprint.timing;
  }

  /** Job `index` as listed at time `t`. */
  private render(index: number, t: number): ApiJob {
    const b = this.blueprint(index);
    const timing = this.timingOf(index, b);
    const job: ApiJob = {
      model: b.model,
      system_prompt: b.systemPrompt,
      job_priority: b.priority,
      status: 'PENDING',
      datetime_created: iso(b.created),
      datetime_started: null,
      datetime_completed: null,
      json_schema: b.jsonSchema,
      sampling_params: b.samplingParams,
      name: b.name,
      description: b.description,
      dataset_id: b.datasetId,
      input_tokens: null,
      output_tokens: null,
      job_cost: null,
      num_rows: b.numRows,
      failure_reason: null,
      cost_estimate: b.costEstimate,
      run_type: b.runType,
      job_id: b.jobId,
    };
    if (t >= timing.endAt) {
      job.status = b.outcome;
      job.datetime_started = timing.startedAt === null ? null : iso(timing.startedAt);
      job.datetime_completed = iso(timing.endAt);
      if (b.outcome === 'SUCCEEDED') {
        // Until the cost is known, neither are the tokens: the API fills both at once.
        if (t >= timing.costAt) {
          job.input_tokens = b.inputTokens;
          job.output_tokens = b.outputTokens;
          job.job_cost = b.cost;
        }
      } else if (timing.startedAt !== null) {
        job.input_tokens = b.partial.inputTokens;
        job.output_tokens = b.partial.outputTokens;
        job.job_cost = b.partial.cost;
      }
      if (b.outcome === 'FAILED') job.failure_reason = { ...b.failure };
    } else if (timing.startedAt !== null && t >= timing.startedAt) {
      job.status = timing.cancellingAt !== null && t >= timing.cancellingAt ? 'CANCELLING' : 'RUNNING';
      job.datetime_started = iso(timing.startedAt);
    } else {
      for (const [status, from] of timing.stages) if (from <= t) job.status = status;
    }

    const quirks = b.quirks;
    if (quirks !== null) {
      if (quirks.lowerCaseStatus) job.status = job.status.toLowerCase();
      if (quirks.costAsText && typeof job.job_cost === 'number') job.job_cost = String(job.job_cost);
      if (quirks.estimateAsText && typeof job.cost_estimate === 'number')
        job.cost_estimate = String(job.cost_estimate);
      if (quirks.tokensAsText && typeof job.input_tokens === 'number') {
        job.input_tokens = String(job.input_tokens);
        job.output_tokens = String(job.output_tokens);
      }
      if (quirks.nullCreated) job.datetime_created = null;
      if (quirks.region !== null) job.region = quirks.region;
    }

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
        const timing = this.timingOf(index, this.blueprint(index));
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
      const b = this.blueprint(index);
      const timing = this.timingOf(index, b);
      if (finishing > 0 && !hasEndedAt(timing, to)) {
        this.timings.set(index, finishedBy(timing, b.outcome, b.created, from, to));
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
