// infra/github-oidc.yaml deployed into moto_server's CloudFormation, and each role it makes used
// for what it is for: the bundled actions run with the role's session credentials while moto
// enforces IAM, and the calls they send are recorded and checked against the role's policies.
//
// What moto_server 5.2 enforces (moto/iam/access_control.py, moto/core/authorization.py) and
// how this test fills the gaps:
// - S3: action and resource (bucket or bucket/key ARN); DeleteObjects is checked as
//   s3:DeleteObject on the bucket ARN, not per key as S3 does. A query value holding "/" (the
//   ListObjectsV2 Prefix "dags/") fails moto's signature check, so deploy-dags runs under
//   enforcement only against a whole-bucket role; the prefix-scoped role's runs are recorded with
//   enforcement paused and every call judged by the role's own policies.
// - EC2: the action only; every call is checked against Resource "*", so a statement scoped to
//   a group ARN never matches in moto.
// - Lambda: nothing usable (action names are operation names, lambda:Invoke; GET requests fail
//   the signature check): runs are recorded with enforcement paused and judged.
// - Conditions: only StringEquals on keys moto fills (sts:ExternalId); others pass unevaluated.
// - AssumeRoleWithWebIdentity: neither the token nor the trust policy is checked.
// So each role also gets `moto-resource-view` (its EC2 grants on Resource "*", and s3:DeleteObject
// on the bucket ARN) for moto to judge the action lists, and every call moto recorded
// (MOTO_ENABLE_RECORDING) is judged by the role's own policies with resources and conditions
// (__tests__/support/iam-policy.ts).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2'
import {
  CreateOpenIDConnectProviderCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  PutRolePolicyCommand
} from '@aws-sdk/client-iam'
import {
  GetBucketVersioningCommand,
  ListObjectVersionsCommand,
  GetObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client
} from '@aws-sdk/client-s3'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createEchoFunction, useLambdaWithoutDocker } from '../../test-support/lambda.mjs'
import { loadTemplate, resolveTemplate } from '../../test-support/cloudformation.mjs'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { nodeRuntimes, runAction, type ActionRun } from '../../test-support/runner.mjs'
import { makeClientKey, startSshd, type Sshd } from '../../test-support/sshd.mjs'
import {
  evaluate,
  type IamRequest,
  type PolicyDocument,
  type Statement
} from '../support/iam-policy.js'
import { ACCOUNT, headerOf, iamRequestsOf } from '../support/iam-requests.js'
import { bucketContents, createBucket, removeWorkspaces, s3For, workspaceWith } from './helpers.js'
import { createGroup, earlierRunTags, ingressRuleIds, ruleWith } from './security-groups.js'

const TEMPLATE = resolve(import.meta.dirname, '..', '..', 'infra', 'github-oidc.yaml')
const REGION = 'us-east-1'
const REPOSITORY = 'octo-org/airflow'
const MWAA_ENVIRONMENT = 'analytics'
const MWAA_EXECUTION_ROLE = `arn:aws:iam::${ACCOUNT}:role/service-role/mwaa-analytics-execution`
const [node24] = nodeRuntimes()
const admin = { accessKeyId: 'testing', secretAccessKey: 'testing' }

interface Role {
  arn: string
  policies: PolicyDocument[]
  trust: PolicyDocument
  env: Record<string, string>
}

interface RecordedCall {
  method: string
  url: string
  headers: Record<string, string>
  body: string
}

let moto: Moto
let workDir: string
let recording: string
let s3: S3Client
let ec2: EC2Client
let iam: IAMClient
let server: Sshd
let privateKey: string
let providerArn: string
let dagBucket: string
let wholeBucket: string
let otherBucket: string
let refreshFunction: { name: string; arn: string }
let otherFunction: { name: string; arn: string }
let appGroup: string
let strangerGroup: string
const roles: Record<string, Role> = {}
const wholeBucketRoles: Record<string, Role> = {}
let wholeBucketResources: string[] = []

/**
 * moto's own switch (`/moto-api/reset-auth`): how many requests go through before IAM is
 * enforced, counted from now. Opened for arranging, closed for the runs.
 */
async function unauthenticatedRequests(count: number | 'inf'): Promise<void> {
  const response = await fetch(`${moto.endpoint}/moto-api/reset-auth`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: String(count)
  })
  if (!response.ok) throw new Error(`moto reset-auth: HTTP ${response.status}`)
}

async function unenforced<T>(work: () => Promise<T>): Promise<T> {
  await unauthenticatedRequests('inf')
  try {
    return await work()
  } finally {
    await unauthenticatedRequests(0)
  }
}

function awsCli(args: string[]): string {
  const result = spawnSync(
    'aws',
    [...args, '--endpoint-url', moto.endpoint, '--region', REGION, '--output', 'json'],
    {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: workDir,
        AWS_ACCESS_KEY_ID: admin.accessKeyId,
        AWS_SECRET_ACCESS_KEY: admin.secretAccessKey,
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null'
      }
    }
  )
  if (result.status !== 0) throw new Error(`aws ${args.slice(0, 2).join(' ')}: ${result.stderr}`)
  return result.stdout
}

/** IAM hands policy documents out URL-encoded. */
const documentOf = (text: string | undefined): PolicyDocument =>
  JSON.parse(text!.startsWith('%7B') ? decodeURIComponent(text!) : text!) as PolicyDocument

