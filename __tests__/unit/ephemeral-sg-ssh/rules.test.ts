import { describe, expect, it } from '@jest/globals'
import {
  CREATED_AT_TAG,
  EXPIRES_AT_TAG,
  SESSION_TAG,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE
} from '../../../src/ephemeral-sg-ssh/constants.js'
import { parseAddress } from '../../../src/ephemeral-sg-ssh/ip.js'
import {
  expiredRules,
  ingressPermission,
  ruleDescription,
  ruleTags,
  runContext,
  type TaggedRule
} from '../../../src/ephemeral-sg-ssh/rules.js'

const context = { repository: 'acme/web', runId: '9876543210', runAttempt: '2' }

describe('runContext', () => {
  it('reads the repository, run id and attempt from the GitHub environment', () => {
    expect(
      runContext({
        GITHUB_REPOSITORY: 'acme/web',
        GITHUB_RUN_ID: '42',
        GITHUB_RUN_ATTEMPT: '3'
      })
    ).toEqual({ repository: 'acme/web', runId: '42', runAttempt: '3' })
    expect(runContext({})).toEqual({ repository: 'unknown', runId: 'local', runAttempt: '1' })
  })
})

describe('ruleDescription', () => {
  it('names the repository, run and attempt', () => {
    expect(ruleDescription(context)).toBe('deploy acme/web run 9876543210 attempt 2')
  })

  it('replaces characters EC2 refuses in a description', () => {
    const description = ruleDescription({
      repository: 'ac"me/wéb<>\\`\'~?%^|\t\n',
      runId: '1',
      runAttempt: '1'
    })
    expect(description).toBe('deploy ac_me/w_b____________ run 1 attempt 1')
  })

  it('keeps every character EC2 allows', () => {
    const allowed = 'aZ09. _-:/()#,@[]+=&;{}!$*'
    expect(ruleDescription({ repository: allowed, runId: '1', runAttempt: '1' })).toBe(
      `deploy ${allowed} run 1 attempt 1`
    )
  })

  it('is at most 255 characters', () => {
    const description = ruleDescription({ ...context, repository: `acme/${'x'.repeat(400)}` })
    expect(description).toHaveLength(255)
    expect(description.startsWith('deploy acme/xxx')).toBe(true)
  })
})

describe('ruleTags', () => {
  it('marks the rule as ours and records when and by which run it was made', () => {
    const createdAt = new Date('2024-05-06T07:08:09.123Z')
    const tags = ruleTags(context, createdAt, 3600, 'session-42')
    expect(Object.fromEntries(tags.map((tag) => [tag.Key, tag.Value]))).toEqual({
      [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
      [SESSION_TAG]: 'session-42',
      [CREATED_AT_TAG]: '2024-05-06T07:08:09.123Z',
      // The expiry is fixed by the run that made the rule: created-at plus its rule-ttl.
      [EXPIRES_AT_TAG]: '2024-05-06T08:08:09.123Z',
      repository: 'acme/web',
      'run-id': '9876543210',
      'run-attempt': '2',
      Name: 'ephemeral deploy access, run 9876543210'
    })
    expect(MANAGED_BY_TAG).toBe('managed-by')
    expect(CREATED_AT_TAG).toBe('created-at')
    expect(Date.parse(tags.find((tag) => tag.Key === CREATED_AT_TAG)!.Value!)).toBe(
      createdAt.getTime()
    )
  })
})

describe('ingressPermission', () => {
  it('opens the port to exactly one IPv4 address', () => {
    expect(ingressPermission(parseAddress('203.0.113.7')!, 22, 'deploy run 1')).toEqual({
      IpProtocol: 'tcp',
      FromPort: 22,
      ToPort: 22,
      IpRanges: [{ CidrIp: '203.0.113.7/32', Description: 'deploy run 1' }]
    })
  })

  it('opens the port to exactly one IPv6 address', () => {
    expect(ingressPermission(parseAddress('2001:DB8::7')!, 2222, 'deploy run 1')).toEqual({
      IpProtocol: 'tcp',
      FromPort: 2222,
      ToPort: 2222,
      Ipv6Ranges: [{ CidrIpv6: '2001:db8::7/128', Description: 'deploy run 1' }]
    })
  })
})

describe('expiredRules', () => {
  const now = new Date('2024-05-06T12:00:00Z')
  const ours = (ruleId: string, createdAt: string | undefined): TaggedRule => ({
    groupId: 'sg-11111111',
    ruleId,
    tags: {
      [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
      ...(createdAt !== undefined ? { [CREATED_AT_TAG]: createdAt } : {})
    }
  })

  it('returns only our rules older than the TTL', () => {
    const rules: TaggedRule[] = [
      ours('sgr-old', '2024-05-06T05:59:59Z'),
      ours('sgr-fresh', '2024-05-06T11:00:00Z'),
      ours('sgr-exactly-ttl', '2024-05-06T06:00:00Z'),
      ours('sgr-no-date', undefined),
      ours('sgr-bad-date', 'yesterday-ish'),
      { groupId: 'sg-11111111', ruleId: 'sgr-untagged', tags: {} },
      {
        groupId: 'sg-11111111',
        ruleId: 'sgr-other-tool',
        tags: { [MANAGED_BY_TAG]: 'terraform', [CREATED_AT_TAG]: '2020-01-01T00:00:00Z' }
      },
      {
        groupId: 'sg-11111111',
        ruleId: 'sgr-created-at-only',
        tags: { [CREATED_AT_TAG]: '2020-01-01T00:00:00Z' }
      },
      { ...ours('sgr-old-2', '2023-01-01T00:00:00.000Z'), groupId: 'sg-22222222' }
    ]
    expect(expiredRules(rules, now, 6 * 3600).map((rule) => rule.ruleId)).toEqual([
      'sgr-old',
      'sgr-old-2'
    ])
  })

  it("honours the expiry the creating run recorded over this run's TTL", () => {
    const expiring = (ruleId: string, expiresAt: string): TaggedRule => ({
      groupId: 'sg-11111111',
      ruleId,
      tags: {
        [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
        [CREATED_AT_TAG]: '2024-05-06T11:00:00Z',
        [EXPIRES_AT_TAG]: expiresAt
      }
    })
    // A run with a one-minute TTL must not sweep a rule another run made to last six hours.
    const live = expiring('sgr-live', '2024-05-06T17:00:00Z')
    const past = expiring('sgr-past', '2024-05-06T11:30:00Z')
    expect(expiredRules([live, past], now, 60).map((rule) => rule.ruleId)).toEqual(['sgr-past'])
  })

  it('measures age against the TTL given', () => {
    const rules = [ours('sgr-1', '2024-05-06T11:58:00Z')]
    expect(expiredRules(rules, now, 60)).toEqual(rules)
    expect(expiredRules(rules, now, 180)).toEqual([])
  })
})
