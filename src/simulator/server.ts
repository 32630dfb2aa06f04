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

/** One account of a deployment and the key that reads it: a Sutro key is scoped to one account. */
export interface SimulatedTenant {
  readonly apiKey: string;
  readonly account: SimulatedAccount;
}

export interface SimulatorOptions {
  readonly account: SimulatedAccount;
  readonly apiKey: string;
  /** More accounts served by the same deployment, each read with its own key. */
  readonly moreAccounts?: readonly SimulatedTenant[];
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

/** One account as a test drives it: its state, its faults, its requests, its latency. */
export interface RunningAccount {
  readonly apiKey: string;
  readonly account: SimulatedAccount;
  readonly faults: FaultController;
  readonly requests: RequestLog;
  setLatency(ms: number): void;
}

export interface RunningSimulator extends RunningAccount {
  /** Base URL including the prefix, without a trailing slash: what clients are configured with. */
  readonly url: string;
  /** scheme://host:port, without a path: a deployment's origin, as SUTRO_API_URL may give it. */
  readonly origin: string;
  readonly port: number;
  /** Every account, the first (`account`, `apiKey`) included, in the order given. */
  readonly accounts: readonly RunningAccount[];
  /** The account read with `apiKey`. */
  accountOf(apiKey: string): RunningAccount;
  close(): Promise<void>;
}

/** The key of an `Authorization: Key …` header. */
const keyOf = (authorization: string | undefined): string | undefined =>
  authorization?.startsWith('Key ') ? authorization.slice('Key '.length) : undefined;

/** Host faults are met by every request, whatever its path. */
const ANY_REQUEST: RequestTarget = { endpoint: null, page: null, hasCursor: false };

/** What answers a request, and under which endpoint the request log counts it. */
interface Route {
  readonly endpoint: RequestRecord['endpoint'];
  readonly answer: (context: SimulatorContext, exchange: Exchange) => Promise<number>;
}

/**
 * Serves simulated accounts over HTTP as a single-tenant Sutro deployment does: every route under
 * /v1, `Authorization: Key …` choosing the account (a key reads one account; any other answers 401),
 * error bodies with detail/code/request_id. Faults are queued per account and exact, so tests can
 * say "page 3 of this account answers 500"; the control API under /_sim/ (`?account=` names one,
 * by key or place; the first by default) lets another process drive the accounts.
 */
export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const prefix = (options.pathPrefix ?? '/v1').replace(/\/+$/, '');
  if (prefix !== '' && !prefix.startsWith('/'))
    throw new Error(`pathPrefix must start with / (got ${prefix})`);
  const host = options.host ?? '127.0.0.1';
  const timers = new Set<NodeJS.Timeout>();
  let requestCounter = 0;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const tenants = [{ apiKey: options.apiKey, account: options.account }, ...(options.moreAccounts ?? [])];
  const keys = new Set<string>();
  for (const { apiKey } of tenants) {
    if (keys.has(apiKey)) throw new Error(`two accounts share the key ${JSON.stringify(apiKey)}`);
    keys.add(apiKey);
  }
  const contexts = new Map<string, SimulatorContext>(
    tenants.map(({ apiKey, account }) => [
      apiKey,
      {
        account,
        faults: new FaultQueue(),
        cursors: new Cursors(),
        requests: new RecordedRequests(),
        latencyMs: options.latencyMs ?? 0,
        sleep,
      },
    ]),
  );
  const first = contexts.get(options.apiKey) as SimulatorContext;
  /** The account a request's key reads; a request without a known key meets the first's faults. */
  const contextOf = (authorization: string | undefined): SimulatorContext => {
    const key = keyOf(authorization);
    return (key === undefined ? undefined : contexts.get(key)) ?? first;
  };
  /** The account a control request names with ?account=: its key, or its place (1 for the first). */
  const controlled = (url: URL): SimulatorContext => {
    const wanted = url.searchParams.get('account');
    if (wanted === null) return first;
    const byPlace = /^\d+$/.test(wanted) ? tenants[Number(wanted) - 1]?.apiKey : undefined;
    const context = contexts.get(byPlace ?? wanted);
    if (context === undefined)
      throw new InvalidRequestError(
        `no account ${JSON.stringify(wanted)}: give its key, or 1 to ${tenants.length}`,
      );
    return context;
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

  /** An API route: GET only, with a key of one of the accounts, after that account's latency. */
  const apiRoute = (
    endpoint: Endpoint,
    answer: (context: SimulatorContext, exchange: Exchange) => Promise<number>,
  ): Route => ({
    endpoint,
    answer: async (context, exchange) => {
      if (exchange.req.method !== 'GET') return sendError(exchange, 405);
      const key = keyOf(exchange.req.headers.authorization);
      if (key === undefined || !contexts.has(key)) return sendError(exchange, 401);
      return answer(context, exchange);
    },
  });
  const notFound: Route = {
    endpoint: 'other',
    answer: (_context, exchange) => Promise.resolve(sendError(exchange, 404)),
  };
  const retired: Route = {
    endpoint: 'other',
    answer: (_context, exchange) => Promise.resolve(sendError(exchange, 410)),
  };

  const route = (pathname: string): Route => {
    const simPath = controlPath(pathname);
    if (simPath !== null)
      return { endpoint: 'control', answer: (context, exchange) => control(context, exchange, simPath) };
    if (options.retired === true || options.retiredPaths?.includes(pathname)) return retired;
    const path = apiPath(pathname);
    if (path === '/try-authentication') return apiRoute('try-authentication', tryAuthentication);
    if (path === '/list-jobs') return apiRoute('list-jobs', listJobs);
    if (path?.startsWith('/jobs/') && path.length > '/jobs/'.length) {
      const jobId = decodeURIComponent(path.slice('/jobs/'.length));
      return apiRoute('jobs', (context, exchange) => getJob(context, exchange, jobId));
    }
    return notFound;
  };

  /** What every request to the API meets first: the network's latency, then the host itself. */
  const answerRequest = async (
    context: SimulatorContext,
    exchange: Exchange,
    { endpoint, answer }: Route,
  ): Promise<number> => {
    if (endpoint === 'control') return answer(context, exchange);
    if (context.latencyMs > 0) await context.sleep(context.latencyMs);
    if (context.faults.take(ANY_REQUEST, isHostFault) !== null) return answerWebPage(exchange);
    return answer(context, exchange);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    requestCounter += 1;
    const requestId = `req_${requestCounter.toString(36).padStart(4, '0')}${randomBytes(4).toString('hex')}`;
    const exchange: Exchange = { req, res, url, requestId };
    const chosen = route(url.pathname);
    const { endpoint } = chosen;
    let context = first;
    const record = (status: number, recordedAs: RequestRecord['endpoint']) =>
      context.requests.record({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        status,
        at: new Date().toISOString(),
        endpoint: recordedAs,
      });
    const answered = (async () => {
      context = endpoint === 'control' ? controlled(url) : contextOf(req.headers.authorization);
      return answerRequest(context, exchange, chosen);
    })();
    answered.then(
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
  const running = tenants.map(({ apiKey, account }): RunningAccount => {
    const context = contexts.get(apiKey) as SimulatorContext;
    return {
      apiKey,
      account,
      faults: context.faults,
      requests: context.requests,
      setLatency: (ms) => {
        context.latencyMs = ms;
      },
    };
  });
  const [firstAccount] = running as [RunningAccount, ...RunningAccount[]];
  return {
    ...firstAccount,
    url: `${origin}${prefix}`,
    origin,
    port,
    accounts: running,
    accountOf: (apiKey) => {
      const found = running.find((tenant) => tenant.apiKey === apiKey);
      if (found === undefined) throw new Error(`the simulator serves no account for that key`);
      return found;
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