/** The grants in the form moto can judge: EC2 ones on Resource "*", DeleteObject on the bucket. */
function motoResourceView(policies: PolicyDocument[]): PolicyDocument | undefined {
  const statements = policies.flatMap((policy) =>
    Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]
  )
  const asList = (value: string | string[] | undefined) =>
    value === undefined ? [] : Array.isArray(value) ? value : [value]
  const view = statements.flatMap((statement): Statement[] => {
    const actions = asList(statement.Action)
    const resources = asList(statement.Resource)
    if (actions.every((action) => action.startsWith('ec2:')) && !resources.includes('*'))
      return [{ Effect: 'Allow', Action: actions, Resource: '*' }]
    if (actions.includes('s3:DeleteObject'))
      return [
        {
          Effect: 'Allow',
          Action: 's3:DeleteObject',
          Resource: resources.map((arn) => arn.slice(0, arn.indexOf('/')))
        }
      ]
    return []
  })
  return view.length === 0 ? undefined : { Version: '2012-10-17', Statement: view }
}

/** configure-aws-credentials' call; unsigned, as on GitHub (moto checks no token). */
async function assumeWithWebIdentity(roleArn: string): Promise<Record<string, string>> {
  const response = await fetch(`${moto.endpoint}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: roleArn,
      RoleSessionName: 'airflow-dags-4242',
      WebIdentityToken: 'header.payload.signature'
    }).toString()
  })
  const xml = await response.text()
  const field = (name: string) => xml.match(new RegExp(`<${name}>([^<]+)</${name}>`))?.[1]
  if (!response.ok || field('SessionToken') === undefined)
    throw new Error(`AssumeRoleWithWebIdentity ${roleArn}: HTTP ${response.status}`)
  return {
    AWS_ACCESS_KEY_ID: field('AccessKeyId')!,
    AWS_SECRET_ACCESS_KEY: field('SecretAccessKey')!,
    AWS_SESSION_TOKEN: field('SessionToken')!,
    AWS_REGION: REGION
  }
}

async function loadRole(arn: string): Promise<Role> {
  const name = arn.slice(arn.lastIndexOf('/') + 1)
  const { Role: role } = await iam.send(new GetRoleCommand({ RoleName: name }))
  const { PolicyNames = [] } = await iam.send(new ListRolePoliciesCommand({ RoleName: name }))
  const policies: PolicyDocument[] = []
  for (const policyName of PolicyNames) {
    const { PolicyDocument: text } = await iam.send(
      new GetRolePolicyCommand({ RoleName: name, PolicyName: policyName })
    )
    policies.push(documentOf(text))
  }
  const view = motoResourceView(policies)
  if (view !== undefined)
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: name,
        PolicyName: 'moto-resource-view',
        PolicyDocument: JSON.stringify(view)
      })
    )
  return {
    arn,
    policies,
    trust: documentOf(role!.AssumeRolePolicyDocument),
    env: await assumeWithWebIdentity(arn)
  }
}

function stackParameters(parameters: Record<string, string>): string[] {
  // The CLI's shorthand splits on commas: a list value escapes them.
  return Object.entries(parameters).map(
    ([key, value]) => `ParameterKey=${key},ParameterValue=${value.replace(/,/g, '\\,')}`
  )
}

/** Every call moto received so far with `role`'s session, each with the role's answer. */
function judgedCalls(role: Role, since = 0): { request: IamRequest; decision: string }[] {
  const lines = existsSync(recording) ? readFileSync(recording, 'utf8').split('\n') : []
  return lines
    .slice(since)
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as RecordedCall & { body_encoded: boolean })
    .filter((call) =>
      (headerOf(call, 'authorization') ?? '').includes(`Credential=${role.env.AWS_ACCESS_KEY_ID}/`)
    )
    .map((call) => ({
      ...call,
      body: call.body_encoded
        ? Buffer.from(call.body, 'base64').toString('utf8')
        : (call.body ?? '')
    }))
    .flatMap((call) => iamRequestsOf(call))
    .map((request) => ({ request, decision: evaluate(role.policies, request) }))
}

/** Where the recording stands now, to judge only what follows. */
const recordedSoFar = () =>
  existsSync(recording) ? readFileSync(recording, 'utf8').split('\n').length - 1 : 0

const notAllowed = (calls: { decision: string }[]) =>
  calls.filter((call) => call.decision !== 'allowed')

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'oidc-roles-'))
  recording = join(workDir, 'moto-recording.jsonl')
  moto = await startMoto({
    env: {
      INITIAL_NO_AUTH_ACTION_COUNT: '0',
      MOTO_ENABLE_RECORDING: 'True',
      MOTO_RECORDER_FILEPATH: recording
    }
  })
  const key = makeClientKey(workDir)
  privateKey = key.privateKey
  server = await startSshd({ authorizedKeys: [key.publicKey] })
  s3 = s3For(moto.endpoint)
  ec2 = new EC2Client({ endpoint: moto.endpoint, region: REGION, credentials: admin })
  iam = new IAMClient({ endpoint: moto.endpoint, region: REGION, credentials: admin })
  await unenforced(async () => {
    await useLambdaWithoutDocker(moto.endpoint)
    refreshFunction = await createEchoFunction(moto.endpoint, `refresh-workers-${process.pid}`)
    otherFunction = await createEchoFunction(moto.endpoint, `billing-${process.pid}`)
    dagBucket = await createBucket(s3, 'dags')
    wholeBucket = await createBucket(s3, 'dags-only')
    otherBucket = await createBucket(s3, 'reports')
    const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!
    appGroup = await createGroup(ec2, vpcId, 'app')
    strangerGroup = await createGroup(ec2, vpcId, 'database')
    // moto's CloudFormation has no AWS::IAM::OIDCProvider: the stacks trust this one.
    const provider = await iam.send(
      new CreateOpenIDConnectProviderCommand({
        Url: 'https://token.actions.githubusercontent.com',
        ClientIDList: ['sts.amazonaws.com']
      })
    )
    providerArn = provider.OpenIDConnectProviderArn!
    awsCli([
      'cloudformation',
      'create-stack',
      '--stack-name',
      'github-oidc',
      '--template-body',
      `file://${TEMPLATE}`,
      '--capabilities',
      'CAPABILITY_IAM',
      '--parameters',
      ...stackParameters({
        Repository: REPOSITORY,
        DeployEnvironment: 'production',
        CreateOidcProvider: 'false',
        ExistingOidcProviderArn: providerArn,
        DagBucket: dagBucket,
        DagPrefix: 'dags',
        DagBucketKmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
        RefreshFunctionArn: refreshFunction.arn,
        SecurityGroupIds: `${appGroup},sg-0abc0abc0abc0abc0`,
        MwaaEnvironment: MWAA_ENVIRONMENT,
        MwaaExecutionRoleArn: MWAA_EXECUTION_ROLE
      })
    ])
    const [stack] = JSON.parse(
      awsCli(['cloudformation', 'describe-stacks', '--stack-name', 'github-oidc'])
    ).Stacks as { StackStatus: string; Outputs?: { OutputKey: string; OutputValue: string }[] }[]
    if (stack?.StackStatus !== 'CREATE_COMPLETE') throw new Error(`stack: ${stack?.StackStatus}`)
    const outputs = Object.fromEntries(
      (stack.Outputs ?? []).map((output) => [output.OutputKey, output.OutputValue])
    )
    for (const name of ['DagDeployRole', 'DagPlanRole', 'AppDeployRole', 'SweepRole']) {
      const arn = outputs[`${name}Arn`]
      if (arn === undefined) throw new Error(`stack output ${name}Arn is missing`)
      roles[name] = await loadRole(arn)
    }
    // `aws cloudformation deploy` as docs/github-oidc.md gives it, the whole bucket and none of
    // the optional parts: no key, no function, no security groups (so no app roles).
    awsCli([
      'cloudformation',
      'deploy',
      '--template-file',
      TEMPLATE,
      '--stack-name',
      'github-oidc-whole-bucket',
      '--capabilities',
      'CAPABILITY_IAM',
      '--parameter-overrides',
      `Repository=${REPOSITORY}`,
      `DagBucket=${wholeBucket}`,
      'DagPrefix=/',
      'CreateOidcProvider=false',
      `ExistingOidcProviderArn=${providerArn}`
    ])
    // moto leaves a stack made through a change set without outputs; its resources name the roles.
    const listed = JSON.parse(
      awsCli([
        'cloudformation',
        'describe-stack-resources',
        '--stack-name',
        'github-oidc-whole-bucket'
      ])
    ).StackResources as { LogicalResourceId?: string; PhysicalResourceId: string }[]
    // moto lists one entry more, without a logical id.
    const named = listed.filter((resource) => resource.LogicalResourceId !== undefined)
    for (const { LogicalResourceId: id, PhysicalResourceId: name } of named) {
      if (id!.endsWith('Role'))
        wholeBucketRoles[id!] = await loadRole(`arn:aws:iam::${ACCOUNT}:role/${name}`)
    }
    wholeBucketResources = named.map((resource) => resource.LogicalResourceId!).sort()
  })
}, 60_000)

