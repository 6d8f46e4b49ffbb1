// The MWAA path of the reusable workflows, run end to end as in workflows.test.ts: the example
// caller for MWAA calling deploy-dags.yml, and dags-check.yml's plan, with the bundled actions
// against moto's S3 and the local MWAA endpoint (which passes S3's requests on to moto, so the
// configure-aws-credentials stand-in points every call at it).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import {
  ScriptedAirflow,
  startMwaaStandIn,
  type MwaaStandIn,
  type StandInEnvironment
} from '../../test-support/mwaa.mjs'
import { startGitHubApi, type GitHubApi } from '../../test-support/github-api.mjs'
import { checksOut, packResolver } from '../../test-support/pack-uses.mjs'
import { nodeRuntimes } from '../../test-support/runner.mjs'
import { runWorkflow, type WorkflowRun } from '../../test-support/workflow.mjs'
import { bucketContents, withoutManifest } from './helpers.js'

const repo = resolve(import.meta.dirname, '..', '..')
const [node24] = nodeRuntimes()
const REGION = 'eu-west-1'
const BUCKET = 'airflow-my-environment'
const ENVIRONMENT = 'my-environment'
const COMMIT = 'ffac537e6cbbf934b08745a378932722df287a53'
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }

let moto: Moto
let mwaa: MwaaStandIn
/** GitHub's REST API for the jobs that comment, with the models' job tokens as a bot's. */
let github: GitHubApi
let environment: StandInEnvironment
let airflow: ScriptedAirflow
const folders: string[] = []

beforeAll(async () => {
  const bot = { login: 'github-actions[bot]', type: 'Bot' as const }
  github = await startGitHubApi({
    tokens: { ghs_workflow_model_token: bot, ghs_runner_model_token: bot }
  })
  github.addPullRequest('octo-org/airflow', 7)
  moto = await startMoto()
  mwaa = await startMwaaStandIn({ s3Endpoint: moto.endpoint, region: REGION })
  const s3 = new S3Client({ endpoint: moto.endpoint, region: REGION, credentials })
  await s3.send(
    new CreateBucketCommand({
      Bucket: BUCKET,
      CreateBucketConfiguration: { LocationConstraint: REGION }
    })
  )
  await s3.send(
    new PutBucketVersioningCommand({
      Bucket: BUCKET,
      VersioningConfiguration: { Status: 'Enabled' }
    })
  )
  s3.destroy()
  airflow = new ScriptedAirflow({ version: '2.10.3' })
  environment = mwaa.addEnvironment({ name: ENVIRONMENT, bucket: BUCKET, airflow })
}, 60_000)

afterAll(async () => {
  await github?.stop()
  await mwaa?.stop()
  await moto?.stop()
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
})

/** A user's repository: the example DAGs, a plugins folder, requirements and a startup script. */
function mwaaRepository(requirements = 'apache-airflow-providers-amazon==9.2.0\n'): string {
  const dir = mkdtempSync(join(tmpdir(), 'workflow-mwaa-'))
  folders.push(dir)
  cpSync(join(repo, 'examples', 'dags'), join(dir, 'dags'), { recursive: true })
  mkdirSync(join(dir, 'plugins', 'lineage'), { recursive: true })
  writeFileSync(join(dir, 'plugins', 'lineage', '__init__.py'), 'LINEAGE = True\n')
  writeFileSync(join(dir, 'requirements.txt'), requirements)
  writeFileSync(join(dir, 'startup.sh'), '#!/bin/sh\nexport LINEAGE=on\n')
  return dir
}

function run(file: string, checkout: string, event: string) {
  const pullRequest =
    event === 'pull_request'
      ? {
          ref: 'refs/pull/7/merge',
          event: { pull_request: { number: 7, head: { repo: { full_name: 'octo-org/airflow' } } } }
        }
      : {}
  return runWorkflow({
    file,
    event,
    node: node24?.path,
    resolveUses: packResolver({ endpoint: mwaa.endpoint, packSha: COMMIT }),
    checkout: checksOut,
    workspace: checkout,
    timeoutMs: 120_000,
    github: {
      repository: 'octo-org/airflow',
      sha: COMMIT,
      ref: 'refs/heads/main',
      run_id: '4343',
      run_attempt: '1',
      api_url: github.url,
      ...pullRequest
    }
  })
}

const expectSuccess = (run: WorkflowRun) =>
  expect({ result: run.result, log: run.result === 'success' ? '' : run.log }).toEqual({
    result: 'success',
    log: ''
  })

function called(run: WorkflowRun, job: string): WorkflowRun {
  const inner = run.jobs[job]?.workflow
  if (inner === undefined) throw new Error(`job ${job} called no workflow:\n${run.log}`)
  return inner
}

/**
 * The scheduler parses the DAG folder when the import check first asks: the check polls every
 * 15 s, and this way its first look already sees the parse.
 */
function parseWhenAsked(): void {
  let parsed = false
  mwaa.beforeAnswer = (call) => {
    if (call.operation === 'InvokeRestApi' && call.name === ENVIRONMENT && !parsed) {
      parsed = true
      airflow.parse()
    }
  }
}

const operations = (name: string) =>
  mwaa.calls.filter((call) => call.name === ENVIRONMENT && call.operation === name)

