import { redactSecrets } from '../redact.js';

/**
 * What can go wrong talking to the API, each said in one line with what to check. The messages end
 * up in logs, in sutro.sync_runs.error and on the terminal, so every text taken from an answer is
 * scrubbed of the key first.
 */

/** An HTTP answer from the API that is not a success; `detail` and friends come from its body. */
export class SutroApiError extends Error {
  readonly status: number;
  readonly detail: string | null;
  readonly code: string | null;
  readonly requestId: string | null;
  readonly retryAfterMs: number | null;

  constructor(
    message: string,
    fields: {
      status: number;
      detail: string | null;
      code: string | null;
      requestId: string | null;
      retryAfterMs: number | null;
    },
  ) {
    super(message);
    this.name = 'SutroApiError';
    this.status = fields.status;
    this.detail = fields.detail;
    this.code = fields.code;
    this.requestId = fields.requestId;
    this.retryAfterMs = fields.retryAfterMs;
  }

  /** The API refused a cursor (expired or not its own): the caller should start from the head. */
  get isCursorRejected(): boolean {
    return this.status === 400 && /cursor/i.test(`${this.code ?? ''} ${this.detail ?? ''}`);
  }
}

/** A 200 whose body is not what the endpoint promises. Retried: proxies and overloaded origins send these. */
export class MalformedResponseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MalformedResponseError';
  }
}

/** An answer larger than SUTRO_MAX_RESPONSE_MB, stopped while it streamed in. Not retried: it would be as large again. */
export class ResponseTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResponseTooLargeError';
  }
}

/** No complete HTTP answer: no connection, no answer in time, or a body that stopped arriving. */
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
  401: 'Check SUTRO_API_KEY: the deployment did not accept the key (a key works only with the deployment that issued it; `sutro-sync doctor` checks both).',
  403: 'The API key is not allowed to list jobs; use a key of the account owner.',
  404: "Check SUTRO_API_URL: nothing answers at this path; is it your Sutro deployment's URL? (`sutro-sync doctor` checks it)",
  410: "This endpoint is retired: set SUTRO_API_URL to your deployment's URL, and use a key created there.",
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

/**
 * The human part of an error body, in the shapes deployments and what stands in front of them send:
 * the API's `{detail, code, request_id}`, a framework's `{message}`, a gateway's `{error, details}`,
 * or text (an HTML error page's text, collapsed, at most 200 characters).
 */
function detailOf(body: unknown, text: string): string | null {
  const error = textField(body, 'error');
  const details = textField(body, 'details');
  if (error !== null && details !== null) return `${error}: ${details}`;
  const field = textField(body, 'detail', 'message', 'error');
  if (field !== null) return field;
  const plain = text
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return plain === '' ? null : plain.slice(0, 200);
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** What apiError reads of an HTTP answer. */
export interface HttpAnswer {
  readonly status: number;
  readonly statusText: string;
  header(name: string): string | null;
}

/** `text` is the whole body, already read. `secrets`: the API key, scrubbed before anything is taken from it. */
export function apiError(
  response: HttpAnswer,
  described: string,
  rawText: string,
  secrets: readonly string[],
): SutroApiError {
  const text = redactSecrets(rawText, secrets);
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const detail = detailOf(body, text);
  const code = textField(body, 'code');
  const requestId = textField(body, 'request_id') ?? response.header('x-request-id');
  const parts = [`Sutro API answered ${response.status} ${response.statusText} for ${described}`];
  if (detail !== null) parts.push(`: ${detail}`);
  if (code !== null) parts.push(` (code ${code})`);
  if (requestId !== null) parts.push(` [request_id ${requestId}]`);
  const hint = HINTS[response.status];
  if (hint !== undefined) parts.push(`. ${hint}`);
  const location = response.header('location');
  // A redirect is not followed: the key would go to wherever it leads.
  if (response.status >= 300 && response.status < 400 && location !== null) {
    parts.push(
      `. SUTRO_API_URL redirects to ${redactSecrets(location, secrets)}: set it to the address it leads to`,
    );
  }
  return new SutroApiError(parts.join(''), {
    status: response.status,
    detail,
    code,
    requestId,
    retryAfterMs: parseRetryAfter(response.header('retry-after')),
  });
}

const UNTRUSTED_CERTIFICATE = new Set([
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);

/** The innermost error with a code: an HTTP client may wrap the socket's error in its own. */
function rootCause(error: unknown): { code: string | undefined; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth += 1) {
    const cause = (current as { cause?: unknown }).cause;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'ABORT_ERR')
      return { code, message: (current as Error).message };
    if (cause === undefined) break;
    current = cause;
  }
  return { code: undefined, message: current instanceof Error ? current.message : String(current) };
}

/** Why no HTTP answer came, said in terms of what to check. */
export function describeTransportFailure(error: unknown, url: URL): string {
  const { code, message } = rootCause(error);
  const host = url.hostname;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  switch (code) {
    case 'ECONNREFUSED':
      return `nothing accepts connections at ${host}:${port} (ECONNREFUSED): check SUTRO_API_URL, and that the deployment is up`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name ${host} does not resolve (${code}): check SUTRO_API_URL`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'EPIPE':
      return `${host} closed the connection before answering (${code})`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connecting to ${host}:${port} timed out (${code}): check SUTRO_API_URL and the network in between`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${host} cannot be reached from here (${code}): check SUTRO_API_URL and the network in between`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'EPROTO':
      return `${host}:${port} does not speak TLS (${code}): does SUTRO_API_URL say https:// where the server wants http://?`;
    default:
      // zlib's codes for a compressed body that does not decode (Z_DATA_ERROR, Z_BUF_ERROR, brotli's).
      if (code !== undefined && (code.startsWith('Z_') || code.startsWith('ERR__ERROR_FORMAT'))) {
        return `the compressed answer does not decode (${message}, ${code}): something between here and the API mangled it`;
      }
      if (code !== undefined && UNTRUSTED_CERTIFICATE.has(code)) {
        return `the TLS certificate of ${host} is not trusted (${code}): check SUTRO_API_URL; a private CA goes in NODE_EXTRA_CA_CERTS`;
      }
      return code === undefined ? message : `${message} (${code})`;
  }
}
