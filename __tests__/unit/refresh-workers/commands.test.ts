import { describe, expect, it } from '@jest/globals'
import {
  agentOfflineReason,
  backoffMs,
  batchInstanceIds,
  invocationState,
  isThrottling,
  POLL_SCHEDULE,
  SEND_COMMAND_LIMIT,
  stopWaitingAt,
  THROTTLE_SCHEDULE,
  waitWithinDeadline
} from '../../../src/refresh-workers/commands.js'

/** Instance ids i-00000000000000000 … in a shuffled order. */
function ids(count: number): string[] {
  const list = Array.from({ length: count }, (_, n) => `i-${n.toString(16).padStart(17, '0')}`)
  const odd = list.filter((_, n) => n % 2 === 1)
  return [...list.filter((_, n) => n % 2 === 0).reverse(), ...odd]
}

describe('batchInstanceIds', () => {
  it.each([
    [0, []],
    [1, [1]],
    [49, [49]],
    [50, [50]],
    [51, [50, 1]],
    [100, [50, 50]],
    [101, [50, 50, 1]]
  ])('splits %i instances into calls of %j', (count, sizes) => {
    const batches = batchInstanceIds(ids(count))
    expect(batches.map((batch) => batch.length)).toEqual(sizes)
  })

  it('sorts and drops repeats, so the split is the same for any order', () => {
    const fleet = ids(51)
    const batches = batchInstanceIds([...fleet, fleet[3] as string])
    expect(batches.flat()).toEqual([...fleet].sort())
    expect(batchInstanceIds([...fleet].reverse())).toEqual(batches)
    expect(batches[1]).toEqual(['i-00000000000000032'])
  })

  it('takes a smaller batch size, never one above the limit', () => {
    expect(batchInstanceIds(['i-3', 'i-1', 'i-2'], 2)).toEqual([['i-1', 'i-2'], ['i-3']])
    expect(() => batchInstanceIds(['i-1'], SEND_COMMAND_LIMIT + 1)).toThrow(
      'batch size must be from 1 to 50, got 51'
    )
    expect(() => batchInstanceIds(['i-1'], 0)).toThrow('batch size must be from 1 to 50')
  })
})

describe('invocationState', () => {
  it.each([
    ['Pending', undefined, { state: 'pending' }],
    ['InProgress', 'InProgress', { state: 'pending' }],
    ['Delayed', 'Delayed', { state: 'pending' }],
    ['Success', 'Success', { state: 'succeeded' }],
    [
      'Failed',
      'Failed',
      { state: 'failed', timedOut: false, reason: 'the sync failed on the worker (see its output)' }
    ],
    [
      'Failed',
      'InvalidPlatform',
      {
        state: 'failed',
        timedOut: false,
        reason: 'the SSM document does not run on this instance platform'
      }
    ],
    [
      'Failed',
      'AccessDenied',
      {
        state: 'failed',
        timedOut: false,
        reason: 'SSM was denied access to the instance (check the SSM agent role)'
      }
    ],
    [
      'TimedOut',
      undefined,
      {
        state: 'failed',
        timedOut: true,
        reason: 'the command timed out (not delivered, or not finished, within its timeout)'
      }
    ],
    [
      'TimedOut',
      'DeliveryTimedOut',
      {
        state: 'failed',
        timedOut: true,
        reason:
          'the command never reached the worker (delivery timed out: is its SSM agent running?)'
      }
    ],
    [
      'TimedOut',
      'Execution Timed Out',
      {
        state: 'failed',
        timedOut: true,
        reason: 'the sync started but did not finish within the command timeout'
      }
    ],
    [
      'Cancelled',
      'Canceled',
      { state: 'failed', timedOut: false, reason: 'the command was cancelled before it finished' }
    ],
    [
      'Cancelling',
      undefined,
      { state: 'failed', timedOut: false, reason: 'the command was cancelled before it finished' }
    ],
    [
      'Undeliverable',
      undefined,
      {
        state: 'failed',
        timedOut: false,
        reason:
          'the command could not be delivered: the instance is gone, or its SSM agent is not registered'
      }
    ],
    [
      'Terminated',
      undefined,
      {
        state: 'failed',
        timedOut: false,
        reason: 'the command was stopped on the worker before it finished'
      }
    ],
    [
      'Paused',
      undefined,
      { state: 'failed', timedOut: false, reason: "SSM reported the unknown status 'Paused'" }
    ],
    [
      'New\n::x',
      undefined,
      {
        state: 'failed',
        timedOut: false,
        reason: "SSM reported the unknown status 'New\\n:\\x3ax'"
      }
    ],
    [
      undefined,
      undefined,
      { state: 'failed', timedOut: false, reason: 'SSM reported the unknown status (none)' }
    ]
  ])('maps %j (%j)', (status, details, expected) => {
    expect(invocationState(status, details)).toEqual(expected)
  })

  it('does not read an inherited property as a status detail', () => {
    expect(invocationState('Failed', 'constructor')).toEqual({
      state: 'failed',
      timedOut: false,
      reason: 'the sync failed on the worker (see its output)'
    })
  })
})

