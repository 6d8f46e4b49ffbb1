import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import {
  AirflowError,
  pollParse,
  type AirflowReader,
  type ParseOutcome
} from '../common/airflow-parse.js'
import { errorMessage } from '../common/errors.js'
import { cap } from '../common/one-line.js'
import { escapeText, hasControlCharacter } from '../common/untrusted.js'
import { ConfigError, envValue, readWholeSeconds } from './config.js'

// The judgement of what Airflow reports is shared with the MWAA action; these names stay here too.
export {
  AirflowError,
  checkedFiles,
  dagFolderPath,
  epochMs,
  errorSummary,
  IMPORT_ERROR_LINE_LIMIT,
  importErrorLine,
  judgeParse,
  MESSAGE_LIMIT,
  type FileProblem,
  type ImportErrorRecord,
  type ParsedDag,
  type ParseJudgement,
  type ParseOutcome
} from '../common/airflow-parse.js'
import { isRecord } from '../common/json-shape.js'

// After the workers hold a deploy's files, Airflow's scheduler (the DAG processor in Airflow 3)
// still has to parse them before a broken DAG shows up anywhere. This module asks Airflow's REST
// API, when one is configured, whether the changed files were parsed and with what import errors.

/** The environment variables of the Airflow confirmation; set both of the first two, or neither. */
export const AirflowEnv = {
  /** The webserver's base URL (http or https, like http://airflow.internal:8080); the API version is detected. */
  ApiUrl: 'AIRFLOW_API_URL',
  /** Name or ARN of the Secrets Manager secret whose SecretString is {"username": …, "password": …}. */
  CredentialsSecret: 'AIRFLOW_CREDENTIALS_SECRET',
  /** Seconds to wait for Airflow to parse the changed files (10 to 840, default 300). */
  ConfirmTimeout: 'AIRFLOW_CONFIRM_TIMEOUT_SECONDS'
} as const

export const CONFIRM_TIMEOUT = { fallbackSeconds: 300, min: 10, max: 840 } as const

export interface AirflowConfig {
  /** Without a trailing slash; may hold a path when the webserver is served under one. */
  apiUrl: string
  credentialsSecret: string
  confirmTimeoutMs: number
}

type Environment = Record<string, string | undefined>

/** The Airflow settings, or undefined when the confirmation is not configured. */
export function readAirflowConfig(env: Environment = process.env): AirflowConfig | undefined {
  const url = envValue(env, AirflowEnv.ApiUrl)
  const secret = envValue(env, AirflowEnv.CredentialsSecret)
  if (url === undefined && secret === undefined) {
    if (envValue(env, AirflowEnv.ConfirmTimeout) !== undefined) {
      throw new ConfigError(
        AirflowEnv.ConfirmTimeout,
        `is only used with ${AirflowEnv.ApiUrl} and ${AirflowEnv.CredentialsSecret}, which are not set`
      )
    }
    return undefined
  }
  if (url === undefined) {
    throw new ConfigError(
      AirflowEnv.ApiUrl,
      `is required when ${AirflowEnv.CredentialsSecret} is set (set both to confirm with Airflow, or neither)`
    )
  }
  if (secret === undefined) {
    throw new ConfigError(
      AirflowEnv.CredentialsSecret,
      `is required when ${AirflowEnv.ApiUrl} is set (set both to confirm with Airflow, or neither)`
    )
  }
  return {
    apiUrl: readApiUrl(url),
    credentialsSecret: readSecretId(secret),
    confirmTimeoutMs: readTimeoutSeconds(env) * 1000
  }
}

function readApiUrl(text: string): string {
  const name = AirflowEnv.ApiUrl
  // The WHATWG parser drops tabs and line breaks without a word, so they are refused first.
  if (hasControlCharacter(text)) {
    throw new ConfigError(name, `'${escapeText(text)}' (shown escaped) holds a control character`)
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ConfigError(
      name,
      `'${escapeText(text)}' is not a URL (like http://airflow.internal:8080)`
    )
  }
  if (url.username !== '' || url.password !== '') {
    // The URL is not quoted: it holds a password.
    throw new ConfigError(
      name,
      `must not hold a user name or password; they go in the secret named by ${AirflowEnv.CredentialsSecret}`
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, `must be an http or https URL, got '${escapeText(text)}'`)
  }
  if (text.includes('?') || text.includes('#')) {
    throw new ConfigError(
      name,
      `must be the webserver's base URL without a query or fragment, got '${escapeText(text)}'`
    )
  }
  const path = url.pathname.replace(/\/+$/, '')
  if (/\/api\/v[0-9]+$/.test(path)) {
    throw new ConfigError(
      name,
      `must be the webserver's base URL without /api/v1 or /api/v2 (the version is detected), got '${escapeText(text)}'`
    )
  }
  return `${url.origin}${path}`
}

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/

