// The workflows run end to end on this machine: the example callers a user copies, calling the
// reusable workflows, whose steps run the bundled actions against moto_server and a real sshd,
// and the self-test jobs of ci.yml with exactly the steps GitHub runs. Third-party actions are
// stand-ins: checkout and setup-* have nothing to do on a machine already set up (a job without
// checkout starts with an empty workspace), configure-aws-credentials hands out moto's
// credentials after checking what it was given, and the artifact actions keep the run's artifacts
// in a folder, losing modes and links as their zip does.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { CreateSecurityGroupCommand, CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2'
import {
  appendFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { createEchoFunction, useLambdaWithoutDocker } from '../../test-support/lambda.mjs'
import { startMoto } from '../../test-support/moto.mjs'
import { startGitHubApi, type GitHubApi } from '../../test-support/github-api.mjs'
import { expectNoSecret } from '../../test-support/output-guard.mjs'
import { nodeRuntimes } from '../../test-support/runner.mjs'
import { makeClientKey, startSshd, type Sshd } from '../../test-support/sshd.mjs'
import {
  runWorkflow,
  type StepResolution,
  type WorkflowOptions,
  type WorkflowRun
} from '../../test-support/workflow.mjs'
import { checksOut, packResolver, type CredentialsRequest } from '../../test-support/pack-uses.mjs'
import { bucketContents, withoutManifest } from './helpers.js'

const repo = resolve(import.meta.dirname, '..', '..')
const [node24] = nodeRuntimes()
const PACK = 'octo-org/airflow-aws-deploy-actions'
const PACK_SHA = '5d1f6a0c2b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c'
const COMMIT = 'ffac537e6cbbf934b08745a378932722df287a53'
const REGION = 'eu-west-1' // the example callers' region
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' } // as packResolver hands out

let moto: Awaited<ReturnType<typeof startMoto>>
/** GitHub's REST API for the jobs that comment; the model's job token is a bot's, as on GitHub. */
let github: GitHubApi
const workspaces: string[] = []
const ORIGIN = 'octo-org/airflow'

beforeAll(async () => {
  // The workflow model's job token, and the runner model's, which resolves an action's
  // `${{ github.token }}` default.
  const bot = { login: 'github-actions[bot]', type: 'Bot' as const }
  github = await startGitHubApi({
    tokens: { ghs_workflow_model_token: bot, ghs_runner_model_token: bot }
  })
  github.addPullRequest(ORIGIN, 7)
  github.addPullRequest(ORIGIN, 8)
  moto = await startMoto()
  await useLambdaWithoutDocker(moto.endpoint)
  await createEchoFunction(moto.endpoint, 'airflow-refresh-workers', { region: REGION })
}, 60_000)

afterAll(async () => {
  await github?.stop()
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

type Resolver = NonNullable<WorkflowOptions['resolveUses']>

/**
 * Runs a workflow as GitHub would on fresh runners: only a job that checks out sees the
 * repository. `adjustUses` can replace how some `uses:` resolve.
 */
async function run(
  options: Partial<WorkflowOptions> & { file: string; adjustUses?: (pack: Resolver) => Resolver }
) {
  const requests: CredentialsRequest[] = []
  const pack: Resolver = packResolver({
    endpoint: moto.endpoint,
    packSha: PACK_SHA,
    credentialRequests: requests
  })
  const { adjustUses, ...rest } = options
  const result = await runWorkflow({
    node: node24?.path,
    resolveUses: adjustUses ? adjustUses(pack) : pack,
    checkout: checksOut,
    timeoutMs: 120_000,
    ...rest,
    file: isAbsolute(options.file) ? options.file : join(repo, options.file),
    github: {
      repository: 'octo-org/airflow',
      sha: COMMIT,
      ref: 'refs/heads/main',
      run_id: '4242',
      run_attempt: '1',
      api_url: github.url,
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
    // The commit is the merge of pull request 5, which gets the deploy note.
    github.addPullRequest(ORIGIN, 5)
    github.setCommitPulls(COMMIT, [
      { number: 5, merged_at: '2026-11-30T12:00:00Z', merge_commit_sha: COMMIT }
    ])
    const { result, requests } = await run({
      file: 'examples/workflows/deploy-dags.yml',
      event: 'push',
      workspace: checkout
    })
    expectSuccess(result)
    const pipeline = called(result, 'deploy')
    expect(pipeline.jobs.validate?.result).toBe('success')
    expect(pipeline.jobs.deploy?.environment).toBe('production')
    // The caller's group holds the whole run; the deploy job takes its own, so neither waits on
    // the other.
    expect(result.concurrency?.group).toBe('deploy-dags-production')
    expect(pipeline.jobs.deploy?.concurrency).toEqual({
      group: `airflow-aws-deploy-actions/deploy-dags/${bucket}/dags`,
      cancelInProgress: false
    })
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

    // The report job draws the chain and leaves one note on the merged pull request.
    expect(pipeline.jobs.report?.result).toBe('success')
    expect(pipeline.jobs.report?.summary).toContain('```mermaid')
    const notes = github.commentsOn(ORIGIN, 5)
    expect(notes).toHaveLength(1)
    expect(notes[0]?.body).toContain(`airflow-aws-deploy-actions:deployed s3://${bucket}/dags/`)
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

  test('a manual run started from a tag named main deploys nothing', async () => {
    const { result, requests } = await run({
      file: 'examples/workflows/deploy-dags.yml',
      event: 'workflow_dispatch',
      inputs: { force: true },
      workspace: checkout,
      github: { run_id: '4246', ref: 'refs/tags/main' }
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

describe('deploy-dags.yml and dags-check.yml pass the opt-ins on', () => {
  /** A monorepo whose DAG folder links a shared package from outside it. */
  function monorepo(): string {
    const dir = dagRepository()
    mkdirSync(join(dir, 'shared'))
    writeFileSync(join(dir, 'shared', 'names.py'), 'PREFIX = "orders"\n')
    symlinkSync('../shared', join(dir, 'dags', 'shared'))
    return dir
  }
  const target = (bucket: string) => ({
    'aws-region': REGION,
    'role-to-assume': 'arn:aws:iam::123456789012:role/airflow-dag-deployer',
    bucket
  })

  test('a link out of source is refused by default, naming the input that allows it', async () => {
    const bucket = 'my-airflow-dags-monorepo-refused'
    await createBucket(bucket)
    const { result } = await run({
      file: '.github/workflows/deploy-dags.yml',
      workspace: monorepo(),
      inputs: target(bucket)
    })
    expect(result.result).toBe('failure')
    expect(result.log).toContain('set follow-symlinks-outside-source: true')
    expect(await contentsOf(bucket)).toEqual({})
  })

  test('follow-symlinks-outside-source and verify reach the deploy and the plan', async () => {
    const bucket = 'my-airflow-dags-monorepo'
    await createBucket(bucket)
    const checkout = monorepo()
    const followed = { ...target(bucket), 'follow-symlinks-outside-source': true }
    const deployed = await run({
      file: '.github/workflows/deploy-dags.yml',
      workspace: checkout,
      inputs: followed
    })
    expectSuccess(deployed.result)
    const stored = withoutManifest(await contentsOf(bucket))
    expect(stored['dags/shared/names.py']).toBe('PREFIX = "orders"\n')

    // Nothing changed since: verify confirms every object, and drifted comes up as an output.
    const verified = await run({
      file: '.github/workflows/deploy-dags.yml',
      workspace: checkout,
      inputs: { ...followed, verify: true }
    })
    expectSuccess(verified.result)
    expect(verified.result.log).toContain(`${Object.keys(stored).length} confirmed, 0 drifted`)
    expect(verified.result.outputs).toMatchObject({ changed: 'false', drifted: '0' })

    const planned = await run({
      file: '.github/workflows/dags-check.yml',
      workspace: checkout,
      inputs: { ...target(bucket), 'follow-symlinks-outside-source': true }
    })
    expectSuccess(planned.result)
    expect(planned.result.outputs).toMatchObject({ changed: 'false', uploaded: '0' })
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
    // The plan is on the pull request too, in one comment for this target.
    const plans = github
      .commentsOn(ORIGIN, 7)
      .filter((comment) => comment.body.includes(`s3://${bucket}/dags/`))
    expect(plans).toHaveLength(1)
    expect(plans[0]?.body).toContain('dags/retired.py')
  })

  test('the check fails when the deploy would be refused by the delete guard', async () => {
    const bucket = 'my-airflow-dags-guarded'
    const { result } = await pullRequestCheck(bucket, { 'retired.py': '# old\n' })
    expect(result.result).toBe('failure')
    const check = called(result, 'check')
    expect(check.jobs.validate?.result).toBe('success')
    expect(check.jobs.plan?.result).toBe('failure')
    // The comment still tells the reviewer, with the guard's reason.
    expect(check.jobs.comment?.result).toBe('success')
    const plan = github
      .commentsOn(ORIGIN, 7)
      .find((comment) => comment.body.includes(`s3://${bucket}/dags/`))
    expect(plan?.body).toContain('Refusing to delete 1 of 1 objects')
    expect(check.jobs.plan?.annotations).toEqual([
      expect.objectContaining({
        command: 'error',
        message: expect.stringContaining('Refusing to delete 1 of 1 objects')
      })
    ])
    expect(Object.keys(await contentsOf(bucket))).toEqual(['dags/retired.py'])
  })

  test("a fork's pull request is validated without the plan, which would have no credentials", async () => {
    github.fail(
      (request) =>
        request.method !== 'GET' && request.path.startsWith(`/repos/${ORIGIN}/issues/8/`),
      { status: 403, message: 'Resource not accessible by integration' },
      10
    )
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
    // A fork's token may not comment: the plan stays in the summary and the check passes.
    expect(check.jobs.comment?.result).toBe('success')
    expect(check.jobs.comment?.annotations).toContainEqual(
      expect.objectContaining({ command: 'notice' })
    )
    expect(github.commentsOn(ORIGIN, 8)).toEqual([])
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

  // The example app's build, plus what an artifact's zip would lose: a mode and a link.
  const BUILD = [
    'mkdir -p build && cp -a www/. build/ && echo built > build/BUILD',
    "printf '#!/bin/sh\\necho ok\\n' > build/healthcheck.sh && chmod 755 build/healthcheck.sh",
    'ln -s index.html build/home.html'
  ].join(' && ')

  const inputs = (overrides: Record<string, unknown> = {}) => ({
    environment: 'production',
    'aws-region': REGION,
    'role-to-assume': 'arn:aws:iam::123456789012:role/app-deployer',
    'security-group-ids': group,
    ip: '203.0.113.10',
    hosts: `127.0.0.1:${server.port}`,
    username: server.user,
    'known-hosts': server.knownHosts,
    'build-command': BUILD,
    'working-directory': 'app',
    upload: `app/build:${serverRoot}/incoming`,
    script: readFileSync(join(repo, 'examples', 'app', 'deploy.sh'), 'utf8'),
    env: `APP_ROOT=${serverRoot}\nRELEASE=${COMMIT.slice(0, 8)}`,
    ...overrides
  })

  /** The deploy key, and the deploy that needs no SSH at all to fail (nothing reaches AWS). */
  const deployKey = () => ({ SSH_PRIVATE_KEY: makeClientKey(keys).privateKey })

  test('builds without credentials, deploys the build’s artifact through the environment, and closes the group', async () => {
    const key = makeClientKey(keys)
    const { result, requests } = await run({
      file: '.github/workflows/deploy-app.yml',
      workspace: appCheckout(),
      inputs: inputs(),
      secrets: { SSH_PRIVATE_KEY: key.privateKey }
    })
    expectSuccess(result)
    expect(result.jobs.build?.result).toBe('success')
    expect(result.jobs.build?.environment).toBeUndefined()
    expect(result.jobs.deploy?.environment).toBe('production')
    expect(result.jobs.deploy?.concurrency).toEqual({
      group: `airflow-aws-deploy-actions/deploy-app/"${group}"/"127.0.0.1:${server.port}"`,
      cancelInProgress: false
    })
    expect(result.log).toMatch(/Artifact deploy-files-1-[0-9a-f]{16} uploaded \(id \d+, kept 7 day/)
    expect(requests).toHaveLength(1)

    // The deploy job has no checkout: these files reached the server only through the artifact.
    const release = join(serverRoot, 'current')
    expect(readFileSync(join(release, 'BUILD'), 'utf8')).toBe('built\n')
    expect(readFileSync(join(release, 'index.html'), 'utf8')).toBe(
      readFileSync(join(repo, 'examples', 'app', 'www', 'index.html'), 'utf8')
    )
    expect(existsSync(join(release, '.env.example'))).toBe(true)
    expect(statSync(join(release, 'healthcheck.sh')).mode & 0o777).toBe(0o755)
    expect(lstatSync(join(release, 'home.html')).isSymbolicLink()).toBe(true)
    expect(readlinkSync(join(release, 'home.html'))).toBe('index.html')

    expect(JSON.parse(result.outputs.results ?? '')).toEqual([
      expect.objectContaining({ status: 'succeeded', exitCode: 0 })
    ])
    expect(result.outputs.ip).toBe('203.0.113.10')
    expect(Number(result.outputs['exposure-seconds'])).toBeGreaterThan(0)
    // The key never shows in the log.
    expectNoSecret(result.log, key.privateKey, 'private key found in the workflow log')
  })

  test('an artifact that is not the one the build packaged fails before AWS is reached', async () => {
    // Another job of the run replaced the artifact: every downloaded file changes by one byte.
    const tampered =
      (pack: Resolver): Resolver =>
      (uses, kind) => {
        const resolution = pack(uses, kind)
        if (!uses.startsWith('actions/download-artifact@') || !resolution || !('run' in resolution))
          return resolution
        const download = resolution.run
        const replaced: StepResolution = {
          run: async (args) => {
            const done = await download(args)
            const folder = String(done?.outputs?.['download-path'] ?? '')
            for (const name of readdirSync(folder)) appendFileSync(join(folder, name), 'x')
            return done
          }
        }
        return replaced
      }
    const { result, requests } = await run({
      file: '.github/workflows/deploy-app.yml',
      workspace: appCheckout(),
      inputs: inputs(),
      secrets: deployKey(),
      adjustUses: tampered
    })
    expect(result.result).toBe('failure')
    expect(result.jobs.build?.result).toBe('success')
    expect(result.jobs.deploy?.steps.unpack?.outcome).toBe('failure')
    expect(result.jobs.deploy?.steps.deploy?.outcome).toBe('skipped')
    expect(result.jobs.deploy?.annotations).toEqual([
      expect.objectContaining({
        command: 'error',
        message: expect.stringMatching(
          /^digest mismatch: the downloaded build has sha256 [0-9a-f]{64}, the build job packaged sha256 [0-9a-f]{64}; nothing was deployed$/
        )
      })
    ])
    expect(requests).toEqual([])
  })

  test('a build artifact past its retention fails the download, says to re-run all jobs, and reaches no AWS', async () => {
    // A re-run of only the deploy job, after the earlier attempt's artifact expired.
    const expired =
      (pack: Resolver): Resolver =>
      (uses, kind) => {
        const resolution = pack(uses, kind)
        if (!uses.startsWith('actions/download-artifact@') || !resolution || !('run' in resolution))
          return resolution
        const download = resolution.run
        return {
          run: async (args) => {
            // The stand-in keeps each artifact in a folder named for it, as pack-uses.mjs does.
            const name = encodeURIComponent(String(args.with.name))
            expect(existsSync(join(args.artifacts, name))).toBe(true)
            rmSync(join(args.artifacts, name), { recursive: true })
            return download(args)
          }
        }
      }
    const { result, requests } = await run({
      file: '.github/workflows/deploy-app.yml',
      workspace: appCheckout(),
      inputs: inputs(),
      secrets: deployKey(),
      adjustUses: expired
    })
    expect(result.result).toBe('failure')
    expect(result.jobs.deploy?.steps.unpack?.outcome).toBe('skipped')
    expect(result.jobs.deploy?.annotations).toEqual([
      expect.objectContaining({
        command: 'error',
        message: expect.stringContaining('Artifact not found for name: deploy-files-1-')
      }),
      expect.objectContaining({
        command: 'error',
        message: expect.stringContaining(
          'Artifacts are kept 7 days: to deploy a run older than that, re-run all jobs'
        )
      })
    ])
    expect(requests).toEqual([])
  })

  test('a script-only deploy (no upload lines) carries an empty build and runs the script', async () => {
    const marker = join(serverRoot, 'script-only')
    const { result, requests } = await run({
      file: '.github/workflows/deploy-app.yml',
      workspace: appCheckout(),
      inputs: inputs({
        'build-command': '',
        upload: '',
        script: `echo "restarted $RELEASE" > ${marker}`
      }),
      secrets: deployKey()
    })
    expectSuccess(result)
    expect(result.log).toContain('Packaged 0 upload path(s)')
    expect(requests).toHaveLength(1)
    expect(readFileSync(marker, 'utf8')).toBe(`restarted ${COMMIT.slice(0, 8)}\n`)
  })

  test.each([
    ['an absolute local path', '/etc/hostname:/tmp/x', "'/etc/hostname' is outside the workspace"],
    ['a path out of the workspace', '../x:/tmp/x', "'../x' is outside the workspace"],
    [
      'a path the build did not make',
      'app/dist:/tmp/x',
      "'app/dist' does not exist after the build"
    ],
    ['a line without a remote path', 'app/build', "'app/build' is not local:remote"]
  ])('%s fails the build job, naming it, and nothing is deployed', async (_, upload, message) => {
    const { result, requests } = await run({
      file: '.github/workflows/deploy-app.yml',
      workspace: appCheckout(),
      inputs: inputs({ upload }),
      secrets: deployKey()
    })
    expect(result.result).toBe('failure')
    expect(result.jobs.build?.annotations).toEqual([
      expect.objectContaining({ command: 'error', message: expect.stringContaining(message) })
    ])
    expect(result.jobs.deploy?.result).toBe('skipped')
    expect(requests).toEqual([])
  })

  test('a built link that leads out of the build is refused before AWS is reached', async () => {
    const { result, requests } = await run({
      file: '.github/workflows/deploy-app.yml',
      workspace: appCheckout(),
      inputs: inputs({ 'build-command': 'ln -s /proc/self/environ build' }),
      secrets: deployKey()
    })
    expect(result.result).toBe('failure')
    expect(result.jobs.build?.result).toBe('success')
    expect(result.jobs.deploy?.annotations).toEqual([
      expect.objectContaining({
        command: 'error',
        message: expect.stringContaining("'app/build' leads outside the build's files")
      })
    ])
    expect(requests).toEqual([])
  })

  test('the example caller deploys nothing from a tag named like a branch', async () => {
    const { result, requests } = await run({
      file: 'examples/workflows/deploy-app.yml',
      event: 'workflow_dispatch',
      workspace: appCheckout(),
      github: { ref: 'refs/tags/frontend' }
    })
    expect(result.result).toBe('success')
    expect(result.jobs.frontend?.result).toBe('skipped')
    expect(result.jobs.server?.result).toBe('skipped')
    expect(requests).toEqual([])
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