describe('the deadline', () => {
  it('stops waiting the margin before the function would be stopped', () => {
    expect(stopWaitingAt(1_000_000, 900_000, 30_000)).toBe(1_870_000)
    expect(stopWaitingAt(1_000_000, 20_000, 30_000)).toBe(1_000_000)
  })

  it('cuts the last wait short and says when the time is up', () => {
    expect(waitWithinDeadline(1000, 10_000, 4000)).toBe(4000)
    expect(waitWithinDeadline(8000, 10_000, 4000)).toBe(2000)
    expect(waitWithinDeadline(10_000, 10_000, 4000)).toBeUndefined()
    expect(waitWithinDeadline(12_000, 10_000, 4000)).toBeUndefined()
  })
})

describe('backoffMs', () => {
  it.each([
    [1, 500, 1000],
    [2, 1000, 2000],
    [3, 2000, 4000],
    [4, 4000, 8000],
    [5, 7500, 15_000],
    [30, 7500, 15_000]
  ])('polls at attempt %i between %i and %i ms', (attempt, low, high) => {
    expect(backoffMs(attempt, POLL_SCHEDULE, () => 0)).toBe(low)
    expect(backoffMs(attempt, POLL_SCHEDULE, () => 0.999_999)).toBe(high)
    expect(backoffMs(attempt, POLL_SCHEDULE, () => 0.5)).toBe((low + high) / 2)
  })

  it('backs off from throttling up to 20 s', () => {
    expect(backoffMs(1, THROTTLE_SCHEDULE, () => 0)).toBe(250)
    expect(backoffMs(7, THROTTLE_SCHEDULE, () => 0)).toBe(10_000)
    expect(backoffMs(8, THROTTLE_SCHEDULE, () => 0.999_999)).toBe(20_000)
  })
})

describe('isThrottling', () => {
  it.each([
    [{ name: 'ThrottlingException' }, true],
    [{ name: 'TooManyRequestsException' }, true],
    [{ Code: 'RequestLimitExceeded' }, true],
    [{ name: 'SomethingElse', $metadata: { httpStatusCode: 429 } }, true],
    [{ name: 'InvalidInstanceId' }, false],
    [{ name: 'InternalServerError', $metadata: { httpStatusCode: 500 } }, false],
    [new Error('socket hang up'), false]
  ])('judges %j', (error, expected) => {
    expect(isThrottling(error)).toBe(expected)
  })
})

describe('agentOfflineReason', () => {
  it.each([
    ['Online', undefined],
    ['ConnectionLost', 'its SSM agent lost its connection to SSM'],
    ['Inactive', 'its SSM agent is inactive'],
    [
      undefined,
      'not registered with SSM (is the agent running, with an instance profile that allows SSM?)'
    ],
    ['Sleeping\n::x', "its SSM agent reports the unknown status 'Sleeping\\n:\\x3ax'"]
  ])('words PingStatus %j', (status, reason) => {
    expect(agentOfflineReason(status)).toBe(reason)
  })
})
