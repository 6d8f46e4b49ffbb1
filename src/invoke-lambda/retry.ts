import { awsErrorCode, awsStatusCode } from '../common/aws.js'

/**
 * Whether an Invoke that failed may be sent again without risking a second run of the function.
 * Only answers that prove the function did not start qualify: throttling (Lambda refuses before
 * running anything), a function not yet ready, and failures to open a connection. A timeout on an
 * open connection, a reset, or a 5xx may come after the function started, so they are never
 * retried: a refresh that runs twice restarts the workers twice.
 */
export function isSafeToRetry(error: unknown): boolean {
  const code = awsErrorCode(error)
  if (code === 'TooManyRequestsException' || code === 'ResourceNotReadyException') return true
  if (awsStatusCode(error) === 429) return true
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return true
  const message = error instanceof Error ? error.message : ''
  // The HTTP handler's connect timeout: no connection, so no request reached Lambda.
  return code === 'TimeoutError' && /did not establish a connection/.test(message)
}

/** Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … capped at 20 s. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return Math.round(random() * Math.min(20_000, 500 * 2 ** (attempt - 1)))
}