describe('examples/workflows/deploy-dags-mwaa.yml → deploy-dags.yml', () => {
  let checkout: string

  beforeAll(() => {
    checkout = mwaaRepository()
    const example = readFileSync(
      join(repo, 'examples', 'workflows', 'deploy-dags-mwaa.yml'),
      'utf8'
    )
    // Installing Airflow for the import check needs the internet, which this machine lacks; the
    // validation then compiles the DAGs only.
    const offline = example
      .replace('      airflow-version: 2.10.3\n', '')
      .replace('      requirements: requirements.txt\n', '')
    expect(offline).not.toBe(example)
    // The stand-in's scheduler parses the moment the check asks: no copy to wait for.
    writeFileSync(
      join(checkout, 'caller.yml'),
      offline.replace(
        '      mwaa-environment: my-environment\n',
        '      mwaa-environment: my-environment\n      mwaa-sync-wait: 0\n'
      )
    )
  })

  test('a push syncs the DAGs, applies the environment files in one update and asks Airflow', async () => {
    airflow.setFile('orders_daily.py', { dags: ['orders_daily'] })
    parseWhenAsked()
    environment.scriptUpdates({ polls: 0 })
    const result = await run(join(checkout, 'caller.yml'), checkout, 'push')
    expectSuccess(result)
    const pipeline = called(result, 'deploy')
    expect(pipeline.outputs).toMatchObject({ 'mwaa-updated': 'true', 'mwaa-status': 'AVAILABLE' })
    expect(pipeline.outputs.refreshed).toBe('false')

    const stored = withoutManifest(await bucketContentsIn())
    expect(Object.keys(stored).sort()).toEqual(
      expect.arrayContaining([
        'dags/orders_daily.py',
        'plugins.zip',
        'requirements.txt',
        'startup.sh'
      ])
    )
    expect(operations('UpdateEnvironment')).toHaveLength(1)
    expect(Object.keys(environment.files).sort()).toEqual([
      'plugins',
      'requirements',
      'startup-script'
    ])
    // The DAG sync's changes reached the import check, which asked Airflow through InvokeRestApi.
    expect(operations('InvokeRestApi').length).toBeGreaterThan(0)
    expect(pipeline.jobs.deploy?.log).toContain('1 changed DAG file(s) parsed, 0 import error(s)')
    // The picture of the deploy ends at the environment, not at a refresh function.
    expect(pipeline.jobs.report?.summary).toContain('```mermaid')
    expect(pipeline.jobs.report?.summary).toContain(ENVIRONMENT)
  })

  test('the same commit again starts no update', async () => {
    parseWhenAsked()
    const before = operations('UpdateEnvironment').length
    const result = await run(join(checkout, 'caller.yml'), checkout, 'push')
    expectSuccess(result)
    expect(called(result, 'deploy').outputs['mwaa-updated']).toBe('false')
    expect(operations('UpdateEnvironment')).toHaveLength(before)
  })

  function checkCaller(checkout: string): string {
    const caller = join(checkout, 'check.yml')
    writeFileSync(
      caller,
      [
        'name: Check DAGs',
        'on: pull_request',
        'permissions:',
        '  contents: read',
        '  id-token: write',
        'jobs:',
        '  check:',
        `    uses: octo-org/airflow-aws-deploy-actions/.github/workflows/dags-check.yml@<full-commit-sha>`,
        '    with:',
        `      aws-region: ${REGION}`,
        '      role-to-assume: arn:aws:iam::123456789012:role/airflow-dag-planner',
        `      bucket: ${BUCKET}`,
        `      mwaa-environment: ${ENVIRONMENT}`,
        '      mwaa-requirements: requirements.txt',
        '      mwaa-plugins: plugins',
        '      mwaa-startup-script: startup.sh',
        ''
      ].join('\n')
    )
    return caller
  }

  test("a pull request's plan says that merging a new requirements file starts an update", async () => {
    const changed = mwaaRepository('apache-airflow-providers-amazon==9.3.0\n')
    const caller = checkCaller(changed)
    const versions = { ...environment.files }
    const updates = operations('UpdateEnvironment').length
    const result = await run(caller, changed, 'pull_request')
    expectSuccess(result)
    const check = called(result, 'check')
    expect(check.outputs['mwaa-updated']).toBe('true')
    expect(check.jobs.plan?.summary).toContain(
      `Merging starts an update of the environment \`${ENVIRONMENT}\``
    )
    expect(check.jobs.plan?.summary).toContain('would be uploaded')
    // Read-only: nothing uploaded, nothing updated.
    expect(operations('UpdateEnvironment')).toHaveLength(updates)
    expect(environment.files).toEqual(versions)
  })

  test("a pull request's plan says that merging the deployed files starts no update", async () => {
    const same = mwaaRepository()
    const result = await run(checkCaller(same), same, 'pull_request')
    expectSuccess(result)
    const check = called(result, 'check')
    expect(check.outputs['mwaa-updated']).toBe('false')
    expect(check.jobs.plan?.summary).toContain(
      `Merging starts no update of the environment \`${ENVIRONMENT}\``
    )
  })
})

async function bucketContentsIn() {
  const s3 = new S3Client({ endpoint: moto.endpoint, region: REGION, credentials })
  try {
    return await bucketContents(s3, BUCKET)
  } finally {
    s3.destroy()
  }
}
