import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto'
import * as http from 'node:http'
import * as https from 'node:https'
import { defaultProvider } from '@aws-sdk/credential-provider-node'
import { SignatureV4 } from '@smithy/signature-v4'
import { USER_AGENT, type AwsTarget } from './aws.js'
import { errorMessage } from './errors.js'
import { cap } from './one-line.js'
import {
  FILE_ROLES,
  MwaaError,
  UPDATE_FIELDS,
  type EnvironmentFile,
  type FileRole,
  type LastUpdate,
  type MwaaApi,
  type MwaaEnvironment,
  type RestApiAnswer
} from './mwaa.js'
import { escapeText } from './untrusted.js'
import { isRecord } from './json-shape.js'

// MWAA's three calls, signed here: the MWAA client the registry serves predates InvokeRestApi and
// would bring a second SDK core into the bundle. The wire format is botocore's model of
// mwaa/2020-07-01 (rest-json, signing name `airflow`).

/** The name MWAA signs requests with, which is not its service id. */
export const SIGNING_NAME = 'airflow'

export interface Operation {
  name: 'GetEnvironment' | 'UpdateEnvironment' | 'InvokeRestApi'
  method: 'GET' | 'PATCH' | 'POST'
  /** Real AWS hosts only: GetEnvironment and UpdateEnvironment go to api., InvokeRestApi to env. */
  hostPrefix: 'api.' | 'env.'
  /** The request path for an environment, with the name escaped. */
  path(environment: string): string
  /**
   * Whether sending the call twice does no harm. An UpdateEnvironment whose answer was lost may
   * have started the update: sent again, it is refused as a collision with itself, or starts a
   * second update after the first failed.
   */
  repeatable: boolean
}

export const OPERATIONS = {
  getEnvironment: {
    name: 'GetEnvironment',
    method: 'GET',
    hostPrefix: 'api.',
    repeatable: true,
    path: (environment) => `/environments/${encodeURIComponent(environment)}`
  },
  updateEnvironment: {
    name: 'UpdateEnvironment',
    method: 'PATCH',
    hostPrefix: 'api.',
    repeatable: false,
    path: (environment) => `/environments/${encodeURIComponent(environment)}`
  },
  invokeRestApi: {
    name: 'InvokeRestApi',
    method: 'POST',
    hostPrefix: 'env.',
    // Only GETs of Airflow's REST API are sent.
    repeatable: true,
    path: (environment) => `/restapi/${encodeURIComponent(environment)}`
  }
} as const satisfies Record<string, Operation>

// ---------------------------------------------------------------------------------------------
// Endpoints (pure).

export interface MwaaEndpoint {
  /** The base URL, without a trailing slash. */
  url: URL
  /** Whether the operation's host prefix is put before the host: on AWS's own hosts only. */
  prefixHost: boolean
  /** Where the endpoint came from, for messages. */
  source: 'endpoint-url' | 'AWS_ENDPOINT_URL_MWAA' | 'AWS_ENDPOINT_URL' | 'region'
}

/** DNS suffixes of the partitions, by region shape (botocore's partitions.json). */
const PARTITIONS: readonly { region: RegExp; dnsSuffix: string }[] = [
  { region: /^cn-\w+-\d+$/, dnsSuffix: 'amazonaws.com.cn' },
  { region: /^eusc-de-\w+-\d+$/, dnsSuffix: 'amazonaws.eu' },
  { region: /^us-iso-\w+-\d+$/, dnsSuffix: 'c2s.ic.gov' },
  { region: /^us-isob-\w+-\d+$/, dnsSuffix: 'sc2s.sgov.gov' },
  { region: /^eu-isoe-\w+-\d+$/, dnsSuffix: 'cloud.adc-e.uk' },
  { region: /^us-isof-\w+-\d+$/, dnsSuffix: 'csp.hci.ic.gov' }
]

type Environment = Record<string, string | undefined>

/**
 * Where MWAA's calls go: the endpoint-url input as given; else AWS_ENDPOINT_URL_MWAA, then
 * AWS_ENDPOINT_URL, which the AWS SDK honours unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is
 * true; else AWS's host for the region. A configured endpoint gets no host prefix, so a local
 * stand-in on 127.0.0.1 answers every call.
 */
