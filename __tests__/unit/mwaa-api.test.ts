// MWAA's three calls against a small HTTP server on loopback that records what arrives and answers
// as scripted: the request lines and bodies, the SigV4 signature (recomputed here), the error
// mapping, the retries, and where the calls go.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash, createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignatureV4 } from '@smithy/signature-v4'
import {
  createMwaaApi,
  environmentFrom,
  errorCode,
  errorFromAnswer,
  invokeRestApiBody,
  OPERATIONS,
  operationUrl,
  resolveMwaaEndpoint,
  timestamp,
  updateEnvironmentBody,
  type AwsCredentials,
  type MwaaApiOptions
} from '../../src/common/mwaa-api.js'
import { MwaaError, UPDATE_FIELDS, type MwaaApi } from '../../src/common/mwaa.js'

const CREDENTIALS: AwsCredentials = {
  accessKeyId: 'AKIDEXAMPLE0000000001',
  secretAccessKey: 'secret-Xq93-never-shown',
  sessionToken: 'session-Lm27-never-shown'
}
const REGION = 'eu-west-1'

// ---------------------------------------------------------------------------------------------
// The stand-in.

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang' | 'drop'

class StandIn {
  readonly seen: Seen[] = []
  private readonly answers: Answer[] = []
  private readonly open = new Set<ServerResponse>()

  readonly server: Server = createServer((request, response) => this.handle(request, response))

  static async start(): Promise<StandIn> {
    const standIn = new StandIn()
    await new Promise<void>((resolve) => standIn.server.listen(0, '127.0.0.1', resolve))
    return standIn
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  /** Answers in this order; without one left, 200 with {}. */
  answer(...answers: Answer[]): void {
    this.answers.push(...answers)
  }

  reset(): void {
    this.seen.length = 0
    this.answers.length = 0
    for (const response of this.open) response.destroy()
    this.open.clear()
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const seen = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8')
      }
      this.seen.push(seen)
      const answer = this.answers.shift() ?? { status: 200, body: {} }
      if (answer === 'hang') {
        this.open.add(response)
        return
      }
      if (answer === 'drop') {
        request.socket.destroy()
        return
      }
      const text = answer.body === undefined ? '' : JSON.stringify(answer.body)
      response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
      response.end(text)
    })
  }
}

let standIn: StandIn
let other: StandIn
const apis: MwaaApi[] = []
/** Every error text the tests saw; none may hold the secret key or the session token. */
const texts: string[] = []

beforeAll(async () => {
  standIn = await StandIn.start()
  other = await StandIn.start()
})

afterEach(() => {
  for (const api of apis.splice(0)) api.destroy()
  standIn.reset()
  other.reset()
})

afterAll(async () => {
  await standIn.close()
  await other.close()
  for (const text of texts) {
    expect(text).not.toContain(CREDENTIALS.secretAccessKey)
    expect(text).not.toContain(CREDENTIALS.sessionToken)
  }
})

/** A client of the stand-in; `endpointUrl` null leaves the endpoint-url input unset. */
function api(options: MwaaApiOptions = {}, endpointUrl: string | null = standIn.url): MwaaApi {
  const created = createMwaaApi(
    endpointUrl === null ? { region: REGION } : { region: REGION, endpointUrl },
    { credentials: async () => CREDENTIALS, env: {}, backoffBaseMs: 1, ...options }
  )
  apis.push(created)
  return created
}

async function failure(promise: Promise<unknown>): Promise<MwaaError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(MwaaError)
    texts.push((error as Error).message)
    return error as MwaaError
  }
  throw new Error('the call succeeded')
}

/** SHA-256 and HMAC-SHA-256 for the signer, written apart from the module's own. */
class TestSha256 {
  private readonly parts: Buffer[] = []
  constructor(private readonly secret?: string | ArrayBufferView | ArrayBuffer) {}
  update(data: string | ArrayBufferView | ArrayBuffer): void {
    this.parts.push(toBuffer(data))
  }
  async digest(): Promise<Uint8Array> {
    const hash =
      this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret))
    return new Uint8Array(hash.update(Buffer.concat(this.parts)).digest())
  }
}

function toBuffer(data: string | ArrayBufferView | ArrayBuffer): Buffer {
  if (typeof data === 'string') return Buffer.from(data)
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return Buffer.from(data)
}

