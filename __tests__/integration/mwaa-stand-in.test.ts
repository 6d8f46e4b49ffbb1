// The local MWAA endpoint (test-support/mwaa.mjs) driven by boto3, the real AWS client, so that
// its wire protocol is MWAA's as botocore's model defines it: rest-json, SigV4 for `airflow`,
// epoch-second timestamps, errors by x-amzn-errortype. Object versions are moto's, in a versioned
// bucket.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { PutBucketVersioningCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { SignatureV4 } from '@smithy/signature-v4'
import type { SourceData } from '@smithy/types'
import { spawn, spawnSync } from 'node:child_process'
import { createHash, createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import {
  ScriptedAirflow,
  startMwaaStandIn,
  type EnvironmentSpec,
  type MwaaStandIn
} from '../../test-support/mwaa.mjs'
import { createBucket, credentials, s3For } from './helpers.js'

const DRIVER = join(import.meta.dirname, '..', '..', 'test-support', 'mwaa_calls.py')

// boto3 comes with moto: the Python moto_server runs on, else python3.
const python = (() => {
  const server = spawnSync('sh', ['-c', 'command -v moto_server'], {
    encoding: 'utf8'
  }).stdout.trim()
  const shebang = server === '' ? '' : readFileSync(server, 'utf8').split('\n')[0]!
  return /^#!\S*python/.test(shebang) ? shebang.slice(2).trim() : 'python3'
})()

/** boto3's response, or the ClientError's code, message, HTTP status and other members. */
interface Answer {
  ok?: Record<string, unknown>
  error?: string
  message?: string
  httpStatus?: number
  fields?: Record<string, unknown>
}

/** Makes `calls` (boto3 method name, parameters) with one boto3 client, in order. */
function boto(
  calls: [string, Record<string, unknown>][],
  keys: { accessKeyId: string; secretAccessKey: string } = {
    accessKeyId: credentials.AWS_ACCESS_KEY_ID,
    secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY
  }
): Promise<Answer[]> {
  // Not spawnSync: the stand-in answers from this process's event loop.
  return new Promise((resolve, reject) => {
    const child = spawn(python, [DRIVER], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.once('error', reject)
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`boto3 driver exited with ${code}: ${stderr}`))
      else resolve(JSON.parse(stdout) as Answer[])
    })
    child.stdin.end(
      JSON.stringify({ endpoint: mwaa.endpoint, region: mwaa.region, ...keys, calls })
    )
  })
}

const get = (name: string): [string, Record<string, unknown>] => ['get_environment', { Name: name }]
const update = (
  name: string,
  fields: Record<string, string>
): [string, Record<string, unknown>] => ['update_environment', { Name: name, ...fields }]
const invoke = (
  name: string,
  path: string,
  query?: Record<string, unknown>
): [string, Record<string, unknown>] => [
  'invoke_rest_api',
  { Name: name, Path: path, Method: 'GET', ...(query ? { QueryParameters: query } : {}) }
]

function environmentOf(answer: Answer | undefined): Record<string, unknown> {
  if (answer?.ok === undefined) throw new Error(`not an answer: ${JSON.stringify(answer)}`)
  return answer.ok.Environment as Record<string, unknown>
}
const statuses = (answers: Answer[]) => answers.map((answer) => environmentOf(answer).Status)

let moto: Moto
let s3: S3Client
let mwaa: MwaaStandIn
let bucket: string
/** Object versions in the bucket, by name. */
const versions: Record<string, string> = {}
let environments = 0

async function put(key: string, body: string): Promise<string> {
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))
  return put.VersionId!
}

function newEnvironment(spec: Partial<EnvironmentSpec> = {}) {
  return mwaa.addEnvironment({
    name: `env-${++environments}`,
    bucket,
    files: {
      requirements: { key: 'requirements.txt', versionId: versions.requirements1 },
      plugins: { key: 'plugins.zip', versionId: versions.plugins1 }
    },
    ...spec
  })
}

