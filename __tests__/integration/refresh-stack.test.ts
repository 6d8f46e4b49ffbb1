// The worker refresh stack against real servers: the SSM document's command run as the SSM agent
// would (the stack's settings and the values from documentParameters substituted) into a temporary
// folder standing in for a worker, against moto S3 filled by the deploy-dags action; the template
// installed into moto's CloudFormation, once with the install guide's own commands; and the
// function's role, copied from the deployed stack, used against a moto that enforces IAM policies.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand
} from '@aws-sdk/client-iam'
import {
  GetFunctionConcurrencyCommand,
  GetFunctionConfigurationCommand,
  GetPolicyCommand,
  LambdaClient
} from '@aws-sdk/client-lambda'
import { spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Env } from '../../src/refresh-workers/config.js'
import { DocumentParameter, documentParameters } from '../../src/refresh-workers/document.js'
import { parseSyncReport } from '../../src/refresh-workers/sync-report.js'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import {
  ACCOUNT,
  REGION,
  loadTemplate,
  resolveTemplate
} from '../../test-support/cloudformation.mjs'
import { evaluate, type IamRequest, type Statement } from '../support/iam-policy.js'
import { parse } from 'yaml'
import {
  createBucket,
  credentials,
  deployDagFiles,
  filesUnder,
  removeWorkspaces,
  requireAwsCli,
  s3For,
  workerEnv
} from './helpers.js'

const template = loadTemplate()
const scratch: string[] = []
const clients: { destroy(): void }[] = []
let moto: Moto
let s3: S3Client

beforeAll(async () => {
  requireAwsCli()
  moto = await startMoto()
  s3 = s3For(moto.endpoint)
})
afterAll(async () => {
  removeWorkspaces()
  for (const folder of scratch) rmSync(folder, { recursive: true, force: true })
  for (const client of clients) client.destroy()
  s3?.destroy()
  await moto?.stop()
})

function tempFolder(name: string): string {
  const folder = mkdtempSync(join(tmpdir(), `${name}-`))
  scratch.push(folder)
  return folder
}

const deploy = (bucket: string, files: Record<string, string>, prefix = 'dags') =>
  deployDagFiles(moto.endpoint, bucket, files, { prefix })

// --- The document's command on a worker ----------------------------------------------------------

type Content = {
  parameters: Record<
    string,
    { default?: string; allowedPattern?: string; allowedValues?: string[] }
  >
  mainSteps: { inputs: { runCommand: string[] } }[]
}

/** The stack's settings the document is written with. */
type Stack = { bucket: string; folder: string; prefix?: string; start?: string }

function stackParameters(stack: Stack): Record<string, string> {
  return {
    Mode: 'ssm',
    DagBucket: stack.bucket,
    DagPrefix: stack.prefix ?? 'dags',
    WorkerGroups: 'workers',
    WorkerDagFolder: stack.folder,
    ...(stack.start !== undefined ? { WorkerStartCommand: stack.start } : {})
  }
}

/** The document as the stack stores it: CloudFormation's Fn::Sub done. */
function storedDocument(parameters: Record<string, string>): Content {
  return resolveTemplate(template, parameters).resources.SyncDocument!.Properties
    .Content as unknown as Content
}

/**
 * The command text as the agent gets it: each value sent checked as SSM checks it, then every
 * {{ Name }} replaced by its value or default.
 */
function commandFor(stack: Stack, values: Record<string, string[]>): string {
  const document = storedDocument(stackParameters(stack))
  for (const [name, [value = '']] of Object.entries(values)) {
    const declared = document.parameters[name]
    if (declared === undefined) throw new Error(`InvalidParameters: the document has no ${name}`)
    const { allowedPattern, allowedValues } = declared
    if (allowedPattern !== undefined && !new RegExp(allowedPattern).test(value)) {
      throw new Error(`InvalidParameters: ${name} does not match ${allowedPattern}`)
    }
    if (allowedValues !== undefined && !allowedValues.includes(value)) {
      throw new Error(`InvalidParameters: ${name} is none of ${allowedValues.join(', ')}`)
    }
  }
  return document.mainSteps[0]!.inputs.runCommand.join('\n').replace(
    /\{\{ *(\w+) *\}\}/g,
    (_, name: string) => {
      const value = values[name]?.[0] ?? document.parameters[name]?.default
      if (value === undefined) throw new Error(`no value for the document parameter ${name}`)
      return value
    }
  )
}

/** The agent runs the command with sh: bash here, and dash (Debian's sh) where asked. */
function runDocument(
  stack: Stack,
  values: Record<string, string[]>,
  shell: 'bash' | 'sh' = 'bash'
) {
  const run = spawnSync(shell, ['-c', commandFor(stack, values)], {
    env: workerEnv(moto.endpoint),
    encoding: 'utf8',
    timeout: 60_000
  })
  return { code: run.status, stdout: run.stdout, stderr: run.stderr }
}

const dags = {
  'etl_daily.py': 'from airflow import DAG\n# v1\n',
  'helpers/common.py': 'def helper():\n    return 1\n',
  'reports/q1 summary.sql': 'select 1;\n'
}

