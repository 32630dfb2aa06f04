import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from './errors.js';

/** One request being answered: what the route handlers are given. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** Fresh for every request; sent as x-request-id and in the API's own error bodies. */
  readonly requestId: string;
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

/** Answers with a body of another content type: HTML, plain text. */
export function sendText(
  { res, requestId }: Exchange,
  status: number,
  contentType: string,
  body: string,
): number {
  res.writeHead(status, { 'content-type': contentType, 'x-request-id': requestId });
  res.end(body);
  return status;
}

/** The API's own error, `{detail, code, request_id}`: the status's own detail and code unless given. */
export function sendError(exchange: Exchange, status: number, detail?: string, code?: string): number {
  return sendJson(exchange, status, errorBody(status, exchange.requestId, 'detail', detail, code));
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
