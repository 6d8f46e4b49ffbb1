import { awsErrorCode, awsStatusCode } from '../common/aws-errors.js'
import { byText } from '../common/compare.js'
import { escapeText } from '../common/untrusted.js'

/** SendCommand takes at most 50 instance ids a call. */
export const SEND_COMMAND_LIMIT = 50

/**
 * The instance ids in calls of at most `size`, sorted and without repeats, so the same fleet is
 * always split the same way (and a log or a test can tell which call held which worker).
 */
export function batchInstanceIds(ids: readonly string[], size = SEND_COMMAND_LIMIT): string[][] {
  if (!Number.isInteger(size) || size < 1 || size > SEND_COMMAND_LIMIT) {
    throw new RangeError(`batch size must be from 1 to ${SEND_COMMAND_LIMIT}, got ${size}`)
  }
  const sorted = [...new Set(ids)].sort(byText)
  const batches: string[][] = []
  for (let start = 0; start < sorted.length; start += size) {
    batches.push(sorted.slice(start, start + size))
  }
  return batches
}

/**
 * Why a worker cannot be sent the command, from DescribeInstanceInformation's PingStatus (an
 * instance missing from its answer has no status), or undefined when its agent is Online.
 * SendCommand to such a worker would wait out the delivery timeout and still not run.
 */
export function agentOfflineReason(pingStatus: string | undefined): string | undefined {
  switch (pingStatus) {
    case 'Online':
      return undefined
    case 'ConnectionLost':
      return 'its SSM agent lost its connection to SSM'
    case 'Inactive':
      return 'its SSM agent is inactive'
    case undefined:
      return 'not registered with SSM (is the agent running, with an instance profile that allows SSM?)'
    default:
      return `its SSM agent reports the unknown status '${escapeText(pingStatus.slice(0, 40))}'`
  }
}

export type InvocationState =
  | { state: 'pending' }
  | { state: 'succeeded' }
  /** `timedOut` separates "did not finish in time" from "ran and failed" in the result. */
  | { state: 'failed'; timedOut: boolean; reason: string }

/**
 * Where one worker's command stands, from GetCommandInvocation's Status and StatusDetails.
 * StatusDetails is the finer of the two (Status says TimedOut for a command that never reached
 * the worker as well as for one that ran too long), so it words the reason when it is known.
 */
export function invocationState(status: string | undefined, details?: string): InvocationState {
  switch (status) {
    case 'Pending':
    case 'InProgress':
    case 'Delayed':
      return { state: 'pending' }
    case 'Success':
      return { state: 'succeeded' }
    case 'Failed':
      return failed(detailReason(details) ?? 'the sync failed on the worker (see its output)')
    case 'TimedOut':
      return {
        state: 'failed',
        timedOut: true,
        reason:
          detailReason(details) ??
          'the command timed out (not delivered, or not finished, within its timeout)'
      }
    case 'Cancelled':
    case 'Cancelling':
      return failed('the command was cancelled before it finished')
    case 'Undeliverable':
      return failed(DETAIL_REASONS.Undeliverable as string)
    case 'Terminated':
      return failed(DETAIL_REASONS.Terminated as string)
    default:
      return failed(
        `SSM reported the unknown status ${status === undefined ? '(none)' : `'${escapeText(status.slice(0, 40))}'`}`
      )
  }
}

const DETAIL_REASONS: Record<string, string> = {
  DeliveryTimedOut:
    'the command never reached the worker (delivery timed out: is its SSM agent running?)',
  ExecutionTimedOut: 'the sync started but did not finish within the command timeout',
  Undeliverable:
    'the command could not be delivered: the instance is gone, or its SSM agent is not registered',
  Terminated: 'the command was stopped on the worker before it finished',
  InvalidPlatform: 'the SSM document does not run on this instance platform',
  AccessDenied: 'SSM was denied access to the instance (check the SSM agent role)',
  Canceled: 'the command was cancelled before it finished',
  Cancelled: 'the command was cancelled before it finished'
}

function detailReason(details: string | undefined): string | undefined {
  if (details === undefined) return undefined
  // Console-style details come with blanks: "Delivery Timed Out".
  const key = details.replace(/\s+/g, '')
  return Object.hasOwn(DETAIL_REASONS, key) ? DETAIL_REASONS[key] : undefined
}

function failed(reason: string): InvocationState {
  return { state: 'failed', timedOut: false, reason }
}

/**
 * When to stop waiting: the moment the function must report, `marginMs` before Lambda would stop
 * it. `remainingMs` is the context's getRemainingTimeInMillis() read at `nowMs`.
 */
export function stopWaitingAt(nowMs: number, remainingMs: number, marginMs: number): number {
  return nowMs + Math.max(0, remainingMs - marginMs)
}

export interface BackoffSchedule {
  firstMs: number
  maxMs: number
}

/** Polling a command's invocations: 1 s, then doubling up to 15 s. */
export const POLL_SCHEDULE: BackoffSchedule = { firstMs: 1000, maxMs: 15_000 }
/** After a throttling answer (ThrottlingException, TooManyRequests): 0.5 s doubling up to 20 s. */
export const THROTTLE_SCHEDULE: BackoffSchedule = { firstMs: 500, maxMs: 20_000 }

const THROTTLING_CODES = [
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'TooManyUpdates'
]

/** An AWS answer that asks to slow down; the call may be sent again after a backoff. */
export function isThrottling(error: unknown): boolean {
  const code = awsErrorCode(error)
  return (code !== undefined && THROTTLING_CODES.includes(code)) || awsStatusCode(error) === 429
}

/**
 * The wait before attempt `attempt` (1 for the first retry): bounded exponential with equal
 * jitter, half fixed and half random, so parallel waiters spread out yet never hammer at once.
 * `random` returns a number in [0, 1): Math.random in use, a fixed function in tests.
 */
export function backoffMs(
  attempt: number,
  schedule: BackoffSchedule,
  random: () => number = Math.random
): number {
  const ceiling = Math.min(schedule.maxMs, schedule.firstMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

/**
 * The wait to use now, cut short so the next look lands at the deadline at the latest, or
 * undefined when the deadline has come: time to report what is still pending as timed out.
 */
export function waitWithinDeadline(
  nowMs: number,
  deadlineMs: number,
  delayMs: number
): number | undefined {
  const left = deadlineMs - nowMs
  if (left <= 0) return undefined
  return Math.min(delayMs, left)
}
