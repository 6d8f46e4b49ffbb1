import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  type DescribeSecurityGroupRulesCommandInput,
  type SecurityGroupRule
} from '@aws-sdk/client-ec2'
import { mockClient } from 'aws-sdk-client-mock'
import { InputError } from '../../../src/common/errors.js'
import {
  CREATED_AT_TAG,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE
} from '../../../src/ephemeral-sg-ssh/constants.js'
import {
  openRule,
  requireGroups,
  revokeRules,
  sweepExpiredRules,
  sweepLeakedRules
} from '../../../src/ephemeral-sg-ssh/ec2.js'
import { parseAddress } from '../../../src/ephemeral-sg-ssh/ip.js'
import { ingressPermission, ruleTags } from '../../../src/ephemeral-sg-ssh/rules.js'

const ec2Mock = mockClient(EC2Client)
const client = new EC2Client({ region: 'eu-west-1' })
const awsError = (name: string, message = name, status = 400) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } })

let output: string[]
beforeEach(() => {
  ec2Mock.reset()
  output = []
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    output.push(chunk.toString())
    return true
  })
})
afterEach(() => {
  jest.restoreAllMocks()
})
const warnings = () => output.filter((line) => line.startsWith('::warning::'))

const permission = ingressPermission(parseAddress('203.0.113.7')!, 22, 'deploy acme/web run 1')
const tags = ruleTags(
  { repository: 'acme/web', runId: '1', runAttempt: '1' },
  new Date('2024-05-06T12:00:00Z'),
  3600,
  'session-1'
)

describe('openRule', () => {
  it('adds the rule with its tags and returns its id', async () => {
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({
      Return: true,
      SecurityGroupRules: [{ SecurityGroupRuleId: 'sgr-0aaa', GroupId: 'sg-11111111' }]
    })
    await expect(openRule(client, 'sg-11111111', permission, tags)).resolves.toEqual({
      ruleId: 'sgr-0aaa'
    })
    const calls = ec2Mock.commandCalls(AuthorizeSecurityGroupIngressCommand)
    expect(calls).toHaveLength(1)
    expect(calls[0]?.args[0].input).toEqual({
      GroupId: 'sg-11111111',
      IpPermissions: [permission],
      TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: tags }]
    })
  })

  it('reports an identical existing rule as a duplicate', async () => {
    ec2Mock
      .on(AuthorizeSecurityGroupIngressCommand)
      .rejects(awsError('InvalidPermission.Duplicate', 'the specified rule already exists'))
    await expect(openRule(client, 'sg-11111111', permission, tags)).resolves.toEqual({
      duplicate: true
    })
  })

  it('fails when EC2 returns no rule id', async () => {
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true })
    await expect(openRule(client, 'sg-11111111', permission, tags)).rejects.toThrow(
      'Opening sg-11111111 failed: EC2 returned no rule id for the rule added to sg-11111111'
    )
  })

  it.each([
    [
      'UnauthorizedOperation',
      'Opening sg-11111111 failed: access denied; the job role needs ec2:AuthorizeSecurityGroupIngress and ec2:CreateTags'
    ],
    [
      'RulesPerSecurityGroupLimitExceeded',
      'Opening sg-11111111 failed: sg-11111111 has no room for another rule (rules per security group limit)'
    ]
  ])('explains %s', async (code, message) => {
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejects(awsError(code))
    await expect(openRule(client, 'sg-11111111', permission, tags)).rejects.toThrow(message)
  })
})

