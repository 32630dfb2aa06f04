import pRetry, { AbortError } from 'p-retry';
import { redactSecrets } from '../redact.js';

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

/**
 * Retry policy as data. The delays are p-retry's exponential backoff with jitter; a `Retry-After`
 * from the server stretches the wait (never shortens it), up to `maxRetryAfterMs` so that a
 * misconfigured header cannot park the worker for a day.
 */
export interface RetryPolicy {
  readonly retries: number;
  readonly minTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly factor: number;
  readonly maxRetryAfterMs: number;
  /** 524 is Cloudflare's "origin timed out", which the Sutro API returns for slow pages. */
  readonly retryableStatuses: readonly number[];
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 5,
  minTimeoutMs: 500,
  maxTimeoutMs: 30_000,
  factor: 2,
  maxRetryAfterMs: 300_000,
  retryableStatuses: [408, 425, 429, 500, 502, 503, 504, 520, 522, 524],
};

export interface RequestObservation {
  readonly endpoint: 'list-jobs' | 'jobs';
  /** HTTP status, or 'network' / 'timeout' / 'malformed' when there was no usable response. */
  readonly outcome: string;
  readonly attempt: number;
  readonly durationMs: number;
  readonly willRetry: boolean;
}

export interface ClientOptions {
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly timeoutMs: number;
  /** `limit` of list-jobs, 1..100. */
  readonly pageLimit: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Called after every attempt: metrics and debug logs hang here. */
  readonly observe?: (observation: RequestObservation) => void;
  readonly userAgent?: string;
}

/** An HTTP answer from the API that is not a success; `detail` and friends come from its JSON body. */
export class SutroApiError extends Error {
  readonly status: number;
  readonly detail: string | null;
  readonly code: string | null;
  readonly requestId: string | null;
  readonly retryable: boolean;
  readonly retryAfterMs: number | null;

  constructor(
    message: string,
    fields: {
      status: number;
      detail: string | null;
      code: string | null;
      requestId: string | null;
      retryable: boolean;
      retryAfterMs: number | null;
    },
  ) {
    super(message);
    this.name = 'SutroApiError';
    this.status = fields.status;
    this.detail = fields.detail;
    this.code = fields.code;
    this.requestId = fields.requestId;
    this.retryable = fields.retryable;
    this.retryAfterMs = fields.retryAfterMs;
  }

  /** The API refused a cursor (expired or not its own): the caller should start from the head. */
  get isCursorRejected(): boolean {
    return this.status === 400 && /cursor/i.test(`${this.code ?? ''} ${this.detail ?? ''}`);
  }
}

/** A 200 whose body is not a list-jobs page. Retried: proxies and overloaded origins produce these. */
export class MalformedResponseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MalformedResponseError';
  }
}

/** No HTTP answer at all: DNS, refused connection, reset socket or the per-request timeout. */
export class SutroNetworkError extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SutroNetworkError';
  }
}

const HINTS: Readonly<Record<number, string>> = {
  400: 'The request was refused as invalid.',
  401: 'Check SUTRO_API_KEY: the API did not accept the key.',
  403: 'The API key is not allowed to list jobs; use a key of the account owner.',
  404: 'Check SUTRO_API_URL: nothing answers at this path (does your deployment need a /v1 prefix?).',
  410: 'This endpoint is retired: set SUTRO_API_URL to your deployment’s API origin.',
};

function textField(body: unknown, ...keys: string[]): string | null {
  if (typeof body !== 'object' || body === null) return null;
  for (const key of keys) {
    const value = (body as Record<string, unknown>)[key];
    if (typeof value === 'string' && value !== '') return value;
    if (value !== undefined && value !== null && typeof value !== 'string') return JSON.stringify(value);
  }
  return null;
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * `secrets`: the API key. An error body that repeats the request's Authorization header (some
 * gateways and debug pages do) is scrubbed before anything is taken from it: the message ends up in
 * logs, in the database and in `status`.
 */