export function resolveMwaaEndpoint(target: AwsTarget, env: Environment = {}): MwaaEndpoint {
  if (target.endpointUrl !== undefined) {
    return {
      url: endpointUrl(target.endpointUrl, 'endpoint-url'),
      prefixHost: false,
      source: 'endpoint-url'
    }
  }
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.trim().toLowerCase() !== 'true') {
    for (const name of ['AWS_ENDPOINT_URL_MWAA', 'AWS_ENDPOINT_URL'] as const) {
      const value = env[name]?.trim()
      if (value !== undefined && value !== '') {
        return { url: endpointUrl(value, name), prefixHost: false, source: name }
      }
    }
  }
  const dnsSuffix =
    PARTITIONS.find((partition) => partition.region.test(target.region))?.dnsSuffix ??
    'amazonaws.com'
  return {
    url: new URL(`https://airflow.${target.region}.${dnsSuffix}`),
    prefixHost: true,
    source: 'region'
  }
}

function endpointUrl(text: string, source: string): URL {
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error(
      `${source}: '${escapeText(text)}' is not an http:// or https:// URL for the MWAA calls`
    )
  }
  if (url.username !== '' || url.password !== '') {
    // Not quoted: the URL holds a password.
    throw new Error(`${source} must not hold a user name or password`)
  }
  return url
}

/** The URL of one call: the endpoint's path, then the operation's. */
export function operationUrl(
  endpoint: MwaaEndpoint,
  operation: Operation,
  environment: string
): URL {
  const url = new URL(endpoint.url.href)
  if (endpoint.prefixHost) url.hostname = `${operation.hostPrefix}${url.hostname}`
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${operation.path(environment)}`
  url.search = ''
  return url
}

/** The endpoint as shown in messages: scheme, host and port only. */
function shownEndpoint(url: URL): string {
  return escapeText(url.origin)
}

// ---------------------------------------------------------------------------------------------
// Requests and answers (pure).

/** The UpdateEnvironment body: only the given roles' path and version. */
export function updateEnvironmentBody(
  files: Partial<Record<FileRole, Required<EnvironmentFile>>>
): Record<string, string> {
  const body: Record<string, string> = {}
  for (const role of FILE_ROLES) {
    const file = files[role]
    if (file === undefined) continue
    body[UPDATE_FIELDS[role].path] = file.key
    body[UPDATE_FIELDS[role].version] = file.versionId
  }
  return body
}

/** The InvokeRestApi body; the environment's name goes in the URI. */
export function invokeRestApiBody(request: {
  path: string
  query?: Record<string, string | number>
}): Record<string, unknown> {
  return {
    Path: request.path,
    Method: 'GET',
    ...(request.query !== undefined && Object.keys(request.query).length > 0
      ? { QueryParameters: request.query }
      : {})
  }
}

/** GetEnvironment's answer in the pack's terms. */
export function environmentFrom(body: unknown, requestedName: string): MwaaEnvironment {
  const environment = recordOf(isRecord(body) ? body.Environment : undefined)
  const files: MwaaEnvironment['files'] = {}
  for (const role of FILE_ROLES) {
    const key = text(environment[UPDATE_FIELDS[role].path])
    if (key === undefined) continue
    const versionId = text(environment[UPDATE_FIELDS[role].version])
    files[role] = versionId === undefined ? { key } : { key, versionId }
  }
  const result: MwaaEnvironment = {
    name: text(environment.Name) ?? requestedName,
    status: text(environment.Status) ?? 'UNKNOWN',
    files
  }
  const airflowVersion = text(environment.AirflowVersion)
  if (airflowVersion !== undefined) result.airflowVersion = airflowVersion
  const sourceBucketArn = text(environment.SourceBucketArn)
  if (sourceBucketArn !== undefined) result.sourceBucketArn = sourceBucketArn
  const dagS3Path = text(environment.DagS3Path)
  if (dagS3Path !== undefined) result.dagS3Path = dagS3Path
  const executionRoleArn = text(environment.ExecutionRoleArn)
  if (executionRoleArn !== undefined) result.executionRoleArn = executionRoleArn
  if (isRecord(environment.LastUpdate)) result.lastUpdate = lastUpdateFrom(environment.LastUpdate)
  return result
}

function lastUpdateFrom(record: Record<string, unknown>): LastUpdate {
  const update: LastUpdate = {}
  const status = text(record.Status)
  if (status !== undefined) update.status = status
  const createdAt = timestamp(record.CreatedAt)
  if (createdAt !== undefined) update.createdAt = createdAt
  if (isRecord(record.Error)) {
    const error: NonNullable<LastUpdate['error']> = {}
    const code = text(record.Error.ErrorCode)
    const message = text(record.Error.ErrorMessage)
    if (code !== undefined) error.code = code
    if (message !== undefined) error.message = message
    update.error = error
  }
  return update
}

/** rest-json sends timestamps as epoch seconds, possibly with a fraction. */
export function timestamp(value: unknown): Date | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value * 1000)
  if (typeof value === 'string' && value.trim() !== '') {
    const seconds = Number(value)
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value)
    return Number.isNaN(ms) ? undefined : new Date(ms)
  }
  return undefined
}

/** An answer of MWAA as it arrived. */
export interface RawAnswer {
  status: number
  /** The x-amzn-errortype header, when there was one. */
  errorType?: string
  /** The body's text. */
  text: string
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'SlowDown'
])

/** A failure that shows the call was not acted on: throttled, or no connection was made. */
function neverActedOn(failure: MwaaError): boolean {
  return (
    failure.httpStatus === 429 ||
    THROTTLING.has(failure.code) ||
    failure.code === 'ECONNREFUSED' ||
    failure.code === 'ENOTFOUND' ||
    failure.code === 'EAI_AGAIN'
  )
}

/** The AWS error code of a failed answer: as the SDK reads rest-json errors. */
export function errorCode(answer: RawAnswer, body: unknown): string | undefined {
  const record = isRecord(body) ? body : {}
  const raw = answer.errorType ?? text(record.__type) ?? text(record.code) ?? text(record.Code)
  if (raw === undefined) return undefined
  // x-amzn-errortype may carry `:http://internal…`; __type may carry a namespace before `#`.
  const code = raw.split(':')[0]?.split('#').pop()?.trim()
  return code === undefined || code === '' ? undefined : code
}

