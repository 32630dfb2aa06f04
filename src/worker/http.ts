import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { Liveness, Readiness } from './health.js';

export interface HealthServerOptions {
  /** 0 picks a free port (tests); `start` does not call this at all when SUTRO_HTTP_PORT is 0. */
  readonly port: number;
  /** SUTRO_HTTP_HOST; a container needs 0.0.0.0 for its probes to reach it. */
  readonly host: string;
  readonly registry: Registry;
  readonly readiness: () => Promise<Readiness>;
  /** /healthz: 503 with the reason when the run in progress has stopped moving. */
  readonly liveness: () => Liveness;
  readonly log?: Logger;
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export class HealthServerError extends Error {
  constructor(message: string, options: ErrorOptions) {
    super(message, options);
    this.name = 'HealthServerError';
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, head: boolean): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`, head);
}

/**
 * `/healthz` (the process answers and its run moves), `/readyz` (the database answers and the last success is recent)
 * and `/metrics` (Prometheus text), on node:http: three routes do not need a framework.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { registry, readiness, liveness, log } = options;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { error: 'method not allowed' }, false);
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    switch (path) {
      case '/healthz': {
        const { healthy, ...details } = liveness();
        return sendJson(res, healthy ? 200 : 503, { status: healthy ? 'ok' : 'stalled', ...details }, head);
      }
      case '/readyz': {
        const result = await readiness();
        const { ready, ...details } = result;
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', ...details }, head);
      }
      case '/metrics':
        return send(res, 200, registry.contentType, await registry.metrics(), head);
      default:
        return sendJson(res, 404, { error: 'not found', paths: ['/healthz', '/readyz', '/metrics'] }, head);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log?.error({ err: error, path: req.url }, 'health endpoint failed');
      if (!res.headersSent) sendJson(res, 500, { error: (error as Error).message }, false);
      else res.destroy();
    });
  });
  // Probes and scrapers reconnect at will; idle keep-alive sockets must not hold up a shutdown.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new HealthServerError(
          `cannot serve /healthz, /readyz and /metrics on ${options.host}:${options.port} (SUTRO_HTTP_HOST, SUTRO_HTTP_PORT): ${error.message}`,
          { cause: error },
        ),
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log?.info(
    { host: options.host, port, paths: ['/healthz', '/readyz', '/metrics'], notice: true },
    'health and metrics endpoints listening',
  );

  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