beforeAll(async () => {
  moto = await startMoto()
  s3 = s3For(moto.endpoint)
  bucket = await createBucket(s3, 'mwaa')
  await s3.send(
    new PutBucketVersioningCommand({
      Bucket: bucket,
      VersioningConfiguration: { Status: 'Enabled' }
    })
  )
  versions.requirements1 = await put('requirements.txt', 'apache-airflow-providers-amazon\n')
  versions.requirements2 = await put('requirements.txt', 'apache-airflow-providers-amazon\nrich\n')
  versions.plugins1 = await put('plugins.zip', 'PK plugins one')
  versions.startup1 = await put('startup.sh', '#!/bin/sh\nexport A=1\n')
  mwaa = await startMwaaStandIn({ s3Endpoint: moto.endpoint, maxResponseBytes: 64 * 1024 })
})
afterAll(async () => {
  await mwaa?.stop()
  s3?.destroy()
  await moto?.stop()
})

describe('GetEnvironment', () => {
  it('answers an unknown environment with ResourceNotFoundException (404)', async () => {
    const [answer] = await boto([get('no-such-env')])
    expect(answer).toMatchObject({ error: 'ResourceNotFoundException', httpStatus: 404 })
    expect(answer?.message).toContain('no-such-env')
    const call = await mwaa.waitForCall((seen) => seen.name === 'no-such-env')
    expect(call).toMatchObject({ operation: 'GetEnvironment', status: 404 })
  })

  it("gives the environment in the model's shape, timestamps in epoch seconds", async () => {
    const before = Date.now()
    const environment = newEnvironment({ airflowVersion: '3.0.6' })
    const [answer] = await boto([get(environment.name)])
    const described = environmentOf(answer)
    expect(described).toMatchObject({
      Name: environment.name,
      Arn: `arn:aws:airflow:us-east-1:123456789012:environment/${environment.name}`,
      Status: 'AVAILABLE',
      AirflowVersion: '3.0.6',
      SourceBucketArn: `arn:aws:s3:::${bucket}`,
      DagS3Path: 'dags',
      RequirementsS3Path: 'requirements.txt',
      RequirementsS3ObjectVersion: versions.requirements1,
      PluginsS3Path: 'plugins.zip',
      PluginsS3ObjectVersion: versions.plugins1,
      LastUpdate: { Status: 'SUCCESS', Source: 'CUSTOMER' }
    })
    expect(described.StartupScriptS3Path).toBeUndefined()
    // On the wire (what describe() gives) the timestamps are numbers, as rest-json has them.
    const wire = environment.describe()
    expect(typeof wire.CreatedAt).toBe('number')
    expect(typeof (wire.LastUpdate as { CreatedAt: unknown }).CreatedAt).toBe('number')
    // botocore turned the epoch seconds into a datetime, which the driver writes as ISO text.
    const created = Date.parse(String((described.LastUpdate as { CreatedAt: string }).CreatedAt))
    expect(created).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000)
    expect(created).toBeLessThanOrEqual(Date.now())
  })
})

