import { forEachBounded } from '../common/concurrency.js'
import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import {
  backoffMs,
  batchInstanceIds,
  invocationState,
  isThrottling,
  POLL_SCHEDULE,
  THROTTLE_SCHEDULE,
  waitWithinDeadline
} from './commands.js'
import type { Fleet } from './fleet.js'
import type { SyncOutcome } from './result.js'

/** Time, waiting and chance, injected so the waits of the flow can be driven by a test. */
export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
  random(): number
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random()
}

export class DeadlinePassed extends Error {
  constructor(doing: string) {
    super(`the function's deadline came while ${doing}`)
    this.name = 'DeadlinePassed'
  }
}

/**
 * Calls `call`, and again after a growing pause each time AWS answers that it is throttling, as
 * long as the deadline allows. Any other error is the caller's.
 */
export async function withBackoff<T>(
  call: () => Promise<T>,
  clock: Clock,
  deadlineMs: number,
  doing: string
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call()
    } catch (error) {
      if (!isThrottling(error)) throw error
      const wait = waitWithinDeadline(
        clock.now(),
        deadlineMs,
        backoffMs(attempt, THROTTLE_SCHEDULE, () => clock.random())
      )
      if (wait === undefined) throw new DeadlinePassed(`${doing} (AWS kept throttling)`)
      await clock.sleep(wait)
    }
  }
}

export interface RunOptions {
  clock: Clock
  deadlineMs: number
  /** Called between polls, so the launch flow can send lifecycle heartbeats while it waits. */
  betweenPolls?: () => Promise<void>
  log?: (line: string) => void
}

/** How many GetCommandInvocation calls are in flight at once. */
const POLL_CONCURRENCY = 8

/**
 * Sends the document to every instance (in calls of at most 50) and follows each invocation to
 * its end or to the deadline. Every instance gets an outcome: a refused SendCommand fails the
 * instances of that call, and what is still running at the deadline has timed out.
 */
export async function runOnWorkers(
  fleet: Fleet,
  instanceIds: readonly string[],
  parameters: Record<string, string[]>,
  options: RunOptions
): Promise<Map<string, SyncOutcome>> {
  const { clock, deadlineMs } = options
  const outcomes = new Map<string, SyncOutcome>()
  const pending = new Map<string, { commandId: string; sentAt: number }>()
  // SSM gives up on delivery after TimeoutSeconds (30 at least); there is no use going past ours.
  const timeoutSeconds = Math.max(30, Math.ceil((deadlineMs - clock.now()) / 1000))
  const send = async (batch: string[]): Promise<void> => {
    const sentAt = clock.now()
    try {
      const commandId = await withBackoff(
        () => fleet.send(batch, parameters, timeoutSeconds),
        clock,
        deadlineMs,
        'sending the sync command'
      )
      options.log?.(`Sent command ${commandId} to ${batch.join(', ')}`)
      for (const id of batch) pending.set(id, { commandId, sentAt })
    } catch (error) {
      // SendCommand refuses a whole call for one instance that is gone or stopped: the others
      // are sent one by one, so only that one fails.
      if (!(error instanceof DeadlinePassed) && batch.length > 1) {
        for (const id of batch) await send([id])
        return
      }
      for (const id of batch) {
        outcomes.set(id, {
          instanceId: id,
          state: error instanceof DeadlinePassed ? 'timed-out' : 'failed',
          reason: `SendCommand failed: ${escapeText(errorMessage(error))}`,
          output: '',
          durationMs: clock.now() - sentAt
        })
      }
    }
  }
  for (const batch of batchInstanceIds(instanceIds)) await send(batch)

  for (let round = 1; pending.size > 0; round += 1) {
    const wait = waitWithinDeadline(
      clock.now(),
      deadlineMs,
      backoffMs(round, POLL_SCHEDULE, () => clock.random())
    )
    if (wait === undefined) break
    await clock.sleep(wait)
    await options.betweenPolls?.()
    await forEachBounded([...pending], POLL_CONCURRENCY, async ([instanceId, sent]) => {
      let invocation
      try {
        invocation = await withBackoff(
          () => fleet.invocation(sent.commandId, instanceId),
          clock,
          deadlineMs,
          'reading the command status'
        )
      } catch (error) {
        // Still running as far as anyone knows: the deadline settles it below.
        if (error instanceof DeadlinePassed) return
        pending.delete(instanceId)
        outcomes.set(instanceId, {
          instanceId,
          state: 'failed',
          reason: `reading its command status failed: ${escapeText(errorMessage(error))}`,
          output: '',
          durationMs: clock.now() - sent.sentAt
        })
        return
      }
      if (invocation.status === undefined) return
      const state = invocationState(invocation.status, invocation.details)
      if (state.state === 'pending') return
      pending.delete(instanceId)
      const output = [invocation.output, invocation.error].filter((text) => text !== '').join('\n')
      outcomes.set(instanceId, {
        instanceId,
        ...(state.state === 'succeeded'
          ? { state: 'succeeded' }
          : { state: state.timedOut ? 'timed-out' : 'failed', reason: state.reason }),
        output,
        durationMs: clock.now() - sent.sentAt
      })
    })
  }

  for (const [instanceId, sent] of pending) {
    outcomes.set(instanceId, {
      instanceId,
      state: 'timed-out',
      reason: 'the sync had not finished when the function had to report (it may still finish)',
      output: '',
      durationMs: clock.now() - sent.sentAt
    })
  }
  return outcomes
}