/** The Authorization header SigV4 gives the request as it arrived, signed anew at its X-Amz-Date. */
async function expectedAuthorization(seen: Seen, credentials = CREDENTIALS): Promise<string> {
  const authorization = String(seen.headers.authorization)
  const signedNames = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? []
  const headers: Record<string, string> = {}
  for (const name of signedNames) {
    if (name === 'x-amz-date' || name === 'x-amz-security-token') continue
    headers[name] = String(seen.headers[name])
  }
  const amzDate = String(seen.headers['x-amz-date'])
  const signingDate = new Date(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z')
  )
  const [host, port] = String(seen.headers.host).split(':')
  const signer = new SignatureV4({
    service: 'airflow',
    region: REGION,
    credentials,
    sha256: TestSha256,
    applyChecksum: false
  })
  const signed = await signer.sign(
    {
      method: seen.method,
      protocol: 'http:',
      hostname: host as string,
      ...(port !== undefined ? { port: Number(port) } : {}),
      path: seen.url,
      query: {},
      headers,
      ...(seen.body !== '' ? { body: seen.body } : {})
    },
    { signingDate }
  )
  return String(signed.headers.authorization)
}

// ---------------------------------------------------------------------------------------------
// Pure parts.

describe('resolveMwaaEndpoint', () => {
  it('takes the endpoint-url input as is, without a host prefix', () => {
    const endpoint = resolveMwaaEndpoint(
      { region: REGION, endpointUrl: 'http://127.0.0.1:4510/base/' },
      { AWS_ENDPOINT_URL_MWAA: 'http://ignored.example' }
    )
    expect(endpoint.source).toBe('endpoint-url')
    expect(operationUrl(endpoint, OPERATIONS.invokeRestApi, 'env-1').href).toBe(
      'http://127.0.0.1:4510/base/restapi/env-1'
    )
  })

  it('honours AWS_ENDPOINT_URL_MWAA, then AWS_ENDPOINT_URL, as the SDK does', () => {
    const both = { AWS_ENDPOINT_URL_MWAA: 'http://mwaa.local:1', AWS_ENDPOINT_URL: 'http://all:2' }
    expect(resolveMwaaEndpoint({ region: REGION }, both).url.href).toBe('http://mwaa.local:1/')
    expect(resolveMwaaEndpoint({ region: REGION }, { AWS_ENDPOINT_URL: ' http://all:2 ' })).toEqual(
      { url: new URL('http://all:2'), prefixHost: false, source: 'AWS_ENDPOINT_URL' }
    )
    expect(
      resolveMwaaEndpoint({ region: REGION }, { ...both, AWS_ENDPOINT_URL_MWAA: '' }).source
    ).toBe('AWS_ENDPOINT_URL')
    const ignored = { ...both, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }
    expect(resolveMwaaEndpoint({ region: REGION }, ignored).source).toBe('region')
  })

  it("puts each call on AWS's host for the region, with its prefix", () => {
    const endpoint = resolveMwaaEndpoint({ region: REGION })
    expect(operationUrl(endpoint, OPERATIONS.getEnvironment, 'env-1').href).toBe(
      'https://api.airflow.eu-west-1.amazonaws.com/environments/env-1'
    )
    expect(operationUrl(endpoint, OPERATIONS.updateEnvironment, 'env-1').host).toBe(
      'api.airflow.eu-west-1.amazonaws.com'
    )
    expect(operationUrl(endpoint, OPERATIONS.invokeRestApi, 'env-1').href).toBe(
      'https://env.airflow.eu-west-1.amazonaws.com/restapi/env-1'
    )
    const china = resolveMwaaEndpoint({ region: 'cn-north-1' })
    expect(operationUrl(china, OPERATIONS.invokeRestApi, 'e').host).toBe(
      'env.airflow.cn-north-1.amazonaws.com.cn'
    )
    expect(resolveMwaaEndpoint({ region: 'us-gov-west-1' }).url.host).toBe(
      'airflow.us-gov-west-1.amazonaws.com'
    )
  })

  it('refuses an endpoint variable that is no http URL, and never quotes a password', () => {
    expect(() =>
      resolveMwaaEndpoint({ region: REGION }, { AWS_ENDPOINT_URL_MWAA: 'ftp://x' })
    ).toThrow(/^AWS_ENDPOINT_URL_MWAA: 'ftp:\/\/x' is not an http/)
    expect(() =>
      resolveMwaaEndpoint({ region: REGION }, { AWS_ENDPOINT_URL: 'http://u:hunter2@host' })
    ).toThrow(/^AWS_ENDPOINT_URL must not hold a user name or password$/)
  })
})