describe('UpdateEnvironment', () => {
  it('accepts existing versions, stays UPDATING for the scripted polls, then applies them', async () => {
    const environment = newEnvironment()
    const answers = await boto([
      update(environment.name, {
        RequirementsS3Path: 'requirements.txt',
        RequirementsS3ObjectVersion: versions.requirements2!,
        StartupScriptS3Path: 'startup.sh',
        StartupScriptS3ObjectVersion: versions.startup1!
      }),
      get(environment.name),
      // Refused while the update runs, whoever asks.
      update(environment.name, {
        RequirementsS3Path: 'requirements.txt',
        RequirementsS3ObjectVersion: versions.requirements1!
      }),
      get(environment.name),
      get(environment.name)
    ])
    expect(answers[0]).toEqual({ ok: { Arn: environment.arn } })
    expect(answers[2]).toMatchObject({ error: 'ValidationException', httpStatus: 400 })
    expect(answers[2]?.message).toBe('Environments with UPDATING status cannot be updated.')
    expect(statuses([answers[1]!, answers[3]!, answers[4]!])).toEqual([
      'UPDATING',
      'UPDATING',
      'AVAILABLE'
    ])
    expect(environmentOf(answers[1]).LastUpdate).toMatchObject({
      Status: 'PENDING',
      Source: 'CUSTOMER'
    })
    expect(environmentOf(answers[4])).toMatchObject({
      RequirementsS3ObjectVersion: versions.requirements2,
      StartupScriptS3Path: 'startup.sh',
      StartupScriptS3ObjectVersion: versions.startup1,
      // Not named in the update: kept.
      PluginsS3ObjectVersion: versions.plugins1,
      LastUpdate: { Status: 'SUCCESS' }
    })
    const sent = await mwaa.waitForCall(
      (call) => call.operation === 'UpdateEnvironment' && call.name === environment.name
    )
    expect(sent.body).toEqual({
      RequirementsS3Path: 'requirements.txt',
      RequirementsS3ObjectVersion: versions.requirements2,
      StartupScriptS3Path: 'startup.sh',
      StartupScriptS3ObjectVersion: versions.startup1
    })
    expect(environment.updates.map((made) => made.outcome)).toEqual(['SUCCESS'])
  })

  it('refuses a version the bucket does not hold, and a path without a version', async () => {
    const environment = newEnvironment()
    const answers = await boto([
      update(environment.name, {
        PluginsS3Path: 'plugins.zip',
        PluginsS3ObjectVersion: versions.requirements1!
      }),
      update(environment.name, { RequirementsS3Path: 'requirements.txt' }),
      update(environment.name, {
        StartupScriptS3Path: 'missing.sh',
        StartupScriptS3ObjectVersion: versions.startup1!
      }),
      get(environment.name)
    ])
    for (const refused of answers.slice(0, 3)) {
      expect(refused).toMatchObject({ error: 'ValidationException', httpStatus: 400 })
    }
    expect(answers[0]?.message).toContain(`version ${versions.requirements1}`)
    expect(answers[0]?.message).toContain('plugins.zip')
    expect(answers[1]?.message).toContain('RequirementsS3ObjectVersion')
    expect(answers[2]?.message).toContain('missing.sh')
    expect(environmentOf(answers[3])).toMatchObject({
      Status: 'AVAILABLE',
      PluginsS3ObjectVersion: versions.plugins1
    })
    expect(environment.updates).toEqual([])
  })

  it('fails as scripted: ROLLING_BACK once, then UPDATE_FAILED with the error, files kept', async () => {
    const environment = newEnvironment()
    environment.scriptUpdates({
      polls: 1,
      error: { code: 'INCORRECT_CONFIGURATION', message: 'pip install of rich==0.0 failed' }
    })
    const answers = await boto([
      update(environment.name, {
        RequirementsS3Path: 'requirements.txt',
        RequirementsS3ObjectVersion: versions.requirements2!
      }),
      get(environment.name),
      get(environment.name),
      get(environment.name),
      update(environment.name, {
        RequirementsS3Path: 'requirements.txt',
        RequirementsS3ObjectVersion: versions.requirements2!
      }),
      get(environment.name),
      get(environment.name),
      get(environment.name)
    ])
    expect(statuses(answers.slice(1, 4))).toEqual(['UPDATING', 'ROLLING_BACK', 'UPDATE_FAILED'])
    expect(answers[2]?.ok).toBeDefined()
    expect(environmentOf(answers[3])).toMatchObject({
      RequirementsS3ObjectVersion: versions.requirements1,
      LastUpdate: {
        Status: 'FAILED',
        Error: {
          ErrorCode: 'INCORRECT_CONFIGURATION',
          ErrorMessage: 'pip install of rich==0.0 failed'
        }
      }
    })
    // From UPDATE_FAILED an update is accepted; the next script is the default one.
    expect(answers[4]?.ok).toEqual({ Arn: environment.arn })
    expect(statuses(answers.slice(5))).toEqual(['UPDATING', 'UPDATING', 'AVAILABLE'])
    expect(environmentOf(answers[7]).LastUpdate).not.toHaveProperty('Error')
  })

  it("refuses while someone else's update runs, one started before or during the test", async () => {
    const environment = newEnvironment({
      status: 'UPDATING',
      runningUpdate: { polls: 1, files: { plugins: { key: 'plugins.zip', versionId: 'theirs' } } }
    })
    const change = update(environment.name, {
      RequirementsS3Path: 'requirements.txt',
      RequirementsS3ObjectVersion: versions.requirements2!
    })
    const first = await boto([change, get(environment.name), get(environment.name), change])
    expect(first[0]?.error).toBe('ValidationException')
    expect(statuses([first[1]!, first[2]!])).toEqual(['UPDATING', 'AVAILABLE'])
    expect(environmentOf(first[2]).PluginsS3ObjectVersion).toBe('theirs')
    expect(first[3]?.ok).toEqual({ Arn: environment.arn })
    expect(environment.updates.map((made) => made.by)).toEqual(['test', 'UpdateEnvironment'])

    environment.finishUpdate()
    await boto([get(environment.name)])
    environment.startUpdate({ polls: 0, error: { code: 'X', message: 'theirs failed' } })
    const second = await boto([change, get(environment.name), change])
    expect(second[0]?.message).toBe('Environments with UPDATING status cannot be updated.')
    expect(environmentOf(second[1]).Status).toBe('ROLLING_BACK')
    expect(second[2]?.message).toBe('Environments with ROLLING_BACK status cannot be updated.')

    environment.setStatus('MAINTENANCE')
    const [maintenance] = await boto([change])
    expect(maintenance?.message).toBe('Environments with MAINTENANCE status cannot be updated.')
  })
})

