// The worker refresh end to end: examples/workflows/deploy-dags.yml calls the reusable workflow,
// whose steps deploy to moto's S3 and invoke the bundled refresh function. The function lists the
// workers of a real Auto Scaling group in moto and syncs them through SSM; SSM, which moto cannot
// run, is answered by test-support/refresh-stand-in.mjs, where two local folders stand in for the
// two workers and the stack's sync document (infra/refresh-workers.yaml) runs on each.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createEchoFunction, useLambdaWithoutDocker } from '../../test-support/lambda.mjs'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { startGitHubApi, type GitHubApi } from '../../test-support/github-api.mjs'
import { checksOut, packResolver } from '../../test-support/pack-uses.mjs'
import {
  createWorkerGroup,
  startRefreshStandIn,
  type RefreshStandIn
} from '../../test-support/refresh-stand-in.mjs'
import { nodeRuntimes, runAction } from '../../test-support/runner.mjs'
import { runWorkflow, type WorkflowRun } from '../../test-support/workflow.mjs'
import { bucketContents, filesUnder, withoutManifest } from './helpers.js'

const repo = resolve(import.meta.dirname, '..', '..')
const [node24] = nodeRuntimes()
const REGION = 'eu-west-1'
const BUCKET = 'my-airflow-dags' // as the example caller names it
const FUNCTION = 'airflow-refresh-workers'
const GROUP = 'airflow-workers'
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }
const COMMIT = 'ffac537e6cbbf934b08745a378932722df287a53'

let moto: Moto
let github: GitHubApi
let standIn: RefreshStandIn
let checkout: string
let instanceIds: string[]
const folders: Record<string, string> = {}
const temporary: string[] = []

const client = <T>(Client: new (config: object) => T, endpoint = moto.endpoint): T =>
  new Client({ endpoint, region: REGION, credentials, forcePathStyle: true })

beforeAll(async () => {
  github = await startGitHubApi()
  moto = await startMoto()
  await useLambdaWithoutDocker(moto.endpoint)
  // invoke-lambda reads the function's configuration from moto; its invocation runs the real one.
  await createEchoFunction(moto.endpoint, FUNCTION, { region: REGION })
  await createRegionBucket(BUCKET)
  instanceIds = await createWorkerGroup(moto.endpoint, {
    name: GROUP,
    size: 2,
    region: REGION,
    credentials
  })

  standIn = await startRefreshStandIn({
    moto: moto.endpoint,
    functionName: FUNCTION,
    region: REGION,
    credentials,
    timeoutMs: 60_000,
    functionEnv: {
      REFRESH_MODE: 'ssm',
      DAG_BUCKET: BUCKET,
      DAG_PREFIX: 'dags',
      WORKER_GROUPS: GROUP,
      WORKER_DAG_FOLDER: '/opt/airflow/dags',
      // Run next to the DAG folder of the worker it starts, so each leaves its own mark.
      WORKER_START_COMMAND: 'echo "worker started" > worker-started',
      SSM_DOCUMENT_NAME: 'airflow-sync-dags',
      DEADLINE_MARGIN_SECONDS: '5'
    }
  })
  for (const id of instanceIds) {
    const home = mkdtempSync(join(tmpdir(), 'worker-'))
    temporary.push(home)
    folders[id] = join(home, 'dags')
    standIn.addWorker(id, folders[id])
  }
  checkout = mkdtempSync(join(tmpdir(), 'refresh-checkout-'))
  temporary.push(checkout)
  cpSync(join(repo, 'examples', 'dags'), join(checkout, 'dags'), { recursive: true })
}, 60_000)

afterAll(async () => {
  await github?.stop()
  await standIn?.stop()
  await moto?.stop()
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true })
})

/** A bucket in the example callers' region. */
async function createRegionBucket(name: string): Promise<void> {
  const s3 = client(S3Client)
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: name,
        CreateBucketConfiguration: { LocationConstraint: REGION }
      })
    )
  } finally {
    s3.destroy()
  }
}