describe('request bodies', () => {
  it('names only the given roles in UpdateEnvironment', () => {
    expect(
      updateEnvironmentBody({
        plugins: { key: 'plugins.zip', versionId: 'v-p' },
        'startup-script': { key: 'ops/startup.sh', versionId: 'v-s' }
      })
    ).toEqual({
      PluginsS3Path: 'plugins.zip',
      PluginsS3ObjectVersion: 'v-p',
      StartupScriptS3Path: 'ops/startup.sh',
      StartupScriptS3ObjectVersion: 'v-s'
    })
    expect(updateEnvironmentBody({})).toEqual({})
  })

  it('asks InvokeRestApi for a GET, with query parameters only when there are some', () => {
    expect(invokeRestApiBody({ path: '/dags', query: { limit: 100, offset: 0 } })).toEqual({
      Path: '/dags',
      Method: 'GET',
      QueryParameters: { limit: 100, offset: 0 }
    })
    expect(invokeRestApiBody({ path: '/importErrors', query: {} })).toEqual({
      Path: '/importErrors',
      Method: 'GET'
    })
  })
})

describe('environmentFrom', () => {
  it("reads the environment's files by role, its last update and its times", () => {
    const environment = environmentFrom(
      {
        Environment: {
          Name: 'prod',
          Status: 'UPDATE_FAILED',
          AirflowVersion: '2.10.3',
          SourceBucketArn: 'arn:aws:s3:::airflow-prod',
          DagS3Path: 'dags',
          ExecutionRoleArn: 'arn:aws:iam::123456789012:role/mwaa',
          RequirementsS3Path: 'requirements.txt',
          RequirementsS3ObjectVersion: 'v-r',
          PluginsS3Path: 'plugins.zip',
          CreatedAt: 1700000000,
          LastUpdate: {
            Status: 'FAILED',
            CreatedAt: 1732900000.25,
            Error: { ErrorCode: 'INCORRECT_CONFIGURATION', ErrorMessage: 'pip failed' }
          }
        }
      },
      'prod'
    )
    expect(environment).toEqual({
      name: 'prod',
      status: 'UPDATE_FAILED',
      airflowVersion: '2.10.3',
      sourceBucketArn: 'arn:aws:s3:::airflow-prod',
      dagS3Path: 'dags',
      executionRoleArn: 'arn:aws:iam::123456789012:role/mwaa',
      files: {
        requirements: { key: 'requirements.txt', versionId: 'v-r' },
        plugins: { key: 'plugins.zip' }
      },
      lastUpdate: {
        status: 'FAILED',
        createdAt: new Date(1732900000250),
        error: { code: 'INCORRECT_CONFIGURATION', message: 'pip failed' }
      }
    })
  })

  it('keeps a status it does not know, and the asked name when none came', () => {
    expect(environmentFrom({ Environment: { Status: 'HIBERNATING' } }, 'asked')).toEqual({
      name: 'asked',
      status: 'HIBERNATING',
      files: {}
    })
  })

  it('reads epoch seconds, and ISO text should a stand-in send it', () => {
    expect(timestamp(1732900000)).toEqual(new Date('2024-11-29T17:06:40Z'))
    expect(timestamp('1732900000.5')).toEqual(new Date(1732900000500))
    expect(timestamp('2024-11-29T17:06:40Z')).toEqual(new Date('2024-11-29T17:06:40Z'))
    expect(timestamp('soon')).toBeUndefined()
    expect(timestamp(undefined)).toBeUndefined()
  })
})

