import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SimulatedAccount } from './account/account.js';
import { sendError, type Exchange } from './answers.js';
import type { SimulatorContext } from './context.js';
import { Cursors } from './cursors.js';
import { answerWebPage } from './faults/fault-answers.js';
import { InvalidRequestError } from './faults/fault-json.js';
import {
  FaultQueue,
  isHostFault,
  type Endpoint,
  type FaultController,
  type RequestTarget,
} from './faults/faults.js';
import { RecordedRequests, type RequestLog, type RequestRecord } from './request-log.js';
import { control } from './routes/control.js';
import { getJob } from './routes/job.js';
import { listJobs } from './routes/list-jobs.js';
import { tryAuthentication } from './routes/try-authentication.js';

export type { ErrorShape } from './errors.js';
export type {
  EchoContentType,
  Endpoint,
  Fault,
  FaultController,
  FaultKind,
  MalformedVariant,
} from './faults/faults.js';
export type { RequestLog, RequestRecord } from './request-log.js';

export interface SimulatorOptions {
  readonly account: SimulatedAccount;
  readonly apiKey: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /**
   * The path every API route is under: '/v1' by default, as single-tenant deployments serve it;
   * '' for none. Requests outside it answer 404.
   */
  readonly pathPrefix?: string;
  /** Delay before every API answer: the network and the API's own work. */
  readonly latencyMs?: number;
  /** Paths that answer 410 as a retired host does, like an endpoint moved to per-deployment URLs. */
  readonly retiredPaths?: readonly string[];
  /**
   * Serve as one of Sutro's retired shared hosts (api.sutro.sh, serve.sutro.sh, api.materialized.dev)
   * do: every request answers 410, telling the user to set SUTRO_API_URL to their own deployment
   * and use a key from it. The control API under /_sim/ still answers.
   */
  readonly retired?: boolean;
}

export interface RunningSimulator {
  /** Base URL including the prefix, without a trailing slash: what clients are configured with. */
  readonly url: string;
  /** scheme://host:port, without a path: a deployment's origin, as SUTRO_API_URL may give it. */
  readonly origin: string;
  readonly port: number;
  readonly account: SimulatedAccount;
  readonly faults: FaultController;
  readonly requests: RequestLog;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

/** Host faults are met by every request, whatever its path. */
const ANY_REQUEST: RequestTarget = { endpoint: null, page: null, hasCursor: false };

/** What answers a request, and under which endpoint the request log counts it. */
interface Route {
  readonly endpoint: RequestRecord['endpoint'];
  readonly answer: (exchange: Exchange) => Promise<number>;
}

/**
 * Serves the simulated account over HTTP as a single-tenant Sutro deployment does: every route under
 * /v1, `Authorization: Key …`, error bodies with detail/code/request_id. Faults are queued and exact,
 * so tests can say "page 3 answers 500"; the control API under /_sim/ lets another process drive
 * the account.
 */
export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const { account, apiKey } = options;
  const prefix = (options.pathPrefix ?? '/v1').replace(/\/+$/, '');
  if (prefix !== '' && !prefix.startsWith('/'))
    throw new Error(`pathPrefix must start with / (got ${prefix})`);
  const host = options.host ?? '127.0.0.1';
  const timers = new Set<NodeJS.Timeout>();
  let requestCounter = 0;

  const context: SimulatorContext = {
    account,
    faults: new FaultQueue(),
    cursors: new Cursors(),
    requests: new RecordedRequests(),
    latencyMs: options.latencyMs ?? 0,
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, ms);
        timers.add(timer);
      }),
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

  /** An API route: GET only, with the key, after the server-wide latency. */
  const apiRoute = (endpoint: Endpoint, answer: (exchange: Exchange) => Promise<number>): Route => ({
    endpoint,
    answer: async (exchange) => {
      if (exchange.req.method !== 'GET') return sendError(exchange, 405);
      if (exchange.req.headers.authorization !== `Key ${apiKey}`) return sendError(exchange, 401);
      return answer(exchange);
    },
  });
  const notFound: Route = {
    endpoint: 'other',
    answer: (exchange) => Promise.resolve(sendError(exchange, 404)),
  };
  const retired: Route = {
    endpoint: 'other',
    answer: (exchange) => Promise.resolve(sendError(exchange, 410)),
  };

  const route = (pathname: string): Route => {
    const simPath = controlPath(pathname);
    if (simPath !== null)
      return { endpoint: 'control', answer: (exchange) => control(context, exchange, simPath) };
    if (options.retired === true || options.retiredPaths?.includes(pathname)) return retired;
    const path = apiPath(pathname);
    if (path === '/try-authentication')
      return apiRoute('try-authentication', (exchange) => tryAuthentication(context, exchange));
    if (path === '/list-jobs') return apiRoute('list-jobs', (exchange) => listJobs(context, exchange));
    if (path?.startsWith('/jobs/') && path.length > '/jobs/'.length) {
      return apiRoute('jobs', (exchange) =>
        getJob(context, exchange, decodeURIComponent(path.slice('/jobs/'.length))),
      );
    }
    return notFound;
  };

  /** What every request to the API meets first: the network's latency, then the host itself. */
  const answerRequest = async (exchange: Exchange, { endpoint, answer }: Route): Promise<number> => {
    if (endpoint === 'control') return answer(exchange);
    if (context.latencyMs > 0) await context.sleep(context.latencyMs);
    if (context.faults.take(ANY_REQUEST, isHostFault) !== null) return answerWebPage(exchange);
    return answer(exchange);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    requestCounter += 1;
    const requestId = `req_${requestCounter.toString(36).padStart(4, '0')}${randomBytes(4).toString('hex')}`;
    const exchange: Exchange = { req, res, url, requestId };
    const chosen = route(url.pathname);
    const { endpoint } = chosen;
    const record = (status: number, recordedAs: RequestRecord['endpoint']) =>
      context.requests.record({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        status,
        at: new Date().toISOString(),
        endpoint: recordedAs,
      });
    answerRequest(exchange, chosen).then(
      (status) => record(status, endpoint),
      (error: unknown) => {
        // The control API fails only on what it was asked to do; the API itself, only on a bug.
        const isControl = endpoint === 'control';
        const invalid = error instanceof InvalidRequestError || isControl;
        const status = invalid ? 400 : 500;
        if (!res.headersSent) {
          const message = error instanceof Error ? error.message : String(error);
          sendError(exchange, status, message, invalid ? 'invalid_request' : 'simulator_error');
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

  const origin = `http://${urlHost}:${port}`;
  return {
    url: `${origin}${prefix}`,
    origin,
    port,
    account,
    faults: context.faults,
    requests: context.requests,
    setLatency: (ms) => {
      context.latencyMs = ms;
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