describe('revokeRules', () => {
  const ruleA = { groupId: 'sg-aaaaaaaa', ruleId: 'sgr-a' }
  const ruleB = { groupId: 'sg-bbbbbbbb', ruleId: 'sgr-b' }
  const listed = (...ids: string[]): SecurityGroupRule[] =>
    ids.map((id) => ({ SecurityGroupRuleId: id, GroupId: 'sg-aaaaaaaa' }))

  it('revokes each rule by its id only and confirms it is gone', async () => {
    ec2Mock.on(RevokeSecurityGroupIngressCommand).resolves({ Return: true })
    ec2Mock
      .on(DescribeSecurityGroupRulesCommand)
      .resolves({ SecurityGroupRules: listed('sgr-someone-elses') })
    await expect(revokeRules(client, [ruleA, ruleB])).resolves.toEqual({
      revoked: ['sgr-a', 'sgr-b'],
      failed: []
    })
    const inputs = ec2Mock
      .commandCalls(RevokeSecurityGroupIngressCommand)
      .map((call) => call.args[0].input)
    expect(inputs).toEqual([
      { GroupId: 'sg-aaaaaaaa', SecurityGroupRuleIds: ['sgr-a'] },
      { GroupId: 'sg-bbbbbbbb', SecurityGroupRuleIds: ['sgr-b'] }
    ])
    for (const input of inputs) expect(input).not.toHaveProperty('IpPermissions')
    const describes = ec2Mock.commandCalls(DescribeSecurityGroupRulesCommand)
    expect(describes).toHaveLength(1)
    expect(describes[0]?.args[0].input.Filters).toEqual([
      { Name: 'group-id', Values: ['sg-aaaaaaaa', 'sg-bbbbbbbb'] }
    ])
  })

  it('does nothing for no rules', async () => {
    await expect(revokeRules(client, [])).resolves.toEqual({ revoked: [], failed: [] })
    expect(ec2Mock.calls()).toHaveLength(0)
  })

  it.each([
    'InvalidPermission.NotFound',
    'InvalidSecurityGroupRuleId.NotFound',
    'InvalidGroup.NotFound'
  ])('treats %s as already revoked, without retrying', async (code) => {
    ec2Mock.on(RevokeSecurityGroupIngressCommand).rejects(awsError(code))
    ec2Mock.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [] })
    await expect(revokeRules(client, [ruleA])).resolves.toEqual({
      revoked: ['sgr-a'],
      failed: []
    })
    expect(ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(1)
  })

  it('retries a transient error', async () => {
    ec2Mock
      .on(RevokeSecurityGroupIngressCommand)
      .rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503))
      .rejectsOnce(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .resolves({ Return: true })
    ec2Mock.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [] })
    await expect(revokeRules(client, [ruleA])).resolves.toEqual({
      revoked: ['sgr-a'],
      failed: []
    })
    expect(ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(3)
  })

  it('carries on past a group that keeps failing and reports it', async () => {
    ec2Mock
      .on(RevokeSecurityGroupIngressCommand, { GroupId: 'sg-aaaaaaaa' })
      .rejects(awsError('InternalError', 'An internal error has occurred', 500))
      .on(RevokeSecurityGroupIngressCommand, { GroupId: 'sg-bbbbbbbb' })
      .resolves({ Return: true })
    ec2Mock.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: listed('sgr-a') })
    await expect(revokeRules(client, [ruleA, ruleB])).resolves.toEqual({
      revoked: ['sgr-b'],
      failed: [{ rule: ruleA, reason: 'An internal error has occurred' }]
    })
    const groups = ec2Mock
      .commandCalls(RevokeSecurityGroupIngressCommand)
      .map((call) => call.args[0].input.GroupId)
    expect(groups.filter((group) => group === 'sg-aaaaaaaa')).toHaveLength(3)
    expect(groups.filter((group) => group === 'sg-bbbbbbbb')).toHaveLength(1)
  })

  it('honours the number of attempts', async () => {
    ec2Mock.on(RevokeSecurityGroupIngressCommand).rejects(awsError('InternalError'))
    ec2Mock.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [] })
    const result = await revokeRules(client, [ruleA], 1)
    expect(result.failed).toEqual([{ rule: ruleA, reason: 'InternalError' }])
    expect(ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(1)
  })

  it('reports a rule still listed after revocation as failed', async () => {
    ec2Mock.on(RevokeSecurityGroupIngressCommand).resolves({ Return: true })
    ec2Mock
      .on(DescribeSecurityGroupRulesCommand)
      .resolvesOnce({ SecurityGroupRules: listed('sgr-other'), NextToken: 'page-2' })
      .resolvesOnce({ SecurityGroupRules: listed('sgr-b') })
    await expect(revokeRules(client, [ruleA, ruleB])).resolves.toEqual({
      revoked: ['sgr-a'],
      failed: [{ rule: ruleB, reason: 'still present after revocation' }]
    })
    // Both pages were read (the SDK's paginator reuses one input object, so only the last token shows).
    const pages = ec2Mock.commandCalls(DescribeSecurityGroupRulesCommand)
    expect(pages).toHaveLength(2)
    expect(pages[1]?.args[0].input.NextToken).toBe('page-2')
  })

  it('counts no rule as revoked when the result cannot be confirmed', async () => {
    ec2Mock.on(RevokeSecurityGroupIngressCommand).resolves({ Return: true })
    ec2Mock.on(DescribeSecurityGroupRulesCommand).rejects(awsError('UnauthorizedOperation'))
    const result = await revokeRules(client, [ruleA])
    expect(result.revoked).toEqual([])
    expect(result.failed.map((entry) => entry.rule)).toEqual([ruleA])
    expect(warnings().join('')).toContain('Could not confirm the revocation: UnauthorizedOperation')
  })
})

