import { sendError, sendJson, type Exchange } from '../answers.js';
import type { SimulatorContext } from '../context.js';
import { answerFault } from '../fault-answers.js';
import { isAnswerFault, type RequestTarget } from '../faults.js';

/** `GET /jobs/{job_id}`: one job, as list-jobs shows it, under `job`. */
export async function getJob(context: SimulatorContext, exchange: Exchange, jobId: string): Promise<number> {
  const target: RequestTarget = { endpoint: 'jobs', page: null, hasCursor: false };
  const faulted = await answerFault(context, context.faults.take(target, isAnswerFault), target, exchange);
  if (faulted !== null) return faulted;
  const job = context.account.getById(jobId);
  if (job === undefined) return sendError(exchange, 404, 'Job not found', 'not_found');
  return sendJson(exchange, 200, { job });
}
