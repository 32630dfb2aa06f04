import type { TerminalJobStatus } from '../../sutro/job-fields.js';

/**
 * What a simulated account's jobs are made of: models and their prices, outcomes, prompts, names,
 * descriptions and failures, with the weights that make a listing look like a real account's.
 */

/** How a simulated job ends. */
export type Outcome = TerminalJobStatus;
export type FailureReason = { readonly message: string; readonly code: string };

export interface Model {
  readonly name: string;
  /** USD per million input tokens. */
  readonly input: number;
  /** USD per million output tokens. */
  readonly output: number;
}

/** Small models are the workhorses. */
export const MODELS: readonly (readonly [model: Model, weight: number])[] = [
  [{ name: 'llama-3.1-8b', input: 0.05, output: 0.08 }, 35],
  [{ name: 'llama-3.3-70b', input: 0.3, output: 0.45 }, 20],
  [{ name: 'qwen-3-32b', input: 0.15, output: 0.3 }, 20],
  [{ name: 'gemma-3-12b', input: 0.08, output: 0.12 }, 15],
  [{ name: 'gpt-oss-120b', input: 0.25, output: 0.6 }, 10],
];

/** USD per million input and output tokens, by model: job_cost is tokens times these, to 6 decimals. */
export const MODEL_PRICES: Readonly<Record<string, { readonly input: number; readonly output: number }>> =
  Object.fromEntries(MODELS.map(([{ name, input, output }]) => [name, { input, output }]));

export const OUTCOMES: readonly (readonly [Outcome, number])[] = [
  ['SUCCEEDED', 88],
  ['FAILED', 8],
  ['CANCELLED', 4],
];

/** What a failed or cancelled job that did some work reports as its cost. */
export const PARTIAL_COSTS = [
  ['zero', 50],
  ['null', 25],
  ['partial', 25],
] as const;

export const SYSTEM_PROMPTS = [
  'You are a helpful assistant.',
  'You are a customer support agent. Answer politely and concisely.',
  'Classify the text into exactly one of the given labels. Answer with the label only.',
  'Extract the requested fields from the document as JSON.',
  'Summarize the text in at most three sentences.',
];

/** Name prefixes are what analysts group by, so they repeat; the topics and numbers vary. */
export const NAMES: readonly (readonly [prefix: string, topics: readonly string[]])[] = [
  ['support-', ['tickets', 'chat-replies', 'email-triage']],
  ['eval-', ['mmlu', 'gsm8k', 'regression', 'helpfulness']],
  ['classify-', ['intent', 'sentiment', 'topic', 'spam']],
  ['extract-', ['invoices', 'entities', 'contacts']],
  ['summarize-', ['calls', 'articles', 'reviews']],
  ['translate-', ['de', 'fr', 'ja', 'es']],
];

export const DESCRIPTIONS = [
  'Processing customer inquiries',
  'Nightly batch from the data warehouse',
  'Benchmark run before the model upgrade',
  'Backfill of last quarter',
  'Submitted from the Python SDK',
];

export const FAILURES: readonly FailureReason[] = [
  { message: 'Input dataset contains malformed rows', code: 'invalid_input' },
  { message: 'Model replica ran out of memory', code: 'out_of_memory' },
  { message: 'Output did not match the JSON schema', code: 'schema_violation' },
  { message: 'Job exceeded its maximum run time', code: 'timeout' },
  { message: 'Internal error; the job can be retried', code: 'internal_error' },
];

/** Values of the one field the API lists that the reference does not name. */
export const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'];

/** How many kinds `outputSchema` knows. */
export const OUTPUT_SCHEMA_KINDS = 3;

/** A structured-output schema, a fresh object each time so that no caller can change another's. */
export function outputSchema(kind: number): Record<string, unknown> {
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