describe('one endpoint for S3 and MWAA', () => {
  it("passes S3's requests on to moto, so an upload through it can be applied", async () => {
    const environment = newEnvironment()
    const throughStandIn = s3For(mwaa.endpoint)
    try {
      const uploaded = await throughStandIn.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'plugins.zip', Body: 'PK plugins two' })
      )
      const [accepted] = await boto([
        update(environment.name, {
          PluginsS3Path: 'plugins.zip',
          PluginsS3ObjectVersion: uploaded.VersionId!
        })
      ])
      expect(accepted?.ok).toEqual({ Arn: environment.arn })
      expect(mwaa.forwarded).toContainEqual(expect.objectContaining({ method: 'PUT', status: 200 }))
    } finally {
      throughStandIn.destroy()
    }
  })
})

describe('a collision at the last moment', () => {
  it("refuses the update when someone else's starts just before it arrives", async () => {
    const environment = newEnvironment()
    mwaa.beforeAnswer = (call) => {
      if (call.operation === 'UpdateEnvironment' && call.name === environment.name) {
        environment.startUpdate({ polls: 0, source: 'SYSTEM' })
      }
    }
    try {
      const answers = await boto([
        get(environment.name),
        update(environment.name, {
          RequirementsS3Path: 'requirements.txt',
          RequirementsS3ObjectVersion: versions.requirements2!
        }),
        get(environment.name)
      ])
      expect(environmentOf(answers[0]).Status).toBe('AVAILABLE')
      expect(answers[1]).toMatchObject({ error: 'ValidationException', httpStatus: 400 })
      expect(environmentOf(answers[2])).toMatchObject({
        Status: 'AVAILABLE',
        RequirementsS3ObjectVersion: versions.requirements1,
        LastUpdate: { Status: 'SUCCESS', Source: 'SYSTEM' }
      })
    } finally {
      mwaa.beforeAnswer = undefined
    }
  })
})

