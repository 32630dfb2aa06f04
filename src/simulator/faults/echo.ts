import type { Exchange } from '../answers.js';
import { errorBody } from '../errors.js';
import type { EchoContentType } from './faults.js';

/** An error body that repeats the request's headers, the key among them, and its content type. */
export function echoedHeaders(
  { req, requestId }: Exchange,
  status: number,
  contentType: EchoContentType,
): { readonly contentType: string; readonly body: string } {
  const detail = errorBody(status, requestId).detail as string;
  // Names and values exactly as the client sent them: what a debugging page prints.
  const lines: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
    lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  switch (contentType) {
    case 'json':
      return {
        contentType: 'application/json',
        body: JSON.stringify({ ...errorBody(status, requestId), headers: { ...req.headers } }),
      };
    case 'text':
      return {
        contentType: 'text/plain; charset=utf-8',
        body: `${status} ${detail}\n\nRequest headers:\n${lines.join('\n')}\n`,
      };
    case 'html':
      // Printed unescaped, as the careless debugging pages that leak keys do.
      return {
        contentType: 'text/html; charset=utf-8',
        body:
          `<!DOCTYPE html>\n<html><head><title>${status} ${detail}</title></head>\n<body>\n` +
          `<h1>${status} ${detail}</h1>\n<h2>Request headers</h2>\n<pre>${lines.join('\n')}</pre>\n` +
          `<p>request id ${requestId}</p>\n</body></html>\n`,
      };
  }
}
