import type { MwaaEnvironment } from '../common/mwaa.js'
import { escapeText } from '../common/untrusted.js'

// How the environment's status reads for a deploy: whether it takes an update now, and where an
// update that was started stands. Pure, so every status MWAA documents is tested from literals.

/** ready: takes an update; busy: will again once the work in progress ends; broken: will not. */
export type Readiness = 'ready' | 'busy' | 'broken'

const READY = new Set(['AVAILABLE', 'UPDATE_FAILED'])
const BROKEN = new Set(['CREATE_FAILED', 'DELETING', 'DELETED', 'UNAVAILABLE', 'PENDING'])

export function readinessOf(status: string): Readiness {
  if (READY.has(status)) return 'ready'
  // UPDATING, CREATING, CREATING_SNAPSHOT, ROLLING_BACK, MAINTENANCE, and any status MWAA adds
  // later: waited for, within the timeout.
  return BROKEN.has(status) ? 'broken' : 'busy'
}

/** Why an environment in a broken status cannot take a deploy, naming the status. */
export function brokenReason(environment: MwaaEnvironment): string {
  const name = escapeText(environment.name)
  const status = escapeText(environment.status)
  switch (environment.status) {
    case 'PENDING':
      return `environment ${name} is PENDING: MWAA has paused creating it until the VPC endpoints it needs exist`
    case 'UNAVAILABLE':
      return `environment ${name} is UNAVAILABLE: an earlier request failed and left it unstable; see its last update in the MWAA console${failureText(environment)}`
    case 'DELETING':
    case 'DELETED':
      return `environment ${name} is ${status}`
    default:
      return `environment ${name} is ${status} and cannot take an update${failureText(environment)}`
  }
}

export type UpdateProgress =
  | { state: 'running'; status: string }
  | { state: 'succeeded' }
  | { state: 'failed'; code: string; message: string }
  | { state: 'broken'; reason: string }

/**
 * Where the update started after `before` (the environment's last update until then) stands.
 * Until MWAA records a newer update, the status may still be the one from before the call, so
 * AVAILABLE alone does not mean done.
 */
export function judgeUpdate(
  environment: MwaaEnvironment,
  before: Date | undefined
): UpdateProgress {
  const last = environment.lastUpdate
  // Another last update than the one before the call is ours: update times only move on.
  const ours =
    last?.createdAt !== undefined &&
    (before === undefined || last.createdAt.getTime() !== before.getTime())
  // A failed update rolls back first (ROLLING_BACK); it is reported once that has ended.
  if (ours && last?.status === 'FAILED' && readinessOf(environment.status) !== 'busy') {
    return {
      state: 'failed',
      code: escapeText(last.error?.code ?? 'unknown'),
      message: escapeText(last.error?.message ?? 'MWAA gave no reason')
    }
  }
  if (readinessOf(environment.status) === 'broken') {
    return { state: 'broken', reason: brokenReason(environment) }
  }
  if (ours && last?.status === 'SUCCESS' && environment.status === 'AVAILABLE') {
    return { state: 'succeeded' }
  }
  return { state: 'running', status: environment.status }
}

function failureText(environment: MwaaEnvironment): string {
  const error = environment.lastUpdate?.error
  if (error === undefined) return ''
  return ` (last update: ${escapeText(error.code ?? 'unknown')}: ${escapeText(error.message ?? '')})`
}
