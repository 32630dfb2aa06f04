import { sendJson, sendText, writeParts, type Exchange } from '../answers.js';
import type { SimulatorContext } from '../context.js';
import { echoedHeaders } from './echo.js';
import { errorBody } from '../errors.js';
import type { Fault, MalformedVariant, RequestTarget } from './faults.js';
import { hugeListingParts } from './huge-page.js';
import { MARKETING_PAGE } from './web-page.js';

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

/**
 * Carries out a fault that replaces or delays the answer. Returns the status it answered (0 for no
 * answer at all, yet or ever), or null when the normal answer is to follow.
 */
export async function answerFault(
  context: SimulatorContext,
  fault: Fault | null,
  target: RequestTarget,
  exchange: Exchange,
): Promise<number | null> {
  switch (fault?.kind) {
    case 'latency':
      await context.sleep(fault.ms);
      return null;
    case 'status':
      return sendJson(
        exchange,
        fault.status,
        fault.body ?? errorBody(fault.status, exchange.requestId, fault.shape),
        fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) },
      );
    case 'reset':
      exchange.req.socket.destroy();
      return 0;
    case 'malformed': {
      const bodies = target.endpoint === 'jobs' ? MALFORMED_JOB_BODIES : MALFORMED_LIST_BODIES;
      const html: Record<string, string> =
        fault.variant === 'not-json' ? { 'content-type': 'text/html' } : {};
      return sendJson(exchange, 200, bodies[fault.variant], html);
    }
    case 'echo-auth': {
      const status = fault.status ?? 401;
      const { contentType, body } = echoedHeaders(exchange, status, fault.contentType ?? 'json');
      return sendText(exchange, status, contentType, body);
    }
    case 'huge-page':
      await answerHugePage(context, exchange, target, fault.megabytes);
      return 200;
    case 'hang-body':
      exchange.res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': exchange.requestId });
      exchange.res.write(partialBody(context, target));
      return 200;
    case 'hang-headers':
      return 0;
    default:
      return null;
  }
}

export function answerWebPage(exchange: Exchange): number {
  return sendText(exchange, 200, 'text/html; charset=utf-8', MARKETING_PAGE);
}

async function answerHugePage(
  { account }: SimulatorContext,
  { res, requestId }: Exchange,
  target: RequestTarget,
  megabytes: number,
): Promise<void> {
  const [head, tail] =
    target.page === null
      ? ['{"message":"Jobs retrieved successfully.","jobs":[', ']}']
      : ['{"jobs":[', '],"next_cursor":null}'];
  res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
  await writeParts(res, hugeListingParts(account, megabytes, head));
  if (!res.destroyed) res.end(tail);
}

/** The first part of the answer the request would have had, up to a point inside it. */
function partialBody({ account }: SimulatorContext, target: RequestTarget): string {
  if (target.endpoint !== 'list-jobs') return '{"job":{"model":';
  const newest = account.page(0, 1)[0];
  return `{"jobs":[${newest === undefined ? '' : `${JSON.stringify(newest) ?? 'null'},`}`;
}