describe("the document's command, run as the agent runs it", () => {
  it('converges the DAG folder to the prefix, adds and deletes, and reports the hashes asked for', async () => {
    const bucket = await createBucket(s3, 'doc')
    const folder = join(tempFolder('worker'), 'dags')
    await deploy(bucket, dags)
    const first = runDocument(
      { bucket, folder },
      documentParameters(['etl_daily.py', 'missing.py'], false)
    )
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(filesUnder(folder)).toEqual(dags)
    const report = parseSyncReport(first.stdout)
    expect(report).toMatchObject({ downloaded: 3, deleted: 0, failed: 0 })

    const changed: Record<string, string> = { ...dags, 'etl_daily.py': 'v2\n' }
    delete changed['helpers/common.py']
    await deploy(bucket, changed)
    writeFileSync(join(folder, 'stray.py'), 'x = 1\n')
    const second = runDocument({ bucket, folder }, documentParameters([], true))
    expect(second.code).toBe(0)
    expect(filesUnder(folder)).toEqual(changed)
    expect(parseSyncReport(second.stdout)).toMatchObject({ downloaded: 1, deleted: 2 })
    // StartWorker yes with no start command set at install runs nothing more.
    expect(second.stdout).not.toContain('running the start command')
  })

  it('runs the start command only after a successful sync with StartWorker yes, and ends with its status', async () => {
    const bucket = await createBucket(s3, 'doc')
    const root = tempFolder('worker')
    const folder = join(root, 'dags')
    const marker = join(root, 'started')
    await deploy(bucket, dags)
    // What the start command sees is the synced folder: it lists it into the marker.
    const start = `find '${folder}' -type f | sort > '${marker}'\necho "it's started"\nexit 7`
    const run = runDocument({ bucket, folder, start }, documentParameters([], true), 'sh')
    expect(run.code).toBe(7)
    expect(run.stdout).toContain("it's started")
    expect(readFileSync(marker, 'utf8')).toBe(
      `${Object.keys(dags)
        .map((path) => join(folder, path))
        .sort()
        .join('\n')}\n`
    )

    // A sync of a running worker (StartWorker no) does not run it.
    rmSync(marker)
    const deploySync = runDocument({ bucket, folder, start }, documentParameters([], false))
    expect(deploySync.code).toBe(0)
    expect(existsSync(marker)).toBe(false)
  })

  it.each(['bash', 'sh'] as const)(
    "%s: runs the stack's start command verbatim and syncs its folder from the bucket root",
    async (shell) => {
      const bucket = await createBucket(s3, 'doc')
      const root = tempFolder('worker')
      // Quotes and a blank in the folder: it reaches the sync as one path.
      const folder = join(root, "the dag's folder")
      const marker = join(root, 'started')
      const ran = join(root, 'interpreted')
      await deploy(bucket, { 'etl_daily.py': dags['etl_daily.py'] }, '/')
      // Were the command read as shell text once more, the $(...) inside quotes would run, and
      // SSM would fill in the {{ }}.
      const start = [
        `printf '%s\\n' '$(touch ${ran}) "{{ StartWorker }}" {{ReportPaths}}' > '${marker}'`,
        `printf '%s\\n' "it's $(printf '%s' ran) in $PWD" >> '${marker}'`
      ].join('\n')
      const run = runDocument(
        { bucket, folder, prefix: '/', start },
        documentParameters([], true),
        shell
      )
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      expect(filesUnder(folder)).toEqual({ 'etl_daily.py': dags['etl_daily.py'] })
      const lines = readFileSync(marker, 'utf8').split('\n')
      expect(lines[0]).toBe(`$(touch ${ran}) "{{ StartWorker }}" {{ReportPaths}}`)
      expect(lines[1]).toMatch(/^it's ran in \//)
      expect(existsSync(ran)).toBe(false)
    }
  )

  it('a failed sync ends the command with the sync status; the start command never runs', async () => {
    const root = tempFolder('worker')
    const marker = join(root, 'started')
    const stack = {
      bucket: 'no-such-bucket-for-refresh',
      folder: join(root, 'dags'),
      start: `touch '${marker}'`
    }
    const run = runDocument(stack, documentParameters([], true), 'sh')
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^sync-dags: cannot list s3:\/\/no-such-bucket-for-refresh\/dags\//m)
    expect(existsSync(marker)).toBe(false)
  })

  it('takes no bucket, prefix, folder or command from the sender, and checks what it takes', () => {
    const root = tempFolder('worker')
    const stack = { bucket: 'b-1', folder: join(root, 'dags'), start: 'true' }
    const valid = documentParameters([], true)
    for (const [name, value] of [
      ['Bucket', 'other-bucket'],
      ['Prefix', ''],
      ['DagFolder', Buffer.from('/etc').toString('base64')],
      ['StartCommand', Buffer.from('id').toString('base64')]
    ]) {
      expect(() => commandFor(stack, { ...valid, [name!]: [value!] })).toThrow(
        `InvalidParameters: the document has no ${name}`
      )
    }
    expect(() =>
      commandFor(stack, { ...valid, [DocumentParameter.StartWorker]: ['true'] })
    ).toThrow('StartWorker is none of no, yes')
    expect(() =>
      commandFor(stack, { ...valid, [DocumentParameter.ReportPaths]: ['not base64!'] })
    ).toThrow('ReportPaths does not match')
  })

  it('refuses ReportPaths that pass the pattern but are not base64, before anything runs', () => {
    const root = tempFolder('worker')
    const stack = { bucket: 'b-1', folder: join(root, 'dags'), start: `touch '${root}/started'` }
    const run = runDocument(stack, { ...documentParameters([], true), ReportPaths: ['QQ'] }, 'sh')
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('the ReportPaths parameter is not valid base64')
    expect(readdirSync(root)).toEqual([])
  })
})

// --- The stack in moto's CloudFormation ------------------------------------------------------------

type Keys = { id: string; secret: string; token?: string }
type Call = [service: string, operation: string, parameters?: Record<string, unknown>]
type Answer = { error?: string; message?: string; [key: string]: unknown }

// CloudFormation, STS, EventBridge and the probes of many services go through botocore, with the
// Python the AWS CLI runs on (so botocore is there), several calls in one process.
const awsPython = (() => {
  const cli = spawnSync('sh', ['-c', 'command -v aws'], { encoding: 'utf8' }).stdout.trim()
  const shebang = cli === '' ? '' : readFileSync(cli, 'utf8').split('\n')[0]!
  return /^#!\S*python/.test(shebang) ? shebang.slice(2).trim() : 'python3'
})()

const CALLS_SCRIPT = `
import json, sys
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
request = json.load(sys.stdin)
session = botocore.session.get_session()
answers = []
for service, operation, parameters in request["calls"]:
    client = session.create_client(
        service, endpoint_url=request["endpoint"], region_name=request["region"],
        aws_access_key_id=request["id"], aws_secret_access_key=request["secret"],
        aws_session_token=request.get("token"),
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20))
    try:
        answer = client._make_api_call(operation, parameters)
        answer.pop("Body", None)
        answer.pop("ResponseMetadata", None)
    except ClientError as error:
        answer = {"error": error.response["Error"].get("Code"), "message": error.response["Error"].get("Message")}
    answers.append(answer)
print(json.dumps(answers, default=str))
`

/** Each call's answer, or its error code, in order. */
function awsCalls(endpoint: string, keys: Keys, calls: Call[]): Answer[] {
  const run = spawnSync(awsPython, ['-c', CALLS_SCRIPT], {
    input: JSON.stringify({
      endpoint,
      region: REGION,
      ...keys,
      calls: calls.map(([service, operation, parameters]) => [service, operation, parameters ?? {}])
    }),
    env: {
      PATH: process.env.PATH ?? '',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null'
    },
    encoding: 'utf8',
    timeout: 30_000
  })
  if (run.status !== 0) throw new Error(`botocore calls failed: ${run.stderr.slice(-2000)}`)
  return JSON.parse(run.stdout) as Answer[]
}

/** One call's answer; an error answer throws. */
function awsCall(endpoint: string, keys: Keys, call: Call): Answer {
  const [answer] = awsCalls(endpoint, keys, [call])
  if (answer?.error !== undefined) {
    throw new Error(`${call[0]} ${call[1]} failed: ${answer.error} ${answer.message}`)
  }
  return answer!
}

const testingKeys = { id: 'testing', secret: 'testing' }

/** The function's bundle, or a stand-in module where this checkout has not built it. */
function codeFolder(): string {
  const built = join(process.cwd(), 'dist', 'refresh-workers')
  if (existsSync(join(built, 'index.js'))) return built
  const folder = tempFolder('function')
  writeFileSync(join(folder, 'index.js'), 'export const handler = async () => ({ ok: true })\n')
  writeFileSync(join(folder, 'package.json'), '{"type":"module"}\n')
  return folder
}

/** What `aws cloudformation package` does for Code: a zip of the folder, uploaded to S3. */
async function uploadCode(
  client: S3Client,
  bucket: string
): Promise<{ S3Bucket: string; S3Key: string }> {
  const folder = codeFolder()
  const zip = join(tempFolder('package'), 'function.zip')
  // Python's zipfile, since a machine may lack the zip program.
  const zipped = spawnSync(awsPython, ['-m', 'zipfile', '-c', zip, ...readdirSync(folder)], {
    cwd: folder,
    encoding: 'utf8'
  })
  if (zipped.status !== 0) throw new Error(`zip failed: ${zipped.stderr}`)
  await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'function.zip', Body: readFileSync(zip) })
  )
  return { S3Bucket: bucket, S3Key: 'function.zip' }
}

