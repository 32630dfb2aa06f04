/**
 * Retry policy as data. The delay of each retry is exponential backoff with jitter; a `Retry-After`
 * from the server stretches the wait (never shortens it), up to `maxRetryAfterMs` so that a
 * misconfigured header cannot park the worker for a day. The client computes the delay itself, so
 * that the warning line of each retry can say how long it waits.
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

/**
 * The wait before the retry that follows failed attempt `attempt` (1-based): min(max, min x
 * factor^(attempt-1)), times a random 1 to 2 so that many clients do not retry in step, capped at
 * the maximum; or the server's Retry-After when that is longer.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number {
  const backoff = policy.minTimeoutMs * policy.factor ** (attempt - 1) * (1 + random());
  const jittered = Math.min(policy.maxTimeoutMs, backoff);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, policy.maxRetryAfterMs)));
}
