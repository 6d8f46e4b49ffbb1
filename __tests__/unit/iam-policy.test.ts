// The IAM evaluation the OIDC role tests rely on, held to IAM's documented rules.
import { describe, expect, it } from '@jest/globals'
import {
  evaluate,
  wildcardMatch,
  type IamRequest,
  type PolicyDocument
} from '../support/iam-policy.js'
import { iamRequestsOf } from '../support/iam-requests.js'

const policy = (...Statement: PolicyDocument['Statement'][]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: Statement.flat()
})

describe('wildcardMatch', () => {
  it('takes * for any run of characters and ? for one, and nothing else as special', () => {
    expect(wildcardMatch('arn:aws:s3:::b/dags/*', 'arn:aws:s3:::b/dags/a/b.py')).toBe(true)
    expect(wildcardMatch('arn:aws:s3:::b/dags/*', 'arn:aws:s3:::b/dags-old/a.py')).toBe(false)
    expect(wildcardMatch('dags/?', 'dags/a')).toBe(true)
    expect(wildcardMatch('dags/?', 'dags/ab')).toBe(false)
    expect(wildcardMatch('a.b', 'axb')).toBe(false)
    expect(wildcardMatch('s3:getobject', 's3:GetObject', true)).toBe(true)
    expect(wildcardMatch('s3:getobject', 's3:GetObject')).toBe(false)
  })
})

