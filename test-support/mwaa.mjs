// A local Amazon MWAA endpoint for tests: moto has no MWAA. One loopback server answers the three
// calls the pack makes, on the real wire protocol (rest-json, SigV4 for service `airflow`, as in
// botocore's model mwaa/2020-07-01): GetEnvironment, UpdateEnvironment and InvokeRestApi. Real
// clients send the first two to api.airflow.<region>.amazonaws.com and the third to
// env.airflow.<region>.amazonaws.com; here every path is answered on the one endpoint, and S3's
// requests to it go on to moto, so that one endpoint-url serves an action's S3 and MWAA calls.
//
// The environments are the test's own. Their source bucket lives in moto's versioned S3, which the
// stand-in asks (HeadObject with VersionId) before it accepts an update naming object versions.
// An update progresses by events, never by time: each GetEnvironment while it runs is one poll,
// and after the scripted number of polls it ends as scripted. InvokeRestApi is answered by a
// ScriptedAirflow the test attaches, whose scheduler parses the files the test declares when the
// test says so.
import { HeadObjectCommand, GetBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3'
import { SignatureV4 } from '@smithy/signature-v4'
import { createHash, createHmac, randomUUID } from 'node:crypto'
import { createServer, request as httpRequest } from 'node:http'

/** The statuses in which MWAA accepts UpdateEnvironment; in any other it refuses the call. */
const UPDATABLE = new Set(['AVAILABLE', 'UPDATE_FAILED'])

/** The pack's file roles (src/common/mwaa.ts) and their names in the API. */
const FILE_FIELDS = {
  requirements: { path: 'RequirementsS3Path', version: 'RequirementsS3ObjectVersion' },
  plugins: { path: 'PluginsS3Path', version: 'PluginsS3ObjectVersion' },
  'startup-script': { path: 'StartupScriptS3Path', version: 'StartupScriptS3ObjectVersion' }
}

const NAME_PATTERN = /^[a-zA-Z][0-9a-zA-Z\-_]*$/
const DEFAULT_UPDATE = { polls: 2 }
const SIX_MB = 6 * 1024 * 1024
/** How far X-Amz-Date may be from now before AWS calls the signature expired. */
const CLOCK_SKEW_MS = 15 * 60 * 1000

/** SHA-256 and HMAC-SHA-256 in the shape @smithy/signature-v4 asks for. */
class Sha256 {
  constructor(secret) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', secret)
  }
  update(data) {
    this.hash.update(data)
  }
  async digest() {
    return new Uint8Array(this.hash.digest())
  }
}

/**
 * @param {{
 *   s3Endpoint: string,
 *   region?: string,
 *   credentials?: { accessKeyId: string, secretAccessKey: string, sessionToken?: string },
 *   accountId?: string,
 *   maxResponseBytes?: number,
 *   beforeAnswer?: (call: object) => void | Promise<void>
 * }} options
 */
