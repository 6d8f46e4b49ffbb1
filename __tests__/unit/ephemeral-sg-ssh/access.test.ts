import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupRulesCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand
} from '@aws-sdk/client-ec2'
import { mockClient } from 'aws-sdk-client-mock'
import { GroupAccess } from '../../../src/ephemeral-sg-ssh/access.js'
import { MANAGED_BY_VALUE } from '../../../src/ephemeral-sg-ssh/constants.js'
import { parseAddress } from '../../../src/ephemeral-sg-ssh/ip.js'
import { parseFileCommands } from '../../../test-support/runner.mjs'

const ec2Mock = mockClient(EC2Client)
const client = new EC2Client({ region: 'us-east-1' })
const address = parseAddress('203.0.113.7')!
const context = { repository: 'acme/web', runId: '7', runAttempt: '1' }
const duplicate = Object.assign(new Error('the specified rule already exists'), {
  name: 'InvalidPermission.Duplicate',
  $metadata: { httpStatusCode: 400 }
})
const rule = (id: string, tags: Record<string, string>) => ({
  SecurityGroupRuleId: id,
  GroupId: 'sg-aaaaaaaa',
  IsEgress: false,
  IpProtocol: 'tcp',
  FromPort: 22,
  ToPort: 22,
  CidrIpv4: '203.0.113.7/32',
  Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value }))
})

beforeEach(() => {
  ec2Mock.reset()
})

/** DescribeSecurityGroupRules over `rules`, honouring the tag filters as EC2 does. */
function describeFrom(rules: ReturnType<typeof rule>[]) {
  ec2Mock
    .on(DescribeSecurityGroupRulesCommand)
    .callsFake((input: { Filters?: { Name?: string; Values?: string[] }[] }) => ({
      SecurityGroupRules: rules.filter((candidate) =>
        (input.Filters ?? []).every((filter) => {
          if (!filter.Name?.startsWith('tag:')) return true
          const key = filter.Name.slice(4)
          return candidate.Tags.some((tag) => tag.Key === key && filter.Values?.includes(tag.Value))
        })
      )
    }))
}

describe('GroupAccess', () => {
  it('tags every rule with its session and opens each group on each port', async () => {
    let next = 0
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).callsFake(() => ({
      SecurityGroupRules: [{ SecurityGroupRuleId: `sgr-${++next}` }]
    }))
    const access = new GroupAccess(client, client, ['sg-aaaaaaaa', 'sg-bbbbbbbb'])
    await access.open(address, [22, 2222], context, 3600)
    expect(access.opened.map((r) => [r.groupId, r.ruleId])).toEqual([
      ['sg-aaaaaaaa', 'sgr-1'],
      ['sg-aaaaaaaa', 'sgr-2'],
      ['sg-bbbbbbbb', 'sgr-3'],
      ['sg-bbbbbbbb', 'sgr-4']
    ])
    const calls = ec2Mock.commandCalls(AuthorizeSecurityGroupIngressCommand)
    expect(calls.map((c) => c.args[0].input.IpPermissions![0]!.FromPort)).toEqual([
      22, 2222, 22, 2222
    ])
    const tags = calls[0]!.args[0].input.TagSpecifications![0]!.Tags!
    expect(tags).toContainEqual({ Key: 'deploy-session', Value: access.session })
  })

  it('recognises its own rule behind a Duplicate (an authorize retried after a lost answer)', async () => {
    const access = new GroupAccess(client, client, ['sg-aaaaaaaa'])
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejects(duplicate)
    describeFrom([
      rule('sgr-mine', { 'managed-by': MANAGED_BY_VALUE, 'deploy-session': access.session })
    ])
    await access.open(address, [22], context, 3600)
    expect(access.opened).toEqual([{ groupId: 'sg-aaaaaaaa', ruleId: 'sgr-mine' }])
  })

  it("leaves someone else's identical rule alone", async () => {
    const access = new GroupAccess(client, client, ['sg-aaaaaaaa'])
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejects(duplicate)
    describeFrom([rule('sgr-office', {})])
    await access.open(address, [22], context, 3600)
    expect(access.opened).toEqual([])
    expect(await access.close()).toEqual([])
    expect(ec2Mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(0)
  })

  it('closes rules found by its session tag whose ids never arrived', async () => {
    const access = new GroupAccess(client, client, ['sg-aaaaaaaa'])
    // The rule was made, but the answer was lost: the call fails after the request went out.
    ec2Mock
      .on(AuthorizeSecurityGroupIngressCommand)
      .rejects(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
    await expect(access.open(address, [22], context, 3600)).rejects.toThrow('ECONNRESET')
    let present = [
      rule('sgr-lost', { 'managed-by': MANAGED_BY_VALUE, 'deploy-session': access.session })
    ]
    describeFrom(present)
    ec2Mock.on(RevokeSecurityGroupIngressCommand).callsFake(() => {
      present = []
      describeFrom(present)
      return { Return: true }
    })
    expect(await access.close()).toEqual([])
    const revoked = ec2Mock
      .commandCalls(RevokeSecurityGroupIngressCommand)
      .map((c) => c.args[0].input.SecurityGroupRuleIds)
    expect(revoked).toEqual([['sgr-lost']])
  })

  it('waits for an authorize in flight so the rule it creates is closed too', async () => {
    const access = new GroupAccess(client, client, ['sg-aaaaaaaa'])
    let release: (value: unknown) => void = () => undefined
    let authorizeSent: () => void = () => undefined
    const inFlight = new Promise<void>((resolve) => (authorizeSent = resolve))
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).callsFake(
      () =>
        new Promise((resolve) => {
          release = resolve
          authorizeSent()
        })
    )
    ec2Mock.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [] })
    ec2Mock.on(RevokeSecurityGroupIngressCommand).resolves({ Return: true })
    const opening = access.open(address, [22], context, 3600)
    await inFlight
    const closing = access.close()
    release({ SecurityGroupRules: [{ SecurityGroupRuleId: 'sgr-late' }] })
    expect(await closing).toEqual([])
    await opening
    expect(
      ec2Mock
        .commandCalls(RevokeSecurityGroupIngressCommand)
        .map((c) => c.args[0].input.SecurityGroupRuleIds)
    ).toEqual([['sgr-late']])
    expect(access.exposureSeconds()).toBeGreaterThanOrEqual(0)
  })
})

