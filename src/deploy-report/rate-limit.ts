// GitHub's secondary rate limits answer 403 or 429. Its guidance: wait `retry-after` seconds when
// given; else, with x-ratelimit-remaining 0, until x-ratelimit-reset; else at least a minute.
// A 403 with none of these is a permission refusal, not a limit.

/** Total waiting allowed per step: a report is not worth holding a job for long. */
export const RATE_LIMIT_BUDGET_MS = 60_000

type Headers = Record<string, string | number | undefined>

/** How long to wait before trying again, or undefined when the answer is not a rate limit. */
export function rateLimitWait(status: number, headers: Headers, nowMs: number): number | undefined {
  if (status !== 403 && status !== 429) return undefined
  const header = (name: string) => {
    const value = headers[name]
    return value === undefined ? undefined : String(value).trim()
  }
  const retryAfter = header('retry-after')
  if (retryAfter !== undefined && retryAfter !== '') {
    if (/^[0-9]+$/.test(retryAfter)) return Number(retryAfter) * 1000
    const date = Date.parse(retryAfter)
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs)
  }
  const reset = header('x-ratelimit-reset')
  if (header('x-ratelimit-remaining') === '0' && reset !== undefined && /^[0-9]+$/.test(reset)) {
    return Math.max(0, Number(reset) * 1000 - nowMs)
  }
  return status === 429 ? 60_000 : undefined
}
