import type { ErrorShape } from '../errors.js';

export type Endpoint = 'list-jobs' | 'jobs' | 'try-authentication';
export type MalformedVariant = 'not-json' | 'no-jobs' | 'jobs-not-array' | 'truncated';
/** How an echoed error body is written. */
export type EchoContentType = 'json' | 'text' | 'html';

/** Which requests a fault applies to. */
interface Targeting {
  /** Only the request for this page of a paging sequence (cursor offset / limit), counted from 0. */
  readonly matchPage?: number;
  /** Only requests to this endpoint; by default every endpoint of the API. */
  readonly endpoint?: Endpoint;
}

/** Misbehaviours of list-jobs only; those of its paging act on paged requests only. */
interface PagingTargeting {
  readonly matchPage?: number;
}

/**
 * A deliberate misbehaviour of the next matching request. Each is something a client of a real
 * deployment can meet, from the API itself, a proxy in front of it, or a wrong SUTRO_API_URL.
 */
export type Fault =
  | (Targeting & {
      readonly kind: 'status';
      readonly status: number;
      /** Seconds, sent as Retry-After. */
      readonly retryAfter?: number;
      /** Who answers: the API ('detail', the default), a framework or proxy ('message'), a gateway ('error-details'). */
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
  /**
   * An error (401 unless `status` says otherwise, any 4xx or 5xx) whose body repeats the request's
   * headers, Authorization verbatim among them, as debugging error pages of frameworks and proxies
   * do: a client that logs or stores error bodies leaks the key unless it redacts them.
   */
  | (Targeting & {
      readonly kind: 'echo-auth';
      readonly status?: number;
      readonly contentType?: EchoContentType;
    })
  /**
   * 200 `text/html`: a marketing site's home page, for every path and without a key, as when
   * SUTRO_API_URL points at a website instead of a deployment.
   */
  | { readonly kind: 'web-page' }
  /**
   * 200 with a list-jobs answer of `megabytes` MiB of valid JSON: real jobs whose system prompts are
   * very long, streamed as the client reads, never held whole. A client must bound what it reads.
   */
  | (PagingTargeting & { readonly kind: 'huge-page'; readonly megabytes: number })
  /** Status and headers sent, then part of the body, then nothing, with the connection left open. */
  | (Targeting & { readonly kind: 'hang-body' })
  /** The request is accepted and never answered, with the connection left open. */
  | (Targeting & { readonly kind: 'hang-headers' })
  /** From the matching paged request on, every cursor issued before it is rejected. */
  | (PagingTargeting & { readonly kind: 'expire-cursors' })
  /** The page after the one asked for is served, and its cursor leads back to the skipped one. */
  | (PagingTargeting & { readonly kind: 'out-of-order' })
  /**
   * The page asked for, with a next_cursor A whose page's next_cursor is B, whose page's is A again:
   * two cursors for ever. The cursors carry the cycle, so it goes on after the fault is used up.
   */
  | (PagingTargeting & { readonly kind: 'cursor-cycle' })
  /** The page asked for, with next_cursor the very cursor the request sent (only requests with a cursor). */
  | (PagingTargeting & { readonly kind: 'self-cursor' })
  /** `{jobs: [], next_cursor}` with a fresh cursor each time: pages of nothing that never end. */
  | (PagingTargeting & { readonly kind: 'empty-pages' })
  /** The page asked for with a fresh cursor for that same page: the same jobs every time. */
  | (PagingTargeting & { readonly kind: 'same-page' });

export type FaultKind = Fault['kind'];

export interface FaultController {
  /** Queues `fault` for the next `times` matching requests (default 1; Infinity: every one). */
  add(fault: Fault, times?: number): void;
  clear(): void;
  /** Fault applications still queued; Infinity when a fault applies to every matching request. */
  pending(): number;
}

/** The request a fault is matched against. */
export interface RequestTarget {
  /** Null for a path that is no route of the API. */
  readonly endpoint: Endpoint | null;
  /** The page a paged list-jobs request asks for; null for other requests. */
  readonly page: number | null;
  /** Whether a paged list-jobs request sent a cursor. */
  readonly hasCursor: boolean;
}

/** Faults that act on the paging of list-jobs rather than replace an answer. */
const PAGING_KINDS: ReadonlySet<FaultKind> = new Set([
  'expire-cursors',
  'out-of-order',
  'cursor-cycle',
  'self-cursor',
  'empty-pages',
  'same-page',
]);
/** Faults of the whole host, met by every request, whatever its path and key. */
const HOST_KINDS: ReadonlySet<FaultKind> = new Set(['web-page']);

/** Faults that replace or delay the answer of an API route. */
export function isAnswerFault(fault: Fault): boolean {
  return !PAGING_KINDS.has(fault.kind) && !HOST_KINDS.has(fault.kind);
}

export function isHostFault(fault: Fault): boolean {
  return HOST_KINDS.has(fault.kind);
}

/** Faults in the order they were queued, each taken by the first requests it matches. */
export class FaultQueue implements FaultController {
  private readonly queue: { fault: Fault; remaining: number }[] = [];

  add(fault: Fault, times = 1): void {
    if (!(Number.isSafeInteger(times) || times === Number.POSITIVE_INFINITY) || times < 1)
      throw new RangeError(`times must be a positive integer or Infinity (got ${times})`);
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
  if (HOST_KINDS.has(fault.kind)) return true;
  if (target.endpoint === null) return false;
  if ('matchPage' in fault && fault.matchPage !== undefined && fault.matchPage !== target.page) return false;
  if (fault.kind === 'huge-page') return target.endpoint === 'list-jobs';
  if (PAGING_KINDS.has(fault.kind)) {
    const paged = target.endpoint === 'list-jobs' && target.page !== null;
    return paged && (fault.kind !== 'self-cursor' || target.hasCursor);
  }
  return !('endpoint' in fault) || fault.endpoint === undefined || fault.endpoint === target.endpoint;
}