describe('GroupAccess tells the post step when nothing can be left open', () => {
  let folder: string
  let stateFile: string
  const savedState = () => parseFileCommands(readFileSync(stateFile, 'utf8'))
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'access-state-'))
    stateFile = join(folder, 'save_state')
    writeFileSync(stateFile, '')
    process.env.GITHUB_STATE = stateFile
  })
  afterEach(() => {
    delete process.env.GITHUB_STATE
    rmSync(folder, { recursive: true, force: true })
  })
  const openOne = async () => {
    ec2Mock
      .on(AuthorizeSecurityGroupIngressCommand)
      .resolves({ SecurityGroupRules: [{ SecurityGroupRuleId: 'sgr-1' }] })
    ec2Mock.on(RevokeSecurityGroupIngressCommand).resolves({ Return: true })
    const access = new GroupAccess(client, client, ['sg-aaaaaaaa'])
    await access.open(address, [22], context, 3600)
    return access
  }

  it('once every rule, by id and by session tag, is confirmed gone', async () => {
    ec2Mock.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [] })
    const access = await openOne()
    expect(await access.close()).toEqual([])
    expect(savedState()).toMatchObject({ revoked: '["sgr-1"]', closed: 'true' })
  })

  it('not when the session tag could not be looked up', async () => {
    ec2Mock
      .on(DescribeSecurityGroupRulesCommand)
      .callsFake((input: { Filters?: { Name?: string }[] }) => {
        if (input.Filters?.some((filter) => filter.Name === 'tag:deploy-session'))
          throw Object.assign(new Error('throttled'), { name: 'RequestLimitExceeded' })
        return { SecurityGroupRules: [] }
      })
    const access = await openOne()
    expect(await access.close()).toEqual([])
    expect(savedState().revoked).toBe('["sgr-1"]')
    expect(savedState().closed).toBeUndefined()
  })

  it('not when a revocation is not confirmed', async () => {
    ec2Mock
      .on(DescribeSecurityGroupRulesCommand)
      .callsFake((input: { Filters?: { Name?: string }[] }) => ({
        // The session lookup finds nothing new; the confirmation still lists the rule.
        SecurityGroupRules: input.Filters?.some((filter) => filter.Name?.startsWith('tag:'))
          ? []
          : [{ SecurityGroupRuleId: 'sgr-1', GroupId: 'sg-aaaaaaaa', IsEgress: false }]
      }))
    const access = await openOne()
    expect(await access.close()).toEqual([
      {
        rule: { groupId: 'sg-aaaaaaaa', ruleId: 'sgr-1' },
        reason: 'still present after revocation'
      }
    ])
    expect(savedState().closed).toBeUndefined()
  })

  it('not while an authorize call is unanswered: its rule could appear after the lookup', async () => {
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).callsFake(() => new Promise(() => undefined))
    ec2Mock.on(DescribeSecurityGroupRulesCommand).resolves({ SecurityGroupRules: [] })
    const access = new GroupAccess(client, client, ['sg-aaaaaaaa'])
    void access.open(address, [22], context, 3600)
    // close() waits 3 s for the answer that never comes, then looks the session up.
    expect(await access.close()).toEqual([])
    expect(savedState().session).toBe(access.session)
    expect(savedState().closed).toBeUndefined()
  })

  it('when nothing was ever asked for', async () => {
    const access = new GroupAccess(client, client, ['sg-aaaaaaaa'])
    expect(await access.close()).toEqual([])
    expect(savedState().closed).toBe('true')
  })
})
