import { Agent as HttpAgent, get as httpGet, STATUS_CODES, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { pipeline, type Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import pRetry, { AbortError } from 'p-retry';
import { redactSecrets } from '../redact.js';
import {
  apiError,
  describeTransportFailure,
  MalformedResponseError,
  ResponseTooLargeError,
  SutroApiError,
  SutroNetworkError,
  type HttpAnswer,
} from './errors.js';
import { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './retry.js';

export {
  MalformedResponseError,
  parseRetryAfter,
  ResponseTooLargeError,
  SutroApiError,
  SutroNetworkError,
} from './errors.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';

/** One page of `GET /list-jobs?limit=…`. `jobs` are unparsed: validation is the sync's concern. */
export interface ListJobsPage {
  readonly jobs: readonly unknown[];
  readonly nextCursor: string | null;
  readonly requestId: string | null;
}

/** What the sync engine needs from the API; the engine never sees HTTP. */
export interface JobsApi {
  listJobs(cursor: string | null, signal?: AbortSignal): Promise<ListJobsPage>;
  /** `GET /jobs/{job_id}`; null when the API no longer has the job. */
  getJob(jobId: string, signal?: AbortSignal): Promise<unknown>;
}

export type Endpoint = 'list-jobs' | 'jobs' | 'try-authentication';

/** The client: what the engine needs, and the deployment's own check of a key, for `doctor`. */
export interface SutroClient extends JobsApi {
  /** `GET /try-authentication`: resolves when the deployment accepts the key, throws why not. */
  tryAuthentication(signal?: AbortSignal): Promise<void>;
}

export interface RequestObservation {
  readonly endpoint: Endpoint;
  /** HTTP status, or 'network' / 'timeout' / 'malformed' / 'too-large' when there was no usable answer. */
  readonly outcome: string;
  readonly attempt: number;
  /** The attempts the policy allows: its retries plus one. */
  readonly attempts: number;
  readonly durationMs: number;
  /** Set when another attempt follows: the wait before it, and why this one failed, in one line. */
  readonly retry: { readonly inMs: number; readonly reason: string } | null;
}

export interface ClientOptions {
  /** The deployment's `<origin>/v1` (see deployment.ts); endpoints' paths are appended to it. */
  readonly apiUrl: string;
  readonly apiKey: string;
  /** From sending a request to having its whole body (SUTRO_REQUEST_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** `limit` of list-jobs, 1..100. */
  readonly pageLimit: number;
  /** A larger answer is stopped while it streams in (SUTRO_MAX_RESPONSE_MB). */
  readonly maxResponseBytes: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Called after every attempt: metrics and the warning line of each retry hang here. */
  readonly observe?: (observation: RequestObservation) => void;
  readonly userAgent?: string;
}

function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const MEGABYTE = 1024 * 1024;

/**
 * Reads the body as it streams in and stops past `limit`: a page of a hundred jobs is well under a
 * megabyte, and one of hundreds of megabytes (an API that lost its paging, a proxy's runaway
 * answer) must fail the run, not the worker's memory.
 */
async function readLimited(answer: Answer, limit: number, described: string): Promise<string> {
  const tooLarge = (size: string) =>
    new ResponseTooLargeError(
      `${described} answered ${size}, more than the ${limit / MEGABYTE} MB a response may have (SUTRO_MAX_RESPONSE_MB); ` +
        'a page of 100 jobs is normally well under 1 MB',
    );
  const declared = Number(answer.header('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    answer.body.destroy();
    throw tooLarge(`${Math.round(declared / MEGABYTE)} MB (its Content-Length)`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of answer.body as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > limit) {
      answer.body.destroy();
      throw tooLarge(`more than ${limit / MEGABYTE} MB`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** An answer's status and headers, and its body still to read, decoded. */
interface Answer extends HttpAnswer {
  readonly body: Readable;
}

/** The codings the client accepts, as a gateway in front of the API may compress a page tenfold. */
const DECODERS: Readonly<Record<string, () => Transform>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** The body as sent, or through its decoder; an error of either ends the reading of it. */
function decoded(response: IncomingMessage): Readable {
  const coding = response.headers['content-encoding']?.trim().toLowerCase();
  const decoder = coding === undefined ? undefined : DECODERS[coding];
  return decoder === undefined ? response : pipeline(response, decoder(), () => undefined);
}

/**
 * One pool of kept-alive connections for every client of the process, as fetch's global one was:
 * the sources of a service share their deployment's connections rather than each keeping its own.
 * Creating an agent opens nothing.
 */
const AGENTS = {
  http: new HttpAgent({ keepAlive: true }),
  https: new HttpsAgent({ keepAlive: true }),
};

/**
 * Sends the GET with Node's own HTTP client rather than fetch(). Node 20's fetch keeps each
 * response in a FinalizationRegistry, and each request's state behind a WeakRef on the signal it
 * is given, which V8 keeps alive through every minor collection: every page's request and answer
 * were promoted to the old generation, and the heap grew between full collections (bench/README.md,
 * issue 20).
 */
function send(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const request = (secure ? httpsGet : httpGet)(url, {
      headers,
      agent: secure ? AGENTS.https : AGENTS.http,
      signal,
    });
    request.on('error', reject);
    request.once('response', (response) => {
      const status = response.statusCode ?? 0;
      resolve({
        status,
        statusText: response.statusMessage ?? STATUS_CODES[status] ?? '',
        header(name) {
          const value = response.headers[name];
          return Array.isArray(value) ? value.join(', ') : (value ?? null);
        },
        body: decoded(response),
      });
    });
  });
}

/** A failed attempt, with what the metrics call it. */
type AttemptFailure = Error & { outcome?: string };

function failure<E extends Error>(error: E, outcome: string): E & { outcome: string } {
  return Object.assign(error, { outcome });
}

export function createSutroClient(options: ClientOptions): SutroClient {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const base = options.apiUrl.replace(/\/+$/, '');
  const secrets = [options.apiKey];
  const headers = {
    authorization: `Key ${options.apiKey}`,
    accept: 'application/json',
    'accept-encoding': 'gzip, deflate, br',
    'user-agent': options.userAgent ?? 'sutro-sync',
  };
  /**
   * Until the API has answered once, a 200 that is not JSON is a web page at SUTRO_API_URL (the
   * company's site, a login page), not a passing fault: it fails at once, saying so, instead of
   * being retried for half a minute.
   */
  let answered = false;

  /**
   * One attempt. A single timer covers the whole request, so that a body that stops arriving ends
   * as a timeout too; the message says which part it was waiting for.
   */
  async function attempt<T>(
    url: URL,
    signal: AbortSignal | undefined,
    decode: (body: unknown, requestId: string | null) => T,
    onNotFound: (() => T) | undefined,
  ): Promise<{ value: T; outcome: string }> {
    const described = `GET ${describeUrl(url)}`;
    // One controller for the attempt, ended by its timer or by the caller's signal through a
    // listener removed when the attempt ends: on Node 20 each AbortSignal.any stays listed on its
    // parents for good, and a run's signal lives for thousands of requests.
    const controller = new AbortController();
    let timedOut = false;
    const timeout = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, options.timeoutMs);
    const stop = () => controller.abort(signal?.reason);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
    let phase: 'answer' | 'body' = 'answer';
    const seconds = `${options.timeoutMs / 1000} s`;
    try {
      const response = await send(url, headers, controller.signal);
      phase = 'body';
      const outcome = String(response.status);
      if (response.status === 404 && onNotFound !== undefined) {
        response.body.resume();
        return { value: onNotFound(), outcome };
      }
      const text = await readLimited(response, options.maxResponseBytes, described);
      if (response.status < 200 || response.status > 299) {
        const error = apiError(response, described, text, secrets);
        throw failure(
          policy.retryableStatuses.includes(response.status) ? error : new AbortError(error),
          outcome,
        ) as AttemptFailure;
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        const sample = JSON.stringify(redactSecrets(text.trim(), secrets).slice(0, 80));
        const type = response.header('content-type') ?? 'no content type';
        if (!answered) {
          throw failure(
            new AbortError(
              new MalformedResponseError(
                `SUTRO_API_URL points at a web page, not the API: ${described} answered 200 with ${type} (${sample}…)`,
                { cause: error },
              ),
            ),
            'malformed',
          );
        }
        throw failure(
          new MalformedResponseError(
            `${described} answered 200 with a body that is not JSON (${type}: ${sample}…)`,
            {
              cause: error,
            },
          ),
          'malformed',
        );
      }
      const value = decode(body, response.header('x-request-id'));
      answered = true;
      return { value, outcome };
    } catch (error) {
      if (signal?.aborted) throw new AbortError(signal.reason as Error);
      if (error instanceof AbortError || (error as AttemptFailure).outcome !== undefined) throw error;
      if (error instanceof ResponseTooLargeError) throw failure(new AbortError(error), 'too-large');
      if (error instanceof MalformedResponseError) throw failure(error, 'malformed');
      if (timedOut) {
        const waitingFor =
          phase === 'answer'
            ? `no answer within ${seconds}`
            : `the answer's body stopped arriving: still incomplete ${seconds} after the request`;
        throw failure(
          new SutroNetworkError(`${described}: timed out, ${waitingFor} (SUTRO_REQUEST_TIMEOUT_MS)`, true, {
            cause: error,
          }),
          'timeout',
        );
      }
      const where = phase === 'answer' ? '' : ' while reading the answer';
      throw failure(
        new SutroNetworkError(`${described}: ${describeTransportFailure(error, url)}${where}`, false, {
          cause: error,
        }),
        'network',
      );
    } finally {
      clearTimeout(timeout);
      signal?.removeEventListener('abort', stop);
    }
  }

  /** One GET with retries; a 200 whose body is not what the endpoint promises is retried as a 503 is. */
  function get<T>(
    endpoint: Endpoint,
    url: URL,
    signal: AbortSignal | undefined,
    decode: (body: unknown, requestId: string | null) => T,
    onNotFound?: () => T,
  ): Promise<T> {
    let started = 0;
    const report = (number: number, outcome: string, retry: RequestObservation['retry']) =>
      options.observe?.({
        endpoint,
        outcome,
        attempt: number,
        attempts: policy.retries + 1,
        durationMs: performance.now() - started,
        retry,
      });
    return pRetry(
      async (number) => {
        started = performance.now();
        try {
          const { value, outcome } = await attempt(url, signal, decode, onNotFound);
          report(number, outcome, null);
          return value;
        } catch (error) {
          // Failures that will not be retried are reported here; retried ones in onFailedAttempt.
          if (error instanceof AbortError)
            report(number, (error as AttemptFailure).outcome ?? 'aborted', null);
          throw error;
        }
      },
      {
        retries: policy.retries,
        // The waits are the policy's (retryDelayMs), slept below, so that each can be reported.
        minTimeout: 0,
        ...(signal ? { signal } : {}),
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          const outcome = (error as AttemptFailure).outcome ?? 'network';
          if (retriesLeft <= 0) {
            report(attemptNumber, outcome, null);
            return;
          }
          const retryAfter = error instanceof SutroApiError ? error.retryAfterMs : null;
          const inMs = retryDelayMs(policy, attemptNumber, retryAfter);
          report(attemptNumber, outcome, { inMs, reason: error.message });
          await sleep(inMs, signal);
        },
      },
    );
  }

  return {
    listJobs(cursor, signal) {
      const url = new URL(`${base}/list-jobs`);
      url.searchParams.set('limit', String(options.pageLimit));
      if (cursor !== null) url.searchParams.set('cursor', cursor);
      return get('list-jobs', url, signal, (body, requestId) => toPage(body, requestId, url));
    },
    getJob(jobId, signal) {
      const url = new URL(`${base}/jobs/${encodeURIComponent(jobId)}`);
      return get(
        'jobs',
        url,
        signal,
        (body) => toJob(body, url),
        () => null,
      );
    },
    tryAuthentication(signal) {
      const url = new URL(`${base}/try-authentication`);
      return get('try-authentication', url, signal, (body) => {
        if ((body as { authenticated?: unknown } | null)?.authenticated !== true) {
          throw new MalformedResponseError(
            `GET ${describeUrl(url)} answered 200 without "authenticated": true`,
          );
        }
      });
    },
  };
}

function toJob(body: unknown, url: URL): unknown {
  const job = (body as { job?: unknown } | null)?.job;
  if (typeof job !== 'object' || job === null) {
    throw new MalformedResponseError(`GET ${describeUrl(url)} answered 200 without a "job" object`);
  }
  return job;
}

function toPage(body: unknown, requestId: string | null, url: URL): ListJobsPage {
  const page = body as { jobs?: unknown; next_cursor?: unknown } | null;
  if (typeof page !== 'object' || page === null || !Array.isArray(page.jobs)) {
    throw new MalformedResponseError(`GET ${describeUrl(url)} answered 200 without a "jobs" array`);
  }
  const next = page.next_cursor;
  if (next !== undefined && next !== null && typeof next !== 'string') {
    throw new MalformedResponseError(`GET ${describeUrl(url)} answered a next_cursor that is not a string`);
  }
  return {
    jobs: page.jobs as unknown[],
    nextCursor: next === '' || next === undefined ? null : next,
    requestId,
  };
}
