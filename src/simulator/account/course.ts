import {
  DESCRIPTIONS,
  FAILURES,
  MODELS,
  NAMES,
  OUTCOMES,
  OUTPUT_SCHEMA_KINDS,
  PARTIAL_COSTS,
  REGIONS,
  SYSTEM_PROMPTS,
  outputSchema,
  type FailureReason,
  type Outcome,
} from './catalogue.js';
import { HOUR, MINUTE, SECOND } from './datetime.js';
import { Random } from './random.js';

/**
 * The course of a job, as pure functions: `planJob` draws everything about a job from (seed, index),
 * and `stateAt` reads that plan at a moment. Nothing here keeps state; the account keeps the few
 * courses that were changed by hand.
 */

/** When each event of a job's course happens, in epoch ms. */
export interface Timing {
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

/** The real API's harmless oddities a job shows, when the account has them. */
export interface Quirks {
  readonly lowerCaseStatus: boolean;
  readonly costAsText: boolean;
  readonly estimateAsText: boolean;
  readonly tokensAsText: boolean;
  readonly hugeInput: boolean;
  readonly nullCreated: boolean;
  readonly region: string | null;
}

/** Everything about a job that does not depend on the time. */
export interface JobPlan {
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
  /** False for a run that is never billed: a succeeded dry run gets no tokens and no cost, ever. */
  readonly billed: boolean;
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
  /** The course as planned; the account may have replaced it (paused, finished early). */
  readonly timing: Timing;
  readonly quirks: Quirks | null;
}

/** What a job's course shows at one moment. */
export interface CourseState {
  readonly status: string;
  readonly startedAt: number | null;
  readonly completedAt: number | null;
  readonly inputTokens: number | null;
  readonly outputTokens: number | null;
  readonly cost: number | null;
  readonly failure: FailureReason | null;
}

const MIN_QUEUE = 5 * SECOND;
const MAX_QUEUE = 20 * MINUTE;
const MIN_RUN = 30 * SECOND;
const MAX_RUN = 2 * HOUR;
const MAX_CANCELLING = 5 * MINUTE;
const MAX_COST_DELAY = 30 * MINUTE;
/** No job's natural course lasts longer, so older jobs are settled and need no looking at. */
export const LONGEST_COURSE = MAX_QUEUE + MAX_RUN + MAX_CANCELLING + MAX_COST_DELAY;

/** USD rounded to 6 decimals, as the API bills. */
function money(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** What an account asks of the jobs it plans. */
export interface PlanOptions {
  /** The real API's harmless oddities on a few jobs. */
  readonly quirks: boolean;
  /** Dry runs (run_type other than FULL) that succeed without ever getting tokens or a cost. */
  readonly unbilledDryRuns: boolean;
}

/**
 * Job `index` of the account with `seed`, created at `created`. Its draws come in a fixed order from
 * its own generator, so no job depends on any other, and adding a draw at the end changes nothing
 * before it.
 */
export function planJob(
  seed: number,
  index: number,
  created: number,
  jobId: string,
  options: PlanOptions,
): JobPlan {
  const r = Random.for(seed, index);
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
  const schemaKind = r.chance(0.3) ? r.int(0, OUTPUT_SCHEMA_KINDS - 1) : null;
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

  const quirks = options.quirks ? quirksOf(seed, index) : null;
  const billed = !(dryRun && options.unbilledDryRuns);
  const inputTokens = quirks?.hugeInput ? 3_000_000_000 : numRows * inputPerRow;
  const outputTokens = numRows * outputPerRow;
  const cost = money((inputTokens * model.input + outputTokens * model.output) / 1e6);

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
    // A run never billed has no cost to wait for: it is settled when it ends.
    timing = {
      stages,
      startedAt: started,
      cancellingAt: null,
      endAt,
      costAt: billed ? endAt + costDelayMs : endAt,
    };
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
    jobId,
    created,
    outcome,
    model: model.name,
    systemPrompt,
    priority,
    jsonSchema: schemaKind === null ? null : outputSchema(schemaKind),
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
    billed,
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
function quirksOf(seed: number, index: number): Quirks {
  const q = Random.for(seed, index, 2);
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

/** The job of `plan`, following `timing`, as it stands at `t`. */
export function stateAt(plan: JobPlan, timing: Timing, t: number): CourseState {
  if (t >= timing.endAt) {
    const succeeded = plan.outcome === 'SUCCEEDED';
    // Until the cost is known, neither are the tokens: the API fills both at once.
    const figures = succeeded
      ? plan.billed && t >= timing.costAt
        ? { inputTokens: plan.inputTokens, outputTokens: plan.outputTokens, cost: plan.cost }
        : null
      : timing.startedAt !== null
        ? plan.partial
        : null;
    return {
      status: plan.outcome,
      startedAt: timing.startedAt,
      completedAt: timing.endAt,
      inputTokens: figures?.inputTokens ?? null,
      outputTokens: figures?.outputTokens ?? null,
      cost: figures?.cost ?? null,
      failure: plan.outcome === 'FAILED' ? plan.failure : null,
    };
  }
  const unfinished = { completedAt: null, inputTokens: null, outputTokens: null, cost: null, failure: null };
  if (timing.startedAt !== null && t >= timing.startedAt) {
    const cancelling = timing.cancellingAt !== null && t >= timing.cancellingAt;
    return { ...unfinished, status: cancelling ? 'CANCELLING' : 'RUNNING', startedAt: timing.startedAt };
  }
  let status = 'PENDING';
  for (const [stage, from] of timing.stages) if (from <= t) status = stage;
  return { ...unfinished, status, startedAt: null };
}

export function isSettledAt(timing: Timing, t: number): boolean {
  return t >= timing.endAt && t >= timing.costAt;
}

export function hasEndedAt(timing: Timing, t: number): boolean {
  return t >= timing.endAt;
}

/** The course with every event after `after` moved `delta` ms later: a job paused meanwhile. */
export function shifted(timing: Timing, after: number, delta: number): Timing {
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
export function finishedBy(
  timing: Timing,
  outcome: Outcome,
  created: number,
  since: number,
  at: number,
): Timing {
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
