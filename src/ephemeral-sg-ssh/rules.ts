import type { IpPermission, Tag } from '@aws-sdk/client-ec2'
import {
  CREATED_AT_TAG,
  EXPIRES_AT_TAG,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  SESSION_TAG
} from './constants.js'
import type { RunnerAddress } from './ip.js'

/** A rule this run created, identified the only way it is ever revoked: by its id. */
export interface OpenedRule {
  groupId: string
  ruleId: string
}

export interface RunContext {
  repository: string
  runId: string
  runAttempt: string
}

export function runContext(env: NodeJS.ProcessEnv = process.env): RunContext {
  return {
    repository: env.GITHUB_REPOSITORY ?? 'unknown',
    runId: env.GITHUB_RUN_ID ?? 'local',
    runAttempt: env.GITHUB_RUN_ATTEMPT ?? '1'
  }
}

/** EC2 allows a limited character set in rule descriptions; anything else becomes `_`. */
export function ruleDescription(context: RunContext): string {
  const text = `deploy ${context.repository} run ${context.runId} attempt ${context.runAttempt}`
  return text.replace(/[^a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]/g, '_').slice(0, 255)
}

export function ruleTags(
  context: RunContext,
  createdAt: Date,
  ttlSeconds: number,
  session: string
): Tag[] {
  return [
    { Key: MANAGED_BY_TAG, Value: MANAGED_BY_VALUE },
    { Key: SESSION_TAG, Value: session },
    { Key: CREATED_AT_TAG, Value: createdAt.toISOString() },
    { Key: EXPIRES_AT_TAG, Value: new Date(createdAt.getTime() + ttlSeconds * 1000).toISOString() },
    { Key: 'repository', Value: context.repository },
    { Key: 'run-id', Value: context.runId },
    { Key: 'run-attempt', Value: context.runAttempt },
    { Key: 'Name', Value: `ephemeral deploy access, run ${context.runId}` }
  ]
}

export function ingressPermission(
  address: RunnerAddress,
  port: number,
  description: string
): IpPermission {
  const range =
    address.family === 4
      ? { IpRanges: [{ CidrIp: address.cidr, Description: description }] }
      : { Ipv6Ranges: [{ CidrIpv6: address.cidr, Description: description }] }
  return { IpProtocol: 'tcp', FromPort: port, ToPort: port, ...range }
}

export interface TaggedRule {
  groupId: string
  ruleId: string
  tags: Record<string, string>
}

/**
 * Rules this action created in earlier runs and that are past their expiry: a force-terminated
 * job never ran its cleanup. The expiry was fixed by the run that made the rule (its rule-ttl),
 * so a run with a short TTL cannot sweep another job's rule still in use; rules without that tag
 * fall back to their creation time plus this run's TTL. Only rules carrying our tag and a
 * readable time qualify; everything else in the group is left alone.
 */
export function expiredRules(
  rules: readonly TaggedRule[],
  now: Date,
  ttlSeconds: number
): TaggedRule[] {
  return rules.filter((rule) => {
    if (rule.tags[MANAGED_BY_TAG] !== MANAGED_BY_VALUE) return false
    const expires = Date.parse(rule.tags[EXPIRES_AT_TAG] ?? '')
    if (!Number.isNaN(expires)) return now.getTime() > expires
    const created = Date.parse(rule.tags[CREATED_AT_TAG] ?? '')
    if (Number.isNaN(created)) return false
    return now.getTime() - created > ttlSeconds * 1000
  })
}
