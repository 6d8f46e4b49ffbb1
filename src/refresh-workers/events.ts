import { byText } from '../common/compare.js'
import { escapeText } from '../common/untrusted.js'
import type { RefreshConfig } from './config.js'
import { isRecord } from '../common/json-shape.js'

/**
 * Why an event is not acted on. The invoker sees the message as the function error; every piece
 * of the event quoted in it is escaped and capped.
 */
export class EventRefused extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'EventRefused'
  }
}

/** What the deploy changed, as paths relative to the prefix (the manifest's keys). */
export type ChangeSet =
  | { listed: true; uploaded: string[]; deleted: string[] }
  /** The lists did not fit in the event: only the counts are known, so every file is verified. */
  | { listed: false; uploadedCount: number; deletedCount: number }

export interface DeployRequest {
  kind: 'deploy'
  repository: string
  sha: string
  ref: string
  runId: number
  runAttempt: number
  changes: ChangeSet
}

/** `{"resync": true, "reason": "…"}`: sync every worker in full and verify every file. */
export interface ResyncRequest {
  kind: 'resync'
  /** Escaped and capped: fit to log as it is. */
  reason?: string
}

/** A worker launched by scale-out, held in Pending:Wait by the group's launch lifecycle hook. */
export interface LaunchRequest {
  kind: 'launch'
  group: string
  instanceId: string
  hookName: string
  token: string
  /**
   * The instance goes into the group's warm pool, not into service: its lifecycle action is to be
   * completed without starting a worker (it is synced when it leaves the pool).
   */
  intoWarmPool: boolean
}

export type RefreshRequest = DeployRequest | ResyncRequest | LaunchRequest

export const ACCEPTED_SHAPES =
  'the deploy event of deploy-dags.yml ({repository, sha, ref, bucket, prefix, runId, runAttempt, changes}), ' +
  'an Auto Scaling "EC2 Instance-launch Lifecycle Action" from EventBridge, ' +
  'or {"resync": true} with an optional "reason"'

/** Longest piece of event text quoted in a message. */
export const QUOTE_LIMIT = 120

/** The escaped text, cut to `QUOTE_LIMIT` characters with a note of how much was left out. */
export function quote(text: string, limit = QUOTE_LIMIT): string {
  const chars = [...text]
  const shown = chars.length <= limit ? text : chars.slice(0, limit).join('')
  const note =
    chars.length <= limit
      ? ''
      : `… (${chars.length - limit} more character${chars.length - limit === 1 ? '' : 's'})`
  return `'${escapeText(shown)}'${note}`
}

/**
 * Classifies an event and checks every field the function will use. Where the work happens comes
 * from the configuration only: an event that names another bucket or prefix, or a group that is
 * not configured, is refused rather than followed.
 *
 * Fields the function does not use are ignored in the deploy and lifecycle events, whose senders
 * (a newer deploy-dags.yml, EventBridge) may add fields; the resync event is typed by hand, so an
 * unknown field there is a mistake and is refused.
 */
export function parseEvent(event: unknown, config: RefreshConfig): RefreshRequest {
  if (!isRecord(event)) {
    throw new EventRefused(`The event is not a JSON object. Accepted: ${ACCEPTED_SHAPES}`)
  }
  if (event.source === 'aws.autoscaling' || 'detail-type' in event) {
    return parseLifecycleEvent(event, config)
  }
  if ('resync' in event) return parseResync(event)
  if ('changes' in event || 'sha' in event || 'bucket' in event) {
    return parseDeployEvent(event, config)
  }
  const keys = Object.keys(event)
    .slice(0, 10)
    .map((key) => quote(key, 40))
  throw new EventRefused(
    `The event is not one this function accepts (its fields: ${keys.join(', ') || 'none'}). Accepted: ${ACCEPTED_SHAPES}`
  )
}