describe('ScriptedAirflow on its own', () => {
  const list = (airflow: ScriptedAirflow, path: string, query: Record<string, unknown> = {}) =>
    airflow.answer({ method: 'GET', path, query })

  it("keeps a broken file's DAGs from their last good parse, and forgets a removed file", () => {
    const airflow = new ScriptedAirflow()
    airflow.setFile('a.py', { dags: ['a'] })
    airflow.setFile('b.py', { dags: ['b'] })
    const good = airflow.parse()
    airflow.setFile('a.py', { importError: 'NameError' })
    airflow.removeFile('b.py')
    expect(list(airflow, '/dags').body).toMatchObject({ total_entries: 2 })
    airflow.parse()
    expect(list(airflow, '/dags').body).toEqual({
      dags: [
        expect.objectContaining({
          dag_id: 'a',
          has_import_errors: true,
          last_parsed_time: airflow.timestamp(good)
        })
      ],
      total_entries: 1
    })
    expect(list(airflow, '/importErrors').body).toMatchObject({
      import_errors: [{ filename: '/usr/local/airflow/dags/a.py', stack_trace: 'NameError' }]
    })
    airflow.setFile('a.py', { dags: ['a'] })
    airflow.parse(['a.py'])
    expect(list(airflow, '/importErrors').body).toEqual({ import_errors: [], total_entries: 0 })
  })

  it('parses after the set number of /dags requests; the next one sees it', () => {
    const airflow = new ScriptedAirflow({ version: '3.0.6' })
    airflow.setFile('a.py', { dags: ['a'] })
    airflow.parseAfterDagsRequests(2)
    const totals = [1, 2, 3].map(
      () => (list(airflow, '/dags').body as { total_entries: number }).total_entries
    )
    expect(totals).toEqual([0, 0, 1])
    expect(airflow.parses).toHaveLength(1)
  })

  it("reads pages as Airflow does: 0 is the fallback size, bad values are Airflow's own errors", () => {
    const airflow = new ScriptedAirflow({ maxPageLimit: 3 })
    airflow.setFile('many.py', { dags: ['a', 'b', 'c', 'd', 'e'] })
    airflow.parse()
    const ids = (query: Record<string, unknown>) =>
      (list(airflow, '/dags', query).body as { dags: { dag_id: string }[] }).dags.map(
        (dag) => dag.dag_id
      )
    // [api] fallback_page_limit (100) for 0; maximum_page_limit caps a larger one.
    expect(ids({ limit: 0 })).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(ids({ limit: 4 })).toEqual(['a', 'b', 'c'])
    expect(ids({ limit: '2', offset: '3' })).toEqual(['d', 'e'])
    expect(ids({ offset: 9 })).toEqual([])
    expect(list(airflow, '/dags', { limit: -1 })).toMatchObject({ status: 400 })
    const three = new ScriptedAirflow({ version: '3.0.6' })
    expect(list(three, '/dags', { offset: -1 })).toMatchObject({
      status: 422,
      body: { detail: [{ loc: ['query', 'offset'] }] }
    })
    expect(list(three, '/variables')).toEqual({ status: 404, body: { detail: expect.any(String) } })
    expect(three.answer({ method: 'POST', path: '/dags', query: {} }).status).toBe(405)
  })
})