async function apiError(
  response: Response,
  url: URL,
  policy: RetryPolicy,
  secrets: readonly string[],
): Promise<SutroApiError> {
  const text = redactSecrets(await response.text().catch(() => ''), secrets);
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const detail = textField(body, 'detail', 'message', 'error') ?? (text.trim().slice(0, 200) || null);
  const code = textField(body, 'code');
  const requestId = textField(body, 'request_id') ?? response.headers.get('x-request-id');
  const retryable = policy.retryableStatuses.includes(response.status);
  const parts = [`Sutro API answered ${response.status} ${response.statusText} for GET ${describeUrl(url)}`];
  if (detail !== null) parts.push(`: ${detail}`);
  if (code !== null) parts.push(` (code ${code})`);
  if (requestId !== null) parts.push(` [request_id ${requestId}]`);
  const hint = HINTS[response.status];
  if (hint !== undefined) parts.push(`. ${hint}`);
  return new SutroApiError(parts.join(''), {
    status: response.status,
    detail,
    code,
    requestId,
    retryable,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
  });
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

export function createSutroClient(options: ClientOptions): JobsApi {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const base = options.apiUrl.replace(/\/+$/, '');
  const headers = {
    authorization: `Key ${options.apiKey}`,
    accept: 'application/json',
    'user-agent': options.userAgent ?? 'sutro-sync',
  };

  /**
   * One GET with retries. `decode` runs inside the retried attempt, so a 200 whose body is not what
   * the endpoint promises (not JSON, no `jobs` array) spends the same retry budget as a 503.
   */
  async function get<T>(
    endpoint: RequestObservation['endpoint'],
    url: URL,
    signal: AbortSignal | undefined,
    decode: (body: unknown, requestId: string | null) => T,
    onNotFound?: () => T,
  ): Promise<T> {
    let lastOutcome = '';
    let lastStarted = 0;
    return pRetry(
      async (attempt) => {
        lastStarted = performance.now();
        const attemptSignal = signal
          ? AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)])
          : AbortSignal.timeout(options.timeoutMs);
        let response: Response;
        try {
          response = await fetch(url, { headers, signal: attemptSignal });
        } catch (error) {
          if (signal?.aborted) throw new AbortError(signal.reason as Error);
          const timedOut = (error as Error).name === 'TimeoutError';
          lastOutcome = timedOut ? 'timeout' : 'network';
          throw new SutroNetworkError(
            timedOut
              ? `GET ${describeUrl(url)} timed out after ${options.timeoutMs} ms (SUTRO_REQUEST_TIMEOUT_MS)`
              : `GET ${describeUrl(url)} failed: ${(error as Error).message}`,
            timedOut,
            { cause: error },
          );
        }
        lastOutcome = String(response.status);
        if (response.status === 404 && onNotFound !== undefined) {
          await response.body?.cancel();
          observe(attempt, false);
          return onNotFound();
        }
        if (!response.ok) {
          const error = await apiError(response, url, policy, [options.apiKey]);
          if (!error.retryable) {
            observe(attempt, false);
            throw new AbortError(error);
          }
          throw error;
        }
        let text: string;
        try {
          text = await response.text();
        } catch (error) {
          if (signal?.aborted) throw new AbortError(signal.reason as Error);
          lastOutcome = 'network';
          throw new SutroNetworkError(`GET ${describeUrl(url)}: the body was cut off`, false, {
            cause: error,
          });
        }
        lastOutcome = 'malformed';
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (error) {
          throw new MalformedResponseError(
            `GET ${describeUrl(url)} answered 200 with a body that is not JSON (${redactSecrets(text, [options.apiKey]).slice(0, 80)}…)`,
            { cause: error },
          );
        }
        const decoded = decode(body, response.headers.get('x-request-id'));
        lastOutcome = String(response.status);
        observe(attempt, false);
        return decoded;
      },
      {
        retries: policy.retries,
        factor: policy.factor,
        minTimeout: policy.minTimeoutMs,
        maxTimeout: policy.maxTimeoutMs,
        randomize: true,
        ...(signal ? { signal } : {}),
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          observe(attemptNumber, retriesLeft > 0);
          if (retriesLeft > 0 && error instanceof SutroApiError && error.retryAfterMs !== null) {
            await sleep(Math.min(error.retryAfterMs, policy.maxRetryAfterMs), signal);
          }
        },
      },
    );

    function observe(attempt: number, willRetry: boolean): void {
      options.observe?.({
        endpoint,
        outcome: lastOutcome,
        attempt,
        durationMs: performance.now() - lastStarted,
        willRetry,
      });
    }
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
