import { sendJson, type Exchange } from '../answers.js';
import type { SimulatorContext } from '../context.js';
import { answerFault } from '../faults/fault-answers.js';
import { isAnswerFault, type RequestTarget } from '../faults/faults.js';

/** `GET /try-authentication`: the documented read-only check that a key reaches the deployment. */
export async function tryAuthentication(context: SimulatorContext, exchange: Exchange): Promise<number> {
  const target: RequestTarget = { endpoint: 'try-authentication', page: null, hasCursor: false };
  const faulted = await answerFault(context, context.faults.take(target, isAnswerFault), target, exchange);
  if (faulted !== null) return faulted;
  return sendJson(exchange, 200, { authenticated: true });
}