/** The template as `package` leaves it, in JSON (moto's YAML reader lacks !Condition). */
function packagedTemplate(code: { S3Bucket: string; S3Key: string }): string {
  const packaged = structuredClone(template)
  packaged.Resources.RefreshFunction!.Properties.Code = code
  return JSON.stringify(packaged)
}

function createStack(
  endpoint: string,
  keys: Keys,
  name: string,
  body: string,
  parameters: Record<string, string>
): Record<string, string> {
  awsCall(endpoint, keys, [
    'cloudformation',
    'CreateStack',
    {
      StackName: name,
      TemplateBody: body,
      Parameters: Object.entries(parameters).map(([ParameterKey, ParameterValue]) => ({
        ParameterKey,
        ParameterValue
      })),
      Capabilities: ['CAPABILITY_IAM']
    }
  ])
  const described = awsCall(endpoint, keys, [
    'cloudformation',
    'DescribeStacks',
    { StackName: name }
  ])
  const [stack] = described.Stacks as {
    StackStatus: string
    Outputs?: { OutputKey: string; OutputValue: string }[]
  }[]
  expect(stack?.StackStatus).toBe('CREATE_COMPLETE')
  return Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]))
}

function resourceIds(endpoint: string, keys: Keys, stack: string) {
  const listed = awsCall(endpoint, keys, [
    'cloudformation',
    'ListStackResources',
    { StackName: stack }
  ])
  const summaries = listed.StackResourceSummaries as {
    LogicalResourceId: string
    PhysicalResourceId: string
  }[]
  // moto also lists the role's inline policy, without a logical id.
  return Object.fromEntries(
    summaries
      .filter((r) => r.LogicalResourceId !== '')
      .map((r) => [r.LogicalResourceId, r.PhysicalResourceId])
  )
}