afterAll(async () => {
  removeWorkspaces()
  await server?.stop()
  s3?.destroy()
  ec2?.destroy()
  iam?.destroy()
  await moto?.stop()
  if (workDir) rmSync(workDir, { recursive: true, force: true })
})

const run = (action: string, role: Role, inputs: Record<string, string>, workspace?: string) =>
  runAction({
    action,
    node: node24!.path,
    env: role.env,
    inputs: { 'endpoint-url': moto.endpoint, ...inputs },
    ...(workspace ? { workspace } : {})
  })

const failureText = (result: ActionRun) => `${result.errors.join('\n')}\n${result.stdout}`

/** An S3 client with the role's session, for direct calls that moto judges. */
function s3As(role: Role): S3Client {
  return new S3Client({
    endpoint: moto.endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: {
      accessKeyId: role.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: role.env.AWS_SECRET_ACCESS_KEY!,
      sessionToken: role.env.AWS_SESSION_TOKEN!
    }
  })
}

/** A direct call with the role's session, as moto judges it. */
async function s3Put(role: Role, bucket: string, key: string): Promise<string> {
  const client = s3As(role)
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))
    return 'written'
  } catch (error) {
    return (error as Error).name
  } finally {
    client.destroy()
  }
}

describe('the stack', () => {
  it('is created with one role per job, and deploys with the documented command', () => {
    expect(Object.values(roles).map((role) => role.arn)).toEqual([
      expect.stringMatching(/:role\/github-oidc-DagDeployRole-/),
      expect.stringMatching(/:role\/github-oidc-DagPlanRole-/),
      expect.stringMatching(/:role\/github-oidc-AppDeployRole-/),
      expect.stringMatching(/:role\/github-oidc-SweepRole-/)
    ])
    expect(wholeBucketResources).toEqual([
      'DagDeployPolicy',
      'DagDeployRole',
      'DagPlanPolicy',
      'DagPlanRole'
    ])
  })
})