function parseDeployEvent(event: Record<string, unknown>, config: RefreshConfig): DeployRequest {
  const bucket = text(event, 'bucket', 'deploy event')
  if (bucket !== config.bucket) {
    throw new EventRefused(
      `The deploy event names bucket ${quote(bucket)}; this function refreshes from ${config.bucket} only`
    )
  }
  const prefix = eventPrefix(text(event, 'prefix', 'deploy event', { allowEmpty: true }))
  if (prefix !== config.prefix) {
    throw new EventRefused(
      `The deploy event names prefix ${quote(prefix === '' ? '/' : prefix)}; this function refreshes from ${shownPrefix(config.prefix)} only`
    )
  }
  const sha = text(event, 'sha', 'deploy event')
  if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(sha)) {
    throw new EventRefused(`The deploy event's sha ${quote(sha)} is not a full commit SHA`)
  }
  const repository = text(event, 'repository', 'deploy event')
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) {
    throw new EventRefused(
      `The deploy event's repository ${quote(repository)} is not an owner/name pair`
    )
  }
  const ref = text(event, 'ref', 'deploy event')
  // A git ref has no blanks or controls; GitHub sends refs/heads/…, refs/tags/… or refs/pull/….
  if (!/^refs\/[\x21-\x7e]{1,250}$/.test(ref)) {
    throw new EventRefused(`The deploy event's ref ${quote(ref)} is not a git ref (refs/…)`)
  }
  return {
    kind: 'deploy',
    repository,
    sha,
    ref,
    runId: positiveInteger(event, 'runId'),
    runAttempt: positiveInteger(event, 'runAttempt'),
    changes: parseChanges(event.changes, prefix)
  }
}