export async function startMwaaStandIn(options) {
  const region = options.region ?? 'us-east-1'
  const credentials = options.credentials ?? { accessKeyId: 'testing', secretAccessKey: 'testing' }
  const accountId = options.accountId ?? '123456789012'
  const maxResponseBytes = options.maxResponseBytes ?? SIX_MB
  const s3 = new S3Client({
    endpoint: options.s3Endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
  })
  const signer = new SignatureV4({
    credentials,
    region,
    service: 'airflow',
    sha256: Sha256,
    applyChecksum: false
  })
  /** @type {Map<string, ReturnType<typeof makeEnvironment>>} */
  const environments = new Map()
  const calls = []
  const refused = []
  const forwarded = []
  /** @type {{ predicate: (call: object) => boolean, resolve: (call: object) => void }[]} */
  const waiters = []

  function record(call) {
    calls.push(call)
    for (const waiter of [...waiters]) {
      if (!waiter.predicate(call)) continue
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve(call)
    }
  }

  // --- Signature V4 -------------------------------------------------------------------------------

  /** Undefined when the request is signed for these credentials; else AWS's refusal. */
  async function checkSignature(req, url, body) {
    const authorization = String(req.headers.authorization ?? '')
    if (authorization === '') {
      return refusal(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token')
    }
    const parsed =
      /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9\-;]+),\s*Signature=([0-9a-f]{64})$/.exec(
        authorization
      )
    if (parsed === null) {
      return refusal(403, 'IncompleteSignatureException', 'Authorization header is malformed')
    }
    const [, accessKeyId, scopeDate, scopeRegion, scopeService, signedList, signature] = parsed
    if (accessKeyId !== credentials.accessKeyId) {
      return refusal(
        403,
        'UnrecognizedClientException',
        'The security token included in the request is invalid.'
      )
    }
    if (credentials.sessionToken !== undefined) {
      if (req.headers['x-amz-security-token'] !== credentials.sessionToken) {
        return refusal(
          403,
          'UnrecognizedClientException',
          'The security token included in the request is invalid.'
        )
      }
    }
    const amzDate = String(req.headers['x-amz-date'] ?? '')
    const when = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate)
    if (when === null) {
      return refusal(403, 'IncompleteSignatureException', 'X-Amz-Date is missing or malformed')
    }
    const signingDate = new Date(
      Date.UTC(+when[1], +when[2] - 1, +when[3], +when[4], +when[5], +when[6])
    )
    if (Math.abs(Date.now() - signingDate.getTime()) > CLOCK_SKEW_MS) {
      return refusal(403, 'InvalidSignatureException', `Signature expired: ${amzDate} is not now`)
    }
    if (scopeService !== 'airflow' || scopeRegion !== region || scopeDate !== amzDate.slice(0, 8)) {
      return refusal(
        403,
        'InvalidSignatureException',
        `Credential should be scoped to ${amzDate.slice(0, 8)}/${region}/airflow`
      )
    }
    const signedNames = signedList.split(';')
    if (!signedNames.includes('host')) {
      return refusal(403, 'InvalidSignatureException', "'Host' must be a signed header")
    }
    const headers = {}
    for (const name of signedNames) {
      const value = req.headers[name]
      if (value === undefined) {
        return refusal(403, 'InvalidSignatureException', `signed header ${name} is missing`)
      }
      headers[name] = Array.isArray(value) ? value.join(',') : value
    }
    const payloadHash = createHash('sha256').update(body).digest('hex')
    const claimedHash = req.headers['x-amz-content-sha256']
    if (claimedHash !== undefined && claimedHash !== payloadHash) {
      return refusal(403, 'InvalidSignatureException', 'x-amz-content-sha256 is not the body')
    }
    const query = {}
    for (const [key, value] of url.searchParams) {
      const known = query[key]
      query[key] = known === undefined ? value : [known, value].flat()
    }
    const expected = await signer.sign(
      {
        method: req.method ?? 'GET',
        protocol: 'http:',
        hostname: url.hostname,
        port: url.port === '' ? undefined : Number(url.port),
        // The path as it came on the wire (already escaped once); SigV4 escapes it again.
        path: (req.url ?? '/').split('?')[0],
        query,
        headers,
        body
      },
      { signingDate, signableHeaders: new Set(signedNames) }
    )
    const wanted = String(expected.headers.authorization ?? '')
    if (!wanted.endsWith(`SignedHeaders=${signedList}, Signature=${signature}`)) {
      return refusal(
        403,
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. ' +
          'Check your AWS Secret Access Key and signing method.'
      )
    }
    return undefined
  }

  // --- Operations ---------------------------------------------------------------------------------

  function environmentNamed(name) {
    if (name.length > 80 || !NAME_PATTERN.test(name)) {
      return refusal(
        400,
        'ValidationException',
        `1 validation error detected: Value '${name}' at 'name' failed to satisfy constraint: ` +
          `Member must satisfy regular expression pattern: ${NAME_PATTERN.source.slice(1, -1)}`
      )
    }
    const environment = environments.get(name)
    if (environment === undefined) {
      return refusal(404, 'ResourceNotFoundException', `Environment ${name} not found.`)
    }
    return environment
  }

  function getEnvironment(name) {
    const environment = environmentNamed(name)
    if ('error' in environment) return environment
    environment.poll()
    return { status: 200, body: { Environment: environment.describe() } }
  }

  /**
   * The modelling choice: a member the request leaves out keeps the environment's current value
   * (a file not named stays at its key and version). Each file named must be in the bucket: at the
   * version given, and a versioned bucket's file needs its version, since MWAA reads the object
   * version it is told. Other members (AirflowConfigurationOptions, sizes) are recorded, not used.
   */
  async function updateEnvironment(name, input) {
    const environment = environmentNamed(name)
    if ('error' in environment) return environment
    if (!UPDATABLE.has(environment.status)) return environment.busy()
    const bucketArn = input.SourceBucketArn ?? environment.sourceBucketArn
    const bucket = bucketArn.replace(/^arn:aws(-[a-z]+)?:s3:::/, '')
    const requested = {}
    for (const [role, field] of Object.entries(FILE_FIELDS)) {
      const path = input[field.path]
      const version = input[field.version]
      if (path === undefined && version === undefined) continue
      for (const [member, value] of [
        [field.path, path],
        [field.version, version]
      ]) {
        if (value !== undefined && (typeof value !== 'string' || value.length < 1)) {
          return refusal(400, 'ValidationException', `${member} must be a non-empty string`)
        }
      }
      const key = path ?? environment.files[role]?.key
      if (key === undefined) {
        return refusal(
          400,
          'ValidationException',
          `${field.version} was given without ${field.path}, and the environment has none`
        )
      }
      const problem = await checkObject(bucket, key, version, field)
      if (problem !== undefined) return problem
      requested[role] = version === undefined ? { key } : { key, versionId: version }
    }
    // Another call may have started an update while moto answered.
    if (!UPDATABLE.has(environment.status)) return environment.busy()
    environment.begin({
      requested,
      settings: {
        SourceBucketArn: input.SourceBucketArn,
        DagS3Path: input.DagS3Path,
        AirflowVersion: input.AirflowVersion,
        ExecutionRoleArn: input.ExecutionRoleArn
      },
      source: 'CUSTOMER',
      by: 'UpdateEnvironment'
    })
    return { status: 200, body: { Arn: environment.arn } }
  }

  /** MWAA reads the object from the bucket; a version the bucket does not hold is refused. */
  async function checkObject(bucket, key, version, field) {
    if (version === undefined) {
      let versioning
      try {
        versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))
      } catch (error) {
        if (error?.$metadata?.httpStatusCode !== 404) throw error
        return refusal(400, 'ValidationException', `The bucket ${bucket} does not exist`)
      }
      if (versioning.Status === 'Enabled' || versioning.Status === 'Suspended') {
        return refusal(
          400,
          'ValidationException',
          `${field.path} ${key} is given without ${field.version}; the bucket ${bucket} is ` +
            'versioned, so the object version must be named'
        )
      }
    }
    try {
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: version }))
      return undefined
    } catch (error) {
      const status = error?.$metadata?.httpStatusCode
      if (status === 404 || status === 400 || status === 405 || status === 403) {
        return refusal(
          400,
          'ValidationException',
          version === undefined
            ? `Unable to read ${field.path} s3://${bucket}/${key}: no such object`
            : `Unable to read version ${version} of ${field.path} s3://${bucket}/${key}: ` +
                'no such object version'
        )
      }
      throw error
    }
  }

  function invokeRestApi(name, input) {
    const environment = environmentNamed(name)
    if ('error' in environment) return environment
    if (environment.restApi === 'needs-update') {
      return refusal(400, 'ValidationException', 'Update your environment to use InvokeRestApi')
    }
    if (environment.restApi === 'access-denied') {
      // AccessDeniedException's member is `Message` in the model, not `message`.
      return {
        status: 403,
        error: 'AccessDeniedException',
        body: {
          Message:
            `User: arn:aws:iam::${accountId}:user/testing is not authorized to perform: ` +
            `airflow:InvokeRestApi on resource: ${environment.arn}`
        }
      }
    }
    const problem = restApiRequestProblem(input)
    if (problem !== undefined) return refusal(400, 'ValidationException', problem)
    const airflow = environment.airflow
    if (airflow === undefined) {
      return refusal(500, 'InternalServerException', `no ScriptedAirflow attached to ${name}`)
    }
    const request = {
      method: input.Method,
      path: input.Path,
      query: input.QueryParameters ?? {},
      body: input.Body
    }
    // MWAA gives up on Airflow after 10 seconds. Modelled without waiting: a request the test's
    // ScriptedAirflow calls slow is answered at once as this stand-in answers a timeout,
    // RestApiServerException with the status of a gateway timeout (504). Airflow still records it.
    if (airflow.isSlow(request)) {
      airflow.requests.push({ ...request, status: undefined, timedOut: true })
      return restApiAnswer(504, {
        detail: 'Airflow did not answer within 10 seconds',
        status: 504,
        title: 'Gateway Timeout'
      })
    }
    const answer = airflow.answer(request)
    const size = Buffer.byteLength(
      JSON.stringify({ RestApiStatusCode: answer.status, RestApiResponse: answer.body })
    )
    // MWAA returns at most 6 MB of Airflow's answer. Over it, this stand-in answers (its choice)
    // RestApiServerException with RestApiStatusCode 500.
    if (size > maxResponseBytes) {
      return restApiAnswer(500, {
        detail: `Airflow's answer of ${size} bytes is over the ${maxResponseBytes}-byte limit`,
        status: 500,
        title: 'Response Too Large'
      })
    }
    return restApiAnswer(answer.status, answer.body)
  }

  function restApiAnswer(status, response) {
    const body = { RestApiStatusCode: status, RestApiResponse: response }
    if (status < 400) return { status: 200, body }
    const code = status < 500 ? 'RestApiClientException' : 'RestApiServerException'
    return {
      status: 400,
      error: code,
      body: { message: `Airflow answered ${status}`, ...body }
    }
  }

  // --- HTTP ---------------------------------------------------------------------------------------

  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      if (!forMwaa(req)) {
        forwardToS3(req, res, Buffer.concat(chunks))
        return
      }
      answer(req, Buffer.concat(chunks)).then(
        (answered) => send(res, answered),
        (error) =>
          send(res, refusal(500, 'InternalServerException', `the MWAA stand-in failed: ${error}`))
      )
    })
  })

  /**
   * One endpoint for the action's S3 and MWAA calls, as its endpoint-url input gives: a request
   * signed for `airflow`, or one on an MWAA operation's path, is MWAA's; anything else goes to
   * moto untouched.
   */
  function forMwaa(req) {
    const authorization = String(req.headers.authorization ?? '')
    const service = /Credential=[^/,\s]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(authorization)?.[1]
    if (service === 'airflow') return true
    return /^\/(environments|restapi)\/[^/?]+(\?|$)/.test(req.url ?? '')
  }

  function forwardToS3(req, res, body) {
    const upstream = new URL(options.s3Endpoint)
    const entry = { method: req.method ?? 'GET', url: req.url ?? '/', status: 0 }
    forwarded.push(entry)
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host }
      },
      (upstreamRes) => {
        entry.status = upstreamRes.statusCode ?? 502
        res.writeHead(entry.status, upstreamRes.headers)
        upstreamRes.pipe(res)
      }
    )
    forward.on('error', (error) => {
      entry.status = 502
      res.writeHead(502)
      res.end(String(error))
    })
    forward.end(body)
  }

  async function answer(req, body) {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`)
    const refusedSignature = await checkSignature(req, url, body)
    if (refusedSignature !== undefined) {
      refused.push({
        method: req.method ?? '',
        path: url.pathname,
        code: refusedSignature.error,
        message: refusedSignature.body.message,
        at: new Date()
      })
      return refusedSignature
    }
    const route = /^\/(environments|restapi)\/([^/]+)$/.exec(url.pathname)
    const operation =
      route === null
        ? undefined
        : route[1] === 'restapi'
          ? req.method === 'POST' && 'InvokeRestApi'
          : req.method === 'GET'
            ? 'GetEnvironment'
            : req.method === 'PATCH' && 'UpdateEnvironment'
    let input
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'))
    } catch {
      input = undefined
    }
    const call = {
      operation: operation || `${req.method} ${url.pathname}`,
      name: route === null ? undefined : decodeURIComponent(route[2]),
      body: input,
      at: new Date(),
      status: 0,
      error: undefined
    }
    await standIn.beforeAnswer?.(call)
    let answered
    if (!operation) {
      answered = refusal(404, 'UnknownOperationException', `no operation at ${call.operation}`)
    } else if (input === undefined || typeof input !== 'object' || Array.isArray(input)) {
      answered = refusal(400, 'SerializationException', 'the request body is not a JSON object')
    } else if (operation === 'GetEnvironment') {
      answered = getEnvironment(call.name)
    } else if (operation === 'UpdateEnvironment') {
      answered = await updateEnvironment(call.name, input)
    } else {
      answered = invokeRestApi(call.name, input)
    }
    call.status = answered.status
    call.error = answered.error
    record(call)
    return answered
  }

  function send(res, answered) {
    const headers = {
      'content-type': 'application/json',
      'x-amzn-requestid': randomUUID()
    }
    if (answered.error !== undefined) headers['x-amzn-errortype'] = answered.error
    res.writeHead(answered.status, headers)
    res.end(JSON.stringify(answered.body ?? {}))
  }

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()

  function makeEnvironment(spec) {
    return new Environment(spec, { region, accountId })
  }

  const standIn = {
    endpoint: `http://127.0.0.1:${port}`,
    beforeAnswer: options.beforeAnswer,
    region,
    calls,
    refused,
    forwarded,
    addEnvironment(spec) {
      if (environments.has(spec.name)) throw new Error(`environment ${spec.name} exists already`)
      const environment = makeEnvironment(spec)
      environments.set(spec.name, environment)
      return environment
    },
    environment(name) {
      const environment = environments.get(name)
      if (environment === undefined) throw new Error(`no environment ${name} in the stand-in`)
      return environment
    },
    waitForCall(predicate, { timeoutMs = 20_000 } = {}) {
      const seen = calls.find(predicate)
      if (seen !== undefined) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (call) => {
            clearTimeout(timer)
            resolve(call)
          }
        }
        // A deadline so a test that waits for a call never made fails instead of hanging.
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1)
          reject(new Error(`no such MWAA call within ${timeoutMs} ms; calls: ${summary(calls)}`))
        }, timeoutMs)
        waiters.push(waiter)
      })
    },
    stop: () =>
      new Promise((resolve) => {
        s3.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
  return standIn
}

function summary(calls) {
  return calls.map((call) => `${call.operation} ${call.name ?? ''} ${call.status}`).join(', ')
}

function refusal(status, error, message) {
  return { status, error, body: { message } }
}

function restApiRequestProblem(input) {
  if (typeof input.Path !== 'string' || input.Path.length < 1 || input.Path.length > 64) {
    return "Path must be a string of 1 to 64 characters, like '/dags'"
  }
  if (!['GET', 'PUT', 'POST', 'PATCH', 'DELETE'].includes(input.Method)) {
    return 'Method must be one of GET, PUT, POST, PATCH, DELETE'
  }
  const query = input.QueryParameters
  if (
    query !== undefined &&
    (query === null || typeof query !== 'object' || Array.isArray(query))
  ) {
    return 'QueryParameters must be a JSON object'
  }
  return undefined
}

function epochSeconds(date) {
  return date.getTime() / 1000
}

/** One environment; the test holds it to script its updates and read its state. */
class Environment {
  constructor(spec, { region, accountId }) {
    if (!NAME_PATTERN.test(spec.name)) throw new Error(`bad environment name ${spec.name}`)
    this.name = spec.name
    this.arn = `arn:aws:airflow:${region}:${accountId}:environment/${spec.name}`
    this.region = region
    this.sourceBucketArn = `arn:aws:s3:::${spec.bucket}`
    this.dagS3Path = spec.dagS3Path ?? 'dags'
    this.airflow = spec.airflow
    this.airflowVersion = spec.airflowVersion ?? spec.airflow?.version ?? '2.10.3'
    this.executionRoleArn =
      spec.executionRoleArn ?? `arn:aws:iam::${accountId}:role/service-role/mwaa-${spec.name}`
    this.createdAt = new Date()
    this.status = spec.status ?? 'AVAILABLE'
    this.files = structuredClone(spec.files ?? {})
    this.lastUpdate =
      spec.lastUpdate === undefined
        ? { status: 'SUCCESS', createdAt: this.createdAt, source: 'CUSTOMER' }
        : { createdAt: this.createdAt, source: 'CUSTOMER', ...spec.lastUpdate }
    this.restApi = spec.restApi ?? 'enabled'
    /** Scripts for the next updates UpdateEnvironment starts, in order. */
    this.scripts = []
    /** Every update started on this environment, newest last. */
    this.updates = []
    this.running = undefined
    if (spec.runningUpdate !== undefined) this.startUpdate(spec.runningUpdate)
  }

  get bucket() {
    return this.sourceBucketArn.replace(/^arn:aws(-[a-z]+)?:s3:::/, '')
  }

  /** Scripts for the next updates started by UpdateEnvironment, in order (default: SUCCESS after 2 polls). */
  scriptUpdates(...scripts) {
    this.scripts.push(...scripts)
  }

  /** Starts an update now, as someone else would (the console, another pipeline). */
  startUpdate(update = {}) {
    if (this.running !== undefined) throw new Error(`${this.name} is already updating`)
    this.begin({
      requested: update.files ?? {},
      settings: {},
      source: update.source ?? 'CUSTOMER',
      by: 'test',
      script: { polls: update.polls ?? DEFAULT_UPDATE.polls, error: update.error }
    })
  }

  /** The running update ends at the next GetEnvironment, whatever polls were left. */
  finishUpdate() {
    if (this.running === undefined) throw new Error(`${this.name} has no update running`)
    this.running.pollsLeft = 0
  }

  setStatus(status) {
    this.status = status
  }

  begin({ requested, settings, source, by, script }) {
    const chosen = script ?? this.scripts.shift() ?? DEFAULT_UPDATE
    const record = {
      by,
      source,
      requested: structuredClone(requested),
      polls: chosen.polls ?? DEFAULT_UPDATE.polls,
      error: chosen.error,
      startedAt: new Date(),
      outcome: 'PENDING'
    }
    this.updates.push(record)
    this.running = { record, settings, pollsLeft: record.polls, rollingBack: false }
    this.status = 'UPDATING'
    this.lastUpdate = { status: 'PENDING', createdAt: record.startedAt, source }
  }

  /** One GetEnvironment: the running update moves on by one step. */
  poll() {
    const running = this.running
    if (running === undefined) return
    if (running.rollingBack) {
      this.status = 'UPDATE_FAILED'
      this.lastUpdate = {
        ...this.lastUpdate,
        status: 'FAILED',
        error: { code: running.record.error.code, message: running.record.error.message }
      }
      running.record.outcome = 'FAILED'
      this.running = undefined
      return
    }
    if (running.pollsLeft > 0) {
      running.pollsLeft--
      return
    }
    if (running.record.error !== undefined) {
      // MWAA shows ROLLING_BACK for a while before UPDATE_FAILED; here for exactly one poll.
      this.status = 'ROLLING_BACK'
      running.rollingBack = true
      return
    }
    for (const [role, file] of Object.entries(running.record.requested)) this.files[role] = file
    const { SourceBucketArn, DagS3Path, AirflowVersion, ExecutionRoleArn } = running.settings
    if (SourceBucketArn !== undefined) this.sourceBucketArn = SourceBucketArn
    if (DagS3Path !== undefined) this.dagS3Path = DagS3Path
    if (AirflowVersion !== undefined) this.airflowVersion = AirflowVersion
    if (ExecutionRoleArn !== undefined) this.executionRoleArn = ExecutionRoleArn
    this.status = 'AVAILABLE'
    this.lastUpdate = { ...this.lastUpdate, status: 'SUCCESS' }
    running.record.outcome = 'SUCCESS'
    this.running = undefined
  }

  busy() {
    return refusal(
      400,
      'ValidationException',
      `Environments with ${this.status} status cannot be updated.`
    )
  }

  /** The environment as GetEnvironment gives it (shape Environment; timestamps in epoch seconds). */
  describe() {
    const environment = {
      Name: this.name,
      Arn: this.arn,
      Status: this.status,
      CreatedAt: epochSeconds(this.createdAt),
      WebserverUrl: `https://${this.name.toLowerCase()}.c2.airflow.${this.region}.on.aws`,
      ExecutionRoleArn: this.executionRoleArn,
      ServiceRoleArn: this.arn.replace(
        /^arn:aws:airflow:[^:]+:(\d+):.*$/,
        'arn:aws:iam::$1:role/aws-service-role/airflow.amazonaws.com/AWSServiceRoleForAmazonMWAA'
      ),
      AirflowVersion: this.airflowVersion,
      SourceBucketArn: this.sourceBucketArn,
      DagS3Path: this.dagS3Path,
      EnvironmentClass: 'mw1.small',
      MaxWorkers: 10,
      MinWorkers: 1,
      Schedulers: 2,
      WebserverAccessMode: 'PRIVATE_ONLY',
      AirflowConfigurationOptions: {},
      Tags: {}
    }
    for (const [role, field] of Object.entries(FILE_FIELDS)) {
      const file = this.files[role]
      if (file === undefined) continue
      environment[field.path] = file.key
      if (file.versionId !== undefined) environment[field.version] = file.versionId
    }
    const last = this.lastUpdate
    environment.LastUpdate = {
      Status: last.status,
      CreatedAt: epochSeconds(last.createdAt),
      Source: last.source
    }
    if (last.error !== undefined) {
      environment.LastUpdate.Error = {
        ErrorCode: last.error.code,
        ErrorMessage: last.error.message
      }
    }
    return environment
  }
}

// --- Airflow ------------------------------------------------------------------------------------

const AIRFLOW_HOME_DAGS = '/usr/local/airflow/dags'

/**
 * Airflow's REST API as InvokeRestApi reaches it: `/dags` and `/importErrors` of Airflow 2
 * (/api/v1) or Airflow 3 (/api/v2), answered from what its scheduler last parsed. The test declares
 * the files on the scheduler's disk (setFile, removeFile); they are seen only at a parse, which
 * happens when the test calls parse() or after the requests to /dags set by parseAfterDagsRequests.
 *
 * A file that fails to import keeps the DAGs it had (with their old last_parsed_time), as the
 * scheduler keeps serialized DAGs of a broken file; a removed file's DAGs and errors go at the
 * next parse.
 */
export class ScriptedAirflow {
  /**
   * @param {{ version?: string, dagsFolder?: string, maxPageLimit?: number,
   *   pausedAtCreation?: boolean, slowWhen?: (request: object) => boolean }} [options]
   */
  constructor(options = {}) {
    this.version = options.version ?? '2.10.3'
    this.major = Number(this.version.split('.')[0])
    if (this.major !== 2 && this.major !== 3) {
      throw new Error(`ScriptedAirflow models Airflow 2 and 3, not ${this.version}`)
    }
    this.dagsFolder = options.dagsFolder ?? AIRFLOW_HOME_DAGS
    this.maxPageLimit = options.maxPageLimit ?? 100
    this.pausedAtCreation = options.pausedAtCreation ?? true
    /** Requests MWAA's 10-second limit cuts off (see InvokeRestApi). */
    this.slowWhen = options.slowWhen
    /** Answers in place of the model when it returns one (an Airflow 500, a 403 of its own). */
    this.answerWith = undefined
    /** Every request that reached this Airflow, with the status it answered. */
    this.requests = []
    /** The scheduler's disk: relative path -> what parsing it gives. */
    this.disk = new Map()
    /** What the scheduler last parsed: relative path -> { dags, error }. */
    this.parsed = new Map()
    this.importErrorIds = 0
    this.pendingParses = []
    this.parses = []
  }

  /** A file on the scheduler's disk: its DAG ids, or the import error parsing it raises. */
  setFile(path, content) {
    this.disk.set(relativePath(path), structuredClone(content))
  }

  removeFile(path) {
    this.disk.delete(relativePath(path))
  }

  /** The scheduler parses `paths` (default: every file it knows of) now; returns the moment. */
  parse(paths) {
    const at = new Date()
    const wanted =
      paths === undefined
        ? new Set([...this.disk.keys(), ...this.parsed.keys()])
        : new Set(paths.map(relativePath))
    for (const path of wanted) {
      const content = this.disk.get(path)
      const before = this.parsed.get(path) ?? { dags: [], error: undefined }
      if (content === undefined) {
        this.parsed.delete(path)
      } else if ('importError' in content) {
        this.parsed.set(path, {
          dags: before.dags,
          error: {
            id: before.error?.id ?? ++this.importErrorIds,
            text: content.importError,
            at
          }
        })
      } else {
        const paused = new Map(before.dags.map((dag) => [dag.dagId, dag.paused]))
        this.parsed.set(path, {
          dags: content.dags.map((dagId) => ({
            dagId,
            parsedAt: at,
            paused: paused.get(dagId) ?? content.paused ?? this.pausedAtCreation
          })),
          error: undefined
        })
      }
    }
    this.parses.push({ at, paths: [...wanted] })
    return at
  }

  /** The scheduler parses `paths` once `count` more requests to /dags have been answered. */
  parseAfterDagsRequests(count, paths) {
    this.pendingParses.push({ left: count, paths })
    this.runDueParses()
  }

  isSlow(request) {
    return this.slowWhen?.(request) === true
  }

  runDueParses() {
    for (const pending of [...this.pendingParses]) {
      if (pending.left > 0) continue
      this.pendingParses.splice(this.pendingParses.indexOf(pending), 1)
      this.parse(pending.paths)
    }
  }

  /** Airflow's answer to one request: { status, body }. */
  answer(request) {
    const answered = this.answerWith?.(request) ?? this.model(request)
    this.requests.push({ ...request, status: answered.status })
    if (request.path === '/dags' && request.method === 'GET') {
      for (const pending of this.pendingParses) pending.left--
      this.runDueParses()
    }
    return answered
  }

  model(request) {
    const listing = request.path === '/dags' || request.path === '/importErrors'
    if (!listing) return this.problem(404, 'Not Found', `no endpoint ${request.path}`)
    if (request.method !== 'GET') return this.problem(405, 'Method Not Allowed', request.method)
    const page = this.page(request.query)
    if ('problem' in page) return page.problem
    const items = request.path === '/dags' ? this.dagItems() : this.importErrorItems()
    const key = request.path === '/dags' ? 'dags' : 'import_errors'
    return {
      status: 200,
      body: {
        [key]: items.slice(page.offset, page.offset + page.limit),
        total_entries: items.length
      }
    }
  }

  page(query) {
    const read = (name, fallback) => {
      const value = query[name]
      if (value === undefined) return fallback
      const text = String(value)
      return /^-?\d+$/.test(text) ? Number(text) : { bad: text }
    }
    const limit = read('limit', 100)
    const offset = read('offset', 0)
    for (const [name, value] of [
      ['limit', limit],
      ['offset', offset]
    ]) {
      if (typeof value === 'object') {
        return {
          problem:
            this.major === 2
              ? this.problem(400, 'Bad Request', `'${value.bad}' is not of type 'integer'`)
              : {
                  status: 422,
                  body: {
                    detail: [
                      {
                        type: 'int_parsing',
                        loc: ['query', name],
                        msg: 'Input should be a valid integer, unable to parse string as an integer',
                        input: value.bad
                      }
                    ]
                  }
                }
        }
      }
    }
    if (limit < 0 || offset < 0) {
      const name = limit < 0 ? 'limit' : 'offset'
      return {
        problem:
          this.major === 2
            ? this.problem(400, 'Bad Request', `${name} must be a positive integer`)
            : {
                status: 422,
                body: {
                  detail: [
                    {
                      type: 'greater_than_equal',
                      loc: ['query', name],
                      msg: 'Input should be greater than or equal to 0',
                      input: String(query[name])
                    }
                  ]
                }
              }
      }
    }
    // Airflow caps a page at [api] maximum_page_limit and reads 0 as the fallback page size.
    return { limit: limit === 0 ? 100 : Math.min(limit, this.maxPageLimit), offset }
  }

  problem(status, title, detail) {
    if (this.major === 3) return { status, body: { detail } }
    return { status, body: { detail, status, title, type: 'about:blank' } }
  }

  dagItems() {
    const items = []
    for (const [path, file] of this.parsed) {
      for (const dag of file.dags) {
        const fileloc = `${this.dagsFolder}/${path}`
        const item = {
          dag_id: dag.dagId,
          dag_display_name: dag.dagId,
          is_paused: dag.paused,
          last_parsed_time: this.timestamp(dag.parsedAt),
          fileloc,
          file_token: fileToken(fileloc),
          owners: ['airflow'],
          tags: [],
          has_import_errors: file.error !== undefined
        }
        if (this.major === 2) Object.assign(item, { is_active: true, is_subdag: false })
        else {
          Object.assign(item, {
            is_stale: false,
            bundle_name: 'dags-folder',
            bundle_version: null,
            relative_fileloc: path
          })
        }
        items.push(item)
      }
    }
    return items.sort((a, b) => (a.dag_id < b.dag_id ? -1 : a.dag_id > b.dag_id ? 1 : 0))
  }

  importErrorItems() {
    const items = []
    for (const [path, file] of this.parsed) {
      if (file.error === undefined) continue
      const item = {
        import_error_id: file.error.id,
        timestamp: this.timestamp(file.error.at),
        // Airflow 3 keeps the path relative to the DAG bundle, Airflow 2 the absolute one.
        filename: this.major === 2 ? `${this.dagsFolder}/${path}` : path,
        stack_trace: file.error.text
      }
      if (this.major === 3) item.bundle_name = 'dags-folder'
      items.push(item)
    }
    return items.sort((a, b) => a.import_error_id - b.import_error_id)
  }

  /** Airflow 2 (marshmallow) writes +00:00; Airflow 3 (pydantic) writes Z. Microseconds in both. */
  timestamp(date) {
    const iso = date.toISOString().replace(/\.(\d{3})Z$/, '.$1000')
    return this.major === 2 ? `${iso}+00:00` : `${iso}Z`
  }
}

function relativePath(path) {
  const relative = path.replace(/^\/+/, '')
  if (relative === '' || relative.split('/').includes('..')) {
    throw new Error(`a DAG file path relative to the DAG folder, not ${path}`)
  }
  return relative
}

/** Like Airflow's URLSafeSerializer token of the file location: opaque, stable per file. */
function fileToken(fileloc) {
  const payload = Buffer.from(JSON.stringify(fileloc)).toString('base64url')
  const mac = createHash('sha256').update(fileloc).digest('base64url').slice(0, 27)
  return `${payload}.${mac}`
}
