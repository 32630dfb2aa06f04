/**
 * Error bodies in the shapes a client of a real deployment meets. The API itself answers
 * `{detail, code, request_id}`; what sits in front of it or around it answers otherwise: a framework
 * or proxy `{message}`, a gateway `{error, details}`.
 */
export type ErrorShape = 'detail' | 'message' | 'error-details';

export const ERROR_SHAPES: readonly ErrorShape[] = ['detail', 'message', 'error-details'];

interface ErrorText {
  /** The reason phrase, as frameworks and proxies print it. */
  readonly title: string;
  /** What the API says about it. */
  readonly detail: string;
  readonly code: string;
}

/**
 * What a shared host retired in favour of single-tenant deployments says: api.sutro.sh,
 * serve.sutro.sh and api.materialized.dev no longer serve accounts, and a key is scoped to one
 * deployment, so both the URL and the key must come from the deployment.
 */
export const RETIRED_HOST_DETAIL =
  'This shared Sutro API host is retired. Set SUTRO_API_URL to the URL of your own Sutro deployment ' +
  'and use an API key created in that deployment.';

const ERROR_TEXTS: Readonly<Record<number, ErrorText>> = {
  400: { title: 'Bad Request', detail: 'Bad request', code: 'bad_request' },
  401: { title: 'Unauthorized', detail: 'Invalid API key', code: 'unauthorized' },
  403: { title: 'Forbidden', detail: 'This API key may not list jobs', code: 'forbidden' },
  404: { title: 'Not Found', detail: 'Not found', code: 'not_found' },
  405: { title: 'Method Not Allowed', detail: 'Method not allowed', code: 'method_not_allowed' },
  408: { title: 'Request Timeout', detail: 'Request timeout', code: 'request_timeout' },
  410: { title: 'Gone', detail: RETIRED_HOST_DETAIL, code: 'retired_host' },
  429: { title: 'Too Many Requests', detail: 'Rate limit exceeded', code: 'rate_limited' },
  500: { title: 'Internal Server Error', detail: 'An unexpected error occurred', code: 'internal_error' },
  502: {
    title: 'Bad Gateway',
    detail: 'The upstream server returned an invalid response',
    code: 'bad_gateway',
  },
  503: { title: 'Service Unavailable', detail: 'Service temporarily unavailable', code: 'unavailable' },
  504: {
    title: 'Gateway Timeout',
    detail: 'The upstream server did not answer in time',
    code: 'gateway_timeout',
  },
  524: {
    title: 'A Timeout Occurred',
    detail: 'The origin web server timed out responding to this request',
    code: 'origin_timeout',
  },
};

function errorText(status: number): ErrorText {
  return ERROR_TEXTS[status] ?? { title: `HTTP ${status}`, detail: `HTTP ${status}`, code: 'error' };
}

/** The body of an error answer with `status`, in `shape`; `detail` and `code` replace the status's own. */
export function errorBody(
  status: number,
  requestId: string,
  shape: ErrorShape = 'detail',
  detail?: string,
  code?: string,
): Record<string, unknown> {
  const text = errorText(status);
  switch (shape) {
    case 'detail':
      return { detail: detail ?? text.detail, code: code ?? text.code, request_id: requestId };
    case 'message':
      return { message: detail ?? text.title };
    case 'error-details':
      return { error: text.title, details: detail ?? text.detail };
  }
}