/** The workflow sends the prefix of the s3-uri output, so '' (and `/`) is the bucket root. */
function eventPrefix(value: string): string {
  if (/^\/*$/.test(value)) return ''
  return value.replace(/^\/+|\/+$/g, '')
}

function shownPrefix(prefix: string): string {
  return prefix === '' ? 'the bucket root (/)' : `prefix ${prefix}`
}

function parseChanges(value: unknown, prefix: string): ChangeSet {
  if (!isRecord(value)) {
    throw new EventRefused(
      'The deploy event has no changes object ({"uploaded": [keys], "deleted": [keys]})'
    )
  }
  if (value.truncated === true) {
    return {
      listed: false,
      uploadedCount: count(value, 'uploadedCount'),
      deletedCount: count(value, 'deletedCount')
    }
  }
  if (value.truncated !== undefined && value.truncated !== false) {
    throw new EventRefused("The deploy event's changes.truncated must be true or false")
  }
  return {
    listed: true,
    uploaded: keyList(value.uploaded, 'uploaded', prefix),
    deleted: keyList(value.deleted, 'deleted', prefix)
  }
}

function count(changes: Record<string, unknown>, field: string): number {
  const value = changes[field]
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new EventRefused(
      `The deploy event's changes are truncated but changes.${field} is not a count`
    )
  }
  return value as number
}

/** Object keys under the prefix, turned into paths relative to it; sorted, without repeats. */
function keyList(value: unknown, field: string, prefix: string): string[] {
  if (!Array.isArray(value)) {
    throw new EventRefused(`The deploy event's changes.${field} is not a list of object keys`)
  }
  const start = prefix === '' ? '' : `${prefix}/`
  const paths = new Set<string>()
  for (const key of value) {
    if (typeof key !== 'string' || !key.startsWith(start) || key.length === start.length) {
      throw new EventRefused(
        `The deploy event's changes.${field} holds ${typeof key === 'string' ? quote(key) : 'a value that is not a string'}, not an object key under ${shownPrefix(prefix)}`
      )
    }
    const path = key.slice(start.length)
    if (path.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
      throw new EventRefused(
        `The deploy event's changes.${field} holds ${quote(key)}, whose path has an empty, '.' or '..' part`
      )
    }
    paths.add(path)
  }
  return [...paths].sort(byText)
}

const RESYNC_FIELDS = ['resync', 'reason']
const REASON_LIMIT = 200

function parseResync(event: Record<string, unknown>): ResyncRequest {
  const unknown = Object.keys(event).filter((key) => !RESYNC_FIELDS.includes(key))
  if (unknown.length > 0) {
    throw new EventRefused(
      `The resync event has fields it does not take (${unknown
        .slice(0, 10)
        .map((key) => quote(key, 40))
        .join(
          ', '
        )}); it is {"resync": true} with an optional "reason", and always syncs the configured bucket and prefix`
    )
  }
  if (event.resync !== true) {
    throw new EventRefused('The resync event must say "resync": true')
  }
  if (event.reason === undefined) return { kind: 'resync' }
  if (typeof event.reason !== 'string') {
    throw new EventRefused('The resync event\'s "reason" must be a string')
  }
  const chars = [...event.reason]
  const reason =
    chars.length <= REASON_LIMIT ? event.reason : `${chars.slice(0, REASON_LIMIT).join('')}…`
  return { kind: 'resync', reason: escapeText(reason) }
}

export const LAUNCH_DETAIL_TYPE = 'EC2 Instance-launch Lifecycle Action'
const LAUNCHING = 'autoscaling:EC2_INSTANCE_LAUNCHING'
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/
/** CompleteLifecycleAction's patterns: hook names 1 to 255 of these characters, tokens 36. */
const HOOK_NAME = /^[A-Za-z0-9\-_/]{1,255}$/
const TOKEN = /^[A-Za-z0-9-]{36}$/

function parseLifecycleEvent(event: Record<string, unknown>, config: RefreshConfig): LaunchRequest {
  const detailType = event['detail-type']
  if (event.source !== 'aws.autoscaling' || detailType !== LAUNCH_DETAIL_TYPE) {
    throw new EventRefused(
      `The EventBridge event is ${typeof detailType === 'string' ? quote(detailType) : 'of no type'} from ${typeof event.source === 'string' ? quote(event.source) : 'no source'}; ` +
        `only "${LAUNCH_DETAIL_TYPE}" from aws.autoscaling is handled (route only those to this function)`
    )
  }
  if (config.mode !== 'ssm') {
    throw new EventRefused(
      'A launch lifecycle event reached a function in efs mode, which has no EC2 workers to sync; route these events to the ssm-mode function'
    )
  }
  const detail = event.detail
  if (!isRecord(detail)) throw new EventRefused('The lifecycle event has no detail object')
  const transition = text(detail, 'LifecycleTransition', 'lifecycle event')
  if (transition !== LAUNCHING) {
    throw new EventRefused(
      `The lifecycle event's transition is ${quote(transition)}; only ${LAUNCHING} is handled`
    )
  }
  const group = text(detail, 'AutoScalingGroupName', 'lifecycle event')
  if (!config.workerGroups.includes(group)) {
    throw new EventRefused(
      `The lifecycle event is for Auto Scaling group ${quote(group)}, which is not one of this function's worker groups (${config.workerGroups.join(', ')})`
    )
  }
  const instanceId = matching(detail, 'EC2InstanceId', INSTANCE_ID, 'an EC2 instance id')
  const hookName = matching(detail, 'LifecycleHookName', HOOK_NAME, 'a lifecycle hook name')
  const token = matching(detail, 'LifecycleActionToken', TOKEN, 'a lifecycle action token')
  return {
    kind: 'launch',
    group,
    instanceId,
    hookName,
    token,
    intoWarmPool: detail.Destination === 'WarmPool'
  }
}

/**
 * The lifecycle action a launch event holds, checked field by field but without the
 * configuration: for completing it with ABANDON when the configuration itself cannot be read.
 */
export function launchActionOf(
  event: unknown
): { group: string; hookName: string; instanceId: string; token: string } | undefined {
  if (!isRecord(event) || event.source !== 'aws.autoscaling') return undefined
  if (event['detail-type'] !== LAUNCH_DETAIL_TYPE || !isRecord(event.detail)) return undefined
  const { AutoScalingGroupName, LifecycleHookName, EC2InstanceId, LifecycleActionToken } =
    event.detail
  if (
    typeof AutoScalingGroupName !== 'string' ||
    !/^[\u0020-\uD7FF\uE000-\uFFFD]{1,255}$/.test(AutoScalingGroupName) ||
    typeof LifecycleHookName !== 'string' ||
    !HOOK_NAME.test(LifecycleHookName) ||
    typeof EC2InstanceId !== 'string' ||
    !INSTANCE_ID.test(EC2InstanceId) ||
    typeof LifecycleActionToken !== 'string' ||
    !TOKEN.test(LifecycleActionToken)
  ) {
    return undefined
  }
  return {
    group: AutoScalingGroupName,
    hookName: LifecycleHookName,
    instanceId: EC2InstanceId,
    token: LifecycleActionToken
  }
}

function matching(
  detail: Record<string, unknown>,
  field: string,
  pattern: RegExp,
  what: string
): string {
  const value = text(detail, field, 'lifecycle event')
  if (!pattern.test(value)) {
    throw new EventRefused(`The lifecycle event's ${field} ${quote(value)} is not ${what}`)
  }
  return value
}

function text(
  record: Record<string, unknown>,
  field: string,
  where: string,
  options: { allowEmpty?: boolean } = {}
): string {
  const value = record[field]
  if (typeof value !== 'string' || (value === '' && !options.allowEmpty)) {
    throw new EventRefused(
      `The ${where} has no ${field}${value === undefined ? '' : ' string'}. Accepted: ${ACCEPTED_SHAPES}`
    )
  }
  return value
}

function positiveInteger(record: Record<string, unknown>, field: string): number {
  const value = record[field]
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new EventRefused(`The deploy event's ${field} is not a positive whole number`)
  }
  return value as number
}
