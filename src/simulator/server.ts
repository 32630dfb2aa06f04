import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdvanceOptions, SimulatedAccount } from './account.js';

export type Endpoint = 'list-jobs' | 'jobs';
export type MalformedVariant = 'not-json' | 'no-jobs' | 'jobs-not-array' | 'truncated';

/** Which requests a fault applies to. */
interface Targeting {
  /** Only the request for this page of a paging sequence (cursor offset / limit), counted from 0. */
  readonly matchPage?: number;
  /** Only requests to this endpoint; by default list-jobs and jobs/{id} alike. */
  readonly endpoint?: Endpoint;
}

/** A deliberate misbehaviour of the next matching request. */
export type Fault =
  | (Targeting & {
      readonly kind: 'status';
      readonly status: number;
      /** Seconds, sent as Retry-After. */
      readonly retryAfter?: number;
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

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  /** The query parameters; the key is in a header and never recorded. */
  readonly query: Record<string, string>;
  /** 0 when the connection was dropped without an answer. */
  readonly status: number;
  readonly at: string;
  readonly endpoint: Endpoint | 'control' | 'other';
}

export interface RequestLog {
  readonly entries: readonly RequestRecord[];
  /** Requests to an endpoint since the last clear, whatever their answer. */
  count(endpoint: RequestRecord['endpoint']): number;
  clear(): void;
}

export interface SimulatorOptions {
  readonly account: SimulatedAccount;
  readonly apiKey: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** A path prefix such as '/v1', as single-tenant deployments have. */
  readonly pathPrefix?: string;
  /** Delay before every API answer: the network and the API's own work. */
  readonly latencyMs?: number;
  /** Paths that answer 410, like an endpoint moved to per-deployment URLs. */
  readonly retiredPaths?: readonly string[];
}

export interface RunningSimulator {
  /** Base URL including the prefix, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly account: SimulatedAccount;
  readonly faults: FaultController;
  readonly requests: RequestLog;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

interface CursorPayload {
  /** Offset of the page this cursor asks for. */
  readonly o: number;
  /** Serial number of the cursor, for expiry. */
  readonly t: number;
  /** Offset to continue at after this page, when it is not o + limit (after an out-of-order page). */
  readonly n?: number;
}

interface RequestTarget {
  readonly endpoint: Endpoint;
  /** The page a paged list-jobs request asks for; null for other requests. */
  readonly page: number | null;
}

class InvalidRequestError extends Error {}

const DEFAULT_ERROR_BODIES: Readonly<Record<number, Record<string, unknown>>> = {
  400: { detail: 'Bad request', code: 'bad_request' },
  401: { detail: 'Invalid API key', code: 'unauthorized' },
  403: { detail: 'This API key may not list jobs', code: 'forbidden' },
  404: { detail: 'Not found', code: 'not_found' },
  408: { detail: 'Request timeout', code: 'request_timeout' },
  410: { detail: 'This endpoint has moved; use your deployment URL', code: 'gone' },
  429: { detail: 'Rate limit exceeded', code: 'rate_limited' },
  // Errors raised by the framework or a proxy have their own shape, not the API's detail/code.
  500: { error: 'Internal Server Error', message: 'An unexpected error occurred' },
  502: { error: 'Bad Gateway', message: 'The upstream server returned an invalid response' },
  503: { detail: 'Service temporarily unavailable', code: 'unavailable' },
  524: { error: 'A timeout occurred', message: 'The origin web server timed out responding to this request' },
};

const MALFORMED_LIST_BODIES: Readonly<Record<MalformedVariant, string>> = {
  'not-json': '<html><body><h1>502 Bad Gateway</h1></body></html>',
  'no-jobs': JSON.stringify({ message: 'Jobs retrieved successfully.' }),
  'jobs-not-array': JSON.stringify({ jobs: { count: 3 }, next_cursor: null }),
  truncated: '{"jobs": [{"job_id": "job_tr',
};
const MALFORMED_JOB_BODIES: Readonly<Record<MalformedVariant, string>> = {
  ...MALFORMED_LIST_BODIES,
  'no-jobs': JSON.stringify({ message: 'Job retrieved successfully.' }),
  'jobs-not-array': JSON.stringify({ job: [] }),
  truncated: '{"job": {"job_id": "job_tr',
};

/** Rows per write when a whole listing is streamed, so that a million jobs never sit in one string. */
const STREAM_ROWS = 500;

/**
 * Serves list-jobs as the reference describes it: newest first, `limit` 1..100, an opaque signed
 * cursor with offset semantics (so jobs arriving at the head push others onto the next page, as
 * with the real API), the unpaginated form, `Authorization: Key …`, and error bodies with
 * detail/code/request_id. Faults are queued and exact, so tests can say "page 3 answers 500".
 */
export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const { account, apiKey } = options;
  const prefix = (options.pathPrefix ?? '').replace(/\/+$/, '');
  if (prefix !== '' && !prefix.startsWith('/'))
    throw new Error(`pathPrefix must start with / (got ${prefix})`);
  const host = options.host ?? '127.0.0.1';
  const secret = randomBytes(32);
  let latencyMs = options.latencyMs ?? 0;
  let issued = 0;
  let expiredBefore = 0;
  let requestCounter = 0;
  const queue: { fault: Fault; remaining: number }[] = [];
  const entries: RequestRecord[] = [];
  const counts = new Map<RequestRecord['endpoint'], number>();
  const timers = new Set<NodeJS.Timeout>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const mac = (body: string) => createHmac('sha256', secret).update(body).digest().subarray(0, 12);
  const sign = (payload: CursorPayload) => {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${mac(body).toString('base64url')}`;
  };
  const verify = (cursor: string): CursorPayload | null => {
    const [body, signature, extra] = cursor.split('.');
    if (body === undefined || signature === undefined || extra !== undefined) return null;
    const given = Buffer.from(signature, 'base64url');
    const expected = mac(body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as CursorPayload;
    return Number.isSafeInteger(payload.o) && payload.o >= 0 ? payload : null;
  };

  const matches = (fault: Fault, target: RequestTarget) => {
    if (fault.matchPage !== undefined && fault.matchPage !== target.page) return false;
    if (fault.kind === 'expire-cursors' || fault.kind === 'out-of-order')
      return target.endpoint === 'list-jobs' && target.page !== null;
    return fault.endpoint === undefined || fault.endpoint === target.endpoint;
  };
  const takeFault = (target: RequestTarget, wanted: (fault: Fault) => boolean): Fault | null => {
    const slot = queue.findIndex((q) => wanted(q.fault) && matches(q.fault, target));
    const found = queue[slot];
    if (found === undefined) return null;
    found.remaining -= 1;
    if (found.remaining <= 0) queue.splice(slot, 1);
    return found.fault;
  };

  const send = (
    res: ServerResponse,
    status: number,
    body: unknown,
    requestId: string,
    headers: Record<string, string> = {},
  ): number => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': requestId, ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
    return status;
  };
  const sendError = (
    res: ServerResponse,
    status: number,
    requestId: string,
    detail?: string,
    code?: string,
  ) =>
    send(
      res,
      status,
      {
        ...errorBody(status, requestId),
        ...(detail === undefined ? {} : { detail }),
        ...(code === undefined ? {} : { code }),
      },
      requestId,
    );

  /** Rows as one JSON array written in parts, waiting for the client to read each. */
  const streamRows = async (res: ServerResponse, head: string, tail: string, requestId: string) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
    const total = account.count();
    let text = head;
    for (let offset = 0; offset < total; offset += STREAM_ROWS) {
      const rows = account.page(offset, STREAM_ROWS);
      // A raw row can be `undefined`, for which JSON.stringify returns no text; in an array it is null.
      text += rows.map((row, i) => (offset + i > 0 ? ',' : '') + (JSON.stringify(row) ?? 'null')).join('');
      if (!res.write(text)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      text = '';
      if (res.destroyed) return;
    }
    res.end(text + tail);
  };

  /** Applies a fault that replaces the answer; returns its status, or null when the answer follows. */
  const applyFault = async (
    fault: Fault | null,
    target: RequestTarget,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): Promise<number | null> => {
    switch (fault?.kind) {
      case 'latency':
        await sleep(fault.ms);
        return null;
      case 'status':
        return send(
          res,
          fault.status,
          fault.body ?? errorBody(fault.status, requestId),
          requestId,
          fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) },
        );
      case 'reset':
        req.socket.destroy();
        return 0;
      case 'malformed': {
        const bodies = target.endpoint === 'jobs' ? MALFORMED_JOB_BODIES : MALFORMED_LIST_BODIES;
        const html: Record<string, string> =
          fault.variant === 'not-json' ? { 'content-type': 'text/html' } : {};
        return send(res, 200, bodies[fault.variant], requestId, html);
      }
      default:
        return null;
    }
  };
  const isAnswerFault = (fault: Fault) => fault.kind !== 'expire-cursors' && fault.kind !== 'out-of-order';

  const listJobs = async (
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): Promise<number> => {
    const limitText = url.searchParams.get('limit');
    if (limitText === null) {
      const target: RequestTarget = { endpoint: 'list-jobs', page: null };
      const faulted = await applyFault(takeFault(target, isAnswerFault), target, req, res, requestId);
      if (faulted !== null) return faulted;
      await streamRows(res, '{"message":"Jobs retrieved successfully.","jobs":[', ']}', requestId);
      return 200;
    }
    const limit = /^\d{1,3}$/.test(limitText) ? Number(limitText) : Number.NaN;
    if (!(limit >= 1 && limit <= 100))
      return sendError(res, 400, requestId, 'limit must be between 1 and 100', 'invalid_limit');

    const cursorText = url.searchParams.get('cursor') ?? '';
    let cursor: CursorPayload = { o: 0, t: issued };
    if (cursorText !== '') {
      const verified = verify(cursorText);
      if (verified === null) return sendError(res, 400, requestId, 'Invalid cursor', 'invalid_cursor');
      cursor = verified;
    }
    const target: RequestTarget = { endpoint: 'list-jobs', page: Math.floor(cursor.o / limit) };
    // Expiry acts on the request that meets it, its own cursor included.
    if (takeFault(target, (f) => f.kind === 'expire-cursors') !== null) expiredBefore = issued + 1;
    if (cursorText !== '' && cursor.t < expiredBefore)
      return sendError(res, 400, requestId, 'Cursor expired', 'invalid_cursor');

    const fault = takeFault(target, (f) => f.kind !== 'expire-cursors');
    const faulted = await applyFault(fault, target, req, res, requestId);
    if (faulted !== null) return faulted;

    let offset = cursor.o;
    let nextOffset = cursor.n ?? offset + limit;
    let backTo: number | null = null;
    if (fault?.kind === 'out-of-order' && offset + limit < account.count()) {
      backTo = offset;
      offset += limit;
      nextOffset = offset + limit;
    }
    const jobs = account.page(offset, limit);
    issued += 1;
    const next =
      backTo !== null
        ? sign({ o: backTo, t: issued, n: nextOffset })
        : nextOffset < account.count()
          ? sign({ o: nextOffset, t: issued })
          : null;
    return send(res, 200, { jobs, next_cursor: next }, requestId);
  };

  const getJob = async (
    jobId: string,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): Promise<number> => {
    const target: RequestTarget = { endpoint: 'jobs', page: null };
    const faulted = await applyFault(takeFault(target, isAnswerFault), target, req, res, requestId);
    if (faulted !== null) return faulted;
    const job = account.getById(jobId);
    if (job === undefined) return sendError(res, 404, requestId, 'Job not found', 'not_found');
    return send(res, 200, { job }, requestId);
  };

  const control = async (
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): Promise<number> => {
    const body = req.method === 'POST' ? await readJson(req) : null;
    switch (`${req.method} ${path}`) {
      case 'GET /_sim/state':
        return send(
          res,
          200,
          {
            now: account.currentTime.toISOString(),
            count: account.count(),
            seed: account.seed,
            latencyMs,
            pendingFaults: faults.pending(),
          },
          requestId,
        );
      case 'POST /_sim/advance':
        return send(res, 200, account.advance(asObject(body) as unknown as AdvanceOptions), requestId);
      case 'POST /_sim/faults': {
        if (!Array.isArray(body)) throw new InvalidRequestError('the body must be a list of faults');
        const parsed = body.map(parseQueuedFault);
        faults.clear();
        for (const { fault, times } of parsed) faults.add(fault, times);
        return send(res, 200, { pending: faults.pending() }, requestId);
      }
      case 'POST /_sim/latency': {
        const ms = asObject(body).ms;
        if (typeof ms !== 'number' || !(ms >= 0)) throw new InvalidRequestError('ms must be a number >= 0');
        latencyMs = ms;
        return send(res, 200, { latencyMs }, requestId);
      }
      case 'POST /_sim/mutate': {
        const { jobId, patch } = asObject(body);
        if (typeof jobId !== 'string') throw new InvalidRequestError('jobId must be a string');
        return send(res, 200, account.mutate(jobId, asObject(patch)), requestId);
      }
      case 'POST /_sim/insert-raw': {
        const { position, raw } = asObject(body);
        if (typeof position !== 'number') throw new InvalidRequestError('position must be a number');
        account.insertRaw(position, raw);
        return send(res, 200, { count: account.count() }, requestId);
      }
      case 'GET /_sim/jobs':
        await streamRows(res, '[', ']', requestId);
        return 200;
      case 'GET /_sim/requests':
        return send(res, 200, entries, requestId);
      case 'DELETE /_sim/requests':
        requests.clear();
        return send(res, 200, { cleared: true }, requestId);
      default:
        return sendError(res, 404, requestId, `No control endpoint ${req.method} ${path}`, 'not_found');
    }
  };

  const apiPath = (pathname: string): string | null => {
    if (prefix === '') return pathname;
    return pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length) : null;
  };
  const controlPath = (pathname: string): string | null => {
    if (pathname.startsWith('/_sim/')) return pathname;
    const inPrefix = apiPath(pathname);
    return inPrefix?.startsWith('/_sim/') ? inPrefix : null;
  };

  const handle = async (
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): Promise<{ status: number; endpoint: RequestRecord['endpoint'] }> => {
    const simPath = controlPath(url.pathname);
    if (simPath !== null) return { status: await control(simPath, req, res, requestId), endpoint: 'control' };
    if (latencyMs > 0) await sleep(latencyMs);
    if (options.retiredPaths?.includes(url.pathname))
      return { status: sendError(res, 410, requestId), endpoint: 'other' };
    const path = apiPath(url.pathname);
    const endpoint: Endpoint | null =
      path === '/list-jobs' ? 'list-jobs' : path?.startsWith('/jobs/') && path.length > 6 ? 'jobs' : null;
    if (endpoint === null) return { status: sendError(res, 404, requestId), endpoint: 'other' };
    if (req.method !== 'GET') {
      return {
        status: sendError(res, 405, requestId, 'Method not allowed', 'method_not_allowed'),
        endpoint,
      };
    }
    if (req.headers.authorization !== `Key ${apiKey}`)
      return { status: sendError(res, 401, requestId), endpoint };
    if (endpoint === 'list-jobs') return { status: await listJobs(url, req, res, requestId), endpoint };
    const jobId = decodeURIComponent((path ?? '').slice('/jobs/'.length));
    return { status: await getJob(jobId, req, res, requestId), endpoint };
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    requestCounter += 1;
    const requestId = `req_${requestCounter.toString(36).padStart(4, '0')}${randomBytes(4).toString('hex')}`;
    const record = (status: number, endpoint: RequestRecord['endpoint']) => {
      entries.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        status,
        at: new Date().toISOString(),
        endpoint,
      });
      counts.set(endpoint, (counts.get(endpoint) ?? 0) + 1);
    };
    handle(url, req, res, requestId).then(
      ({ status, endpoint }) => record(status, endpoint),
      (error: unknown) => {
        // The control API fails only on what it was asked to do; the API itself, only on a bug.
        const isControl = controlPath(url.pathname) !== null;
        const invalid = error instanceof InvalidRequestError || isControl;
        const status = invalid ? 400 : 500;
        if (!res.headersSent) {
          const message = error instanceof Error ? error.message : String(error);
          sendError(res, status, requestId, message, invalid ? 'invalid_request' : 'simulator_error');
        } else {
          res.destroy();
        }
        record(status, isControl ? 'control' : 'other');
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  const faults: FaultController = {
    add: (fault, times = 1) => {
      if (!Number.isSafeInteger(times) || times < 1)
        throw new RangeError(`times must be a positive integer (got ${times})`);
      queue.push({ fault, remaining: times });
    },
    clear: () => {
      queue.length = 0;
    },
    pending: () => queue.reduce((sum, q) => sum + q.remaining, 0),
  };
  const requests: RequestLog = {
    entries,
    count: (endpoint) => counts.get(endpoint) ?? 0,
    clear: () => {
      entries.length = 0;
      counts.clear();
    },
  };

  return {
    url: `http://${urlHost}:${port}${prefix}`,
    port,
    account,
    faults,
    requests,
    setLatency: (ms) => {
      latencyMs = ms;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Answers still waiting on a delay are abandoned with their connections.
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function errorBody(status: number, requestId: string): Record<string, unknown> {
  return {
    ...(DEFAULT_ERROR_BODIES[status] ?? { detail: `HTTP ${status}`, code: 'error' }),
    request_id: requestId,
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidRequestError('the body is not JSON');
  }
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidRequestError('the body must be a JSON object');
  return value as Record<string, unknown>;
}

const FAULT_KINDS = new Set(['status', 'latency', 'malformed', 'reset', 'expire-cursors', 'out-of-order']);
const MALFORMED_VARIANTS = new Set(['not-json', 'no-jobs', 'jobs-not-array', 'truncated']);

/** A fault for POST /_sim/faults: `{ fault, times? }`, or the fault itself with an optional `times`. */
function parseQueuedFault(value: unknown): { fault: Fault; times: number } {
  const entry = asObject(value);
  const { times = 1, ...rest } = 'fault' in entry ? { ...asObject(entry.fault), times: entry.times } : entry;
  const fault = rest as Record<string, unknown>;
  if (typeof fault.kind !== 'string' || !FAULT_KINDS.has(fault.kind))
    throw new InvalidRequestError(`unknown fault kind ${JSON.stringify(fault.kind)}`);
  if (fault.kind === 'status' && typeof fault.status !== 'number')
    throw new InvalidRequestError('a status fault needs a numeric status');
  if (fault.kind === 'latency' && typeof fault.ms !== 'number')
    throw new InvalidRequestError('a latency fault needs ms');
  if (fault.kind === 'malformed' && !MALFORMED_VARIANTS.has(String(fault.variant)))
    throw new InvalidRequestError(`unknown malformed variant ${JSON.stringify(fault.variant)}`);
  if (fault.matchPage !== undefined && !Number.isSafeInteger(fault.matchPage))
    throw new InvalidRequestError('matchPage must be an integer');
  if (typeof times !== 'number') throw new InvalidRequestError('times must be a number');
  return { fault: fault as unknown as Fault, times };
}