function deploy(runId: string): Promise<WorkflowRun> {
  return runWorkflow({
    node: node24?.path,
    resolveUses: packResolver({
      endpoint: standIn.endpoint,
      packSha: '5d1f6a0c2b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c'
    }),
    checkout: checksOut,
    timeoutMs: 120_000,
    file: join(repo, 'examples', 'workflows', 'deploy-dags.yml'),
    event: 'push',
    workspace: checkout,
    github: {
      repository: 'octo-org/airflow',
      sha: COMMIT,
      ref: 'refs/heads/main',
      run_id: runId,
      run_attempt: '1',
      // The deploy report asks GitHub for the pull request merged as the commit: none here.
      api_url: github.url
    }
  })
}

async function deployedFiles(bucket = BUCKET): Promise<Record<string, string>> {
  const s3 = client(S3Client)
  try {
    const stored = withoutManifest(await bucketContents(s3, bucket))
    return Object.fromEntries(
      Object.entries(stored).map(([key, text]) => [key.replace(/^dags\//, ''), text])
    )
  } finally {
    s3.destroy()
  }
}

const lastRun = () => standIn.functionRuns[standIn.functionRuns.length - 1]

describe('a deploy through deploy-dags.yml refreshes every worker', () => {
  test('the first deploy leaves both worker folders byte-identical to the DAG folder, verified', async () => {
    const run = await deploy('5001')
    expect({ result: run.result, log: run.result === 'success' ? '' : run.log }).toEqual({
      result: 'success',
      log: ''
    })
    const deployed = await deployedFiles()
    expect(Object.keys(deployed).length).toBeGreaterThan(3)
    for (const id of instanceIds) expect(filesUnder(folders[id] as string)).toEqual(deployed)
    expect(filesUnder(join(checkout, 'dags'))).toMatchObject(deployed)

    expect(lastRun()?.functionError).toBeUndefined()
    expect(lastRun()?.payload).toMatchObject({
      ok: true,
      kind: 'deploy',
      source: `s3://${BUCKET}/dags/`,
      sha: COMMIT,
      counts: { refreshed: 2, failed: 0, 'timed-out': 0, offline: 0 },
      workers: instanceIds.map((instanceId) => ({
        instanceId,
        status: 'refreshed',
        filesVerified: Object.keys(deployed).length
      }))
    })
    // A deploy syncs; only a launch starts a worker.
    for (const id of instanceIds) {
      expect(existsSync(join(folders[id] as string, '..', 'worker-started'))).toBe(false)
    }
  })

  test('a same-size edit and a delete reach both workers', async () => {
    const edited = join(checkout, 'dags', 'orders_daily.py')
    const before = readFileSync(edited, 'utf8')
    const after = before.replace(/orders/, 'ORDERS')
    expect(after.length).toBe(before.length)
    writeFileSync(edited, after)
    unlinkSync(join(checkout, 'dags', 'sql', 'load_orders.sql'))

    const run = await deploy('5002')
    expect({ result: run.result, log: run.result === 'success' ? '' : run.log }).toEqual({
      result: 'success',
      log: ''
    })
    const deployed = await deployedFiles()
    expect(deployed['orders_daily.py']).toBe(after)
    expect(deployed['sql/load_orders.sql']).toBeUndefined()
    for (const id of instanceIds) {
      expect(filesUnder(folders[id] as string)).toEqual(deployed)
    }
    // The changed paths were asked about and verified by name.
    expect(lastRun()?.payload).toMatchObject({ ok: true, counts: { refreshed: 2 } })
  })

  test('a worker that cannot sync fails the deploy, naming it and why', async () => {
    const [broken, healthy] = instanceIds as [string, string]
    // A file where the worker's DAG folder should be: the sync script cannot create it.
    rmSync(folders[broken] as string, { recursive: true })
    writeFileSync(folders[broken] as string, 'not a folder\n')
    writeFileSync(join(checkout, 'dags', 'new_dag.py'), 'from airflow import DAG\n')
    try {
      const run = await deploy('5003')
      expect(run.result).toBe('failure')
      expect(run.log).toContain(`1 of 2 workers not refreshed: ${broken} failed`)
      expect(run.log).not.toContain(`${healthy} failed`)
      expect(filesUnder(folders[healthy] as string)).toEqual(await deployedFiles())
      expect(lastRun()).toMatchObject({
        functionError: 'Unhandled',
        payload: { errorType: 'RefreshFailed' }
      })
    } finally {
      rmSync(folders[broken] as string)
    }
  })
})

describe('events sent to the function directly', () => {
  const invoke = async (event: unknown) => {
    const lambda = client(LambdaClient, standIn.endpoint)
    try {
      const answer = await lambda.send(
        new InvokeCommand({ FunctionName: FUNCTION, Payload: JSON.stringify(event) })
      )
      return {
        functionError: answer.FunctionError,
        payload: JSON.parse(Buffer.from(answer.Payload ?? []).toString('utf8'))
      }
    } finally {
      lambda.destroy()
    }
  }

  test('a full resync converges a worker that drifted, and verifies both', async () => {
    const [drifted] = instanceIds as [string]
    // The worker that could not sync above is back, with an empty folder.
    for (const id of instanceIds) mkdirSync(folders[id] as string, { recursive: true })
    writeFileSync(join(folders[drifted] as string, 'stray.py'), 'print("left behind")\n')
    writeFileSync(join(folders[drifted] as string, 'orders_daily.py'), 'tampered\n')
    const answer = await invoke({ resync: true, reason: 'after a restore' })
    expect(answer.functionError).toBeUndefined()
    expect(answer.payload).toMatchObject({ ok: true, kind: 'resync', counts: { refreshed: 2 } })
    const deployed = await deployedFiles()
    for (const id of instanceIds) expect(filesUnder(folders[id] as string)).toEqual(deployed)
  })

  test('a launched worker is synced, started, and its lifecycle action continued', async () => {
    const newcomer = 'i-0a1b2c3d4e5f60718'
    const home = mkdtempSync(join(tmpdir(), 'worker-'))
    temporary.push(home)
    standIn.addWorker(newcomer, join(home, 'dags'))
    const answer = await invoke(launchEvent(newcomer))
    expect(answer.functionError).toBeUndefined()
    expect(answer.payload).toMatchObject({
      ok: true,
      kind: 'launch',
      workers: [{ instanceId: newcomer, status: 'refreshed' }]
    })
    expect(filesUnder(join(home, 'dags'))).toEqual(await deployedFiles())
    expect(readFileSync(join(home, 'worker-started'), 'utf8')).toBe('worker started\n')
    expect(standIn.lifecycleCalls.filter((call) => call.InstanceId === newcomer)).toEqual([
      expect.objectContaining({
        action: 'CompleteLifecycleAction',
        AutoScalingGroupName: GROUP,
        LifecycleActionResult: 'CONTINUE'
      })
    ])
  })

  test('a launched worker whose sync fails is abandoned, and never started', async () => {
    const newcomer = 'i-0a1b2c3d4e5f60719'
    const home = mkdtempSync(join(tmpdir(), 'worker-'))
    temporary.push(home)
    writeFileSync(join(home, 'dags'), 'not a folder\n')
    standIn.addWorker(newcomer, join(home, 'dags'))
    const answer = await invoke(launchEvent(newcomer))
    expect(answer.functionError).toBe('Unhandled')
    expect(answer.payload.errorMessage).toMatch(
      new RegExp(`^1 of 1 worker not refreshed: ${newcomer} failed`)
    )
    expect(existsSync(join(home, 'worker-started'))).toBe(false)
    expect(standIn.lifecycleCalls.filter((call) => call.InstanceId === newcomer)).toEqual([
      expect.objectContaining({
        action: 'CompleteLifecycleAction',
        LifecycleActionResult: 'ABANDON'
      })
    ])
  })

  test('an event naming another bucket is refused before any worker is touched', async () => {
    const runs = standIn.functionRuns.length
    const answer = await invoke({
      repository: 'octo-org/airflow',
      sha: COMMIT,
      ref: 'refs/heads/main',
      bucket: 'someone-elses-bucket',
      prefix: 'dags',
      runId: 1,
      runAttempt: 1,
      changes: { uploaded: [], deleted: [] }
    })
    expect(answer).toEqual({
      functionError: 'Unhandled',
      payload: expect.objectContaining({
        errorType: 'EventRefused',
        errorMessage: `The deploy event names bucket 'someone-elses-bucket'; this function refreshes from ${BUCKET} only`
      })
    })
    // Refused before the first line of work: no group listed, no command sent.
    expect(standIn.functionRuns[runs]?.log).toEqual([
      `ERROR EventRefused: ${answer.payload.errorMessage}`
    ])
  })
})

function launchEvent(instanceId: string) {
  return {
    version: '0',
    id: '7e3b5c1a-0000-4000-8000-000000000000',
    'detail-type': 'EC2 Instance-launch Lifecycle Action',
    source: 'aws.autoscaling',
    account: '123456789012',
    time: new Date().toISOString(),
    region: REGION,
    resources: [],
    detail: {
      LifecycleActionToken: '87654321-4321-4321-4321-210987654321',
      AutoScalingGroupName: GROUP,
      LifecycleHookName: 'sync-dags-before-start',
      EC2InstanceId: instanceId,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      Origin: 'EC2',
      Destination: 'AutoScalingGroup'
    }
  }
}

describe('efs mode: the bundled function converges a mounted folder itself', () => {
  test('a deploy event leaves the folder identical to the prefix and verified; a resync repairs it', async () => {
    const { makeHandler, awsDependencies } = await import(
      join(repo, 'dist', 'refresh-workers', 'index.js')
    )
    const mount = mkdtempSync(join(tmpdir(), 'efs-'))
    temporary.push(mount)
    // Its own bucket, filled by the bundled deploy-dags.
    const bucket = 'efs-airflow-dags'
    await createRegionBucket(bucket)
    const upload = await runAction({
      action: 'deploy-dags',
      node: node24?.path,
      workspace: checkout,
      env: {
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey
      },
      inputs: { bucket, region: REGION, 'endpoint-url': moto.endpoint }
    })
    expect(upload.errors).toEqual([])
    const handler = makeHandler(
      (config: unknown) =>
        awsDependencies(config, { endpoint: moto.endpoint, region: REGION, credentials }, () => {}),
      { REFRESH_MODE: 'efs', DAG_BUCKET: bucket, DAG_PREFIX: 'dags', EFS_MOUNT_PATH: mount }
    )
    const context = { getRemainingTimeInMillis: () => 60_000 }
    const deployed = await deployedFiles(bucket)
    const event = {
      repository: 'octo-org/airflow',
      sha: COMMIT,
      ref: 'refs/heads/main',
      bucket,
      prefix: 'dags',
      runId: 9,
      runAttempt: 1,
      changes: { uploaded: ['dags/orders_daily.py'], deleted: ['dags/sql/load_orders.sql'] }
    }
    const result = await handler(event, context)
    expect(result).toMatchObject({
      ok: true,
      workers: [
        { instanceId: mount, status: 'refreshed', filesVerified: Object.keys(deployed).length }
      ]
    })
    expect(filesUnder(mount)).toEqual(deployed)

    writeFileSync(join(mount, 'orders_daily.py'), 'edited on the share\n')
    writeFileSync(join(mount, 'stray.py'), 'x = 1\n')
    await expect(handler({ resync: true }, context)).resolves.toMatchObject({ ok: true })
    expect(filesUnder(mount)).toEqual(deployed)
  })
})