describe('sweepLeakedRules', () => {
  const now = new Date('2024-05-06T12:00:00Z')
  const ours = (id: string, createdAt: string, extra: Partial<SecurityGroupRule> = {}) => ({
    SecurityGroupRuleId: id,
    GroupId: 'sg-aaaaaaaa',
    IsEgress: false,
    Tags: [
      { Key: MANAGED_BY_TAG, Value: MANAGED_BY_VALUE },
      { Key: CREATED_AT_TAG, Value: createdAt },
      { Key: 'run-id', Value: '7' }
    ],
    ...extra
  })
  const isTagQuery = (input: DescribeSecurityGroupRulesCommandInput) =>
    (input.Filters ?? []).some((filter) => filter.Name === `tag:${MANAGED_BY_TAG}`)

  it('revokes only our rules older than the TTL', async () => {
    const remaining = new Set(['sgr-old', 'sgr-fresh', 'sgr-other', 'sgr-old-egress'])
    ec2Mock.on(DescribeSecurityGroupRulesCommand).callsFake((input) => {
      if (isTagQuery(input)) {
        return input.NextToken === undefined
          ? {
              SecurityGroupRules: [ours('sgr-old', '2024-05-05T00:00:00Z')],
              NextToken: 'next'
            }
          : {
              SecurityGroupRules: [
                ours('sgr-fresh', '2024-05-06T11:30:00Z'),
                ours('sgr-old-egress', '2024-05-01T00:00:00Z', { IsEgress: true }),
                {
                  SecurityGroupRuleId: 'sgr-other',
                  GroupId: 'sg-aaaaaaaa',
                  Tags: [{ Key: CREATED_AT_TAG, Value: '2020-01-01T00:00:00Z' }]
                }
              ]
            }
      }
      return { SecurityGroupRules: [...remaining].map((id) => ({ SecurityGroupRuleId: id })) }
    })
    ec2Mock.on(RevokeSecurityGroupIngressCommand).callsFake((input) => {
      for (const id of input.SecurityGroupRuleIds ?? []) remaining.delete(id)
      return { Return: true }
    })
    await expect(
      sweepLeakedRules(client, ['sg-aaaaaaaa', 'sg-bbbbbbbb'], 3600, now)
    ).resolves.toEqual(['sgr-old'])
    expect(
      ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand).map((call) => call.args[0].input)
    ).toEqual([{ GroupId: 'sg-aaaaaaaa', SecurityGroupRuleIds: ['sgr-old'] }])
    const first = ec2Mock.commandCalls(DescribeSecurityGroupRulesCommand)[0]?.args[0].input
    expect(first?.Filters).toEqual([
      { Name: 'group-id', Values: ['sg-aaaaaaaa', 'sg-bbbbbbbb'] },
      { Name: `tag:${MANAGED_BY_TAG}`, Values: [MANAGED_BY_VALUE] }
    ])
    expect(output.join('')).toContain('Swept 1 rule(s) left by earlier runs: sgr-old')
  })

  it('touches nothing when no rule has expired', async () => {
    ec2Mock
      .on(DescribeSecurityGroupRulesCommand)
      .resolves({ SecurityGroupRules: [ours('sgr-fresh', '2024-05-06T11:59:00Z')] })
    await expect(sweepLeakedRules(client, ['sg-aaaaaaaa'], 3600, now)).resolves.toEqual([])
    expect(ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(0)
  })

  it('turns a failure to list into a warning', async () => {
    ec2Mock
      .on(DescribeSecurityGroupRulesCommand)
      .rejects(
        awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.')
      )
    await expect(sweepLeakedRules(client, ['sg-aaaaaaaa'], 3600, now)).resolves.toEqual([])
    expect(warnings()).toEqual([
      expect.stringContaining(
        'Could not look for rules left by earlier runs: Listing the rules of the security groups failed: access denied; the job role needs ec2:DescribeSecurityGroupRules'
      )
    ])
    expect(ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(0)
  })

  it('warns about a leaked rule it could not revoke', async () => {
    ec2Mock
      .on(DescribeSecurityGroupRulesCommand)
      .callsFake((input) =>
        isTagQuery(input)
          ? { SecurityGroupRules: [ours('sgr-old', '2024-05-01T00:00:00Z')] }
          : { SecurityGroupRules: [{ SecurityGroupRuleId: 'sgr-old' }] }
      )
    ec2Mock
      .on(RevokeSecurityGroupIngressCommand)
      .rejects(awsError('UnauthorizedOperation', 'denied'))
    await expect(sweepLeakedRules(client, ['sg-aaaaaaaa'], 3600, now)).resolves.toEqual([])
    expect(warnings().join('')).toContain(
      'Could not sweep leaked rule sgr-old in sg-aaaaaaaa: denied'
    )
  })
})

describe('sweepExpiredRules', () => {
  const now = new Date('2024-05-06T12:00:00Z')
  const rule = (id: string, expiresAt: string) => ({
    SecurityGroupRuleId: id,
    GroupId: 'sg-aaaaaaaa',
    IsEgress: false,
    Tags: [
      { Key: MANAGED_BY_TAG, Value: MANAGED_BY_VALUE },
      { Key: 'expires-at', Value: expiresAt },
      { Key: 'run-id', Value: '7' }
    ]
  })
  const isTagQuery = (input: DescribeSecurityGroupRulesCommandInput) =>
    (input.Filters ?? []).some((filter) => filter.Name === `tag:${MANAGED_BY_TAG}`)

  it('returns the rules it revoked with their tags, and those that would not go', async () => {
    const remaining = new Set(['sgr-expired', 'sgr-stuck', 'sgr-valid'])
    ec2Mock.on(DescribeSecurityGroupRulesCommand).callsFake((input) =>
      isTagQuery(input)
        ? {
            SecurityGroupRules: [
              rule('sgr-expired', '2024-05-06T11:00:00Z'),
              rule('sgr-stuck', '2024-05-06T10:00:00Z'),
              rule('sgr-valid', '2024-05-06T13:00:00Z')
            ]
          }
        : { SecurityGroupRules: [...remaining].map((id) => ({ SecurityGroupRuleId: id })) }
    )
    ec2Mock.on(RevokeSecurityGroupIngressCommand).callsFake((input) => {
      if (input.SecurityGroupRuleIds?.[0] === 'sgr-stuck') throw awsError('Throttling', 'slow down')
      for (const id of input.SecurityGroupRuleIds ?? []) remaining.delete(id)
      return { Return: true }
    })
    const result = await sweepExpiredRules(client, ['sg-aaaaaaaa'], 3600, now)
    expect(result.swept).toEqual([
      {
        groupId: 'sg-aaaaaaaa',
        ruleId: 'sgr-expired',
        tags: {
          [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
          'expires-at': '2024-05-06T11:00:00Z',
          'run-id': '7'
        }
      }
    ])
    expect(result.failed).toEqual([
      {
        rule: expect.objectContaining({ ruleId: 'sgr-stuck', groupId: 'sg-aaaaaaaa' }),
        reason: 'slow down'
      }
    ])
    expect(remaining).toEqual(new Set(['sgr-stuck', 'sgr-valid']))
  })

  it('fails, naming the permission, when the rules cannot be listed', async () => {
    ec2Mock
      .on(DescribeSecurityGroupRulesCommand)
      .rejects(awsError('UnauthorizedOperation', 'You are not authorized'))
    await expect(sweepExpiredRules(client, ['sg-aaaaaaaa'], 3600, now)).rejects.toThrow(
      'Listing the rules of the security groups failed: access denied; the job role needs ec2:DescribeSecurityGroupRules'
    )
  })
})

describe('requireGroups', () => {
  it('passes when every group exists', async () => {
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [{ GroupId: 'sg-aaaaaaaa' }, { GroupId: 'sg-bbbbbbbb' }]
    })
    await expect(
      requireGroups(client, ['sg-aaaaaaaa', 'sg-bbbbbbbb'], 'eu-west-1')
    ).resolves.toBeUndefined()
    expect(ec2Mock.commandCalls(DescribeSecurityGroupsCommand)[0]?.args[0].input).toEqual({
      GroupIds: ['sg-aaaaaaaa', 'sg-bbbbbbbb']
    })
  })

  async function failure(ids: string[]): Promise<unknown> {
    return requireGroups(client, ids, 'eu-west-1').then(
      () => undefined,
      (error: unknown) => error
    )
  }

  it('names security-group-ids for a group that is not listed', async () => {
    ec2Mock
      .on(DescribeSecurityGroupsCommand)
      .resolves({ SecurityGroups: [{ GroupId: 'sg-aaaaaaaa' }] })
    const error = await failure(['sg-aaaaaaaa', 'sg-bbbbbbbb'])
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).input).toBe('security-group-ids')
    expect((error as Error).message).toBe('security-group-ids: sg-bbbbbbbb not found in eu-west-1')
  })

  it('names security-group-ids when EC2 says the group does not exist', async () => {
    ec2Mock
      .on(DescribeSecurityGroupsCommand)
      .rejects(awsError('InvalidGroup.NotFound', "The security group 'sg-bbbbbbbb' does not exist"))
    const error = await failure(['sg-bbbbbbbb'])
    expect(error).toBeInstanceOf(InputError)
    expect((error as Error).message).toBe(
      "security-group-ids: The security group 'sg-bbbbbbbb' does not exist (region eu-west-1)"
    )
  })

  it('explains missing permission', async () => {
    ec2Mock.on(DescribeSecurityGroupsCommand).rejects(awsError('UnauthorizedOperation'))
    const error = await failure(['sg-aaaaaaaa'])
    expect(error).not.toBeInstanceOf(InputError)
    expect((error as Error).message).toBe(
      'Reading the security groups failed: access denied; the job role needs ec2:DescribeSecurityGroups'
    )
  })
})
