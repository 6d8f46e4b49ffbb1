import * as core from '@actions/core'
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  paginateDescribeSecurityGroupRules,
  type IpPermission,
  type Tag
} from '@aws-sdk/client-ec2'
import { awsErrorCode, clientConfig, describeAwsFailure, type AwsTarget } from '../common/aws.js'
import { InputError, errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { Input, MANAGED_BY_TAG, MANAGED_BY_VALUE, SESSION_TAG } from './constants.js'
import { expiredRules, type OpenedRule, type TaggedRule } from './rules.js'

export function createEc2Client(target: AwsTarget): EC2Client {
  return new EC2Client(clientConfig(target, { connectionTimeoutMs: 5_000, idleTimeoutMs: 20_000 }))
}

/**
 * The client that closes: short, so that revoking fits in the 7.5 s the runner leaves between
 * SIGINT and SIGTERM (revokeRules retries on top of it, and the post step follows anyway).
 */
export function createClosingEc2Client(target: AwsTarget): EC2Client {
  return new EC2Client(
    clientConfig(target, {
      maxAttempts: 2,
      connectionTimeoutMs: 2_000,
      idleTimeoutMs: 3_000,
      deadlineMs: 4_000
    })
  )
}

/** Fails, before anything is opened, when a group does not exist or cannot be read. */
export async function requireGroups(
  ec2: EC2Client,
  groupIds: readonly string[],
  region: string
): Promise<void> {
  try {
    const { SecurityGroups = [] } = await ec2.send(
      new DescribeSecurityGroupsCommand({ GroupIds: [...groupIds] })
    )
    const found = new Set(SecurityGroups.map((group) => group.GroupId))
    const missing = groupIds.filter((id) => !found.has(id))
    if (missing.length > 0)
      throw new InputError(Input.SecurityGroupIds, `${missing.join(', ')} not found in ${region}`)
  } catch (error) {
    if (error instanceof InputError) throw error
    if (awsErrorCode(error) === 'InvalidGroup.NotFound') {
      throw new InputError(Input.SecurityGroupIds, `${errorMessage(error)} (region ${region})`)
    }
    throw describeAwsFailure(error, 'Reading the security groups', {
      UnauthorizedOperation: 'access denied; the job role needs ec2:DescribeSecurityGroups'
    })
  }
}

/** Ingress rules of the groups carrying `tag` (our managed-by tag unless told otherwise). */
async function taggedRules(
  ec2: EC2Client,
  groupIds: readonly string[],
  tag: { key: string; value: string } = { key: MANAGED_BY_TAG, value: MANAGED_BY_VALUE }
): Promise<TaggedRule[]> {
  const rules: TaggedRule[] = []
  for await (const page of paginateDescribeSecurityGroupRules(
    { client: ec2 },
    {
      Filters: [
        { Name: 'group-id', Values: [...groupIds] },
        { Name: `tag:${tag.key}`, Values: [tag.value] }
      ]
    }
  )) {
    for (const rule of page.SecurityGroupRules ?? []) {
      if (!rule.SecurityGroupRuleId || !rule.GroupId || rule.IsEgress) continue
      rules.push({
        groupId: rule.GroupId,
        ruleId: rule.SecurityGroupRuleId,
        tags: tagMap(rule.Tags)
      })
    }
  }
  return rules
}

const tagMap = (tags: Tag[] | undefined) =>
  Object.fromEntries((tags ?? []).map((entry) => [entry.Key ?? '', entry.Value ?? '']))

/** The rules tagged with this run's session id, whether or not their ids reached us. */
export async function sessionRules(
  ec2: EC2Client,
  groupIds: readonly string[],
  session: string
): Promise<OpenedRule[]> {
  const rules = await taggedRules(ec2, groupIds, { key: SESSION_TAG, value: session })
  return rules.map(({ groupId, ruleId }) => ({ groupId, ruleId }))
}

/** Who made the rule that already allows this address and port: this action (which run), or not. */
export async function duplicateOwner(
  ec2: EC2Client,
  groupId: string,
  cidr: string,
  port: number
): Promise<{ session?: string; runId?: string } | undefined> {
  const { SecurityGroupRules = [] } = await ec2.send(
    new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] })
  )
  const match = SecurityGroupRules.find(
    (rule) =>
      !rule.IsEgress &&
      rule.FromPort === port &&
      rule.ToPort === port &&
      (rule.CidrIpv4 === cidr || rule.CidrIpv6 === cidr)
  )
  if (match === undefined) return undefined
  const tags = tagMap(match.Tags)
  if (tags[MANAGED_BY_TAG] !== MANAGED_BY_VALUE) return {}
  return {
    ...(tags[SESSION_TAG] !== undefined ? { session: tags[SESSION_TAG] } : {}),
    ...(tags['run-id'] !== undefined ? { runId: tags['run-id'] } : {})
  }
}

/** What a sweep found past its expiry: the rules revoked, and those that would not go. */
export interface SweepResult {
  swept: TaggedRule[]
  failed: { rule: TaggedRule; reason: string }[]
}

/**
 * Revokes the rules this action made in earlier runs that are past their tagged expiry: a
 * force-terminated job, or credentials that expired before the revoke, leave them behind. Only
 * rules carrying this action's tag are looked at; fails when the rules cannot be listed.
 */