const MESSAGE_LIMIT = 500

/** The MwaaError for a failed answer; `doing` names the call and the environment. */
export function errorFromAnswer(answer: RawAnswer, doing: string): MwaaError {
  const body = parseJson(answer.text)
  const code = errorCode(answer, body) ?? 'UnknownError'
  const record = isRecord(body) ? body : {}
  const message = text(record.message) ?? text(record.Message)
  const retryable = answer.status >= 500 || answer.status === 429 || THROTTLING.has(code)
  const shown = message === undefined ? '' : `: ${cap(escapeText(message), MESSAGE_LIMIT)}`
  return new MwaaError(
    `${doing} failed with ${escapeText(code)} (HTTP ${answer.status})${shown}`,
    code,
    answer.status,
    retryable
  )
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// The client.

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface MwaaApiOptions {
  /** Defaults to the SDK's default chain (environment, web identity, profiles, instance role). */
  credentials?: () => Promise<AwsCredentials>
  /** Where AWS_ENDPOINT_URL_MWAA and AWS_ENDPOINT_URL are read; process.env by default. */
  env?: Environment
  /** Attempts per call, the first included. */
  maxAttempts?: number
  /** The first retry waits up to this long; each next one up to twice as long. */
  backoffBaseMs?: number
  /** Longest wait between attempts. */
  backoffMaxMs?: number
  /** Longest wait for one answer, its body included. */
  requestTimeoutMs?: number
}

const DEFAULTS = {
  maxAttempts: 4,
  backoffBaseMs: 200,
  backoffMaxMs: 5_000,
  // InvokeRestApi gives up on Airflow after 10 s; the rest is for MWAA and the way there.
  requestTimeoutMs: 30_000
}

/** MWAA's answers are small, except InvokeRestApi's, which MWAA caps at 6 MB. */
const ANSWER_LIMIT_BYTES = 8 * 1024 * 1024

/** MWAA's EnvironmentName. */
const ENVIRONMENT_NAME = /^[a-zA-Z][0-9a-zA-Z_-]{0,79}$/

const REST_API_ANSWERS = new Set(['RestApiClientException', 'RestApiServerException'])

/** An MwaaApi that signs its calls with the target's region and the given credentials. */
export function createMwaaApi(target: AwsTarget, options: MwaaApiOptions = {}): MwaaApi {
  return new SignedMwaaApi(target, options)
}

class SignedMwaaApi implements MwaaApi {
  private readonly endpoint: MwaaEndpoint
  private readonly signer: SignatureV4
  private readonly agent: http.Agent
  private readonly settings: typeof DEFAULTS

  constructor(target: AwsTarget, options: MwaaApiOptions) {
    this.endpoint = resolveMwaaEndpoint(target, options.env ?? process.env)
    const credentials = options.credentials ?? defaultProvider()
    this.signer = new SignatureV4({
      service: SIGNING_NAME,
      region: target.region,
      credentials: () => credentialsOrError(credentials),
      sha256: Sha256,
      uriEscapePath: true,
      applyChecksum: false
    })
    const agentOptions = { keepAlive: true, maxSockets: 10 }
    this.agent =
      this.endpoint.url.protocol === 'https:'
        ? new https.Agent(agentOptions)
        : new http.Agent(agentOptions)
    this.settings = {
      maxAttempts: Math.max(1, options.maxAttempts ?? DEFAULTS.maxAttempts),
      backoffBaseMs: options.backoffBaseMs ?? DEFAULTS.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs ?? DEFAULTS.backoffMaxMs,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs
    }
  }

  async getEnvironment(name: string): Promise<MwaaEnvironment> {
    const body = await this.call(OPERATIONS.getEnvironment, name)
    return environmentFrom(body, name)
  }

  async updateEnvironment(
    name: string,
    files: Partial<Record<FileRole, Required<EnvironmentFile>>>
  ): Promise<void> {
    await this.call(OPERATIONS.updateEnvironment, name, updateEnvironmentBody(files))
  }

  async invokeRestApi(
    name: string,
    request: { path: string; query?: Record<string, string | number> }
  ): Promise<RestApiAnswer> {
    const outcome = await this.call(
      OPERATIONS.invokeRestApi,
      name,
      invokeRestApiBody(request),
      // Airflow's own 4xx and 5xx come back as these two errors of MWAA, with Airflow's answer.
      (body, code) =>
        code !== undefined && REST_API_ANSWERS.has(code)
          ? {
              RestApiStatusCode: code === 'RestApiServerException' ? 500 : 400,
              ...(isRecord(body) ? body : {})
            }
          : undefined
    )
    const record = isRecord(outcome) ? outcome : {}
    const status = record.RestApiStatusCode
    return {
      status: typeof status === 'number' && Number.isInteger(status) ? status : 200,
      body: record.RestApiResponse
    }
  }

  destroy(): void {
    this.agent.destroy()
  }

  /**
   * One call, with retries of throttling, 5xx answers and lost connections. `accept` may take a
   * failed answer as the call's result.
   */
  private async call(
    operation: Operation,
    environment: string,
    body?: unknown,
    accept?: (body: unknown, code: string | undefined) => unknown
  ): Promise<unknown> {
    const doing = `MWAA ${operation.name} of environment '${escapeText(environment)}'`
    if (!ENVIRONMENT_NAME.test(environment)) {
      // Refused here: a name like `..` would change the request's path, not just name a resource.
      throw new MwaaError(
        `${doing}: not an environment name (1 to 80 letters, digits, - and _, starting with a letter)`,
        'ValidationException',
        undefined,
        false
      )
    }
    const url = operationUrl(this.endpoint, operation, environment)
    const payload = body === undefined ? undefined : JSON.stringify(body)
    for (let attempt = 1; ; attempt += 1) {
      let failure: MwaaError
      try {
        const answer = await this.send(operation.method, url, payload, doing)
        if (answer.status >= 200 && answer.status < 300) {
          const parsed = parseJson(answer.text)
          if (answer.text.trim() !== '' && parsed === undefined) {
            throw new MwaaError(
              `${doing}: ${shownEndpoint(url)} answered HTTP ${answer.status} without JSON`,
              'InvalidResponse',
              answer.status,
              false
            )
          }
          return parsed
        }
        const parsed = parseJson(answer.text)
        const accepted = accept?.(parsed, errorCode(answer, parsed))
        if (accepted !== undefined) return accepted
        failure = errorFromAnswer(answer, doing)
      } catch (error) {
        if (!(error instanceof MwaaError)) throw error
        failure = error
      }
      if (!failure.retryable || attempt >= this.settings.maxAttempts) throw failure
      if (!operation.repeatable && !neverActedOn(failure)) throw failure
      await sleep(this.backoffMs(attempt))
    }
  }

  /** Full jitter: many runners retrying at once spread out instead of striking together. */
  private backoffMs(attempt: number): number {
    const ceiling = Math.min(
      this.settings.backoffMaxMs,
      this.settings.backoffBaseMs * 2 ** (attempt - 1)
    )
    return Math.random() * ceiling
  }

  private async send(
    method: string,
    url: URL,
    payload: string | undefined,
    doing: string
  ): Promise<RawAnswer> {
    const headers: Record<string, string> = {
      host: url.host,
      'user-agent': USER_AGENT,
      accept: 'application/json'
    }
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(Buffer.byteLength(payload))
    }
    const signed = await this.signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port !== '' ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: {},
      headers,
      ...(payload !== undefined ? { body: payload } : {})
    })
    return await new Promise<RawAnswer>((resolve, reject) => {
      const transport = url.protocol === 'https:' ? https : http
      const request = transport.request(url, {
        method,
        headers: signed.headers,
        agent: this.agent
      })
      const lost = (error: unknown) =>
        reject(
          new MwaaError(
            `${doing}: no answer from ${shownEndpoint(url)} (${networkProblem(error, this.settings.requestTimeoutMs)})`,
            networkCode(error),
            undefined,
            true
          )
        )
      const timer = setTimeout(() => {
        const timeout = Object.assign(new Error('timed out'), { code: 'TimeoutError' })
        lost(timeout)
        request.destroy(timeout)
      }, this.settings.requestTimeoutMs)
      request.on('error', (error) => {
        clearTimeout(timer)
        lost(error)
      })
      request.on('response', (response) => {
        const chunks: Buffer[] = []
        let size = 0
        response.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > ANSWER_LIMIT_BYTES) {
            clearTimeout(timer)
            response.destroy()
            reject(
              new MwaaError(
                `${doing}: ${shownEndpoint(url)} answered more than ${ANSWER_LIMIT_BYTES / 1024 / 1024} MiB`,
                'ResponseTooLarge',
                response.statusCode,
                false
              )
            )
            return
          }
          chunks.push(chunk)
        })
        response.on('error', (error) => {
          clearTimeout(timer)
          lost(error)
        })
        response.on('end', () => {
          clearTimeout(timer)
          const errorType = response.headers['x-amzn-errortype']
          resolve({
            status: response.statusCode ?? 0,
            ...(typeof errorType === 'string' ? { errorType } : {}),
            text: Buffer.concat(chunks).toString('utf8')
          })
        })
      })
      request.end(payload)
    })
  }
}

