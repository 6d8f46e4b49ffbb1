// The workflows run end to end on this machine: the example callers a user copies, calling the
// reusable workflows, whose steps run the bundled actions against moto_server and a real sshd,
// and the self-test jobs of ci.yml with exactly the steps GitHub runs. Third-party actions are
// stand-ins: checkout and setup-* have nothing to do on a machine already set up, and
// configure-aws-credentials hands out moto's credentials after checking what it was given.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { CreateSecurityGroupCommand, CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { createEchoFunction, useLambdaWithoutDocker } from '../../test-support/lambda.mjs'
import { startMoto } from '../../test-support/moto.mjs'
import { expectNoSecret } from '../../test-support/output-guard.mjs'
import { nodeRuntimes } from '../../test-support/runner.mjs'
import { makeClientKey, startSshd, type Sshd } from '../../test-support/sshd.mjs'
import {
  runWorkflow,
  type WorkflowOptions,
  type WorkflowRun
} from '../../test-support/workflow.mjs'
import { packResolver, type CredentialsRequest } from '../../test-support/pack-uses.mjs'
import { bucketContents, withoutManifest } from './helpers.js'

const repo = resolve(import.meta.dirname, '..', '..')
const [node24] = nodeRuntimes()
const PACK = 'octo-org/airflow-aws-deploy-actions'
const PACK_SHA = '5d1f6a0c2b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c'
const COMMIT = 'ffac537e6cbbf934b08745a378932722df287a53'
const REGION = 'eu-west-1' // the example callers' region
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' } // as packResolver hands out

let moto: Awaited<ReturnType<typeof startMoto>>
const workspaces: string[] = []

beforeAll(async () => {
  moto = await startMoto()
  await useLambdaWithoutDocker(moto.endpoint)
  await createEchoFunction(moto.endpoint, 'airflow-refresh-workers', { region: REGION })
}, 60_000)

afterAll(async () => {
  await moto?.stop()
  for (const dir of workspaces) rmSync(dir, { recursive: true, force: true })
})

async function createBucket(name: string) {
  const s3 = new S3Client({ endpoint: moto.endpoint, region: REGION, credentials })
  await s3.send(
    new CreateBucketCommand({
      Bucket: name,
      CreateBucketConfiguration: { LocationConstraint: REGION }
    })
  )
  s3.destroy()
}

async function contentsOf(bucket: string) {
  const s3 = new S3Client({ endpoint: moto.endpoint, region: REGION, credentials })
  try {
    return await bucketContents(s3, bucket)
  } finally {
    s3.destroy()
  }
}

const DAG_FILES = [
  '.airflowignore',
  'helpers/__init__.py',
  'helpers/naming.py',
  'orders_daily.py',
  'sql/load_orders.sql'
]

/** A checkout of a user's repository holding examples/dags as dags/. */
function dagRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'workflow-checkout-'))
  workspaces.push(dir)
  cpSync(join(repo, 'examples', 'dags'), join(dir, 'dags'), { recursive: true })
  return dir
}

/** An example caller as the user copies it, into `checkout`, pointed at its own bucket. */
function exampleCaller(example: string, checkout: string, bucket: string): string {
  const workflow = readFileSync(join(repo, 'examples', 'workflows', example), 'utf8')
  if (!workflow.includes('bucket: my-airflow-dags\n')) throw new Error(`${example} names no bucket`)
  const caller = join(checkout, 'caller.yml')
  writeFileSync(caller, workflow.replace('bucket: my-airflow-dags\n', `bucket: ${bucket}\n`))
  return caller
}

async function run(options: Partial<WorkflowOptions> & { file: string }) {
  const requests: CredentialsRequest[] = []
  const result = await runWorkflow({
    node: node24?.path,
    resolveUses: packResolver({
      endpoint: moto.endpoint,
      packSha: PACK_SHA,
      credentialRequests: requests
    }),
    timeoutMs: 120_000,
    ...options,
    file: isAbsolute(options.file) ? options.file : join(repo, options.file),
    github: {
      repository: 'octo-org/airflow',
      sha: COMMIT,
      ref: 'refs/heads/main',
      run_id: '4242',
      run_attempt: '1',
      ...options.github
    }
  })
  return { result, requests }
}

/** The reusable workflow's run inside the caller's job. */
function called(run: WorkflowRun, job: string): WorkflowRun {
  const inner = run.jobs[job]?.workflow
  if (inner === undefined) throw new Error(`job ${job} called no workflow:\n${run.log}`)
  return inner
}