/**
 * moto keeps an inline policy given in a template as the object it parsed, and answers
 * GetRolePolicy with Python's rendering of it.
 */
function fromPython(text: string): unknown {
  const run = spawnSync(
    awsPython,
    ['-c', 'import ast, json, sys; print(json.dumps(ast.literal_eval(sys.stdin.read())))'],
    { input: text, encoding: 'utf8' }
  )
  if (run.status !== 0) throw new Error(`not a Python literal: ${run.stderr}`)
  return JSON.parse(run.stdout)
}

/** The role's inline policy as deployed; moto leaves AWS::NoValue in a list as null. */
async function deployedStatements(iam: IAMClient, role: string): Promise<Statement[]> {
  const names = (await iam.send(new ListRolePoliciesCommand({ RoleName: role }))).PolicyNames ?? []
  const statements: Statement[] = []
  for (const name of names) {
    const policy = await iam.send(new GetRolePolicyCommand({ RoleName: role, PolicyName: name }))
    const document = fromPython(decodeURIComponent(policy.PolicyDocument ?? '{}')) as {
      Statement: (Statement | null)[]
    }
    statements.push(...document.Statement.filter((s): s is Statement => s !== null))
  }
  return statements
}

const GROUPS = 'airflow-workers,airflow-workers-gpu'

