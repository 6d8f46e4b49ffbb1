import type { MwaaApi, MwaaEnvironment } from '../common/mwaa.js'
import { formatDuration } from '../common/summary.js'
import { escapeText } from '../common/untrusted.js'
import { brokenReason, judgeUpdate, readinessOf, type UpdateProgress } from './status.js'

// Following the environment while MWAA works: its own update, or another one this deploy has to
// wait out. Every look is a GetEnvironment; the log gets a line when the status changes and
// otherwise about once a minute, so a 30-minute update reads as a few lines, not hundreds.

export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms))
}

export interface Watch {
  api: MwaaApi
  name: string
  /** Epoch ms after which no more looks are taken. */
  deadlineMs: number
  pollIntervalMs: number
  log: (line: string) => void
  clock?: Clock
}

/** The timeout passed with MWAA still at work; what runs is left running. */
export class WaitTimeout extends Error {
  constructor(
    message: string,
    readonly environment: MwaaEnvironment
  ) {
    super(message)
    this.name = 'WaitTimeout'
  }
}

/** The environment cannot take or finish an update (deleted, unavailable, creation paused). */
export class EnvironmentBroken extends Error {
  constructor(
    message: string,
    readonly environment: MwaaEnvironment
  ) {
    super(message)
    this.name = 'EnvironmentBroken'
  }
}

const HEARTBEAT_MS = 60_000

/** Logs status changes at once and an unchanged status once a minute. */
function progressLog(watch: Watch, what: string, startedMs: number) {
  const clock = watch.clock ?? realClock
  let lastStatus: string | undefined
  let lastLineMs = 0
  return (status: string) => {
    const now = clock.now()
    const elapsed = formatDuration(now - startedMs)
    if (status !== lastStatus) {
      watch.log(`${what}: ${escapeText(status)} (${elapsed})`)
    } else if (now - lastLineMs >= HEARTBEAT_MS) {
      watch.log(`${what}: still ${escapeText(status)} after ${elapsed}`)
    } else return
    lastStatus = status
    lastLineMs = now
  }
}

/** Waits until the environment takes an update (AVAILABLE or UPDATE_FAILED) and returns it. */
export async function waitUntilReady(
  watch: Watch,
  first?: MwaaEnvironment
): Promise<MwaaEnvironment> {
  const clock = watch.clock ?? realClock
  const started = clock.now()
  const log = progressLog(
    watch,
    `Waiting for ${escapeText(watch.name)} to finish its work in progress`,
    started
  )
  let environment = first ?? (await watch.api.getEnvironment(watch.name))
  for (;;) {
    const readiness = readinessOf(environment.status)
    if (readiness === 'ready') return environment
    if (readiness === 'broken') {
      throw new EnvironmentBroken(brokenReason(environment), environment)
    }
    log(environment.status)
    await pause(
      watch,
      environment,
      () =>
        `environment ${escapeText(watch.name)} was still ${escapeText(environment.status)} (work this deploy did not start) when the timeout passed; nothing was updated, and that work goes on`
    )
    environment = await watch.api.getEnvironment(watch.name)
  }
}

export interface UpdateEnd {
  progress: Exclude<UpdateProgress, { state: 'running' }>
  environment: MwaaEnvironment
}

/** Follows the update started after `before` until it succeeds, fails or the environment breaks. */
export async function followUpdate(watch: Watch, before: Date | undefined): Promise<UpdateEnd> {
  const clock = watch.clock ?? realClock
  const log = progressLog(watch, `Environment ${escapeText(watch.name)}`, clock.now())
  for (;;) {
    const environment = await watch.api.getEnvironment(watch.name)
    const progress = judgeUpdate(environment, before)
    if (progress.state !== 'running') return { progress, environment }
    log(progress.status)
    await pause(
      watch,
      environment,
      () =>
        `environment ${escapeText(watch.name)} was still ${escapeText(environment.status)} when the timeout passed; the update was left running (follow it in the MWAA console, or run again to wait for it)`
    )
  }
}

async function pause(
  watch: Watch,
  environment: MwaaEnvironment,
  timeoutMessage: () => string
): Promise<void> {
  const clock = watch.clock ?? realClock
  if (clock.now() + watch.pollIntervalMs > watch.deadlineMs) {
    throw new WaitTimeout(timeoutMessage(), environment)
  }
  await clock.sleep(watch.pollIntervalMs)
}