describe('DagDeployRole (deploy-dags.yml)', () => {
  const dagTree = { 'dags/etl.py': '# etl\n', 'dags/sql/load.sql': 'select 1;\n' }

  it('syncs with deletes and verifies under moto enforcement (whole-bucket role)', async () => {
    const role = wholeBucketRoles.DagDeployRole!
    await unenforced(() =>
      s3.send(new PutObjectCommand({ Bucket: wholeBucket, Key: 'retired.py', Body: 'x' }))
    )
    const workspace = workspaceWith(dagTree)
    const since = recordedSoFar()
    const sync = await run(
      'deploy-dags',
      role,
      { bucket: wholeBucket, prefix: '/', 'max-delete-percent': '100' },
      workspace
    )
    expect(sync.errors).toEqual([])
    expect(sync.outputs).toMatchObject({ uploaded: '2', deleted: '1' })
    const verify = await run(
      'deploy-dags',
      role,
      { bucket: wholeBucket, prefix: '/', verify: 'true' },
      workspace
    )
    expect(verify.errors).toEqual([])
    expect(verify.outputs).toMatchObject({ changed: 'false', drifted: '0' })
    const calls = judgedCalls(role, since)
    expect(new Set(calls.map((call) => call.request.action))).toEqual(
      new Set(['s3:ListBucket', 's3:GetObject', 's3:PutObject', 's3:DeleteObject'])
    )
    expect(notAllowed(calls)).toEqual([])
  })

  it('syncs with deletes and verifies on its prefix, every call allowed by its policies', async () => {
    const role = roles.DagDeployRole!
    await unenforced(async () => {
      await s3.send(new PutObjectCommand({ Bucket: dagBucket, Key: 'dags/retired.py', Body: 'x' }))
      await s3.send(new PutObjectCommand({ Bucket: dagBucket, Key: 'reports/q1.csv', Body: 'y' }))
    })
    const workspace = workspaceWith(dagTree)
    const since = recordedSoFar()
    // moto cannot check the signature of a listing with Prefix "dags/": recorded, then judged.
    const [sync, verify] = await unenforced(async () => [
      await run('deploy-dags', role, { bucket: dagBucket, 'max-delete-percent': '100' }, workspace),
      await run('deploy-dags', role, { bucket: dagBucket, verify: 'true' }, workspace)
    ])
    expect(sync!.errors).toEqual([])
    expect(sync!.outputs).toMatchObject({ uploaded: '2', deleted: '1' })
    expect(verify!.outputs).toMatchObject({ changed: 'false', drifted: '0' })
    expect(Object.keys(await unenforced(() => bucketContents(s3, dagBucket))).sort()).toEqual([
      'dags/.deploy-dags-manifest.json',
      'dags/etl.py',
      'dags/sql/load.sql',
      'reports/q1.csv'
    ])
    const calls = judgedCalls(role, since)
    expect(new Set(calls.map((call) => call.request.action))).toEqual(
      new Set(['s3:ListBucket', 's3:GetObject', 's3:PutObject', 's3:DeleteObject'])
    )
    expect(notAllowed(calls)).toEqual([])
  })

  it('refreshes the workers with invoke-lambda, on the one function only', async () => {
    const role = roles.DagDeployRole!
    const since = recordedSoFar()
    const refresh = await unenforced(() =>
      run('invoke-lambda', role, {
        'function-name': refreshFunction.name,
        qualifier: 'live',
        payload: '{"bucket":"dags"}'
      })
    )
    expect(refresh.errors).toEqual([])
    const calls = judgedCalls(role, since)
    expect(calls.map((call) => call.request.action)).toEqual([
      'lambda:GetFunctionConfiguration',
      'lambda:InvokeFunction'
    ])
    expect(notAllowed(calls)).toEqual([])

    const before = recordedSoFar()
    await unenforced(() => run('invoke-lambda', role, { 'function-name': otherFunction.name }))
    const stranger = judgedCalls(role, before)
    expect(stranger.map((call) => call.request.action)).toContain('lambda:InvokeFunction')
    expect(stranger.map((call) => call.decision)).toEqual(stranger.map(() => 'implicitly denied'))
  })

  it('cannot write outside its prefix or to another bucket', async () => {
    const role = roles.DagDeployRole!
    expect(await s3Put(role, dagBucket, 'dags/new.py')).toBe('written')
    expect(await s3Put(role, dagBucket, 'reports/q2.csv')).toBe('AccessDenied')
    expect(await s3Put(role, dagBucket, 'dags-old/legacy.py')).toBe('AccessDenied')
    expect(await s3Put(role, otherBucket, 'dags/etl.py')).toBe('AccessDenied')

    // A deploy to another prefix, recorded with enforcement paused (its listing has a "/" moto
    // cannot sign-check): the role's policies refuse its listing, reads, writes and deletes.
    const since = recordedSoFar()
    await unenforced(() =>
      run(
        'deploy-dags',
        role,
        { bucket: dagBucket, prefix: 'reports', 'max-delete-percent': '100' },
        workspaceWith(dagTree)
      )
    )
    const calls = judgedCalls(role, since)
    expect(new Set(calls.map((call) => call.request.action))).toEqual(
      new Set(['s3:ListBucket', 's3:GetObject', 's3:PutObject', 's3:DeleteObject'])
    )
    expect(notAllowed(calls)).toEqual(calls)
  })
})