describe('the stack in moto CloudFormation', () => {
  it("installs with docs/install.md's package and deploy commands, run as written", async () => {
    // The install block of the guide, run with bash in a folder laid out like this repository.
    const guide = readFileSync(join(process.cwd(), 'docs', 'install.md'), 'utf8')
    const install = /## Install\n[^]*?```sh\n([^]*?)```/.exec(guide)?.[1]
    expect(install).toContain('aws cloudformation package')
    expect(install).toContain('aws cloudformation deploy')
    const repo = tempFolder('repo')
    mkdirSync(join(repo, 'infra'))
    writeFileSync(
      join(repo, 'infra', 'refresh-workers.yaml'),
      readFileSync(join(process.cwd(), 'infra', 'refresh-workers.yaml'))
    )
    cpSync(codeFolder(), join(repo, 'dist', 'refresh-workers'), { recursive: true })
    await s3.send(new CreateBucketCommand({ Bucket: 'my-artifacts-bucket' }))
    const run = spawnSync('bash', ['--norc', '--noprofile', '-euo', 'pipefail', '-c', install!], {
      cwd: repo,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        ...credentials,
        AWS_DEFAULT_REGION: REGION,
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        // moto finds a template uploaded by deploy only at a `localhost` address.
        AWS_ENDPOINT_URL: `http://localhost:${moto.port}`
      },
      encoding: 'utf8',
      timeout: 60_000
    })
    // The CLI shows its upload progress on stderr: the output matters only when it failed.
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({
      status: 0,
      stderr: ''
    })
    const packaged = parse(readFileSync(join(repo, 'refresh-workers.packaged.yaml'), 'utf8')) as {
      Resources: { RefreshFunction: { Properties: { Code: { S3Bucket: string } } } }
    }
    expect(packaged.Resources.RefreshFunction.Properties.Code.S3Bucket).toBe('my-artifacts-bucket')

    const ids = resourceIds(moto.endpoint, testingKeys, 'airflow-refresh-workers')
    const lambda = new LambdaClient({
      endpoint: moto.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
    })
    clients.push(lambda)
    // The name the README's examples give invoke-lambda.
    expect(ids.RefreshFunction).toBe('airflow-refresh-workers')
    const fn = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: ids.RefreshFunction })
    )
    expect(fn.CodeSize).toBeGreaterThan(0)
    expect(fn.Environment?.Variables).toMatchObject({
      [Env.Mode]: 'ssm',
      [Env.Bucket]: 'my-dag-bucket',
      [Env.WorkerGroups]: 'airflow-workers,airflow-workers-gpu',
      [Env.WorkerStartCommand]: 'systemctl start airflow-worker',
      [Env.SsmDocument]: ids.SyncDocument
    })
  })

  it('ssm mode: the function, its environment, the document, the launch rule and the outputs', async () => {
    const bucket = await createBucket(s3, 'stack')
    const code = await uploadCode(s3, bucket)
    const parameters = {
      Mode: 'ssm',
      DagBucket: 'dag-bucket',
      WorkerGroups: GROUPS,
      WorkerDagFolder: '/opt/airflow/dags',
      WorkerStartCommand: 'systemctl start airflow-worker',
      FunctionTimeout: '300',
      AirflowApiUrl: 'https://airflow.example.com',
      AirflowCredentialsSecretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:airflow-AbCdEf`,
      SubnetIds: 'subnet-0a',
      SecurityGroupIds: 'sg-0a'
    }
    const outputs = createStack(
      moto.endpoint,
      testingKeys,
      'refresh-ssm',
      packagedTemplate(code),
      parameters
    )
    expect(Object.keys(outputs).sort()).toEqual(['DocumentName', 'FunctionArn', 'FunctionName'])
    expect(outputs.FunctionName).toBe('refresh-ssm')

    const lambda = new LambdaClient({
      endpoint: moto.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
    })
    clients.push(lambda)
    const fn = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: outputs.FunctionName })
    )
    expect(fn).toMatchObject({
      FunctionArn: outputs.FunctionArn,
      Runtime: 'nodejs24.x',
      Handler: 'index.handler',
      Timeout: 300
    })
    // In the VPC, where the Airflow API is.
    expect(fn.VpcConfig?.SubnetIds).toEqual(['subnet-0a'])
    expect(fn.Environment?.Variables).toEqual({
      [Env.Mode]: 'ssm',
      [Env.Bucket]: 'dag-bucket',
      [Env.Prefix]: 'dags',
      [Env.DeadlineMargin]: '30',
      [Env.WorkerGroups]: GROUPS,
      [Env.WorkerDagFolder]: '/opt/airflow/dags',
      [Env.WorkerStartCommand]: 'systemctl start airflow-worker',
      [Env.SsmDocument]: outputs.DocumentName,
      [Env.TolerateOffline]: 'false',
      AIRFLOW_API_URL: 'https://airflow.example.com',
      AIRFLOW_CREDENTIALS_SECRET: parameters.AirflowCredentialsSecretArn
    })

    const ids = resourceIds(moto.endpoint, testingKeys, 'refresh-ssm')
    const [document, rule, targets] = awsCalls(moto.endpoint, testingKeys, [
      // As YAML: moto keeps a template's document content as the object it parsed, and fails to
      // hash it (DescribeDocument) or to return it as JSON.
      ['ssm', 'GetDocument', { Name: outputs.DocumentName, DocumentFormat: 'YAML' }],
      ['events', 'DescribeRule', { Name: ids.LaunchRule }],
      ['events', 'ListTargetsByRule', { Rule: ids.LaunchRule }]
    ]) as [Answer, Answer, Answer]
    expect(document.DocumentType).toBe('Command')
    // CloudFormation's Fn::Sub done, by moto as by the tests' own reading of the template.
    expect(parse(document.Content as string)).toEqual(storedDocument(parameters))
    expect(JSON.parse(rule.EventPattern as string)).toEqual({
      source: ['aws.autoscaling'],
      'detail-type': ['EC2 Instance-launch Lifecycle Action'],
      detail: {
        AutoScalingGroupName: GROUPS.split(','),
        LifecycleHookName: ['refresh-ssm-sync-dags']
      }
    })
    expect((targets.Targets as { Arn: string }[]).map((t) => t.Arn)).toEqual([outputs.FunctionArn])
    const resourcePolicy = await lambda.send(
      new GetPolicyCommand({ FunctionName: outputs.FunctionName })
    )
    expect(JSON.parse(resourcePolicy.Policy ?? '{}').Statement).toMatchObject([
      {
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Principal: { Service: 'events.amazonaws.com' },
        Condition: { ArnLike: { 'AWS:SourceArn': rule.Arn } }
      }
    ])

    // moto resolves the role's policy as the unit tests' evaluation of the template does.
    const iam = new IAMClient({
      endpoint: moto.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
    })
    clients.push(iam)
    const deployed = await deployedStatements(iam, ids.FunctionRole!)
    const expected = resolveTemplate(template, parameters, 'refresh-ssm').resources.FunctionRole!
      .Properties as unknown as { Policies: { PolicyDocument: { Statement: unknown[] } }[] }
    expect(deployed).toEqual(
      JSON.parse(
        JSON.stringify(expected.Policies[0]!.PolicyDocument.Statement)
          .replaceAll('physical-SyncDocument', outputs.DocumentName!)
          .replaceAll('physical-LogGroup', ids.LogGroup!)
      )
    )
  })

  it('efs mode: one concurrent run in the VPC, and no document or launch rule', async () => {
    const bucket = await createBucket(s3, 'stack')
    const code = await uploadCode(s3, bucket)
    const outputs = createStack(moto.endpoint, testingKeys, 'refresh-efs', packagedTemplate(code), {
      Mode: 'efs',
      DagBucket: 'dag-bucket',
      EfsAccessPointArn: `arn:aws:elasticfilesystem:${REGION}:${ACCOUNT}:access-point/fsap-0123456789abcdef0`,
      SubnetIds: 'subnet-0a,subnet-0b',
      SecurityGroupIds: 'sg-0a'
    })
    expect(Object.keys(outputs).sort()).toEqual(['FunctionArn', 'FunctionName'])
    const ids = resourceIds(moto.endpoint, testingKeys, 'refresh-efs')
    expect(Object.keys(ids).sort()).toEqual(['FunctionRole', 'LogGroup', 'RefreshFunction'])
    const lambda = new LambdaClient({
      endpoint: moto.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
    })
    clients.push(lambda)
    const fn = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: outputs.FunctionName })
    )
    expect(fn.Environment?.Variables).toEqual({
      [Env.Mode]: 'efs',
      [Env.Bucket]: 'dag-bucket',
      [Env.Prefix]: 'dags',
      [Env.DeadlineMargin]: '30',
      [Env.EfsMountPath]: '/mnt/dags'
    })
    expect(fn.VpcConfig?.SubnetIds).toEqual(['subnet-0a', 'subnet-0b'])
    const concurrency = await lambda.send(
      new GetFunctionConcurrencyCommand({ FunctionName: outputs.FunctionName })
    )
    expect(concurrency.ReservedConcurrentExecutions).toBe(1)
  })
})

/** moto's own policy evaluation of each request (PERMITTED or not), with the Python moto runs on. */
function motoEvaluates(statements: Statement[], requests: IamRequest[]): boolean[] {
  const server = spawnSync('sh', ['-c', 'command -v moto_server'], {
    encoding: 'utf8'
  }).stdout.trim()
  const shebang = server === '' ? '' : readFileSync(server, 'utf8').split('\n')[0]!
  const python = /^#!\S*python/.test(shebang) ? shebang.slice(2).trim() : 'python3'
  const script = [
    'import json, sys',
    'from moto.iam.access_control import IAMPolicy, PermissionResult',
    'request = json.load(sys.stdin)',
    'policy = IAMPolicy(json.dumps(request["policy"]))',
    'print(json.dumps([policy.is_action_permitted(a, r, None, keys) == PermissionResult.PERMITTED',
    '                  for a, r, keys in request["requests"]]))'
  ].join('\n')
  const run = spawnSync(python, ['-c', script], {
    input: JSON.stringify({
      policy: { Version: '2012-10-17', Statement: statements },
      requests: requests.map((r) => [r.action, r.resources[0], r.context ?? null])
    }),
    encoding: 'utf8'
  })
  if (run.status !== 0) throw new Error(`moto's policy evaluation failed: ${run.stderr}`)
  return JSON.parse(run.stdout) as boolean[]
}

const KMS_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0d9f0000-1111-4222-8333-444455556666`
const throughS3 = { 'kms:ViaService': `s3.${REGION}.amazonaws.com` }

// --- The role under IAM enforcement -----------------------------------------------------------------

describe('the function role, with moto enforcing IAM policies', () => {
  let enforcing: Moto
  let admin: { id: string; secret: string }

  beforeAll(async () => {
    // The first three requests make an administrator; every later one is checked against policies.
    enforcing = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: '3' } })
    const iam = new IAMClient({
      endpoint: enforcing.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
    })
    await iam.send(new CreateUserCommand({ UserName: 'admin' }))
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'admin',
        PolicyName: 'all',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }]
        })
      })
    )
    const key = await iam.send(new CreateAccessKeyCommand({ UserName: 'admin' }))
    iam.destroy()
    admin = { id: key.AccessKey!.AccessKeyId!, secret: key.AccessKey!.SecretAccessKey! }
  })
  afterAll(async () => {
    await enforcing?.stop()
  })

  /** The stack's role policy on a role this test may assume; its temporary keys. */
  async function assumeFunctionRole(stack: string, parameters: Record<string, string>) {
    const adminS3 = new S3Client({
      endpoint: enforcing.endpoint,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: admin.id, secretAccessKey: admin.secret }
    })
    const iam = new IAMClient({
      endpoint: enforcing.endpoint,
      region: REGION,
      credentials: { accessKeyId: admin.id, secretAccessKey: admin.secret }
    })
    clients.push(adminS3, iam)
    const code = await uploadCode(adminS3, await createBucket(adminS3, 'code'))
    createStack(enforcing.endpoint, admin, stack, packagedTemplate(code), parameters)
    const ids = resourceIds(enforcing.endpoint, admin, stack)
    const statements = await deployedStatements(iam, ids.FunctionRole!)
    // Lambda, not a user, may assume the stack's role: the same policy goes on one the test may.
    const role = `${stack}-under-test`
    await iam.send(
      new CreateRoleCommand({
        RoleName: role,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/admin` },
              Action: 'sts:AssumeRole'
            }
          ]
        })
      })
    )
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: role,
        PolicyName: 'refresh-workers',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements })
      })
    )
    const assumed = awsCall(enforcing.endpoint, admin, [
      'sts',
      'AssumeRole',
      { RoleArn: `arn:aws:iam::${ACCOUNT}:role/${role}`, RoleSessionName: 'refresh' }
    ])
    const creds = assumed.Credentials as {
      AccessKeyId: string
      SecretAccessKey: string
      SessionToken: string
    }
    return {
      adminS3,
      statements,
      keys: { id: creds.AccessKeyId, secret: creds.SecretAccessKey, token: creds.SessionToken }
    }
  }

  const label = ([service, operation, parameters]: Call) =>
    `${service}:${operation} ${JSON.stringify(parameters ?? {})}`
  /** How each call ended: ok, or the error code (moto answers 500 for an action it lacks). */
  const outcomes = (keys: Keys, calls: Call[]) =>
    Object.fromEntries(
      awsCalls(enforcing.endpoint, keys, calls).map((answer, i) => [
        label(calls[i]!),
        // moto's refusal of a JSON-protocol call carries no code botocore can read: only 403.
        answer.error === undefined ? 'ok' : answer.error === '403' ? 'AccessDenied' : answer.error
      ])
    )
  /**
   * Each call ends for the role as it does for an administrator, with the answer given: the policy
   * let it reach the action, which then answered (ok, an unknown command id, or 500 for an action
   * moto does not implement) the same way for both.
   */
  const expectAllowed = (keys: Keys, calls: [Call, string][]) => {
    const expected = Object.fromEntries(calls.map(([call, outcome]) => [label(call), outcome]))
    const plain = calls.map(([call]) => call)
    expect(outcomes(admin, plain)).toEqual(expected)
    expect(outcomes(keys, plain)).toEqual(expected)
  }
  // moto fails the signature check of a listing whose prefix holds a slash (for an administrator
  // too), and ignores the s3:prefix condition: the listing asks for `dags`, and the unit tests
  // evaluate the condition.
  const LIST_DAGS = ['s3', 'ListObjectsV2'] as const

  /** Each call is refused to the role, and not to an administrator. */
  const expectRefused = (keys: Keys, calls: Call[]) => {
    expect(Object.values(outcomes(admin, calls))).not.toContain('AccessDenied')
    expect(outcomes(keys, calls)).toEqual(
      Object.fromEntries(calls.map((call) => [label(call), 'AccessDenied']))
    )
  }

  it('ssm mode: every call the function makes is allowed; another key or prefix is not', async () => {
    const { adminS3, keys } = await assumeFunctionRole('iam-ssm', {
      Mode: 'ssm',
      DagBucket: 'dag-bucket',
      WorkerGroups: GROUPS,
      WorkerDagFolder: '/opt/airflow/dags'
    })
    await adminS3.send(new CreateBucketCommand({ Bucket: 'dag-bucket' }))
    for (const [key, body] of Object.entries({
      'dags/.deploy-dags-manifest.json': '{"format":1,"objects":{}}',
      'dags/etl.py': 'x = 1\n',
      'other/secret.txt': 'no\n'
    })) {
      await adminS3.send(new PutObjectCommand({ Bucket: 'dag-bucket', Key: key, Body: body }))
    }
    const commandId = '11111111-2222-3333-4444-555555555555'
    // Sufficiency: every call the function makes gets past the policy.
    expectAllowed(keys, [
      [['s3', 'GetObject', { Bucket: 'dag-bucket', Key: 'dags/.deploy-dags-manifest.json' }], 'ok'],
      [['ssm', 'DescribeInstanceInformation'], '500'],
      [
        [
          'ssm',
          'GetCommandInvocation',
          { CommandId: commandId, InstanceId: 'i-0123456789abcdef0' }
        ],
        'InvalidCommandId'
      ],
      [['autoscaling', 'DescribeAutoScalingGroups', { AutoScalingGroupNames: ['workers'] }], 'ok']
    ])
    // Tightness: the function reads the manifest only, and writes nothing.
    expectRefused(keys, [
      ['s3', 'GetObject', { Bucket: 'dag-bucket', Key: 'dags/etl.py' }],
      ['s3', 'GetObject', { Bucket: 'dag-bucket', Key: 'other/secret.txt' }],
      ['s3', 'PutObject', { Bucket: 'dag-bucket', Key: 'dags/.deploy-dags-manifest.json' }],
      ['iam', 'ListRoles'],
      ['ec2', 'DescribeInstances'],
      ['ssm', 'ListCommandInvocations', { CommandId: commandId }]
    ])
    expectRefused(keys, [[...LIST_DAGS, { Bucket: 'dag-bucket', Prefix: 'dags' }]])
  })

  it("ssm mode: resource ARNs and tag conditions, by moto's policy evaluation and the unit tests' alike", async () => {
    // moto's request check gives services other than S3 the resource `*`, so SendCommand and the
    // lifecycle actions cannot be told apart by their ARNs there; its policy evaluation itself
    // takes the ARN and (StringEquals) condition values, and is asked directly here.
    const { statements } = await assumeFunctionRole('iam-ssm-arns', {
      Mode: 'ssm',
      DagBucket: 'dag-bucket',
      WorkerGroups: GROUPS,
      WorkerDagFolder: '/opt/airflow/dags',
      DagBucketKmsKeyArn: KMS_KEY
    })
    const ids = resourceIds(enforcing.endpoint, admin, 'iam-ssm-arns')
    const group = (name: string) =>
      `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:0f6d7c4e-1111-4222-8333-444455556666:autoScalingGroupName/${name}`
    const instance = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`
    const tagged = (name: string) => ({ 'ssm:resourceTag/aws:autoscaling:groupName': name })
    const cases: [IamRequest, boolean][] = [
      [
        {
          action: 'ssm:SendCommand',
          resources: [`arn:aws:ssm:${REGION}:${ACCOUNT}:document/${ids.SyncDocument}`]
        },
        true
      ],
      [
        {
          action: 'ssm:SendCommand',
          resources: [`arn:aws:ssm:${REGION}::document/AWS-RunShellScript`]
        },
        false
      ],
      [
        { action: 'ssm:SendCommand', resources: [instance], context: tagged('airflow-workers') },
        true
      ],
      [
        {
          action: 'ssm:SendCommand',
          resources: [instance],
          context: tagged('airflow-workers-gpu')
        },
        true
      ],
      [{ action: 'ssm:SendCommand', resources: [instance], context: tagged('bastions') }, false],
      [
        { action: 'autoscaling:CompleteLifecycleAction', resources: [group('airflow-workers')] },
        true
      ],
      [
        {
          action: 'autoscaling:RecordLifecycleActionHeartbeat',
          resources: [group('airflow-workers-gpu')]
        },
        true
      ],
      [{ action: 'autoscaling:CompleteLifecycleAction', resources: [group('bastions')] }, false],
      [
        {
          action: 's3:GetObject',
          resources: ['arn:aws:s3:::dag-bucket/dags/.deploy-dags-manifest.json']
        },
        true
      ],
      [{ action: 's3:GetObject', resources: ['arn:aws:s3:::dag-bucket/other/secret.txt'] }, false],
      [{ action: 'kms:Decrypt', resources: [KMS_KEY], context: throughS3 }, true],
      [
        { action: 'kms:Decrypt', resources: [KMS_KEY.replace(/.$/, '0')], context: throughS3 },
        false
      ]
      // Without the kms:ViaService key moto allows where IAM would not: that case is the unit tests'.
    ]
    const byMoto = motoEvaluates(
      statements,
      cases.map(([request]) => request)
    )
    const byUnitTests = cases.map(
      ([request]) => evaluate([{ Statement: statements }], request) === 'allowed'
    )
    const expected = cases.map(([, allowed]) => allowed)
    expect(byMoto).toEqual(expected)
    expect(byUnitTests).toEqual(expected)
  })

  it('efs mode: lists and reads the prefix; nothing outside it', async () => {
    const { adminS3, keys } = await assumeFunctionRole('iam-efs', {
      Mode: 'efs',
      DagBucket: 'efs-bucket',
      EfsAccessPointArn: `arn:aws:elasticfilesystem:${REGION}:${ACCOUNT}:access-point/fsap-0123456789abcdef0`,
      SubnetIds: 'subnet-0a',
      SecurityGroupIds: 'sg-0a'
    })
    await adminS3.send(new CreateBucketCommand({ Bucket: 'efs-bucket' }))
    await adminS3.send(
      new PutObjectCommand({ Bucket: 'efs-bucket', Key: 'dags/etl.py', Body: 'x' })
    )
    expectAllowed(keys, [
      [['s3', 'GetObject', { Bucket: 'efs-bucket', Key: 'dags/etl.py' }], 'ok'],
      [['ec2', 'DescribeNetworkInterfaces'], 'ok']
    ])
    expectAllowed(keys, [[[...LIST_DAGS, { Bucket: 'efs-bucket', Prefix: 'dags' }], 'ok']])
    expectRefused(keys, [
      ['s3', 'GetObject', { Bucket: 'efs-bucket', Key: 'other/secret.txt' }],
      ['s3', 'PutObject', { Bucket: 'efs-bucket', Key: 'dags/etl.py' }],
      ['ssm', 'DescribeInstanceInformation'],
      ['autoscaling', 'DescribeAutoScalingGroups']
    ])
  })
})
