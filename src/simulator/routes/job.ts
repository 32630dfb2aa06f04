import { sendJson, type Exchange } from '../answers.js';
import type { SimulatorContext } from '../context.js';
import { answerFault } from '../faults/fault-answers.js';
import { isAnswerFault, type RequestTarget } from '../faults/faults.js';

/**
 * `GET /jobs/{job_id}`: one job, as list-jobs shows it, under `job`. An unknown job is a 404 whose
 * body has a `message`, as the fetch-job reference documents, not the API's usual detail and code.
 */
export async function getJob(context: SimulatorContext, exchange: Exchange, jobId: string): Promise<number> {
  const target: RequestTarget = { endpoint: 'jobs', page: null, hasCursor: false };
  const faulted = await answerFault(context, context.faults.take(target, isAnswerFault), target, exchange);
  if (faulted !== null) return faulted;
  const job = context.account.getById(jobId);
  if (job === undefined) return sendJson(exchange, 404, { message: 'Job not found' });
  return sendJson(exchange, 200, { job });
}
