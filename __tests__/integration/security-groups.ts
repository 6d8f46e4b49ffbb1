// Security groups and rules in moto's EC2, as the ephemeral-sg-ssh tests arrange them.
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupRulesCommand,
  type EC2Client,
  type Tag
} from '@aws-sdk/client-ec2'
import { ruleTags } from '../../src/ephemeral-sg-ssh/rules.js'
import { nodeRuntimes, runAction, type ActionRun } from '../../test-support/runner.mjs'
import type { Sshd } from '../../test-support/sshd.mjs'
import { credentials } from './helpers.js'

let groupCounter = 0

/** A new group in `vpcId`; names only need to differ within the VPC. */
export async function createGroup(ec2: EC2Client, vpcId: string, name = 'app'): Promise<string> {
  const { GroupId } = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: `${name}-${++groupCounter}`,
      Description: 'app servers',
      VpcId: vpcId
    })
  )
  return GroupId!
}

/** The ids of a group's ingress rules, sorted. */
export async function ingressRuleIds(ec2: EC2Client, groupId: string): Promise<string[]> {
  const { SecurityGroupRules = [] } = await ec2.send(
    new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] })
  )
  return SecurityGroupRules.filter((rule) => !rule.IsEgress)
    .map((rule) => rule.SecurityGroupRuleId!)
    .sort()
}

/** An ingress rule for `cidr` on port 22 with `tags`, as a deploy or someone else left it. */
export async function ruleWith(
  ec2: EC2Client,
  groupId: string,
  cidr: string,
  tags: Tag[]
): Promise<string> {
  const { SecurityGroupRules } = await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: cidr }] }
      ],
      ...(tags.length > 0
        ? { TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: tags }] }
        : {})
    })
  )
  return SecurityGroupRules![0]!.SecurityGroupRuleId!
}

/** The tags a deploy of run `runId` wrote on its rule, created at `createdAt` (rules.ts). */
export const earlierRunTags = (createdAt: Date, ttlSeconds: number, runId: string): Tag[] =>
  ruleTags(
    { repository: 'octo-org/app', runId, runAttempt: '1' },
    createdAt,
    ttlSeconds,
    `session-${runId}`
  )

/**
 * The inputs of a deploy to the loopback `server` through the group: a fixed runner address, the
 * server's pinned host keys, moto's endpoint; `overrides` last.
 */
export function deployInputs(
  setup: { server: Sshd; privateKey: string; endpoint: string },
  groupId: string,
  overrides: Record<string, string> = {}
): Record<string, string> {
  return {
    'security-group-ids': groupId,
    ip: '203.0.113.10',
    hosts: `127.0.0.1:${setup.server.port}`,
    username: setup.server.user,
    'private-key': setup.privateKey,
    'known-hosts': setup.server.knownHosts,
    'endpoint-url': setup.endpoint,
    'connect-timeout': '10',
    ...overrides
  }
}

/** The bundled ephemeral-sg-ssh, run as the runner runs it, with moto's credentials. */
export function runEphemeralSgSsh(
  inputs: Record<string, string>,
  options: Partial<Parameters<typeof runAction>[0]> = {}
): Promise<ActionRun> {
  const [node24] = nodeRuntimes()
  return runAction({
    action: 'ephemeral-sg-ssh',
    node: node24!.path,
    env: credentials,
    inputs,
    ...options
  })
}

/**
 * How many connections a server has accepted (sshd logs each at VERBOSE); its log keeps only its
 * last 20000 characters, so count on a server that sees a few connections only.
 */
export const connectionsSeen = (of: Sshd) =>
  (of.log().match(/Connection from 127\.0\.0\.1 port/g) ?? []).length

/** Resolves once `text` is in the server's log. */
export async function logged(of: Sshd, text: string): Promise<void> {
  // A bound for a server that never logs it, far beyond what a busy machine takes.
  const deadline = Date.now() + 60_000
  while (!of.log().includes(text)) {
    if (Date.now() > deadline) throw new Error(`sshd never logged '${text}'`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