describe('errorFromAnswer', () => {
  const doing = "MWAA GetEnvironment of environment 'prod'"

  it('reads the code from x-amzn-errortype without what follows a colon', () => {
    const error = errorFromAnswer(
      {
        status: 404,
        errorType: 'ResourceNotFoundException:http://internal.amazon.com/coral/com.amazon.airflow/',
        text: JSON.stringify({ message: 'Environment prod not found' })
      },
      doing
    )
    expect(error).toMatchObject({
      code: 'ResourceNotFoundException',
      httpStatus: 404,
      retryable: false,
      message: `${doing} failed with ResourceNotFoundException (HTTP 404): Environment prod not found`
    })
  })

  it('reads __type or code from the body, and Message', () => {
    const typed = {
      status: 403,
      text: '{"__type":"com.amazonaws.airflow#AccessDeniedException","Message":"no"}'
    }
    expect(errorCode(typed, JSON.parse(typed.text))).toBe('AccessDeniedException')
    expect(errorFromAnswer(typed, doing).message).toMatch(/AccessDeniedException \(HTTP 403\): no$/)
    const coded = { status: 400, text: '{"code":"ValidationException","message":"bad"}' }
    expect(errorFromAnswer(coded, doing).code).toBe('ValidationException')
    expect(errorFromAnswer({ status: 502, text: '<html>' }, doing)).toMatchObject({
      code: 'UnknownError',
      retryable: true
    })
  })

  it('counts throttling, 429 and 5xx as retryable, other 4xx not', () => {
    const answer = (status: number, code: string) => ({ status, errorType: code, text: '' })
    expect(errorFromAnswer(answer(400, 'ThrottlingException'), doing).retryable).toBe(true)
    expect(errorFromAnswer(answer(429, 'TooManyRequests'), doing).retryable).toBe(true)
    expect(errorFromAnswer(answer(500, 'InternalServerException'), doing).retryable).toBe(true)
    expect(errorFromAnswer(answer(400, 'ValidationException'), doing).retryable).toBe(false)
  })

  it('escapes what AWS says', () => {
    const error = errorFromAnswer(
      {
        status: 400,
        text: JSON.stringify({ __type: 'ValidationException', message: 'a\n::error::b' })
      },
      doing
    )
    expect(error.message).toMatch(/: a\\n:\\x3aerror:\\x3ab$/)
  })
})

// ---------------------------------------------------------------------------------------------
// Over the wire.