/**
 * The chain's failure as an MwaaError: the SDK's messages name the providers tried, never a key,
 * but they are long; the fix is always the same.
 */
async function credentialsOrError(
  credentials: () => Promise<AwsCredentials>
): Promise<AwsCredentials> {
  try {
    return await credentials()
  } catch (error) {
    throw new MwaaError(
      `MWAA: no AWS credentials found (${cap(escapeText(errorMessage(error)), 200)}). Add aws-actions/configure-aws-credentials (OIDC role) before this step, or provide AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`,
      'CredentialsProviderError',
      undefined,
      false
    )
  }
}

function networkCode(error: unknown): string {
  const code = isRecord(error) ? error.code : undefined
  return typeof code === 'string' && /^[A-Za-z_]+$/.test(code) ? code : 'NetworkingError'
}

function networkProblem(error: unknown, timeoutMs: number): string {
  const code = networkCode(error)
  if (code === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`
  const message = isRecord(error) && typeof error.message === 'string' ? error.message : ''
  return cap(escapeText(code === 'NetworkingError' ? message || code : code), 120)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

type SourceData = string | ArrayBuffer | ArrayBufferView

function bytes(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return Buffer.from(data)
}

/** SHA-256, or HMAC-SHA-256 with a key, in the shape the signer asks for. */
class Sha256 {
  private readonly hash: Hash | Hmac

  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret))
  }

  update(data: SourceData): void {
    this.hash.update(bytes(data))
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()))
  }
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function recordOf(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {}
}