describe('DagPlanRole (dags-check.yml)', () => {
  it('plans with a dry run under moto enforcement, and a real deploy is refused', async () => {
    const role = wholeBucketRoles.DagPlanRole!
    const workspace = workspaceWith({ 'dags/etl.py': '# etl, edited in a pull request\n' })
    const since = recordedSoFar()
    const plan = await run(
      'deploy-dags',
      role,
      { bucket: wholeBucket, prefix: '/', 'dry-run': 'true', 'max-delete-percent': '100' },
      workspace
    )
    expect(plan.errors).toEqual([])
    expect(plan.outputs).toMatchObject({ changed: 'true', uploaded: '1' })
    expect(notAllowed(judgedCalls(role, since))).toEqual([])

    const deploy = await run(
      'deploy-dags',
      role,
      { bucket: wholeBucket, prefix: '/', 'max-delete-percent': '100' },
      workspace
    )
    expect(deploy.exitCode).not.toBe(0)
    expect(failureText(deploy)).toMatch(/AccessDenied|access denied/)
    const contents = await unenforced(() => bucketContents(s3, wholeBucket, 'etl.py'))
    expect(contents['etl.py']).toBe('# etl\n')
  })

  it('plans on its prefix with every call allowed by its policies, and may not write', async () => {
    const role = roles.DagPlanRole!
    const since = recordedSoFar()
    const plan = await unenforced(() =>
      run(
        'deploy-dags',
        role,
        { bucket: dagBucket, 'dry-run': 'true', 'max-delete-percent': '100' },
        workspaceWith({ 'dags/etl.py': '# etl, edited\n' })
      )
    )
    expect(plan.errors).toEqual([])
    const calls = judgedCalls(role, since)
    expect(new Set(calls.map((call) => call.request.action))).toEqual(
      new Set(['s3:ListBucket', 's3:GetObject'])
    )
    expect(notAllowed(calls)).toEqual([])
    expect(await s3Put(role, dagBucket, 'dags/etl.py')).toBe('AccessDenied')
  })
})

describe('SweepRole (scheduled sweep-only)', () => {
  it('closes expired rules of the named groups, and cannot open one', async () => {
    const role = roles.SweepRole!
    const leaked = await unenforced(() =>
      ruleWith(
        ec2,
        appGroup,
        '198.51.100.7/32',
        earlierRunTags(new Date(Date.now() - 7_200_000), 600, '11')
      )
    )
    const since = recordedSoFar()
    const sweep = await run('ephemeral-sg-ssh', role, {
      'sweep-only': 'true',
      'security-group-ids': appGroup
    })
    expect(sweep.errors).toEqual([])
    expect(sweep.outputs['swept-rule-ids']).toBe(leaked)
    expect(await unenforced(() => ingressRuleIds(ec2, appGroup))).toEqual([])
    expect(notAllowed(judgedCalls(role, since))).toEqual([])

    const open = await run('ephemeral-sg-ssh', role, {
      'security-group-ids': appGroup,
      ip: '203.0.113.10',
      hosts: `127.0.0.1:${server.port}`,
      username: server.user,
      'private-key': privateKey,
      'known-hosts': server.knownHosts,
      script: 'true'
    })
    expect(open.exitCode).not.toBe(0)
    expect(failureText(open)).toContain(`Opening ${appGroup} failed: access denied (AccessDenied)`)
    expect(await unenforced(() => ingressRuleIds(ec2, appGroup))).toEqual([])
  })
})

describe('AppDeployRole (deploy-app.yml)', () => {
  const deployInputs = (groupId: string) => ({
    'security-group-ids': groupId,
    ip: '203.0.113.10',
    hosts: `127.0.0.1:${server.port}`,
    username: server.user,
    'private-key': privateKey,
    'known-hosts': server.knownHosts,
    script: 'echo deployed-under-role',
    'connect-timeout': '10'
  })

  it('opens its group, deploys over SSH and closes it, every call allowed by its policies', async () => {
    const role = roles.AppDeployRole!
    const since = recordedSoFar()
    const deploy = await run('ephemeral-sg-ssh', role, deployInputs(appGroup))
    expect(deploy.errors).toEqual([])
    expect(deploy.stdout).toContain('deployed-under-role')
    expect(deploy.outputs['rule-ids']).toMatch(/^sgr-\w+$/)
    expect(await unenforced(() => ingressRuleIds(ec2, appGroup))).toEqual([])
    const calls = judgedCalls(role, since)
    expect(calls.map((call) => call.request.action)).toEqual(
      expect.arrayContaining([
        'ec2:AuthorizeSecurityGroupIngress',
        'ec2:CreateTags',
        'ec2:RevokeSecurityGroupIngress'
      ])
    )
    expect(notAllowed(calls)).toEqual([])
  })

  it('may not open a group the stack does not name', async () => {
    // moto lets the run through (it checks EC2 calls against Resource "*"); the role's own
    // policies refuse every call on that group.
    const role = roles.AppDeployRole!
    const since = recordedSoFar()
    await run('ephemeral-sg-ssh', role, deployInputs(strangerGroup))
    const onTheGroup = judgedCalls(role, since).filter((call) =>
      call.request.resources.some((arn) => arn.endsWith(`security-group/${strangerGroup}`))
    )
    expect(onTheGroup.map((call) => call.request.action)).toEqual(
      expect.arrayContaining([
        'ec2:AuthorizeSecurityGroupIngress',
        'ec2:RevokeSecurityGroupIngress'
      ])
    )
    expect(onTheGroup.map((call) => call.decision)).toEqual(
      onTheGroup.map(() => 'implicitly denied')
    )
  })
})

