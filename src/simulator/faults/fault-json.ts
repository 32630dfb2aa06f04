import { ERROR_SHAPES, type ErrorShape } from '../errors.js';
import type { Fault, FaultKind } from './faults.js';

/** A request to the control API (or a command line option) that cannot be carried out as asked. */
export class InvalidRequestError extends Error {}

/**
 * The misbehaviours `simulate --behave <name>` turns on for every matching request, each with the
 * parameters a demonstration needs: a 401 that echoes the key as JSON, a 300 MiB page.
 */
export const BEHAVIOURS = {
  'echo-auth': { kind: 'echo-auth' },
  'cursor-cycle': { kind: 'cursor-cycle' },
  'self-cursor': { kind: 'self-cursor' },
  'empty-pages': { kind: 'empty-pages' },
  'same-page': { kind: 'same-page' },
  'web-page': { kind: 'web-page' },
  'huge-page': { kind: 'huge-page', megabytes: 300 },
  'hang-body': { kind: 'hang-body' },
  'hang-headers': { kind: 'hang-headers' },
  reset: { kind: 'reset' },
} as const satisfies Record<string, Fault>;

export type Behaviour = keyof typeof BEHAVIOURS;

/** A fault and how many matching requests it applies to. */
export interface QueuedFault {
  readonly fault: Fault;
  /** Infinity: every matching request. */
  readonly times: number;
}

const FAULT_KINDS: ReadonlySet<FaultKind> = new Set<FaultKind>([
  'status',
  'latency',
  'malformed',
  'reset',
  'echo-auth',
  'web-page',
  'huge-page',
  'hang-body',
  'hang-headers',
  'expire-cursors',
  'out-of-order',
  'cursor-cycle',
  'self-cursor',
  'empty-pages',
  'same-page',
]);
const MALFORMED_VARIANTS = new Set(['not-json', 'no-jobs', 'jobs-not-array', 'truncated']);
const ECHO_CONTENT_TYPES = new Set(['json', 'text', 'html']);

export function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidRequestError('the body must be a JSON object');
  return value as Record<string, unknown>;
}

/**
 * A fault as JSON gives it (POST /_sim/faults, simulate --fault): `{ fault, times? }`, or the fault
 * itself with an optional `times`; `"times": "forever"` applies it to every matching request.
 */
export function parseQueuedFault(value: unknown): QueuedFault {
  const entry = asObject(value);
  const { times = 1, ...rest } = 'fault' in entry ? { ...asObject(entry.fault), times: entry.times } : entry;
  const fault = rest as Record<string, unknown>;
  if (typeof fault.kind !== 'string' || !FAULT_KINDS.has(fault.kind as FaultKind))
    throw new InvalidRequestError(`unknown fault kind ${JSON.stringify(fault.kind)}`);
  const problem = problemOf(fault);
  if (problem !== null) throw new InvalidRequestError(problem);
  if (fault.matchPage !== undefined && !Number.isSafeInteger(fault.matchPage))
    throw new InvalidRequestError('matchPage must be an integer');
  if (times === 'forever') return { fault: fault as unknown as Fault, times: Number.POSITIVE_INFINITY };
  if (typeof times !== 'number') throw new InvalidRequestError('times must be a number or "forever"');
  return { fault: fault as unknown as Fault, times };
}

/** What is wrong with the parameters of a fault of a known kind, or null. */
function problemOf(fault: Record<string, unknown>): string | null {
  switch (fault.kind) {
    case 'status':
      if (typeof fault.status !== 'number') return 'a status fault needs a numeric status';
      if (fault.shape !== undefined && !ERROR_SHAPES.includes(fault.shape as ErrorShape))
        return `unknown error shape ${JSON.stringify(fault.shape)}`;
      return null;
    case 'latency':
      return typeof fault.ms === 'number' ? null : 'a latency fault needs ms';
    case 'malformed':
      return MALFORMED_VARIANTS.has(String(fault.variant))
        ? null
        : `unknown malformed variant ${JSON.stringify(fault.variant)}`;
    case 'echo-auth':
      if (fault.status !== undefined && !isErrorStatus(fault.status))
        return 'an echo-auth status must be a 4xx or 5xx status';
      if (fault.contentType !== undefined && !ECHO_CONTENT_TYPES.has(fault.contentType as string))
        return `unknown echo-auth contentType ${JSON.stringify(fault.contentType)} (json, text or html)`;
      return null;
    case 'huge-page':
      return typeof fault.megabytes === 'number' && fault.megabytes > 0
        ? null
        : 'a huge-page fault needs a positive number of megabytes';
    default:
      return null;
  }
}

function isErrorStatus(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 400 && (value as number) <= 599;
}
