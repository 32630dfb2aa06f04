import { sendJson, type Exchange } from './answers.js';
import { errorBody } from './errors.js';
import type { SimulatorContext } from './context.js';
import type { Fault, MalformedVariant, RequestTarget } from './faults.js';

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
 * answer at all), or null when the normal answer is to follow.
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
    default:
      return null;
  }
}