describe('evaluate', () => {
  const allowList = {
    Effect: 'Allow' as const,
    Action: 's3:ListBucket',
    Resource: 'arn:aws:s3:::b',
    Condition: { StringLike: { 's3:prefix': 'dags/*' } }
  }

  it('denies what no statement allows, and allows a matching action case-insensitively', () => {
    const document = policy({
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: 'arn:aws:s3:::b/*'
    })
    expect(evaluate([document], { action: 's3:getobject', resources: ['arn:aws:s3:::b/k'] })).toBe(
      'allowed'
    )
    expect(evaluate([document], { action: 's3:PutObject', resources: ['arn:aws:s3:::b/k'] })).toBe(
      'implicitly denied'
    )
  })

  it('lets an explicit Deny win over any Allow', () => {
    const documents = [
      policy({ Effect: 'Allow', Action: 's3:*', Resource: '*' }),
      policy({ Effect: 'Deny', Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::b/dags/*' })
    ]
    expect(
      evaluate(documents, { action: 's3:DeleteObject', resources: ['arn:aws:s3:::b/dags/a.py'] })
    ).toBe('explicitly denied')
  })

  it('needs every resource of a request allowed', () => {
    const document = policy({
      Effect: 'Allow',
      Action: 'ec2:AuthorizeSecurityGroupIngress',
      Resource: 'arn:aws:ec2:*:*:security-group/sg-1'
    })
    const request = (group: string) => ({
      action: 'ec2:AuthorizeSecurityGroupIngress',
      resources: [`arn:aws:ec2:us-east-1:1:security-group/${group}`, 'arn:aws:ec2:us-east-1:1:x']
    })
    expect(evaluate([document], request('sg-1'))).toBe('implicitly denied')
    const both = policy({
      Effect: 'Allow',
      Action: 'ec2:AuthorizeSecurityGroupIngress',
      Resource: ['arn:aws:ec2:*:*:security-group/sg-1', 'arn:aws:ec2:us-east-1:1:x']
    })
    expect(evaluate([both], request('sg-1'))).toBe('allowed')
    expect(evaluate([both], request('sg-2'))).toBe('implicitly denied')
  })

  it('matches conditions on the request context, a missing key matching no positive operator', () => {
    const list = (prefix?: string): IamRequest => ({
      action: 's3:ListBucket',
      resources: ['arn:aws:s3:::b'],
      context: prefix === undefined ? {} : { 's3:prefix': prefix }
    })
    expect(evaluate([policy(allowList)], list('dags/'))).toBe('allowed')
    expect(evaluate([policy(allowList)], list('reports/'))).toBe('implicitly denied')
    expect(evaluate([policy(allowList)], list())).toBe('implicitly denied')
    const equals = policy({
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } }
    })
    const decrypt = (via: string) => ({
      action: 'kms:Decrypt',
      resources: ['k'],
      context: { 'KMS:ViaService': via }
    })
    // Keys are case-insensitive, values are not.
    expect(evaluate([equals], decrypt('s3.us-east-1.amazonaws.com'))).toBe('allowed')
    expect(evaluate([equals], decrypt('S3.us-east-1.amazonaws.com'))).toBe('implicitly denied')
  })

  it('refuses to guess an operator it does not model', () => {
    const document = policy({
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: '*',
      Condition: { 'ForAnyValue:StringLike': { 's3:prefix': ['dags/*'] } }
    })
    expect(() => evaluate([document], { action: 's3:ListBucket', resources: ['*'] })).toThrow(
      /ForAnyValue:StringLike is not modelled/
    )
  })

  it('judges a trust policy by principal, action and conditions', () => {
    const provider = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com'
    const trust = policy({
      Effect: 'Allow',
      Principal: { Federated: provider },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: {
        StringEquals: {
          'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
          'token.actions.githubusercontent.com:sub': 'repo:o/r:environment:production'
        }
      }
    })
    const assume = (principal: string, sub: string, action = 'sts:AssumeRoleWithWebIdentity') => ({
      action,
      resources: [],
      principal,
      context: {
        'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
        'token.actions.githubusercontent.com:sub': sub
      }
    })
    expect(
      evaluate([trust], assume(`Federated:${provider}`, 'repo:o/r:environment:production'))
    ).toBe('allowed')
    expect(evaluate([trust], assume(`Federated:${provider}`, 'repo:o/r:pull_request'))).toBe(
      'implicitly denied'
    )
    expect(
      evaluate(
        [trust],
        assume('Federated:arn:aws:iam::1:oidc-provider/x', 'repo:o/r:environment:production')
      )
    ).toBe('implicitly denied')
    expect(
      evaluate(
        [trust],
        assume(`Federated:${provider}`, 'repo:o/r:environment:production', 'sts:AssumeRole')
      )
    ).toBe('implicitly denied')
  })
})

describe('iamRequestsOf', () => {
  const signed = (service: string) => ({
    authorization: `AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261130/eu-west-1/${service}/aws4_request, SignedHeaders=host, Signature=0`
  })

  it('reads S3 listings, reads, writes and batch deletes key by key', () => {
    const s3 = (method: string, url: string, body = '') =>
      iamRequestsOf({ method, url, headers: signed('s3'), body })
    expect(s3('GET', '/b/?list-type=2&prefix=dags%2F&encoding-type=url')).toEqual([
      {
        action: 's3:ListBucket',
        resources: ['arn:aws:s3:::b'],
        context: { 'aws:RequestedRegion': 'eu-west-1', 's3:prefix': 'dags/' }
      }
    ])
    expect(s3('HEAD', '/b/dags/a%20b.py').map((r) => [r.action, r.resources])).toEqual([
      ['s3:GetObject', ['arn:aws:s3:::b/dags/a b.py']]
    ])
    expect(s3('PUT', '/b/dags/a.py?x-id=PutObject')[0]!.action).toBe('s3:PutObject')
    expect(s3('DELETE', '/b/dags/a.py?uploadId=1')[0]!.action).toBe('s3:AbortMultipartUpload')
    const deletes = s3(
      'POST',
      '/b/?delete',
      '<Delete><Object><Key>dags/a.py</Key></Object><Object><Key>dags/&lt;b&gt;.py</Key></Object></Delete>'
    )
    expect(deletes.map((r) => [r.action, r.resources])).toEqual([
      ['s3:DeleteObject', ['arn:aws:s3:::b/dags/a.py']],
      ['s3:DeleteObject', ['arn:aws:s3:::b/dags/<b>.py']]
    ])
  })

  it('reads EC2 calls with their group, rules and the tags given on create', () => {
    const ec2 = (body: Record<string, string>) =>
      iamRequestsOf({
        method: 'POST',
        url: '/',
        headers: signed('ec2'),
        body: new URLSearchParams(body).toString()
      })
    expect(
      ec2({
        Action: 'AuthorizeSecurityGroupIngress',
        GroupId: 'sg-1',
        'TagSpecification.1.ResourceType': 'security-group-rule'
      })
    ).toEqual([
      {
        action: 'ec2:AuthorizeSecurityGroupIngress',
        resources: [
          'arn:aws:ec2:eu-west-1:123456789012:security-group/sg-1',
          'arn:aws:ec2:eu-west-1:123456789012:security-group-rule/*'
        ],
        context: { 'aws:RequestedRegion': 'eu-west-1' }
      },
      {
        action: 'ec2:CreateTags',
        resources: ['arn:aws:ec2:eu-west-1:123456789012:security-group-rule/*'],
        context: {
          'aws:RequestedRegion': 'eu-west-1',
          'ec2:CreateAction': 'AuthorizeSecurityGroupIngress'
        }
      }
    ])
    expect(
      ec2({
        Action: 'RevokeSecurityGroupIngress',
        GroupId: 'sg-1',
        'SecurityGroupRuleId.1': 'sgr-9'
      })[0]!.resources
    ).toEqual([
      'arn:aws:ec2:eu-west-1:123456789012:security-group/sg-1',
      'arn:aws:ec2:eu-west-1:123456789012:security-group-rule/sgr-9'
    ])
    expect(() => ec2({ Action: 'RunInstances' })).toThrow(/not modelled/)
  })

  it('reads Lambda calls with their qualifier', () => {
    const lambda = (method: string, url: string) =>
      iamRequestsOf({ method, url, headers: signed('lambda'), body: '' })
    expect(lambda('GET', '/2015-03-31/functions/refresh/configuration?Qualifier=live')).toEqual([
      {
        action: 'lambda:GetFunctionConfiguration',
        resources: ['arn:aws:lambda:eu-west-1:123456789012:function:refresh:live'],
        context: { 'aws:RequestedRegion': 'eu-west-1' }
      }
    ])
    expect(
      lambda(
        'POST',
        '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A111122223333%3Afunction%3Ax/invocations'
      )[0]!.resources
    ).toEqual(['arn:aws:lambda:eu-west-1:111122223333:function:x'])
  })

  it('refuses an unsigned request', () => {
    expect(() => iamRequestsOf({ method: 'GET', url: '/', headers: {}, body: '' })).toThrow(
      /unsigned/
    )
  })
})
