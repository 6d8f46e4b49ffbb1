// What IAM authorizes for an AWS request recorded on its way to moto_server (test-support/
// proxy.mjs): the action, every resource it touches and the condition keys the policies here use.
// Covers the requests the pack's actions send: S3 path-style, EC2 query and Lambda REST calls.
import type { IamRequest } from './iam-policy.js'

export const ACCOUNT = '123456789012'

interface Recorded {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** A header, whatever case the recorder kept its name in. */
export function headerOf(request: Recorded, name: string): string | undefined {
  const found = Object.keys(request.headers).find((key) => key.toLowerCase() === name)
  return found === undefined ? undefined : String(request.headers[found])
}

function credentialScope(request: Recorded): { region: string; service: string } {
  const authorization = headerOf(request, 'authorization') ?? ''
  const scope = authorization.match(/Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/)
  if (!scope) throw new Error(`unsigned request: ${request.method} ${request.url}`)
  return { region: scope[1]!, service: scope[2]! }
}

const xmlText = (text: string) =>
  text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#13;/g, '\r')
    .replace(/&#10;/g, '\n')
    .replace(/&amp;/g, '&')

function s3Requests(request: Recorded, region: string): IamRequest[] {
  const url = new URL(request.url, 'http://s3.local')
  const [bucketPart = '', ...keyParts] = url.pathname.slice(1).split('/')
  const bucket = decodeURIComponent(bucketPart)
  const key = keyParts.map(decodeURIComponent).join('/')
  const query = url.searchParams
  const context = { 'aws:RequestedRegion': region }
  const bucketArn = `arn:aws:s3:::${bucket}`
  const objectArn = `arn:aws:s3:::${bucket}/${key}`
  const one = (action: string, resource: string, extra: Record<string, string> = {}) => [
    { action, resources: [resource], context: { ...context, ...extra } }
  ]
  // The SDK addresses a bucket as `/bucket/`: no key.
  if (key === '') {
    if (request.method === 'GET' && !query.has('uploads') && !query.has('versions'))
      return one(
        's3:ListBucket',
        bucketArn,
        query.has('prefix') ? { 's3:prefix': query.get('prefix')! } : {}
      )
    if (request.method === 'POST' && query.has('delete')) {
      // DeleteObjects is authorized key by key, as s3:DeleteObject on each object.
      const keys = [...request.body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) =>
        xmlText(match[1]!)
      )
      return keys.map((each) => ({
        action: 's3:DeleteObject',
        resources: [`arn:aws:s3:::${bucket}/${each}`],
        context
      }))
    }
  } else {
    if (request.method === 'GET' || request.method === 'HEAD') return one('s3:GetObject', objectArn)
    if (request.method === 'PUT' || request.method === 'POST') return one('s3:PutObject', objectArn)
    if (request.method === 'DELETE')
      return one(query.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject', objectArn)
  }
  throw new Error(`S3 request not modelled: ${request.method} ${request.url}`)
}

function ec2Requests(request: Recorded, region: string): IamRequest[] {
  const form = new URLSearchParams(request.body)
  const action = form.get('Action')
  const context = { 'aws:RequestedRegion': region }
  const groupArn = (id: string) => `arn:aws:ec2:${region}:${ACCOUNT}:security-group/${id}`
  const ruleArn = (id: string) => `arn:aws:ec2:${region}:${ACCOUNT}:security-group-rule/${id}`
  switch (action) {
    case 'DescribeSecurityGroups':
    case 'DescribeSecurityGroupRules':
      return [{ action: `ec2:${action}`, resources: ['*'], context }]
    case 'AuthorizeSecurityGroupIngress': {
      const tagged = [...form.keys()].some((name) => name.startsWith('TagSpecification.'))
      return [
        {
          action: 'ec2:AuthorizeSecurityGroupIngress',
          resources: [groupArn(form.get('GroupId')!), ruleArn('*')],
          context
        },
        // Tags given with the call are authorized as CreateTags on the rule being made.
        ...(tagged
          ? [
              {
                action: 'ec2:CreateTags',
                resources: [ruleArn('*')],
                context: { ...context, 'ec2:CreateAction': 'AuthorizeSecurityGroupIngress' }
              }
            ]
          : [])
      ]
    }
    case 'RevokeSecurityGroupIngress': {
      const ruleIds = [...form.entries()]
        .filter(([name]) => name.startsWith('SecurityGroupRuleId.'))
        .map(([, id]) => ruleArn(id))
      return [
        {
          action: 'ec2:RevokeSecurityGroupIngress',
          resources: [groupArn(form.get('GroupId')!), ...ruleIds],
          context
        }
      ]
    }
  }
  throw new Error(`EC2 request not modelled: ${action}`)
}

function lambdaRequests(request: Recorded, region: string): IamRequest[] {
  const url = new URL(request.url, 'http://lambda.local')
  const match = url.pathname.match(
    /^\/2015-03-31\/functions\/([^/]+)\/(invocations|configuration)$/
  )
  if (!match) throw new Error(`Lambda request not modelled: ${request.method} ${request.url}`)
  const name = decodeURIComponent(match[1]!)
  const base = name.startsWith('arn:')
    ? name
    : `arn:aws:lambda:${region}:${ACCOUNT}:function:${name}`
  const qualifier = url.searchParams.get('Qualifier')
  return [
    {
      action:
        match[2] === 'invocations' ? 'lambda:InvokeFunction' : 'lambda:GetFunctionConfiguration',
      resources: [qualifier ? `${base}:${qualifier}` : base],
      context: { 'aws:RequestedRegion': region }
    }
  ]
}

/** The IAM requests behind one recorded AWS request. */
export function iamRequestsOf(request: Recorded): IamRequest[] {
  const { region, service } = credentialScope(request)
  if (service === 's3') return s3Requests(request, region)
  if (service === 'ec2') return ec2Requests(request, region)
  if (service === 'lambda') return lambdaRequests(request, region)
  throw new Error(`service ${service} not modelled`)
}