const expectSuccess = (run: WorkflowRun) =>
  expect({ result: run.result, log: run.result === 'success' ? '' : run.log }).toEqual({
    result: 'success',
    log: ''
  })

describe('examples/workflows/deploy-dags.yml → deploy-dags.yml', () => {
  const bucket = 'my-airflow-dags'
  let checkout: string

  beforeAll(async () => {
    await createBucket(bucket)
    checkout = dagRepository()
  })

  test('a push validates, deploys and refreshes the workers with the change list', async () => {
    const { result, requests } = await run({
      file: 'examples/workflows/deploy-dags.yml',
      event: 'push',
      workspace: checkout
    })
    expectSuccess(result)
    const pipeline = called(result, 'deploy')
    expect(pipeline.jobs.validate?.result).toBe('success')
    expect(pipeline.jobs.deploy?.environment).toBe('production')
    expect(requests).toEqual([
      { region: REGION, role: 'arn:aws:iam::123456789012:role/airflow-dag-deployer', keyId: '' }
    ])

    const stored = withoutManifest(await contentsOf(bucket))
    expect(stored).toEqual(
      Object.fromEntries(
        DAG_FILES.map((file) => [
          `dags/${file}`,
          readFileSync(join(checkout, 'dags', file), 'utf8')
        ])
      )
    )
    expect(pipeline.outputs.changed).toBe('true')
    expect(pipeline.outputs.uploaded).toBe(String(DAG_FILES.length))
    expect(pipeline.outputs.refreshed).toBe('true')

    const event = JSON.parse(pipeline.outputs['refresh-response'] ?? '')
    expect(event).toEqual({
      repository: 'octo-org/airflow',
      sha: COMMIT,
      ref: 'refs/heads/main',
      bucket,
      prefix: 'dags',
      runId: 4242,
      runAttempt: 1,
      changes: { uploaded: expect.any(Array), deleted: [] }
    })
    expect([...event.changes.uploaded].sort()).toEqual(DAG_FILES.map((file) => `dags/${file}`))
  })

  test('the same commit again changes nothing and leaves the workers alone', async () => {
    const { result } = await run({
      file: 'examples/workflows/deploy-dags.yml',
      event: 'push',
      workspace: checkout,
      github: { run_id: '4243' }
    })
    expectSuccess(result)
    const pipeline = called(result, 'deploy')
    expect(pipeline.outputs.changed).toBe('false')
    expect(pipeline.outputs.refreshed).toBe('false')
    expect(pipeline.jobs.deploy?.steps.refresh?.outcome).toBe('skipped')
  })

  test('a re-run refreshes the workers even though the bucket is already in sync', async () => {
    const { result } = await run({
      file: 'examples/workflows/deploy-dags.yml',
      event: 'push',
      workspace: checkout,
      github: { run_id: '4243', run_attempt: '2' }
    })
    expectSuccess(result)
    const pipeline = called(result, 'deploy')
    expect(pipeline.outputs.changed).toBe('false')
    expect(pipeline.outputs.refreshed).toBe('true')
    expect(JSON.parse(pipeline.outputs['refresh-response'] ?? '')).toMatchObject({
      runAttempt: 2,
      changes: { uploaded: [], deleted: [] }
    })
  })

  test('a manual run with force re-uploads everything and refreshes', async () => {
    const { result } = await run({
      file: 'examples/workflows/deploy-dags.yml',
      event: 'workflow_dispatch',
      inputs: { force: true },
      workspace: checkout,
      github: { run_id: '4244' }
    })
    expectSuccess(result)
    const pipeline = called(result, 'deploy')
    expect(Number(pipeline.outputs.uploaded)).toBeGreaterThan(0)
    expect(pipeline.outputs.unchanged).toBe('0')
    expect(pipeline.outputs.refreshed).toBe('true')
  })

  test('a manual run started from another branch deploys nothing', async () => {
    const { result, requests } = await run({
      file: 'examples/workflows/deploy-dags.yml',
      event: 'workflow_dispatch',
      inputs: { force: true },
      workspace: checkout,
      github: { run_id: '4245', ref: 'refs/heads/experiment' }
    })
    expect(result.result).toBe('success')
    expect(result.jobs.deploy?.result).toBe('skipped')
    expect(requests).toEqual([])
  })

  test('a DAG that does not compile stops the pipeline before anything is uploaded', async () => {
    const broken = dagRepository()
    writeFileSync(join(broken, 'dags', 'orders_daily.py'), 'with DAG("x") as dag\n    pass\n')
    const emptyBucket = 'my-airflow-dags-untouched'
    await createBucket(emptyBucket)
    const caller = exampleCaller('deploy-dags.yml', broken, emptyBucket)
    const { result, requests } = await run({
      file: caller,
      event: 'push',
      workspace: broken
    })
    expect(result.result).toBe('failure')
    const pipeline = called(result, 'deploy')
    expect(pipeline.jobs.validate?.result).toBe('failure')
    expect(pipeline.jobs.deploy?.result).toBe('skipped')
    expect(pipeline.jobs.validate?.annotations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          command: 'error',
          properties: expect.stringContaining('file=dags/orders_daily.py,line=1')
        })
      ])
    )
    expect(requests).toEqual([])
    expect(await contentsOf(emptyBucket)).toEqual({})
  })
})

