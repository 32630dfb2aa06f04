import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdvanceOptions, SimulatedAccount } from './account.js';

/** A deliberate misbehaviour of the next matching request. */
export type Fault =
  | {
      kind: 'status';
      status: number;
      retryAfter?: number;
      body?: Record<string, unknown>;
      matchPage?: number;
    }
  | { kind: 'latency'; ms: number; matchPage?: number }
  | {
      kind: 'malformed';
      variant: 'not-json' | 'no-jobs' | 'jobs-not-array' | 'truncated';
      matchPage?: number;
    }
  | { kind: 'reset'; matchPage?: number }
  | { kind: 'expire-cursors'; matchPage?: number }
  | { kind: 'out-of-order'; matchPage?: number };

export interface FaultController {
  /** Queues `fault` for the next `times` matching requests. */
  add(fault: Fault, times?: number): void;
  clear(): void;
  pending(): number;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly status: number;
  readonly at: string;
}

export interface RequestLog {
  readonly entries: readonly RequestRecord[];
  /** Requests to an endpoint ('list-jobs', 'jobs') since the last clear. */
  count(endpoint: 'list-jobs' | 'jobs'): number;
  clear(): void;
}

export interface SimulatorOptions {
  readonly account: SimulatedAccount;
  readonly apiKey: string;
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
  o: number;
  /** Issued at (a counter), for expiry. */
  t: number;
  /** Offset to continue at after this page, when it differs from o + limit (out-of-order pages). */
  n?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Serves list-jobs as the reference describes it: newest first, `limit` 1..100, an opaque signed
 * cursor with offset semantics (so jobs arriving at the head push others onto the next page, as
 * with the real API), the unpaginated form, `Authorization: Key …`, and error bodies with
 * detail/code/request_id. Faults are queued and exact, so tests can say "page 3 answers 500".
 */
export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const { account, apiKey } = options;
  const prefix = (options.pathPrefix ?? '').replace(/\/+$/, '');
  const secret = randomBytes(16);
  let latencyMs = options.latencyMs ?? 0;
  let issued = 0;
  let expiredBefore = 0;
  let requestCounter = 0;
  const queue: { fault: Fault; remaining: number }[] = [];
  const entries: RequestRecord[] = [];