describe('the calls', () => {
  it('gets an environment with a signed GET', async () => {
    standIn.answer({
      status: 200,
      body: {
        Environment: {
          Name: 'prod',
          Status: 'AVAILABLE',
          StartupScriptS3Path: 'startup.sh',
          StartupScriptS3ObjectVersion: 'v-s',
          LastUpdate: { Status: 'SUCCESS', CreatedAt: 1732900000 }
        }
      }
    })
    const environment = await api().getEnvironment('prod')
    expect(environment).toEqual({
      name: 'prod',
      status: 'AVAILABLE',
      files: { 'startup-script': { key: 'startup.sh', versionId: 'v-s' } },
      lastUpdate: { status: 'SUCCESS', createdAt: new Date(1732900000 * 1000) }
    })
    const [seen] = standIn.seen as [Seen]
    expect(`${seen.method} ${seen.url}`).toBe('GET /environments/prod')
    expect(seen.body).toBe('')
    expect(seen.headers['user-agent']).toBe('airflow-aws-deploy-actions')
    expect(seen.headers['x-amz-security-token']).toBe(CREDENTIALS.sessionToken)
    expect(seen.headers.authorization).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/\\d{8}/eu-west-1/airflow/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$`
      )
    )
    expect(seen.headers.authorization).toBe(await expectedAuthorization(seen))
  })

  it('signs the body: another body or another secret gives another signature', async () => {
    await api().updateEnvironment('prod', { requirements: { key: 'r.txt', versionId: 'v1' } })
    const [seen] = standIn.seen as [Seen]
    expect(seen.headers.authorization).toBe(await expectedAuthorization(seen))
    const tampered = { ...seen, body: seen.body.replace('v1', 'v2') }
    expect(seen.headers.authorization).not.toBe(await expectedAuthorization(tampered))
    const otherKey = { ...CREDENTIALS, secretAccessKey: 'another' }
    expect(seen.headers.authorization).not.toBe(await expectedAuthorization(seen, otherKey))
  })

  it('updates an environment with a PATCH naming only the given files', async () => {
    standIn.answer({
      status: 200,
      body: { Arn: 'arn:aws:airflow:eu-west-1:123456789012:environment/prod' }
    })
    await api().updateEnvironment('prod', {
      requirements: { key: 'requirements.txt', versionId: 'v-r' },
      plugins: { key: 'plugins.zip', versionId: 'v-p' }
    })
    const [seen] = standIn.seen as [Seen]
    expect(`${seen.method} ${seen.url}`).toBe('PATCH /environments/prod')
    expect(seen.headers['content-type']).toBe('application/json')
    expect(JSON.parse(seen.body)).toEqual({
      [UPDATE_FIELDS.requirements.path]: 'requirements.txt',
      [UPDATE_FIELDS.requirements.version]: 'v-r',
      [UPDATE_FIELDS.plugins.path]: 'plugins.zip',
      [UPDATE_FIELDS.plugins.version]: 'v-p'
    })
    expect(seen.headers.authorization).toBe(await expectedAuthorization(seen))
  })

  it("invokes Airflow's REST API with a POST and gives Airflow's status and answer", async () => {
    standIn.answer({
      status: 200,
      body: { RestApiStatusCode: 200, RestApiResponse: { dags: [], total_entries: 0 } }
    })
    const answer = await api().invokeRestApi('prod', {
      path: '/dags',
      query: { limit: 50, offset: 0 }
    })
    expect(answer).toEqual({ status: 200, body: { dags: [], total_entries: 0 } })
    const [seen] = standIn.seen as [Seen]
    expect(`${seen.method} ${seen.url}`).toBe('POST /restapi/prod')
    expect(JSON.parse(seen.body)).toEqual({
      Path: '/dags',
      Method: 'GET',
      QueryParameters: { limit: 50, offset: 0 }
    })
    expect(seen.headers.authorization).toBe(await expectedAuthorization(seen))
  })

  it("resolves Airflow's own 4xx and 5xx, which MWAA sends as errors", async () => {
    standIn.answer(
      {
        status: 400,
        headers: { 'x-amzn-errortype': 'RestApiClientException' },
        body: { RestApiStatusCode: 403, RestApiResponse: { title: 'Forbidden' } }
      },
      {
        status: 400,
        headers: { 'x-amzn-errortype': 'RestApiServerException:http://internal' },
        body: { RestApiStatusCode: 504, RestApiResponse: { title: 'Gateway Timeout' } }
      }
    )
    const client = api()
    expect(await client.invokeRestApi('prod', { path: '/dags' })).toEqual({
      status: 403,
      body: { title: 'Forbidden' }
    })
    expect(await client.invokeRestApi('prod', { path: '/dags' })).toEqual({
      status: 504,
      body: { title: 'Gateway Timeout' }
    })
    expect(standIn.seen).toHaveLength(2)
  })

  it('gives Airflow a 4xx or 5xx status when MWAA names none', async () => {
    standIn.answer(
      { status: 400, headers: { 'x-amzn-errortype': 'RestApiClientException' }, body: {} },
      { status: 400, headers: { 'x-amzn-errortype': 'RestApiServerException' }, body: {} }
    )
    const client = api()
    expect((await client.invokeRestApi('prod', { path: '/dags' })).status).toBe(400)
    expect((await client.invokeRestApi('prod', { path: '/dags' })).status).toBe(500)
  })

  it('refuses an answer beyond what InvokeRestApi can send, without retrying', async () => {
    standIn.answer({
      status: 200,
      body: { RestApiResponse: { blob: 'x'.repeat(9 * 1024 * 1024) } }
    })
    const error = await failure(api().invokeRestApi('prod', { path: '/dags' }))
    expect(error).toMatchObject({ code: 'ResponseTooLarge', retryable: false })
    expect(error.message).toMatch(/answered more than 8 MiB$/)
    expect(standIn.seen).toHaveLength(1)
  })

  it("throws MWAA's own refusals, without retrying a 4xx", async () => {
    standIn.answer({
      status: 400,
      headers: { 'x-amzn-errortype': 'ValidationException' },
      body: { message: 'Update your environment to use InvokeRestApi.' }
    })
    const error = await failure(api().invokeRestApi('prod', { path: '/dags' }))
    expect(error).toMatchObject({ code: 'ValidationException', httpStatus: 400, retryable: false })
    expect(error.message).toBe(
      "MWAA InvokeRestApi of environment 'prod' failed with ValidationException (HTTP 400): Update your environment to use InvokeRestApi."
    )
    expect(standIn.seen).toHaveLength(1)
  })

  it('tries again after a 500 and a 429, then succeeds', async () => {
    standIn.answer(
      { status: 500, headers: { 'x-amzn-errortype': 'InternalServerException' }, body: {} },
      { status: 429, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
      { status: 200, body: { Environment: { Name: 'prod', Status: 'AVAILABLE' } } }
    )
    expect((await api().getEnvironment('prod')).status).toBe('AVAILABLE')
    expect(standIn.seen.map((seen) => `${seen.method} ${seen.url}`)).toEqual([
      'GET /environments/prod',
      'GET /environments/prod',
      'GET /environments/prod'
    ])
    // Each attempt is signed anew.
    for (const seen of standIn.seen) {
      expect(seen.headers.authorization).toBe(await expectedAuthorization(seen))
    }
  })

  it('gives up after the last attempt with the last failure', async () => {
    standIn.answer(
      ...Array.from({ length: 3 }, () => ({
        status: 503,
        headers: { 'x-amzn-errortype': 'ServiceUnavailableException' },
        body: { message: 'try later' }
      }))
    )
    const error = await failure(api({ maxAttempts: 3 }).getEnvironment('prod'))
    expect(error).toMatchObject({
      code: 'ServiceUnavailableException',
      httpStatus: 503,
      retryable: true
    })
    expect(standIn.seen).toHaveLength(3)
  })

  it('sends UpdateEnvironment again only when it was throttled, never after a 5xx or a lost answer', async () => {
    standIn.answer({
      status: 503,
      headers: { 'x-amzn-errortype': 'ServiceUnavailableException' },
      body: {}
    })
    expect(await failure(api().updateEnvironment('prod', {}))).toMatchObject({
      code: 'ServiceUnavailableException'
    })
    expect(standIn.seen).toHaveLength(1)

    standIn.answer('drop')
    await failure(api().updateEnvironment('prod', {}))
    expect(standIn.seen).toHaveLength(2)

    standIn.answer(
      { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
      { status: 200, body: { Arn: 'arn:aws:airflow:us-east-1:123456789012:environment/prod' } }
    )
    await api().updateEnvironment('prod', {})
    expect(standIn.seen).toHaveLength(4)
  })

  it('tries again after a lost connection', async () => {
    standIn.answer('drop', { status: 200, body: { Environment: { Status: 'AVAILABLE' } } })
    expect((await api().getEnvironment('prod')).status).toBe('AVAILABLE')
    expect(standIn.seen).toHaveLength(2)
  })

  it('says so when no answer comes in time', async () => {
    standIn.answer('hang')
    const error = await failure(
      api({ maxAttempts: 1, requestTimeoutMs: 300 }).getEnvironment('prod')
    )
    expect(error).toMatchObject({ code: 'TimeoutError', httpStatus: undefined, retryable: true })
    expect(error.message).toBe(
      `MWAA GetEnvironment of environment 'prod': no answer from ${standIn.url} (no answer within 0.3 s)`
    )
  })

  it('says so when nothing listens', async () => {
    const closed = await StandIn.start()
    const url = closed.url
    await closed.close()
    const error = await failure(api({ maxAttempts: 2 }, url).getEnvironment('prod'))
    expect(error).toMatchObject({ code: 'ECONNREFUSED', retryable: true })
    expect(error.message).toMatch(/no answer from http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/)
  })

  it('refuses a name that is not an environment name, sending nothing', async () => {
    const client = api()
    for (const name of ['..', 'a/b', '', '1st', 'x'.repeat(81)]) {
      const error = await failure(client.getEnvironment(name))
      expect(error).toMatchObject({ code: 'ValidationException', retryable: false })
      expect(error.message).toMatch(/: not an environment name \(1 to 80 letters/)
    }
    expect(standIn.seen).toHaveLength(0)
  })

  it('names the missing credentials without trying the call', async () => {
    const error = await failure(
      api({
        credentials: async () => {
          throw new Error('Could not load credentials from any providers')
        }
      }).getEnvironment('prod')
    )
    expect(error).toMatchObject({ code: 'CredentialsProviderError', retryable: false })
    expect(error.message).toMatch(/no AWS credentials found .*configure-aws-credentials/)
    expect(standIn.seen).toHaveLength(0)
  })
})

describe('where the calls go', () => {
  it('follows AWS_ENDPOINT_URL_MWAA before AWS_ENDPOINT_URL', async () => {
    const env = { AWS_ENDPOINT_URL_MWAA: standIn.url, AWS_ENDPOINT_URL: other.url }
    await api({ env }, null).getEnvironment('prod')
    expect(standIn.seen).toHaveLength(1)
    expect(other.seen).toHaveLength(0)
    expect(standIn.seen[0]?.headers.host).toBe(new URL(standIn.url).host)
  })

  it('follows AWS_ENDPOINT_URL alone', async () => {
    await api({ env: { AWS_ENDPOINT_URL: other.url } }, null).invokeRestApi('prod', {
      path: '/importErrors'
    })
    expect(other.seen.map((seen) => seen.url)).toEqual(['/restapi/prod'])
    expect(standIn.seen).toHaveLength(0)
  })

  it('prefers the endpoint-url input to both', async () => {
    const env = { AWS_ENDPOINT_URL_MWAA: other.url, AWS_ENDPOINT_URL: other.url }
    await api({ env }).getEnvironment('prod')
    expect(standIn.seen).toHaveLength(1)
    expect(other.seen).toHaveLength(0)
  })
})