describe('what moto does not evaluate, judged on the deployed documents', () => {
  const subject = (sub: string, aud = 'sts.amazonaws.com', provider = providerArn) => ({
    action: 'sts:AssumeRoleWithWebIdentity',
    resources: [],
    principal: `Federated:${provider}`,
    context: {
      'token.actions.githubusercontent.com:aud': aud,
      'token.actions.githubusercontent.com:sub': sub
    }
  })
  const subjects = {
    deploy: `repo:${REPOSITORY}:environment:production`,
    staging: `repo:${REPOSITORY}:environment:staging`,
    pullRequest: `repo:${REPOSITORY}:pull_request`,
    main: `repo:${REPOSITORY}:ref:refs/heads/main`,
    branch: `repo:${REPOSITORY}:ref:refs/heads/feature`,
    fork: 'repo:someone/airflow:environment:production'
  }

  it.each([
    ['DagDeployRole', 'deploy'],
    ['AppDeployRole', 'deploy'],
    ['DagPlanRole', 'pullRequest'],
    ['SweepRole', 'main']
  ] as const)('%s trusts the %s subject of this repository and nothing else', (name, trusted) => {
    const trust = [roles[name]!.trust]
    for (const [label, sub] of Object.entries(subjects)) {
      expect([label, evaluate(trust, subject(sub))]).toEqual([
        label,
        label === trusted ? 'allowed' : 'implicitly denied'
      ])
    }
    expect(evaluate(trust, subject(subjects[trusted], 'https://github.com/octo-org'))).toBe(
      'implicitly denied'
    )
    const otherProvider = `arn:aws:iam::${ACCOUNT}:oidc-provider/gitlab.com`
    expect(evaluate(trust, subject(subjects[trusted], undefined, otherProvider))).toBe(
      'implicitly denied'
    )
  })

  const keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
  const kms = (action: string, viaService?: string, key = keyArn): IamRequest => ({
    action,
    resources: [key],
    context: viaService === undefined ? {} : { 'kms:ViaService': viaService }
  })
  const viaS3 = `s3.${REGION}.amazonaws.com`

  it('DagDeployRole uses the bucket key only through S3', () => {
    const policies = roles.DagDeployRole!.policies
    expect(evaluate(policies, kms('kms:GenerateDataKey', viaS3))).toBe('allowed')
    expect(evaluate(policies, kms('kms:Decrypt', viaS3))).toBe('allowed')
    expect(evaluate(policies, kms('kms:Decrypt'))).toBe('implicitly denied')
    expect(evaluate(policies, kms('kms:Decrypt', 'ssm.us-east-1.amazonaws.com'))).toBe(
      'implicitly denied'
    )
    expect(
      evaluate(policies, kms('kms:Decrypt', viaS3, keyArn.replace('1234abcd', 'ffffabcd')))
    ).toBe('implicitly denied')
    expect(evaluate(policies, kms('kms:Encrypt', viaS3))).toBe('implicitly denied')
  })

  it('DagPlanRole may only decrypt, through S3, and list only its prefix', () => {
    const policies = roles.DagPlanRole!.policies
    expect(evaluate(policies, kms('kms:Decrypt', viaS3))).toBe('allowed')
    expect(evaluate(policies, kms('kms:GenerateDataKey', viaS3))).toBe('implicitly denied')
    const list = (prefix?: string): IamRequest => ({
      action: 's3:ListBucket',
      resources: [`arn:aws:s3:::${dagBucket}`],
      context: prefix === undefined ? {} : { 's3:prefix': prefix }
    })
    expect(evaluate(policies, list('dags/'))).toBe('allowed')
    expect(evaluate(policies, list('reports/'))).toBe('implicitly denied')
    expect(evaluate(policies, list())).toBe('implicitly denied')
    for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'])
      expect(
        evaluate(policies, { action, resources: [`arn:aws:s3:::${dagBucket}/dags/etl.py`] })
      ).toBe('implicitly denied')
  })

  it('AppDeployRole tags only the rules it opens, in the stack region', () => {
    const policies = roles.AppDeployRole!.policies
    const ruleArn = `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group-rule/*`
    const groupArn = `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/${appGroup}`
    const tag = (context: Record<string, string>, resource = ruleArn): IamRequest => ({
      action: 'ec2:CreateTags',
      resources: [resource],
      context
    })
    expect(evaluate(policies, tag({ 'ec2:CreateAction': 'AuthorizeSecurityGroupIngress' }))).toBe(
      'allowed'
    )
    expect(evaluate(policies, tag({}))).toBe('implicitly denied')
    expect(
      evaluate(policies, tag({ 'ec2:CreateAction': 'AuthorizeSecurityGroupIngress' }, groupArn))
    ).toBe('implicitly denied')
    const authorize = (region: string): IamRequest => ({
      action: 'ec2:AuthorizeSecurityGroupIngress',
      resources: [groupArn, ruleArn],
      context: { 'aws:RequestedRegion': region }
    })
    expect(evaluate(policies, authorize(REGION))).toBe('allowed')
    expect(evaluate(policies, authorize('eu-west-1'))).toBe('implicitly denied')
    for (const action of ['ec2:AuthorizeSecurityGroupEgress', 'ec2:ModifySecurityGroupRules'])
      expect(evaluate(policies, { ...authorize(REGION), action })).toBe('implicitly denied')
  })

  it('SweepRole may revoke in its groups but never authorize or tag', () => {
    const policies = roles.SweepRole!.policies
    const groupArn = (id: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/${id}`
    const request = (action: string, group: string): IamRequest => ({
      action,
      resources: [groupArn(group), `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group-rule/sgr-1`],
      context: { 'aws:RequestedRegion': REGION }
    })
    expect(evaluate(policies, request('ec2:RevokeSecurityGroupIngress', appGroup))).toBe('allowed')
    expect(evaluate(policies, request('ec2:RevokeSecurityGroupIngress', strangerGroup))).toBe(
      'implicitly denied'
    )
    expect(evaluate(policies, request('ec2:AuthorizeSecurityGroupIngress', appGroup))).toBe(
      'implicitly denied'
    )
    expect(evaluate(policies, request('ec2:CreateTags', appGroup))).toBe('implicitly denied')
  })
})

describe('Amazon MWAA (deploy-mwaa), with MwaaEnvironment', () => {
  // moto_server has no MWAA: the airflow and iam:PassRole grants are judged on the deployed
  // documents, over every call deploy-mwaa could make and its near misses; S3 is also called.
  const airflow = `arn:aws:airflow:${REGION}:${ACCOUNT}`
  const ACTIONS = [
    'airflow:GetEnvironment',
    'airflow:UpdateEnvironment',
    'airflow:InvokeRestApi',
    'airflow:CreateEnvironment',
    'airflow:DeleteEnvironment',
    'airflow:ListEnvironments',
    'airflow:CreateWebLoginToken',
    'airflow:CreateCliToken',
    'airflow:PublishMetrics',
    'airflow:TagResource',
    'iam:PassRole',
    's3:GetBucketVersioning',
    's3:PutBucketVersioning',
    's3:ListBucketVersions',
    's3:GetObject',
    's3:GetObjectVersion',
    's3:PutObject',
    's3:DeleteObject',
    's3:DeleteObjectVersion'
  ]
  const resourcesFor = (bucket: string) => [
    `${airflow}:environment/${MWAA_ENVIRONMENT}`,
    `${airflow}:environment/billing`,
    `arn:aws:airflow:eu-west-1:${ACCOUNT}:environment/${MWAA_ENVIRONMENT}`,
    ...['Viewer', 'User', 'Op', 'Admin'].map(
      (airflowRole) => `${airflow}:role/${MWAA_ENVIRONMENT}/${airflowRole}`
    ),
    `${airflow}:role/billing/Viewer`,
    `arn:aws:s3:::${bucket}`,
    ...['requirements.txt', 'plugins.zip', 'startup.sh', 'constraints.txt', 'mwaa/plugins.zip'].map(
      (key) => `arn:aws:s3:::${bucket}/${key}`
    ),
    `arn:aws:s3:::${otherBucket}/requirements.txt`,
    MWAA_EXECUTION_ROLE,
    `arn:aws:iam::${ACCOUNT}:role/admin`
  ]
  const services = ['airflow.amazonaws.com', 'ec2.amazonaws.com', undefined]

  /** Every (action, resource[, passed to]) of the universe above that the policies allow. */
  function allowedOf(policies: PolicyDocument[], bucket: string): string[] {
    return ACTIONS.flatMap((action) =>
      resourcesFor(bucket).flatMap((resource) =>
        (action === 'iam:PassRole' ? services : [undefined]).flatMap((service) => {
          const request: IamRequest = {
            action,
            resources: [resource],
            context: service === undefined ? {} : { 'iam:PassedToService': service }
          }
          if (evaluate(policies, request) !== 'allowed') return []
          return [
            service === undefined ? `${action} ${resource}` : `${action} ${resource} → ${service}`
          ]
        })
      )
    )
  }

  const artifacts = (bucket: string, actions: string[]) =>
    actions.flatMap((action) =>
      ['requirements.txt', 'plugins.zip', 'startup.sh'].map(
        (key) => `${action} arn:aws:s3:::${bucket}/${key}`
      )
    )

  it('DagDeployRole may do exactly what deploy-mwaa does, and on nothing else', () => {
    expect(allowedOf(roles.DagDeployRole!.policies, dagBucket).sort()).toEqual(
      [
        `airflow:GetEnvironment ${airflow}:environment/${MWAA_ENVIRONMENT}`,
        `airflow:UpdateEnvironment ${airflow}:environment/${MWAA_ENVIRONMENT}`,
        `airflow:InvokeRestApi ${airflow}:role/${MWAA_ENVIRONMENT}/Viewer`,
        `s3:GetBucketVersioning arn:aws:s3:::${dagBucket}`,
        ...artifacts(dagBucket, ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject']),
        `iam:PassRole ${MWAA_EXECUTION_ROLE} → airflow.amazonaws.com`
      ].sort()
    )
  })

  it('DagPlanRole may read the environment and its files, and never update, upload or pass a role', () => {
    expect(allowedOf(roles.DagPlanRole!.policies, dagBucket).sort()).toEqual(
      [
        `airflow:GetEnvironment ${airflow}:environment/${MWAA_ENVIRONMENT}`,
        `s3:GetBucketVersioning arn:aws:s3:::${dagBucket}`,
        ...artifacts(dagBucket, ['s3:GetObject', 's3:GetObjectVersion'])
      ].sort()
    )
  })

  it('both roles may list the versions of exactly the environment files, for a key not there yet', () => {
    for (const name of ['DagDeployRole', 'DagPlanRole']) {
      const listing = (prefix: string) =>
        evaluate(roles[name]!.policies, {
          action: 's3:ListBucketVersions',
          resources: [`arn:aws:s3:::${dagBucket}`],
          context: { 's3:prefix': prefix }
        })
      expect([name, listing('requirements.txt'), listing('startup.sh')]).toEqual([
        name,
        'allowed',
        'allowed'
      ])
      for (const other of ['', 'dags/', 'requirements', 'constraints.txt']) {
        expect([name, other, listing(other)]).toEqual([name, other, 'implicitly denied'])
      }
    }
  })

  it('the roles make the S3 calls under moto enforcement: only the deploy role uploads, only the files', async () => {
    await unenforced(() =>
      s3.send(
        new PutBucketVersioningCommand({
          Bucket: dagBucket,
          VersioningConfiguration: { Status: 'Enabled' }
        })
      )
    )
    const deploy = s3As(roles.DagDeployRole!)
    const plan = s3As(roles.DagPlanRole!)
    try {
      for (const client of [deploy, plan]) {
        const versioning = await client.send(new GetBucketVersioningCommand({ Bucket: dagBucket }))
        expect(versioning.Status).toBe('Enabled')
      }
      const put = await deploy.send(
        new PutObjectCommand({
          Bucket: dagBucket,
          Key: 'requirements.txt',
          Body: 'apache-airflow-providers-amazon\n'
        })
      )
      expect(put.VersionId).toEqual(expect.any(String))
      for (const client of [deploy, plan]) {
        const listed = await client.send(
          new ListObjectVersionsCommand({
            Bucket: dagBucket,
            Prefix: 'requirements.txt',
            MaxKeys: 1
          })
        )
        expect(listed.Versions?.[0]?.VersionId).toBe(put.VersionId)
        const read = await client.send(
          new GetObjectCommand({
            Bucket: dagBucket,
            Key: 'requirements.txt',
            VersionId: put.VersionId
          })
        )
        expect(await read.Body!.transformToString()).toBe('apache-airflow-providers-amazon\n')
      }
      expect(await s3Put(roles.DagDeployRole!, dagBucket, 'constraints.txt')).toBe('AccessDenied')
      expect(await s3Put(roles.DagPlanRole!, dagBucket, 'requirements.txt')).toBe('AccessDenied')
      expect(await s3Put(roles.DagPlanRole!, dagBucket, 'plugins.zip')).toBe('AccessDenied')
    } finally {
      deploy.destroy()
      plan.destroy()
    }
  })

  it('without MwaaEnvironment nothing of MWAA is granted', () => {
    expect(wholeBucketResources.filter((name) => /mwaa/i.test(name))).toEqual([])
    for (const name of ['DagDeployRole', 'DagPlanRole']) {
      const allowed = allowedOf(wholeBucketRoles[name]!.policies, wholeBucket)
      // The whole-bucket role syncs every key of its bucket, these among them; nothing more.
      expect([
        name,
        allowed.filter((grant) => !/^s3:(GetObject|PutObject|DeleteObject) /.test(grant))
      ]).toEqual([name, []])
      expect(JSON.stringify(wholeBucketRoles[name]!.policies)).not.toMatch(
        /airflow|iam:|Versioning|ObjectVersion/
      )
    }
    // On a prefix, the stack's defaults grant none of the environment's files either.
    const stack = resolveTemplate(
      loadTemplate(TEMPLATE),
      { Repository: REPOSITORY, DagBucket: 'airflow-analytics' },
      'github-oidc'
    ) as {
      resources: Record<string, { Type: string; Properties: { PolicyDocument?: PolicyDocument } }>
    }
    const documents = Object.values(stack.resources).flatMap((resource) =>
      resource.Properties.PolicyDocument === undefined ? [] : [resource.Properties.PolicyDocument]
    )
    expect(documents.length).toBeGreaterThan(0)
    expect(Object.keys(stack.resources).filter((name) => /mwaa/i.test(name))).toEqual([])
    expect(allowedOf(documents, 'airflow-analytics')).toEqual([])
  })

  it('follows the parameters: another Airflow role and other keys, and no plan role without pull_request', () => {
    const stack = resolveTemplate(
      loadTemplate(TEMPLATE),
      {
        Repository: REPOSITORY,
        DagBucket: dagBucket,
        MwaaEnvironment: MWAA_ENVIRONMENT,
        MwaaExecutionRoleArn: MWAA_EXECUTION_ROLE,
        MwaaAirflowRole: 'User',
        MwaaPluginsKey: 'mwaa/plugins.zip',
        PlanTrust: 'none'
      },
      'github-oidc'
    ) as { resources: Record<string, { Properties: { PolicyDocument?: PolicyDocument } }> }
    expect(Object.keys(stack.resources).filter((name) => /Mwaa/.test(name))).toEqual([
      'DagDeployMwaaPolicy'
    ])
    const policies = [stack.resources.DagDeployMwaaPolicy!.Properties.PolicyDocument!]
    const allowed = allowedOf(policies, dagBucket)
    expect(allowed.filter((grant) => grant.startsWith('airflow:InvokeRestApi'))).toEqual([
      `airflow:InvokeRestApi ${airflow}:role/${MWAA_ENVIRONMENT}/User`
    ])
    expect(allowed.filter((grant) => grant.startsWith('s3:PutObject')).sort()).toEqual(
      [
        `s3:PutObject arn:aws:s3:::${dagBucket}/mwaa/plugins.zip`,
        `s3:PutObject arn:aws:s3:::${dagBucket}/requirements.txt`,
        `s3:PutObject arn:aws:s3:::${dagBucket}/startup.sh`
      ].sort()
    )
  })
})