describe('examples/workflows/dags-check.yml → dags-check.yml', () => {
  /** The example caller, pointed at `bucket`, which holds `objects` under dags/. */
  async function pullRequestCheck(bucket: string, objects: Record<string, string>) {
    await createBucket(bucket)
    const s3 = new S3Client({ endpoint: moto.endpoint, region: REGION, credentials })
    for (const [key, body] of Object.entries(objects)) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `dags/${key}`, Body: body }))
    }
    s3.destroy()
    const checkout = dagRepository()
    const caller = exampleCaller('dags-check.yml', checkout, bucket)
    return run({
      file: caller,
      event: 'pull_request',
      workspace: checkout,
      github: {
        ref: 'refs/pull/7/merge',
        event: { pull_request: { number: 7, head: { repo: { full_name: 'octo-org/airflow' } } } }
      }
    })
  }

  test("a pull request's check shows the plan and changes nothing", async () => {
    const bucket = 'my-airflow-dags-check'
    const before = {
      'orders_daily.py': readFileSync(join(repo, 'examples/dags/orders_daily.py'), 'utf8'),
      'helpers/naming.py': '# an older version\n',
      'retired.py': '# removed from the repository\n'
    }
    const { result, requests } = await pullRequestCheck(bucket, before)
    expectSuccess(result)
    const check = called(result, 'check')
    expect(check.jobs.validate?.result).toBe('success')
    expect(check.jobs.plan?.result).toBe('success')
    expect(requests).toEqual([
      { region: REGION, role: 'arn:aws:iam::123456789012:role/airflow-dag-planner', keyId: '' }
    ])
    expect(check.outputs).toMatchObject({ changed: 'true', uploaded: '4', deleted: '1' })
    expect(check.summary).toContain('DAG deploy plan (dry run, nothing changed)')
    expect(check.summary).toContain('dags/retired.py')
    expect(await contentsOf(bucket)).toEqual(
      Object.fromEntries(Object.entries(before).map(([key, body]) => [`dags/${key}`, body]))
    )
  })

  test('the check fails when the deploy would be refused by the delete guard', async () => {
    const bucket = 'my-airflow-dags-guarded'
    const { result } = await pullRequestCheck(bucket, { 'retired.py': '# old\n' })
    expect(result.result).toBe('failure')
    const check = called(result, 'check')
    expect(check.jobs.validate?.result).toBe('success')
    expect(check.jobs.plan?.result).toBe('failure')
    expect(check.jobs.plan?.annotations).toEqual([
      expect.objectContaining({
        command: 'error',
        message: expect.stringContaining('Refusing to delete 1 of 1 objects')
      })
    ])
    expect(Object.keys(await contentsOf(bucket))).toEqual(['dags/retired.py'])
  })

  test("a fork's pull request is validated without the plan, which would have no credentials", async () => {
    const checkout = dagRepository()
    const { result, requests } = await run({
      file: 'examples/workflows/dags-check.yml',
      event: 'pull_request',
      workspace: checkout,
      github: {
        event: {
          pull_request: { number: 8, head: { repo: { full_name: 'someone/airflow', fork: true } } }
        }
      }
    })
    expectSuccess(result)
    const check = called(result, 'check')
    expect(check.jobs.validate?.result).toBe('success')
    expect(check.jobs.plan?.result).toBe('skipped')
    expect(requests).toEqual([])
  })
})