export async function sweepExpiredRules(
  ec2: EC2Client,
  groupIds: readonly string[],
  ttlSeconds: number,
  now = new Date()
): Promise<SweepResult> {
  let expired: TaggedRule[]
  try {
    expired = expiredRules(await taggedRules(ec2, groupIds), now, ttlSeconds)
  } catch (error) {
    throw describeAwsFailure(error, 'Listing the rules of the security groups', {
      UnauthorizedOperation: 'access denied; the job role needs ec2:DescribeSecurityGroupRules'
    })
  }
  if (expired.length === 0) return { swept: [], failed: [] }
  const { revoked, failed } = await revokeRules(ec2, expired)
  const gone = new Set(revoked)
  return {
    swept: expired.filter((rule) => gone.has(rule.ruleId)),
    failed: failed.map(({ rule, reason }) => ({
      rule: expired.find((candidate) => candidate.ruleId === rule.ruleId) ?? { ...rule, tags: {} },
      reason
    }))
  }
}

/**
 * The sweep a deploy does before it opens anything. Best effort: a failure here is a warning,
 * not a failed deploy.
 */
export async function sweepLeakedRules(
  ec2: EC2Client,
  groupIds: readonly string[],
  ttlSeconds: number,
  now = new Date()
): Promise<string[]> {
  try {
    const { swept, failed } = await sweepExpiredRules(ec2, groupIds, ttlSeconds, now)
    for (const { rule, reason } of failed)
      core.warning(
        `Could not sweep leaked rule ${rule.ruleId} in ${rule.groupId}: ${escapeText(reason)}`
      )
    const revoked = swept.map((rule) => rule.ruleId)
    if (revoked.length > 0)
      core.info(`Swept ${revoked.length} rule(s) left by earlier runs: ${revoked.join(', ')}`)
    return revoked
  } catch (error) {
    core.warning(
      `Could not look for rules left by earlier runs: ${escapeText(errorMessage(error))}`
    )
    return []
  }
}

/**
 * Adds one ingress rule and returns its id. An identical rule that already exists (someone
 * else's) is reported as `duplicate`: the run goes on through it and never revokes it.
 */
export async function openRule(
  ec2: EC2Client,
  groupId: string,
  permission: IpPermission,
  tags: Tag[]
): Promise<{ ruleId: string } | { duplicate: true }> {
  try {
    const response = await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [permission],
        TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: tags }]
      })
    )
    const ruleId = response.SecurityGroupRules?.[0]?.SecurityGroupRuleId
    if (!ruleId) throw new Error(`EC2 returned no rule id for the rule added to ${groupId}`)
    return { ruleId }
  } catch (error) {
    if (awsErrorCode(error) === 'InvalidPermission.Duplicate') return { duplicate: true }
    throw describeAwsFailure(error, `Opening ${groupId}`, {
      UnauthorizedOperation:
        'access denied; the job role needs ec2:AuthorizeSecurityGroupIngress and ec2:CreateTags',
      RulesPerSecurityGroupLimitExceeded: `${groupId} has no room for another rule (rules per security group limit)`
    })
  }
}

const GONE = new Set([
  'InvalidPermission.NotFound',
  'InvalidSecurityGroupRuleId.NotFound',
  'InvalidGroup.NotFound'
])

/**
 * Revokes rules by SecurityGroupRuleId only, never by protocol/port/CIDR (which would also
 * remove an identical rule someone else made). Each rule is tried up to three times and a
 * failure for one group does not stop the others. The result is confirmed by listing the groups.
 */
export async function revokeRules(
  ec2: EC2Client,
  rules: readonly OpenedRule[],
  attempts = 3
): Promise<{ revoked: string[]; failed: { rule: OpenedRule; reason: string }[] }> {
  const failed: { rule: OpenedRule; reason: string }[] = []
  await Promise.all(
    rules.map(async (rule) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await ec2.send(
            new RevokeSecurityGroupIngressCommand({
              GroupId: rule.groupId,
              SecurityGroupRuleIds: [rule.ruleId]
            })
          )
          return
        } catch (error) {
          if (GONE.has(awsErrorCode(error) ?? '')) return
          if (attempt >= attempts) {
            failed.push({ rule, reason: errorMessage(error) })
            return
          }
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
        }
      }
    })
  )
  const stillThere = await remainingRules(ec2, rules).catch((error: unknown) => {
    // Without confirmation every rule not known to have failed stays in doubt.
    core.warning(`Could not confirm the revocation: ${errorMessage(error)}`)
    return new Set(rules.map((rule) => rule.ruleId))
  })
  const failedIds = new Set(failed.map((entry) => entry.rule.ruleId))
  for (const rule of rules) {
    if (stillThere.has(rule.ruleId) && !failedIds.has(rule.ruleId)) {
      failed.push({ rule, reason: 'still present after revocation' })
    }
  }
  const failedNow = new Set(failed.map((entry) => entry.rule.ruleId))
  return { revoked: rules.map((rule) => rule.ruleId).filter((id) => !failedNow.has(id)), failed }
}

async function remainingRules(ec2: EC2Client, rules: readonly OpenedRule[]): Promise<Set<string>> {
  if (rules.length === 0) return new Set()
  const groupIds = [...new Set(rules.map((rule) => rule.groupId))]
  const present = new Set<string>()
  for await (const page of paginateDescribeSecurityGroupRules(
    { client: ec2 },
    { Filters: [{ Name: 'group-id', Values: groupIds }] }
  )) {
    for (const rule of page.SecurityGroupRules ?? []) {
      if (rule.SecurityGroupRuleId) present.add(rule.SecurityGroupRuleId)
    }
  }
  return new Set(rules.map((rule) => rule.ruleId).filter((id) => present.has(id)))
}