describe('InvokeRestApi', () => {
  it("pages Airflow 2's DAGs and import errors as the scheduler parsed them", async () => {
    const airflow = new ScriptedAirflow({ version: '2.10.3' })
    const environment = newEnvironment({ airflow })
    const ids = Array.from({ length: 130 }, (_, i) => `dag_${String(i).padStart(3, '0')}`)
    airflow.setFile('many.py', { dags: ids.slice(0, 120) })
    airflow.setFile('team/few.py', { dags: ids.slice(120) })
    airflow.setFile('broken.py', { importError: 'Traceback: ModuleNotFoundError: No module' })
    const parsedAt = airflow.parse(['many.py'])
    airflow.parseAfterDagsRequests(1)

    const answers = await boto([
      invoke(environment.name, '/dags'),
      invoke(environment.name, '/dags', { limit: 100, offset: 100 }),
      invoke(environment.name, '/dags', { limit: 500, offset: 100 }),
      invoke(environment.name, '/importErrors', { limit: 1 })
    ])
    const first = answers[0]?.ok as { RestApiStatusCode: number; RestApiResponse: never }
    expect(first.RestApiStatusCode).toBe(200)
    const firstPage = first.RestApiResponse as { dags: Record<string, unknown>[] }
    expect(first.RestApiResponse).toMatchObject({ total_entries: 120 })
    expect(firstPage.dags).toHaveLength(100)
    expect(firstPage.dags[0]).toMatchObject({
      dag_id: 'dag_000',
      fileloc: '/usr/local/airflow/dags/many.py',
      is_paused: true,
      last_parsed_time: airflow.timestamp(parsedAt)
    })
    expect(String(firstPage.dags[0]!.last_parsed_time)).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/
    )
    expect(typeof firstPage.dags[0]!.file_token).toBe('string')
    // The parse after the first request saw the other two files.
    const second = (answers[1]?.ok as { RestApiResponse: { dags: { dag_id: string }[] } })
      .RestApiResponse
    expect(second).toMatchObject({ total_entries: 130 })
    expect(second.dags.map((dag) => dag.dag_id)).toEqual(ids.slice(100))
    // Airflow caps a page at maximum_page_limit (100).
    const capped = answers[2]?.ok as { RestApiResponse: { dags: unknown[] } }
    expect(capped.RestApiResponse.dags).toHaveLength(30)
    const errors = (answers[3]?.ok as { RestApiResponse: Record<string, unknown> }).RestApiResponse
    expect(errors).toEqual({
      import_errors: [
        {
          import_error_id: 1,
          filename: '/usr/local/airflow/dags/broken.py',
          stack_trace: 'Traceback: ModuleNotFoundError: No module',
          timestamp: airflow.timestamp(airflow.parses[1]!.at)
        }
      ],
      total_entries: 1
    })
    expect(airflow.requests.map((request) => [request.path, request.query])).toEqual([
      ['/dags', {}],
      ['/dags', { limit: 100, offset: 100 }],
      ['/dags', { limit: 500, offset: 100 }],
      ['/importErrors', { limit: 1 }]
    ])
  })

  it("gives Airflow 3's relative file locations and bundle", async () => {
    const airflow = new ScriptedAirflow({ version: '3.0.6' })
    const environment = newEnvironment({ airflow })
    airflow.setFile('etl/daily.py', { dags: ['daily'], paused: false })
    airflow.setFile('etl/bad.py', { importError: 'SyntaxError: invalid syntax' })
    const at = airflow.parse()
    const [dags, errors] = await boto([
      invoke(environment.name, '/dags'),
      invoke(environment.name, '/importErrors')
    ])
    expect((dags?.ok as { RestApiResponse: unknown }).RestApiResponse).toMatchObject({
      dags: [
        {
          dag_id: 'daily',
          fileloc: '/usr/local/airflow/dags/etl/daily.py',
          relative_fileloc: 'etl/daily.py',
          bundle_name: 'dags-folder',
          is_paused: false,
          last_parsed_time: airflow.timestamp(at)
        }
      ],
      total_entries: 1
    })
    expect(airflow.timestamp(at)).toMatch(/\.\d{6}Z$/)
    expect((errors?.ok as { RestApiResponse: unknown }).RestApiResponse).toEqual({
      import_errors: [
        {
          import_error_id: 1,
          filename: 'etl/bad.py',
          bundle_name: 'dags-folder',
          stack_trace: 'SyntaxError: invalid syntax',
          timestamp: airflow.timestamp(at)
        }
      ],
      total_entries: 1
    })
  })

  it("answers Airflow's 4xx and 5xx, a timeout and an oversized answer as MWAA's exceptions", async () => {
    const airflow = new ScriptedAirflow({
      slowWhen: (request) => request.path === '/dags' && Number(request.query.limit) > 50
    })
    const environment = newEnvironment({ airflow })
    airflow.setFile('big.py', {
      dags: Array.from({ length: 100 }, (_, i) => `d${'x'.repeat(900)}${i}`)
    })
    airflow.parse()
    airflow.answerWith = (request) =>
      request.path === '/health' ? { status: 503, body: { detail: 'down' } } : undefined
    const answers = await boto([
      invoke(environment.name, '/api/v1/dags'),
      invoke(environment.name, '/health'),
      invoke(environment.name, '/dags', { limit: 80 }),
      invoke(environment.name, '/dags', { limit: 50 }),
      invoke(environment.name, '/dags', { limit: 'ten' })
    ])
    expect(answers[0]).toMatchObject({
      error: 'RestApiClientException',
      httpStatus: 400,
      fields: { RestApiStatusCode: 404, RestApiResponse: { status: 404, title: 'Not Found' } }
    })
    expect(answers[1]).toMatchObject({
      error: 'RestApiServerException',
      fields: { RestApiStatusCode: 503, RestApiResponse: { detail: 'down' } }
    })
    expect(answers[2]).toMatchObject({
      error: 'RestApiServerException',
      fields: { RestApiStatusCode: 504 }
    })
    // 50 DAGs of about 1 kB each are over this stand-in's 64 kB cap.
    expect(answers[3]).toMatchObject({
      error: 'RestApiServerException',
      fields: { RestApiStatusCode: 500 }
    })
    expect(answers[4]).toMatchObject({
      error: 'RestApiClientException',
      fields: { RestApiStatusCode: 400 }
    })
    expect(airflow.requests[2]).toMatchObject({ timedOut: true })
  })

  it('refuses as an environment without InvokeRestApi, or a caller without the permission', async () => {
    const airflow = new ScriptedAirflow()
    const environment = newEnvironment({ airflow, restApi: 'needs-update' })
    const [old] = await boto([invoke(environment.name, '/dags')])
    expect(old).toMatchObject({
      error: 'ValidationException',
      httpStatus: 400,
      message: 'Update your environment to use InvokeRestApi'
    })
    environment.restApi = 'access-denied'
    const [denied] = await boto([invoke(environment.name, '/dags')])
    expect(denied).toMatchObject({ error: 'AccessDeniedException', httpStatus: 403 })
    expect(denied?.message).toContain('airflow:InvokeRestApi')
    expect(airflow.requests).toEqual([])
  })
})