describe('deploy-app.yml', () => {
  let server: Sshd
  let keys: string
  let group: string
  let serverRoot: string

  beforeAll(async () => {
    keys = mkdtempSync(join(tmpdir(), 'workflow-keys-'))
    serverRoot = mkdtempSync(join(tmpdir(), 'workflow-server-'))
    workspaces.push(keys, serverRoot)
    server = await startSshd({ authorizedKeys: [makeClientKey(keys).publicKey] })
    const ec2 = new EC2Client({ endpoint: moto.endpoint, region: REGION, credentials })
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))
    const created = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: 'frontend',
        Description: 'front-end servers',
        VpcId: vpc.Vpc?.VpcId
      })
    )
    ec2.destroy()
    group = created.GroupId ?? ''
  }, 60_000)

  afterAll(async () => {
    await server?.stop()
  })

  const appCheckout = () => {
    const dir = mkdtempSync(join(tmpdir(), 'workflow-app-'))
    workspaces.push(dir)
    cpSync(join(repo, 'examples', 'app'), join(dir, 'app'), { recursive: true })
    return dir
  }

  const inputs = (overrides: Record<string, unknown> = {}) => ({
    environment: 'production',
    'aws-region': REGION,
    'role-to-assume': 'arn:aws:iam::123456789012:role/app-deployer',
    'security-group-ids': group,
    ip: '203.0.113.10',
    hosts: `127.0.0.1:${server.port}`,
    username: server.user,
    'known-hosts': server.knownHosts,
    'build-command': 'mkdir -p build && cp -a www/. build/ && echo built > build/BUILD',
    'working-directory': 'app',
    upload: `app/build:${serverRoot}/incoming`,
    script: readFileSync(join(repo, 'examples', 'app', 'deploy.sh'), 'utf8'),
    env: `APP_ROOT=${serverRoot}\nRELEASE=${COMMIT.slice(0, 8)}`,
    ...overrides
  })

  test('builds, deploys through the environment with the caller’s key, and closes the group', async () => {
    const key = makeClientKey(keys)
    const { result, requests } = await run({
      file: '.github/workflows/deploy-app.yml',
      workspace: appCheckout(),
      inputs: inputs(),
      secrets: { SSH_PRIVATE_KEY: key.privateKey }
    })
    expectSuccess(result)
    expect(result.jobs.deploy?.environment).toBe('production')
    expect(requests).toHaveLength(1)
    const release = join(serverRoot, 'current')
    expect(readFileSync(join(release, 'BUILD'), 'utf8')).toBe('built\n')
    expect(readFileSync(join(release, 'index.html'), 'utf8')).toBe(
      readFileSync(join(repo, 'examples', 'app', 'www', 'index.html'), 'utf8')
    )
    expect(JSON.parse(result.outputs.results ?? '')).toEqual([
      expect.objectContaining({ status: 'succeeded', exitCode: 0 })
    ])
    expect(result.outputs.ip).toBe('203.0.113.10')
    expect(Number(result.outputs['exposure-seconds'])).toBeGreaterThan(0)
    // The key never shows in the log.
    expectNoSecret(result.log, key.privateKey, 'private key found in the workflow log')
  })

  test('a missing deploy key fails first, naming the secret, before AWS is reached', async () => {
    const { result, requests } = await run({
      file: '.github/workflows/deploy-app.yml',
      workspace: appCheckout(),
      inputs: inputs()
    })
    expect(result.result).toBe('failure')
    expect(result.jobs.deploy?.annotations).toEqual([
      expect.objectContaining({
        command: 'error',
        message: expect.stringContaining('SSH_PRIVATE_KEY secret is empty')
      })
    ])
    expect(requests).toEqual([])
  })
})

describe('ci.yml self-test jobs, as GitHub runs them', () => {
  // Installing moto, sshd and node_modules is what a fresh GitHub runner needs; here they are.
  const provisioning = (step: { name?: string }) => step.name?.startsWith('Install ') === true

  const runJob = (job: string) =>
    run({
      file: '.github/workflows/ci.yml',
      event: 'push',
      jobs: [job],
      workspace: repo,
      skipStep: provisioning,
      github: { repository: PACK, sha: COMMIT }
    })

  test.each(['self-test-dags', 'self-test-app'])('%s passes', async (job) => {
    const { result } = await runJob(job)
    expectSuccess(result)
    // The check step really ran its assertions.
    expect(result.log).toMatch(/ok {2}/)
    expect(result.log).not.toMatch(/FAIL /)
  })

  test('self-test-dags-check validates the example DAGs through the reusable workflow', async () => {
    const { result } = await runJob('self-test-dags-check')
    expectSuccess(result)
    const check = called(result, 'self-test-dags-check')
    expect(check.jobs.validate?.result).toBe('success')
    expect(check.jobs.plan?.result).toBe('skipped')
    expect(check.log).toContain('3 Python files in examples/dags compiled cleanly')
  })
})
