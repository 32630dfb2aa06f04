import type { IncomingMessage } from 'node:http';
import type { AdvanceOptions } from '../account/account.js';
import { sendError, sendJson, type Exchange } from '../answers.js';
import type { SimulatorContext } from '../context.js';
import { InvalidRequestError, asObject, parseQueuedFault } from '../faults/fault-json.js';
import { streamListing } from './list-jobs.js';

/**
 * The simulator's own API under `/_sim/`, for tests and demos run in another process: the account's
 * state, time passing, faults, latency, changes by hand and the request log. Not part of Sutro's API.
 */
export async function control(context: SimulatorContext, exchange: Exchange, path: string): Promise<number> {
  const { account, faults, requests } = context;
  const { req } = exchange;
  const body = req.method === 'POST' ? await readJson(req) : null;
  switch (`${req.method} ${path}`) {
    case 'GET /_sim/state':
      return sendJson(exchange, 200, {
        now: account.currentTime.toISOString(),
        count: account.count(),
        seed: account.seed,
        latencyMs: context.latencyMs,
        pendingFaults: countOrForever(faults.pending()),
      });
    case 'POST /_sim/advance':
      return sendJson(exchange, 200, account.advance(asObject(body) as unknown as AdvanceOptions));
    case 'POST /_sim/faults': {
      if (!Array.isArray(body)) throw new InvalidRequestError('the body must be a list of faults');
      const parsed = body.map(parseQueuedFault);
      faults.clear();
      for (const { fault, times } of parsed) faults.add(fault, times);
      return sendJson(exchange, 200, { pending: countOrForever(faults.pending()) });
    }
    case 'POST /_sim/latency': {
      const ms = asObject(body).ms;
      if (typeof ms !== 'number' || !(ms >= 0)) throw new InvalidRequestError('ms must be a number >= 0');
      context.latencyMs = ms;
      return sendJson(exchange, 200, { latencyMs: ms });
    }
    case 'POST /_sim/mutate': {
      const { jobId, patch } = asObject(body);
      if (typeof jobId !== 'string') throw new InvalidRequestError('jobId must be a string');
      return sendJson(exchange, 200, account.mutate(jobId, asObject(patch)));
    }
    case 'POST /_sim/insert-raw': {
      const { position, raw } = asObject(body);
      if (typeof position !== 'number') throw new InvalidRequestError('position must be a number');
      account.insertRaw(position, raw);
      return sendJson(exchange, 200, { count: account.count() });
    }
    case 'GET /_sim/jobs':
      await streamListing(context, exchange, '[', ']');
      return 200;
    case 'GET /_sim/requests':
      return sendJson(exchange, 200, requests.entries);
    case 'DELETE /_sim/requests':
      requests.clear();
      return sendJson(exchange, 200, { cleared: true });
    default:
      return sendError(exchange, 404, `No control endpoint ${req.method} ${path}`, 'not_found');
  }
}

/** JSON has no Infinity: a fault applied to every request is pending "forever". */
function countOrForever(count: number): number | 'forever' {
  return Number.isFinite(count) ? count : 'forever';
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidRequestError('the body is not JSON', { cause: error });
  }
}