function readSecretId(text: string): string {
  if (!SECRET_NAME.test(text) && !SECRET_ARN.test(text)) {
    throw new ConfigError(
      AirflowEnv.CredentialsSecret,
      `'${escapeText(text)}' is not a Secrets Manager secret name (1 to 512 letters, digits and /_+=.@-) or secret ARN`
    )
  }
  return text
}

function readTimeoutSeconds(env: Environment): number {
  return readWholeSeconds(env, AirflowEnv.ConfirmTimeout, CONFIRM_TIMEOUT)
}

export interface AirflowCredentials {
  username: string
  password: string
}

/**
 * Reads the API user from Secrets Manager. Nothing of the secret's value reaches a message: a
 * JSON parse error quotes the text it failed on, so it is replaced, not passed on.
 */
export async function readAirflowCredentials(
  secretId: string,
  client: SecretsManagerClient = new SecretsManagerClient({})
): Promise<AirflowCredentials> {
  const where = `The secret ${escapeText(secretId)} named by ${AirflowEnv.CredentialsSecret}`
  let secretString: string | undefined
  try {
    secretString = (await client.send(new GetSecretValueCommand({ SecretId: secretId })))
      .SecretString
  } catch (error) {
    throw new AirflowError(`${where} could not be read: ${secretsManagerProblem(error)}`)
  }
  if (secretString === undefined) {
    throw new AirflowError(
      `${where} has no SecretString; store {"username": "…", "password": "…"} as its text`
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(secretString)
  } catch {
    throw new AirflowError(
      `${where} is not JSON; store {"username": "…", "password": "…"} as its text`
    )
  }
  const record = isRecord(parsed) ? parsed : {}
  const { username, password } = record
  if (typeof username !== 'string' || username === '' || hasControlCharacter(username)) {
    throw new AirflowError(`${where} has no "username" string (without control characters)`)
  }
  if (typeof password !== 'string' || password === '') {
    throw new AirflowError(`${where} has no "password" string`)
  }
  return { username, password }
}

function secretsManagerProblem(error: unknown): string {
  const name = isRecord(error) && typeof error.name === 'string' ? error.name : ''
  if (name === 'ResourceNotFoundException') {
    return 'there is no such secret in this account and Region'
  }
  if (name === 'AccessDeniedException') {
    return "the function's role may not read it (it needs secretsmanager:GetSecretValue on the secret, and kms:Decrypt when a customer managed key encrypts it)"
  }
  if (name === 'DecryptionFailure') {
    return "its KMS key did not decrypt it for the function's role (kms:Decrypt)"
  }
  return `${escapeText(name || 'Error')}: ${cap(escapeText(errorMessage(error)), 200)}`
}

// ---------------------------------------------------------------------------------------------
// The REST API.

type Fetch = typeof globalThis.fetch

/** Airflow 2 serves /api/v1 with basic auth; Airflow 3 serves /api/v2 with a bearer token. */
type ApiVersion = 'v1' | 'v2'

/** Longest wait for one answer; a webserver out of reach from the function hangs, not refuses. */
const REQUEST_TIMEOUT_MS = 10_000
/** Airflow's default maximum_page_limit. */
const PAGE_SIZE = 100
const POLL_INTERVAL_MS = 5_000

class AirflowApi implements AirflowReader {
  private authorization = ''

  private constructor(
    private readonly baseUrl: string,
    private readonly secretId: string,
    private readonly credentials: AirflowCredentials,
    private readonly fetch: Fetch,
    private readonly deadlineMs: number,
    readonly version: ApiVersion
  ) {}

  /** Finds which API the webserver serves and signs in. */
  static async connect(options: {
    config: AirflowConfig
    credentials: AirflowCredentials
    fetch: Fetch
    deadlineMs: number
  }): Promise<AirflowApi> {
    const { config, credentials, fetch, deadlineMs } = options
    const probe = async (version: ApiVersion) => {
      try {
        return await send({
          fetch,
          deadlineMs,
          baseUrl: config.apiUrl,
          path: `/api/${version}/version`
        })
      } catch (error) {
        // Out of reach at the first request is a setting to fix, not a blip to wait out.
        throw error instanceof AirflowError ? new AirflowError(error.message) : error
      }
    }
    // An API that wants credentials even for its version still shows that it is there.
    const served = (status: number) =>
      (status >= 200 && status < 300) || status === 401 || status === 403
    const failing = (status: number, path: string) => {
      if (status >= 500 || status === 429) {
        throw new AirflowError(
          `${AirflowEnv.ApiUrl} (${config.apiUrl}): GET ${path} answered HTTP ${status}`,
          true
        )
      }
    }
    const v2 = await probe('v2')
    await v2.body?.cancel()
    failing(v2.status, '/api/v2/version')
    let version: ApiVersion
    if (served(v2.status)) version = 'v2'
    else {
      const v1 = await probe('v1')
      await v1.body?.cancel()
      failing(v1.status, '/api/v1/version')
      if (!served(v1.status)) {
        throw new AirflowError(
          `${AirflowEnv.ApiUrl} (${config.apiUrl}) serves no Airflow REST API: GET /api/v2/version answered HTTP ${v2.status} and GET /api/v1/version HTTP ${v1.status}; set it to the webserver's base URL`
        )
      }
      version = 'v1'
    }
    const api = new AirflowApi(
      config.apiUrl,
      config.credentialsSecret,
      credentials,
      fetch,
      deadlineMs,
      version
    )
    await api.signIn()
    return api
  }

  private async signIn(): Promise<void> {
    const { username, password } = this.credentials
    this.authorization = ''
    if (this.version === 'v1') {
      this.authorization = `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`
      return
    }
    const response = await this.request('POST', '/auth/token', { username, password })
    const body = await this.json(response, 'POST /auth/token')
    const token = isRecord(body) ? body.access_token : undefined
    if (typeof token !== 'string' || token === '') {
      throw new AirflowError(
        `${AirflowEnv.ApiUrl} (${this.baseUrl}): POST /auth/token answered without an access_token`
      )
    }
    this.authorization = `Bearer ${token}`
  }

  /** Every entry of a paginated collection. */
  async list(collection: 'dags' | 'importErrors'): Promise<unknown[]> {
    const key = collection === 'dags' ? 'dags' : 'import_errors'
    const path = `/api/${this.version}/${collection}`
    const entries: unknown[] = []
    for (;;) {
      const page = await this.get(`${path}?limit=${PAGE_SIZE}&offset=${entries.length}`)
      const items = isRecord(page) ? page[key] : undefined
      const total = isRecord(page) ? page.total_entries : undefined
      if (!Array.isArray(items) || typeof total !== 'number') {
        throw new AirflowError(
          `${AirflowEnv.ApiUrl} (${this.baseUrl}): GET ${path} answered without ${key} and total_entries; is this Airflow's REST API?`
        )
      }
      entries.push(...(items as unknown[]))
      if (items.length === 0 || entries.length >= total) return entries
    }
  }

  private async get(path: string): Promise<unknown> {
    let response = await this.request('GET', path)
    if (response.status === 401 && this.version === 'v2') {
      // The token may have expired during a long wait: one new token, then the answer stands.
      await response.body?.cancel()
      await this.signIn()
      response = await this.request('GET', path)
    }
    return this.json(response, `GET ${path.replace(/\?.*$/, '')}`)
  }

  private request(method: string, path: string, body?: unknown): Promise<Response> {
    return send({
      fetch: this.fetch,
      deadlineMs: this.deadlineMs,
      baseUrl: this.baseUrl,
      path,
      method,
      headers: {
        accept: 'application/json',
        ...(this.authorization !== '' ? { authorization: this.authorization } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {})
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
  }

  /** The answer's JSON; the body is never quoted, since a server may echo what it was sent. */
  private async json(response: Response, what: string): Promise<unknown> {
    const { status } = response
    if (status === 401 || status === 403) {
      await response.body?.cancel()
      throw new AirflowError(
        status === 401
          ? `Airflow at ${this.baseUrl} refused the user in the secret ${escapeText(this.secretId)} named by ${AirflowEnv.CredentialsSecret} (HTTP 401 to ${what}): check its username and password` +
              (this.version === 'v1'
                ? ", and that Airflow's [api] auth_backends includes airflow.api.auth.backend.basic_auth"
                : '')
          : `Airflow at ${this.baseUrl} does not let the user in the secret ${escapeText(this.secretId)} named by ${AirflowEnv.CredentialsSecret} read DAGs and import errors (HTTP 403 to ${what}); give it a role that may (Viewer is enough)`
      )
    }
    if (status < 200 || status >= 300) {
      await response.body?.cancel()
      const transient = status >= 500 || status === 429
      throw new AirflowError(
        `${AirflowEnv.ApiUrl} (${this.baseUrl}): ${what} answered HTTP ${status}` +
          (status >= 300 && status < 400
            ? "; set it to the webserver's base URL, which the API is served under without a redirect"
            : ''),
        transient
      )
    }
    try {
      return await response.json()
    } catch {
      throw new AirflowError(`${AirflowEnv.ApiUrl} (${this.baseUrl}): ${what} did not answer JSON`)
    }
  }
}

async function send(options: {
  fetch: Fetch
  deadlineMs: number
  baseUrl: string
  path: string
  method?: string
  headers?: Record<string, string>
  body?: string
}): Promise<Response> {
  const { fetch, deadlineMs, baseUrl, path, method = 'GET', headers, body } = options
  const timeoutMs = Math.max(1000, Math.min(REQUEST_TIMEOUT_MS, deadlineMs - Date.now()))
  try {
    return await fetch(`${baseUrl}${path}`, {
      method,
      ...(headers !== undefined ? { headers } : {}),
      ...(body !== undefined ? { body } : {}),
      // Credentials go to the configured URL only; a redirect is reported, not followed.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs)
    })
  } catch (error) {
    throw new AirflowError(
      `The Airflow webserver at ${baseUrl} (${AirflowEnv.ApiUrl}) is not reachable from the function (${networkProblem(error)} on ${method} ${path.replace(/\?.*$/, '')}); ` +
        'the function must run in the VPC and subnets from which the webserver is reachable, with a security group the webserver lets in',
      true
    )
  }
}

function networkProblem(error: unknown): string {
  // Read by shape: fetch's errors may come from another realm than this module's Error.
  const name = isRecord(error) ? error.name : undefined
  if (name === 'TimeoutError' || name === 'AbortError') {
    return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
  }
  const cause = isRecord(error) ? error.cause : undefined
  const code = isRecord(cause) ? cause.code : undefined
  const message = isRecord(error) ? error.message : undefined
  const text =
    typeof code === 'string' ? code : typeof message === 'string' ? message : String(error)
  return cap(escapeText(text), 80)
}

export interface ConfirmOptions {
  config: AirflowConfig
  credentials: AirflowCredentials
  /** The absolute folder where the workers, and Airflow's fileloc, hold the DAG files. */
  workerDagFolder: string
  /** Paths relative to that folder that this deploy uploaded. */
  changedPaths: readonly string[]
  /** Only a parse at or after this moment counts: before it, Airflow saw the old files. */
  since: Date
  /** Epoch ms after which no poll starts and no answer is awaited. */
  deadlineMs: number
  fetch?: Fetch
  /** Time between polls; Airflow parses a file at most every min_file_process_interval (30 s by default). */
  pollIntervalMs?: number
}

/**
 * Polls Airflow until every changed DAG file was parsed after `since` or the deadline passes.
 * A webserver out of reach at the first request, credentials that Airflow refuses, or an API that
 * is not there end it at once; a server error, or a connection lost after the first answer, is
 * tried again at the next poll and thrown when no poll succeeded by the deadline.
 */
export async function confirmParsed(options: ConfirmOptions): Promise<ParseOutcome> {
  const fetch = options.fetch ?? globalThis.fetch
  return pollParse({
    connect: () =>
      AirflowApi.connect({
        config: options.config,
        credentials: options.credentials,
        fetch,
        deadlineMs: options.deadlineMs
      }),
    dagFolder: options.workerDagFolder,
    changedPaths: options.changedPaths,
    since: options.since,
    deadlineMs: options.deadlineMs,
    pollIntervalMs: options.pollIntervalMs ?? POLL_INTERVAL_MS
  })
}
