import { sendError, sendJson, writeParts, type Exchange } from '../answers.js';
import type { SimulatorContext } from '../context.js';
import type { CursorPayload } from '../cursors.js';
import { answerFault } from '../faults/fault-answers.js';
import { isAnswerFault, isHostFault, type Fault, type RequestTarget } from '../faults/faults.js';

/** Rows per write when a whole listing is streamed, so that a million jobs never sit in one string. */
const STREAM_ROWS = 500;

/**
 * `GET /list-jobs` as the reference describes it: newest first, `limit` 1..100, an opaque signed
 * cursor with offset semantics (so jobs arriving at the head push others onto the next page, as with
 * the real API), and without `limit` the whole listing with a message and no cursor.
 */
export async function listJobs(context: SimulatorContext, exchange: Exchange): Promise<number> {
  const limitText = exchange.url.searchParams.get('limit');
  if (limitText === null) return listAll(context, exchange);
  const limit = /^\d{1,3}$/.test(limitText) ? Number(limitText) : Number.NaN;
  if (!(limit >= 1 && limit <= 100))
    return sendError(exchange, 400, 'limit must be between 1 and 100', 'invalid_limit');

  const { cursors, faults } = context;
  const cursorText = exchange.url.searchParams.get('cursor') ?? '';
  let cursor: CursorPayload | null = null;
  if (cursorText !== '') {
    cursor = cursors.verify(cursorText);
    if (cursor === null) return sendError(exchange, 400, 'Invalid cursor', 'invalid_cursor');
  }
  const asked = cursor?.o ?? 0;
  const target: RequestTarget = {
    endpoint: 'list-jobs',
    page: Math.floor(asked / limit),
    hasCursor: cursor !== null,
  };
  // Expiry acts on the request that meets it, its own cursor included.
  if (faults.take(target, (f) => f.kind === 'expire-cursors') !== null) cursors.expireIssued();
  if (cursor !== null && cursors.isExpired(cursor))
    return sendError(exchange, 400, 'Cursor expired', 'invalid_cursor');

  const fault = faults.take(target, (f) => f.kind !== 'expire-cursors' && !isHostFault(f));
  const faulted = await answerFault(context, fault, target, exchange);
  if (faulted !== null) return faulted;
  return sendJson(exchange, 200, pageOf(context, fault, { offset: asked, limit, cursor, cursorText }));
}

/** What a paged request asks for. */
interface PageRequest {
  readonly offset: number;
  readonly limit: number;
  /** The payload of the cursor it sent, null at the head. */
  readonly cursor: CursorPayload | null;
  /** That cursor as it was sent. */
  readonly cursorText: string;
}

interface Page {
  readonly jobs: unknown[];
  readonly next_cursor: string | null;
}

/** The page asked for and the cursor that follows it, unless a paging fault makes them otherwise. */
function pageOf(
  { account, cursors }: SimulatorContext,
  fault: Fault | null,
  { offset, limit, cursor, cursorText }: PageRequest,
): Page {
  const again = { o: offset, ...(cursor?.n === undefined ? {} : { n: cursor.n }) };
  switch (fault?.kind) {
    case 'out-of-order':
      if (offset + limit >= account.count()) break;
      return {
        jobs: account.page(offset + limit, limit),
        next_cursor: cursors.issue({ o: offset, n: offset + 2 * limit }),
      };
    case 'cursor-cycle':
      // A request already in a cycle goes on with it; the cycle is the cursors' own.
      if (cursor?.y !== undefined) break;
      return { jobs: account.page(offset, limit), next_cursor: cursors.issueCycle(offset + limit, offset) };
    case 'self-cursor':
      return { jobs: account.page(offset, limit), next_cursor: cursorText };
    case 'empty-pages':
      return { jobs: [], next_cursor: cursors.issue(again) };
    case 'same-page':
      return { jobs: account.page(offset, limit), next_cursor: cursors.issue(again) };
  }
  const jobs = account.page(offset, limit);
  if (cursor?.y !== undefined) return { jobs, next_cursor: cursors.partnerOf({ ...cursor, y: cursor.y }) };
  const nextOffset = cursor?.n ?? offset + limit;
  return { jobs, next_cursor: nextOffset < account.count() ? cursors.issue({ o: nextOffset }) : null };
}

async function listAll(context: SimulatorContext, exchange: Exchange): Promise<number> {
  const target: RequestTarget = { endpoint: 'list-jobs', page: null, hasCursor: false };
  const faulted = await answerFault(context, context.faults.take(target, isAnswerFault), target, exchange);
  if (faulted !== null) return faulted;
  if (context.account.jobShape === 'legacy') {
    // The legacy listing put its message after the jobs, and counted them.
    const message = `Successfully retrieved ${context.account.count()} jobs`;
    await streamListing(context, exchange, '{"jobs":[', `],"message":${JSON.stringify(message)}}`);
  } else {
    await streamListing(context, exchange, '{"message":"Jobs retrieved successfully.","jobs":[', ']}');
  }
  return 200;
}

/** Every listed row as one JSON array between `head` and `tail`, written in parts. */
export async function streamListing(
  { account }: SimulatorContext,
  { res, requestId }: Exchange,
  head: string,
  tail: string,
): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
  await writeParts(
    res,
    listingParts(account.count(), (offset) => account.page(offset, STREAM_ROWS), head),
  );
  if (!res.destroyed) res.end(tail);
}

function* listingParts(total: number, page: (offset: number) => unknown[], head: string): Generator<string> {
  yield head;
  for (let offset = 0; offset < total; offset += STREAM_ROWS) {
    // A raw row can be `undefined`, for which JSON.stringify returns no text; in an array it is null.
    yield page(offset)
      .map((row, i) => (offset + i > 0 ? ',' : '') + (JSON.stringify(row) ?? 'null'))
      .join('');
  }
}