describe('Signature V4', () => {
  it('refuses a wrong secret, an unknown key and no signature, letting no call through', async () => {
    const environment = newEnvironment()
    const callsBefore = mwaa.calls.length
    const refusedBefore = mwaa.refused.length
    const [wrongSecret] = await boto([get(environment.name)], {
      accessKeyId: credentials.AWS_ACCESS_KEY_ID,
      secretAccessKey: 'not-the-secret'
    })
    const [unknownKey] = await boto([get(environment.name)], {
      accessKeyId: 'AKIDUNKNOWN',
      secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY
    })
    const unsigned = await fetch(`${mwaa.endpoint}/environments/${environment.name}`)
    expect(wrongSecret).toMatchObject({ error: 'InvalidSignatureException', httpStatus: 403 })
    expect(unknownKey).toMatchObject({ error: 'UnrecognizedClientException', httpStatus: 403 })
    expect(unsigned.status).toBe(403)
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException')
    expect(mwaa.refused.slice(refusedBefore).map((refused) => refused.code)).toEqual([
      'InvalidSignatureException',
      'UnrecognizedClientException',
      'MissingAuthenticationTokenException'
    ])
    expect(mwaa.calls.length).toBe(callsBefore)
  })

  it('recomputes the signature: a signed request passes, the same with another body does not', async () => {
    const environment = newEnvironment()
    const signer = new SignatureV4({
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      region: 'us-east-1',
      service: 'airflow',
      sha256: Sha256,
      // No x-amz-content-sha256 header, as botocore sends none: the body counts only through
      // the signature.
      applyChecksum: false
    })
    const url = new URL(`${mwaa.endpoint}/environments/${environment.name}`)
    const body = JSON.stringify({ DagS3Path: 'dags' })
    const signed = await signer.sign({
      method: 'PATCH',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: { host: url.host, 'content-type': 'application/json' },
      body
    })
    const send = (payload: string) =>
      fetch(url, {
        method: 'PATCH',
        headers: signed.headers as Record<string, string>,
        body: payload
      })
    const tampered = await send(JSON.stringify({ DagS3Path: 'other' }))
    expect(tampered.status).toBe(403)
    expect(tampered.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException')
    const honest = await send(body)
    expect(honest.status).toBe(200)
    expect(await honest.json()).toEqual({ Arn: environment.arn })
  })
})

describe('waitForCall', () => {
  it('resolves on a call made later, and rejects when none comes', async () => {
    const environment = newEnvironment()
    const seen = mwaa.waitForCall((call) => call.name === environment.name)
    await boto([get(environment.name)])
    await expect(seen).resolves.toMatchObject({ operation: 'GetEnvironment', status: 200 })
    await expect(
      mwaa.waitForCall((call) => call.name === 'never', { timeoutMs: 50 })
    ).rejects.toThrow('no such MWAA call within 50 ms')
  })
})

class Sha256 {
  private hash
  constructor(secret?: SourceData) {
    this.hash =
      secret === undefined
        ? createHash('sha256')
        : createHmac(
            'sha256',
            typeof secret === 'string'
              ? secret
              : ArrayBuffer.isView(secret)
                ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength)
                : new Uint8Array(secret)
          )
  }
  update(data: Uint8Array) {
    this.hash.update(data)
  }
  async digest() {
    return new Uint8Array(this.hash.digest())
  }
}
