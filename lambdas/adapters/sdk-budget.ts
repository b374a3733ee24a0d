/**
 * Per-call budget of every AWS SDK client here (DynamoDB and KMS). The functions run with a 10 s Lambda
 * timeout, and an unreachable dependency must end as a fast 503 problem from our own handler, not as a
 * Lambda timeout (which API Gateway turns into a bare 502, with nothing logged by us). Worst case for one
 * call: 2 attempts x (1 s to connect + 2 s without a response) + one backoff delay (this SDK's standard
 * strategy waits at most 50 ms before the first retry, 1 s after throttling) = at most about 7 s, which
 * leaves the handler time to answer. The one retry still absorbs a dropped connection or a throttled try.
 * (The previous 3 attempts x 3 s alone could exceed the 10 s.)
 *
 * `throwOnRequestTimeout` is what makes requestTimeout a timeout at all: without it, this SDK version
 * only logs a warning when a request exceeds it and keeps waiting (for ever, on a silent peer).
 */
export const SDK_MAX_ATTEMPTS = 2;
export const SDK_CONNECTION_TIMEOUT_MS = 1_000;
export const SDK_REQUEST_TIMEOUT_MS = 2_000;

/** The client settings that implement the budget. */
export const SDK_BUDGET = {
  maxAttempts: SDK_MAX_ATTEMPTS,
  requestHandler: { connectionTimeout: SDK_CONNECTION_TIMEOUT_MS, requestTimeout: SDK_REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
} as const;
