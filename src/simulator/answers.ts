import type { IncomingMessage, ServerResponse } from 'node:http';

/** One request being answered: what the route handlers are given. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** Fresh for every request; sent as x-request-id and in the API's own error bodies. */
  readonly requestId: string;
}

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

export function errorBody(status: number, requestId: string): Record<string, unknown> {
  return {
    ...(DEFAULT_ERROR_BODIES[status] ?? { detail: `HTTP ${status}`, code: 'error' }),
    request_id: requestId,
  };
}

/** Answers with a JSON body (a string is sent as it is); returns the status for the request log. */
export function sendJson(
  { res, requestId }: Exchange,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): number {
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': requestId, ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
  return status;
}

/** The API's own error: the status's default body, with its detail and code replaced when given. */
export function sendError(exchange: Exchange, status: number, detail?: string, code?: string): number {
  return sendJson(exchange, status, {
    ...errorBody(status, exchange.requestId),
    ...(detail === undefined ? {} : { detail }),
    ...(code === undefined ? {} : { code }),
  });
}

/**
 * Writes `parts` one after another, waiting for the client to take each before making the next, so
 * that a body of any size never sits in memory whole. Stops early when the client goes away.
 */
export async function writeParts(res: ServerResponse, parts: Iterable<string>): Promise<void> {
  for (const part of parts) {
    if (res.destroyed) return;
    if (!res.write(part)) {
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
  }
}