  const sign = (payload: CursorPayload) => {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${createHmac('sha256', secret).update(body).digest('base64url').slice(0, 16)}`;
  };
  const verify = (cursor: string): CursorPayload | null => {
    const [body, mac] = cursor.split('.');
    if (!body || !mac || createHmac('sha256', secret).update(body).digest('base64url').slice(0, 16) !== mac)
      return null;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString()) as CursorPayload;
    } catch {
      return null;
    }
  };

  const takeFault = (page: number | null, kind?: Fault['kind']): Fault | null => {
    const found = queue.find(
      (q) =>
        (kind === undefined || q.fault.kind === kind) &&
        (q.fault.matchPage === undefined || q.fault.matchPage === page),
    );
    if (!found) return null;
    found.remaining -= 1;
    if (found.remaining <= 0) queue.splice(queue.indexOf(found), 1);
    return found.fault;
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  const errorBody = (status: number, requestId: string, override?: Record<string, unknown>) => {
    if (override) return { ...override, request_id: requestId };
    const bodies: Record<number, Record<string, unknown>> = {
      400: { detail: 'Bad request', code: 'bad_request' },
      401: { detail: 'Invalid API key', code: 'unauthorized' },
      403: { detail: 'This key may not list jobs', code: 'forbidden' },
      404: { detail: 'Not found', code: 'not_found' },
      408: { detail: 'Request timeout', code: 'timeout' },
      410: { detail: 'This endpoint has moved; use your deployment URL', code: 'gone' },
      429: { detail: 'Rate limit exceeded', code: 'rate_limited' },
      500: { error: 'Internal Server Error', message: 'Something went wrong' },
      502: { error: 'Bad Gateway' },
      503: { detail: 'Service unavailable', code: 'unavailable' },
      524: { error: 'A timeout occurred', code: 524 },
    };
    return { ...(bodies[status] ?? { detail: `HTTP ${status}` }), request_id: requestId };
  };

  /** Applies a fault that replaces the answer; returns true when it did. */
  const applyFault = async (
    fault: Fault | null,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ) => {
    if (fault === null) return false;
    switch (fault.kind) {
      case 'latency':
        await sleep(fault.ms);
        return false;
      case 'status':
        send(res, fault.status, errorBody(fault.status, requestId, fault.body), {
          'x-request-id': requestId,
          ...(fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {}),
        });
        return true;
      case 'reset':
        req.socket.destroy();
        return true;
      case 'malformed': {
        const bodies = {
          'not-json': '<html><body>502 Bad Gateway</body></html>',
          'no-jobs': JSON.stringify({ message: 'Jobs retrieved successfully.' }),
          'jobs-not-array': JSON.stringify({ jobs: { count: 3 }, next_cursor: null }),
          truncated: '{"jobs": [{"job_id": "job_tr',
        };
        send(res, 200, bodies[fault.variant], { 'x-request-id': requestId });
        return true;
      }
      case 'expire-cursors':
      case 'out-of-order':
        return false;
    }
  };

  const listJobs = async (
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
  ): Promise<number> => {
    const limitText = url.searchParams.get('limit');
    if (limitText === null) {
      const fault = takeFault(null);
      if (await applyFault(fault, req, res, requestId)) return fault?.kind === 'status' ? fault.status : 200;
      send(
        res,
        200,
        { message: 'Jobs retrieved successfully.', jobs: account.page(0, account.count()) },
        { 'x-request-id': requestId },
      );
      return 200;
    }
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      send(res, 400, {
        detail: 'limit must be between 1 and 100',
        code: 'invalid_limit',
        request_id: requestId,
      });
      return 400;
    }
    // Expiry must act on the request that carries it, before its own cursor is checked.
    if (takeFault(null, 'expire-cursors') !== null) expiredBefore = issued + 1;
    const cursorText = url.searchParams.get('cursor');
    let cursor: CursorPayload = { o: 0, t: issued };
    if (cursorText !== null && cursorText !== '') {
      const verified = verify(cursorText);
      if (verified === null || verified.t < expiredBefore) {
        const detail = verified === null ? 'Invalid cursor' : 'Cursor expired';
        send(res, 400, { detail, code: 'invalid_cursor', request_id: requestId });
        return 400;
      }
      cursor = verified;
    }
    const page = Math.floor(cursor.o / limit);
    const fault = takeFault(page);
    if (await applyFault(fault, req, res, requestId)) return fault?.kind === 'status' ? fault.status : 200;

    let offset = cursor.o;
    let nextOffset = cursor.n ?? offset + limit;
    let backTo: number | null = null;
    if (fault?.kind === 'out-of-order' && offset + limit < account.count()) {
      // Serve the page after the one asked for; its cursor then goes back to the skipped page.
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
    send(res, 200, { jobs, next_cursor: next }, { 'x-request-id': requestId });
    return 200;
  };

  const control = async (path: string, req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const body = req.method === 'POST' ? await readJson(req) : null;
    switch (`${req.method} ${path}`) {
      case 'GET /_sim/state':
        send(res, 200, { now: account.currentTime.toISOString(), count: account.count(), latencyMs });
        return 200;
      case 'POST /_sim/advance':
        send(res, 200, account.advance(body as AdvanceOptions));
        return 200;
      case 'POST /_sim/faults':
        queue.length = 0;
        for (const f of (body as { fault: Fault; times?: number }[] | null) ?? []) {
          queue.push({ fault: f.fault, remaining: f.times ?? 1 });
        }
        send(res, 200, { pending: queue.length });
        return 200;
      case 'POST /_sim/latency':
        latencyMs = Number((body as { ms: number }).ms);
        send(res, 200, { latencyMs });
        return 200;
      case 'POST /_sim/mutate': {
        const { jobId, patch } = body as { jobId: string; patch: Record<string, unknown> };
        send(res, 200, account.mutate(jobId, patch));
        return 200;
      }
      case 'POST /_sim/insert-raw': {
        const { position, raw } = body as { position: number; raw: unknown };
        account.insertRaw(position, raw);
        send(res, 200, { count: account.count() });
        return 200;
      }
      case 'GET /_sim/jobs':
        send(res, 200, account.snapshot());
        return 200;
      case 'GET /_sim/requests':
        send(res, 200, entries);
        return 200;
      default:
        send(res, 404, { detail: `no control endpoint ${req.method} ${path}`, code: 'not_found' });
        return 404;
    }
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const requestId = `req_${(++requestCounter).toString(36)}${randomBytes(3).toString('hex')}`;
    const record = (status: number) =>
      entries.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        status,
        at: new Date().toISOString(),
      });
    const handle = async (): Promise<number> => {
      if (url.pathname.startsWith('/_sim/')) return control(url.pathname, req, res);
      if (latencyMs > 0) await sleep(latencyMs);
      if (options.retiredPaths?.includes(url.pathname)) {
        send(res, 410, errorBody(410, requestId), { 'x-request-id': requestId });
        return 410;
      }
      const path = url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : null;
      const isApi = path === '/list-jobs' || (path?.startsWith('/jobs/') ?? false);
      if (req.method !== 'GET' || path === null || !isApi) {
        send(res, 404, errorBody(404, requestId), { 'x-request-id': requestId });
        return 404;
      }
      if (req.headers.authorization !== `Key ${apiKey}`) {
        send(res, 401, errorBody(401, requestId), { 'x-request-id': requestId });
        return 401;
      }
      if (path === '/list-jobs') return listJobs(url, req, res, requestId);
      const fault = takeFault(null);
      if (await applyFault(fault, req, res, requestId)) return fault?.kind === 'status' ? fault.status : 200;
      const job = account.getById(decodeURIComponent(path.slice('/jobs/'.length)));
      if (job === undefined) {
        send(
          res,
          404,
          { detail: 'Job not found', code: 'not_found', request_id: requestId },
          { 'x-request-id': requestId },
        );
        return 404;
      }
      send(res, 200, { job }, { 'x-request-id': requestId });
      return 200;
    };
    handle().then(record, (error: unknown) => {
      if (!res.headersSent) send(res, 500, { error: 'simulator error', message: String(error) });
      record(500);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}${prefix}`,
    port,
    account,
    faults: {
      add: (fault, times = 1) => queue.push({ fault, remaining: times }),
      clear: () => (queue.length = 0),
      pending: () => queue.reduce((sum, q) => sum + q.remaining, 0),
    },
    requests: {
      entries,
      count: (endpoint) =>
        entries.filter((e) =>
          endpoint === 'list-jobs' ? e.path.endsWith('/list-jobs') : e.path.includes('/jobs/'),
        ).length,
      clear: () => (entries.length = 0),
    },
    setLatency: (ms) => (latencyMs = ms),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text === '' ? null : JSON.parse(text);
}
