import { ERROR_SHAPES, type ErrorShape } from './errors.js';

export type Endpoint = 'list-jobs' | 'jobs' | 'try-authentication';
export type MalformedVariant = 'not-json' | 'no-jobs' | 'jobs-not-array' | 'truncated';

/** Which requests a fault applies to. */
interface Targeting {
  /** Only the request for this page of a paging sequence (cursor offset / limit), counted from 0. */
  readonly matchPage?: number;
  /** Only requests to this endpoint; by default every endpoint of the API. */
  readonly endpoint?: Endpoint;
}

/** A deliberate misbehaviour of the next matching request. */
export type Fault =
  | (Targeting & {
      readonly kind: 'status';
      readonly status: number;
      /** Seconds, sent as Retry-After. */
      readonly retryAfter?: number;
      /** Who answers: the API itself ('detail', the default), a framework or proxy ('message'), a gateway ('error-details'). */
      readonly shape?: ErrorShape;
      /** Sent as it is instead of the default error body. */
      readonly body?: Record<string, unknown>;
    })
  /** A slow answer, then the normal one. */
  | (Targeting & { readonly kind: 'latency'; readonly ms: number })
  /** 200 with a body that is not a page. */
  | (Targeting & { readonly kind: 'malformed'; readonly variant: MalformedVariant })
  /** The connection is dropped without an answer. */
  | (Targeting & { readonly kind: 'reset' })
  /** From the matching paged request on, every cursor issued before it is rejected. */
  | { readonly kind: 'expire-cursors'; readonly matchPage?: number }
  /** The page after the one asked for is served, and its cursor leads back to the skipped one. */
  | { readonly kind: 'out-of-order'; readonly matchPage?: number };

export interface FaultController {
  /** Queues `fault` for the next `times` matching requests. */
  add(fault: Fault, times?: number): void;
  clear(): void;
  /** Fault applications still queued. */
  pending(): number;
}

/** The request a fault is matched against. */
export interface RequestTarget {
  readonly endpoint: Endpoint;
  /** The page a paged list-jobs request asks for; null for other requests. */
  readonly page: number | null;
}

/** Faults that act on the paging of list-jobs rather than replace an answer. */
const PAGING_KINDS: ReadonlySet<Fault['kind']> = new Set(['expire-cursors', 'out-of-order']);

export function isAnswerFault(fault: Fault): boolean {
  return !PAGING_KINDS.has(fault.kind);
}

/** Faults in the order they were queued, each taken by the first requests it matches. */
export class FaultQueue implements FaultController {
  private readonly queue: { fault: Fault; remaining: number }[] = [];

  add(fault: Fault, times = 1): void {
    if (!Number.isSafeInteger(times) || times < 1)
      throw new RangeError(`times must be a positive integer (got ${times})`);
    this.queue.push({ fault, remaining: times });
  }

  clear(): void {
    this.queue.length = 0;
  }

  pending(): number {
    return this.queue.reduce((sum, q) => sum + q.remaining, 0);
  }

  /** Takes one application of the first queued fault that `wanted` accepts and `target` matches. */
  take(target: RequestTarget, wanted: (fault: Fault) => boolean): Fault | null {
    const slot = this.queue.findIndex((q) => wanted(q.fault) && matches(q.fault, target));
    const found = this.queue[slot];
    if (found === undefined) return null;
    found.remaining -= 1;
    if (found.remaining <= 0) this.queue.splice(slot, 1);
    return found.fault;
  }
}

function matches(fault: Fault, target: RequestTarget): boolean {
  if (fault.matchPage !== undefined && fault.matchPage !== target.page) return false;
  if (PAGING_KINDS.has(fault.kind)) return target.endpoint === 'list-jobs' && target.page !== null;
  return !('endpoint' in fault) || fault.endpoint === undefined || fault.endpoint === target.endpoint;
}

/** A request to the control API that cannot be carried out as asked: answered 400. */
export class InvalidRequestError extends Error {}

const FAULT_KINDS = new Set(['status', 'latency', 'malformed', 'reset', 'expire-cursors', 'out-of-order']);
const MALFORMED_VARIANTS = new Set(['not-json', 'no-jobs', 'jobs-not-array', 'truncated']);

export function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidRequestError('the body must be a JSON object');
  return value as Record<string, unknown>;
}

/** A fault for POST /_sim/faults: `{ fault, times? }`, or the fault itself with an optional `times`. */
export function parseQueuedFault(value: unknown): { fault: Fault; times: number } {
  const entry = asObject(value);
  const { times = 1, ...rest } = 'fault' in entry ? { ...asObject(entry.fault), times: entry.times } : entry;
  const fault = rest as Record<string, unknown>;
  if (typeof fault.kind !== 'string' || !FAULT_KINDS.has(fault.kind))
    throw new InvalidRequestError(`unknown fault kind ${JSON.stringify(fault.kind)}`);
  if (fault.kind === 'status' && typeof fault.status !== 'number')
    throw new InvalidRequestError('a status fault needs a numeric status');
  if (
    fault.kind === 'status' &&
    fault.shape !== undefined &&
    !ERROR_SHAPES.includes(fault.shape as ErrorShape)
  )
    throw new InvalidRequestError(`unknown error shape ${JSON.stringify(fault.shape)}`);
  if (fault.kind === 'latency' && typeof fault.ms !== 'number')
    throw new InvalidRequestError('a latency fault needs ms');
  if (fault.kind === 'malformed' && !MALFORMED_VARIANTS.has(String(fault.variant)))
    throw new InvalidRequestError(`unknown malformed variant ${JSON.stringify(fault.variant)}`);
  if (fault.matchPage !== undefined && !Number.isSafeInteger(fault.matchPage))
    throw new InvalidRequestError('matchPage must be an integer');
  if (typeof times !== 'number') throw new InvalidRequestError('times must be a number');
  return { fault: fault as unknown as Fault, times };
}
