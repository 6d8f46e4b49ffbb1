// The Airflow confirmation against a stand-in for Airflow's REST API on loopback: Airflow 2
// (/api/v1, basic auth) and Airflow 3 (/api/v2, a token from /auth/token), with their pages,
// their file locations and their refusals. The credentials come from moto's Secrets Manager.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  confirmParsed,
  importErrorLine,
  readAirflowConfig,
  readAirflowCredentials,
  type AirflowCredentials,
  type ParseOutcome
} from '../../src/refresh-workers/airflow.js'
import { freePort } from '../../test-support/net.mjs'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { credentials } from './helpers.js'

const USERNAME = 'deployer'
const PASSWORD = 'pw-Zq8!x7-never-shown'
const TOKEN = 'token-Jx93-never-shown'
const FOLDER = '/opt/airflow/dags'
const POLL_MS = 50

let moto: Moto
let secrets: SecretsManagerClient
const standIns: StandIn[] = []
/** Every outcome and error text the tests saw; none may hold the password or the token. */
const texts: string[] = []

beforeAll(async () => {
  moto = await startMoto()
  secrets = new SecretsManagerClient({
    endpoint: moto.endpoint,
    region: credentials.AWS_REGION,
    credentials: {
      accessKeyId: credentials.AWS_ACCESS_KEY_ID,
      secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY
    }
  })
  for (const [name, password] of [
    ['airflow/api-user', PASSWORD],
    ['airflow/wrong-user', 'not-the-password']
  ] as const) {
    await secrets.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: JSON.stringify({ username: USERNAME, password })
      })
    )
  }
})
afterAll(async () => {
  await Promise.all(standIns.splice(0).map((standIn) => standIn.stop()))
  secrets?.destroy()
  await moto?.stop()
})

type Version = 2 | 3

interface Dag {
  fileloc: string
  relative_fileloc?: string
  last_parsed_time: string | null
}

interface ImportError {
  filename: string
  stack_trace: string
  timestamp: string
}

interface StandIn {
  url: string
  dags: Dag[]
  importErrors: ImportError[]
  /** Method and path of every request, in order. */
  requests: string[]
  /** How many more requests are answered 503, as by a webserver that is restarting. */
  unavailable: number
  /** Runs `change` before answering the listing request number `count`; resolves when it has. */
  afterListings(count: number, change: () => void): Promise<void>
  stop(): Promise<void>
}

/** Airflow as the function sees it, with Airflow's default page limit unless told otherwise. */
async function startAirflow(version: Version, options: { pageLimit?: number } = {}) {
  const pageLimit = options.pageLimit ?? 100
  const api = version === 3 ? '/api/v2' : '/api/v1'
  const pending: { count: number; change: () => void; done: () => void }[] = []
  let listings = 0
  const standIn: StandIn = {
    url: '',
    dags: [],
    importErrors: [],
    requests: [],
    unavailable: 0,
    afterListings: (count, change) => new Promise((done) => pending.push({ count, change, done })),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const authorised = (req: IncomingMessage) =>
    version === 3
      ? req.headers.authorization === `Bearer ${TOKEN}`
      : req.headers.authorization ===
        `Basic ${Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64')}`
  const page = (res: ServerResponse, url: URL, key: string, entries: unknown[]) => {
    const limit = Math.min(Number(url.searchParams.get('limit') ?? 100), pageLimit)
    const offset = Number(url.searchParams.get('offset') ?? 0)
    answer(res, 200, {
      [key]: entries.slice(offset, offset + limit),
      total_entries: entries.length
    })
  }

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    standIn.requests.push(`${req.method} ${url.pathname}${url.search}`)
    let body = ''
    for await (const chunk of req) body += chunk
    if (standIn.unavailable > 0) {
      standIn.unavailable -= 1
      return answer(res, 503, { detail: 'Service Unavailable' })
    }
    if (req.method === 'GET' && url.pathname === `${api}/version`) {
      return answer(res, 200, { version: version === 3 ? '3.1.2' : '2.10.5', git_version: null })
    }
    if (version === 3 && req.method === 'POST' && url.pathname === '/auth/token') {
      const given = JSON.parse(body || '{}') as Record<string, unknown>
      if (given.username === USERNAME && given.password === PASSWORD) {
        return answer(res, 201, { access_token: TOKEN })
      }
      return answer(res, 401, { detail: 'Invalid credentials' })
    }
    const collection = url.pathname.slice(api.length + 1)
    if (
      req.method === 'GET' &&
      url.pathname.startsWith(`${api}/`) &&
      ['dags', 'importErrors'].includes(collection)
    ) {
      if (!authorised(req)) return answer(res, 401, { title: 'Unauthorized', status: 401 })
      listings += 1
      for (const waiting of pending.filter((entry) => entry.count === listings)) {
        waiting.change()
        waiting.done()
      }
      return collection === 'dags'
        ? page(res, url, 'dags', standIn.dags)
        : page(res, url, 'import_errors', standIn.importErrors)
    }
    answer(res, 404, { detail: 'Not Found' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  standIns.push(standIn)
  return standIn
}

/** Airflow's way of writing a time: microseconds and an offset. */
const airflowTime = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000+00:00')

const trace = (path: string, exception: string) =>
  `Traceback (most recent call last):\n  File "${path}", line 2, in <module>\n    import missing\n${exception}\n`

/** A DAG as the given Airflow reports it: Airflow 3 adds the location in its bundle. */
const dag = (version: Version, path: string, parsedMs: number | null): Dag => ({
  fileloc: `${FOLDER}/${path}`,
  ...(version === 3 ? { relative_fileloc: path } : {}),
  last_parsed_time: parsedMs === null ? null : airflowTime(parsedMs)
})

/** An import error: Airflow 3 names the file relative to its bundle. */
const importError = (version: Version, path: string, ms: number, exception: string) => ({
  filename: version === 3 ? path : `${FOLDER}/${path}`,
  stack_trace: trace(`${FOLDER}/${path}`, exception),
  timestamp: airflowTime(ms)
})

async function credentialsFrom(secret: string): Promise<AirflowCredentials> {
  return readAirflowCredentials(secret, secrets)
}

interface Run {
  url: string
  changed: string[]
  since: Date
  secret?: string
  deadlineInMs?: number
}

async function confirm(run: Run): Promise<ParseOutcome> {
  const secret = run.secret ?? 'airflow/api-user'
  const config = readAirflowConfig({
    AIRFLOW_API_URL: run.url,
    AIRFLOW_CREDENTIALS_SECRET: secret,
    AIRFLOW_CONFIRM_TIMEOUT_SECONDS: '10'
  })!
  try {
    const outcome = await confirmParsed({
      config,
      credentials: await credentialsFrom(secret),
      workerDagFolder: FOLDER,
      changedPaths: run.changed,
      since: run.since,
      deadlineMs: Date.now() + (run.deadlineInMs ?? 10_000),
      pollIntervalMs: POLL_MS
    })
    texts.push(JSON.stringify(outcome), importErrorLine(outcome) ?? '')
    return outcome
  } catch (error) {
    texts.push((error as Error).message, String((error as Error).stack))
    throw error
  }
}

async function failure(run: Run): Promise<string> {
  try {
    await confirm(run)
  } catch (error) {
    return (error as Error).message
  }
  throw new Error('the confirmation succeeded')
}

describe.each([2, 3] as const)('Airflow %i', (version) => {
  const api = version === 3 ? '/api/v2' : '/api/v1'

  it('confirms changed files parsed cleanly after the refresh', async () => {
    const airflow = await startAirflow(version)
    const since = new Date()
    airflow.dags = [
      dag(version, 'etl/load.py', since.getTime() + 1200),
      dag(version, 'etl/load.py', since.getTime() - 60_000),
      dag(version, 'report.py', since.getTime() + 800),
      dag(version, 'untouched.py', since.getTime() - 600_000)
    ]
    const outcome = await confirm({
      url: airflow.url,
      changed: ['etl/load.py', 'report.py', 'etl/sql/query.sql'],
      since
    })
    expect(outcome).toEqual({
      confirmed: ['etl/load.py', 'report.py'],
      unconfirmed: [],
      importErrors: [],
      preexisting: []
    })
    expect(importErrorLine(outcome)).toBeUndefined()
    expect(airflow.requests).toContain(`GET ${api}/version`)
    if (version === 2) expect(airflow.requests[0]).toBe('GET /api/v2/version')
    else expect(airflow.requests).toContain('POST /auth/token')
  })

  it('fails with the import error of a changed file, naming its path', async () => {
    const airflow = await startAirflow(version)
    const since = new Date()
    airflow.dags = [
      dag(version, 'etl/load.py', since.getTime() - 60_000),
      dag(version, 'report.py', since.getTime() + 500)
    ]
    airflow.importErrors = [
      importError(
        version,
        'etl/load.py',
        since.getTime() + 700,
        "ModuleNotFoundError: No module named 'pandas_extra'"
      )
    ]
    const outcome = await confirm({
      url: airflow.url,
      changed: ['etl/load.py', 'report.py'],
      since
    })
    expect(outcome.confirmed).toEqual(['etl/load.py', 'report.py'])
    expect(outcome.importErrors).toEqual([
      { path: 'etl/load.py', message: "ModuleNotFoundError: No module named 'pandas_extra'" }
    ])
    expect(importErrorLine(outcome)).toBe(
      "Airflow failed to import 1 changed DAG file: etl/load.py (ModuleNotFoundError: No module named 'pandas_extra')"
    )
  })

  it('reports an old error of a file the deploy did not change without blaming it', async () => {
    const airflow = await startAirflow(version)
    const since = new Date()
    airflow.dags = [dag(version, 'report.py', since.getTime() + 300)]
    airflow.importErrors = [
      importError(version, 'legacy.py', since.getTime() - 3_600_000, 'SyntaxError: invalid syntax'),
      // Airflow refreshes the time of an error each time it parses the file again.
      importError(version, 'flaky.py', since.getTime() + 200, 'ImportError: cannot import name x')
    ]
    const outcome = await confirm({ url: airflow.url, changed: ['report.py'], since })
    expect(outcome.importErrors).toEqual([])
    expect(importErrorLine(outcome)).toBeUndefined()
    expect(outcome.preexisting).toEqual([
      { path: 'flaky.py', message: 'ImportError: cannot import name x' },
      { path: 'legacy.py', message: 'SyntaxError: invalid syntax' }
    ])
  })

  it('waits until Airflow has parsed the file', async () => {
    const airflow = await startAirflow(version)
    const since = new Date()
    airflow.dags = [dag(version, 'report.py', since.getTime() - 60_000)]
    // Two listings a poll: the scheduler gets to the file during the third poll.
    const parsed = airflow.afterListings(5, () => {
      airflow.dags = [dag(version, 'report.py', Date.now())]
    })
    const confirming = confirm({ url: airflow.url, changed: ['report.py'], since })
    const ended = confirming.then(() => {
      throw new Error('the confirmation ended before Airflow parsed the file')
    })
    const [outcome] = await Promise.all([confirming, Promise.race([parsed, ended])])
    expect(outcome.confirmed).toEqual(['report.py'])
    expect(outcome.unconfirmed).toEqual([])
    const listings = airflow.requests.filter((line) => line.startsWith(`GET ${api}/dags`))
    expect(listings.length).toBeGreaterThanOrEqual(3)
  })

  it('leaves a file never parsed unconfirmed at the deadline', async () => {
    const airflow = await startAirflow(version)
    const since = new Date()
    airflow.dags = [
      dag(version, 'report.py', since.getTime() + 100),
      dag(version, 'common/util.py', null)
    ]
    const started = Date.now()
    const outcome = await confirm({
      url: airflow.url,
      changed: ['report.py', 'common/helpers.py', 'common/util.py'],
      since,
      deadlineInMs: 800
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(800 - POLL_MS)
    expect(outcome).toEqual({
      confirmed: ['report.py'],
      unconfirmed: ['common/helpers.py', 'common/util.py'],
      importErrors: [],
      preexisting: []
    })
    expect(airflow.requests.filter((line) => line.startsWith(`GET ${api}/dags`)).length).toBe(
      airflow.requests.filter((line) => line.startsWith(`GET ${api}/importErrors`)).length
    )
  })

  it('refuses a wrong password with one error naming the secret', async () => {
    const airflow = await startAirflow(version)
    const message = await failure({
      url: airflow.url,
      changed: ['report.py'],
      since: new Date(),
      secret: 'airflow/wrong-user'
    })
    expect(message).toContain(
      'refused the user in the secret airflow/wrong-user named by AIRFLOW_CREDENTIALS_SECRET (HTTP 401'
    )
    expect(message).not.toContain('not-the-password')
    // Refused credentials end the confirmation at once rather than at the deadline: no second poll.
    const calls = airflow.requests.filter((line) => !line.includes('/version'))
    if (version === 3) expect(calls).toEqual(['POST /auth/token'])
    else expect(calls.filter((line) => line.startsWith('GET /api/v1/dags'))).toHaveLength(1)
  })

  it('reads every page of DAGs and import errors', async () => {
    const airflow = await startAirflow(version, { pageLimit: 3 })
    const since = new Date()
    const names = Array.from({ length: 8 }, (_, index) => `dag_${index}.py`)
    airflow.dags = names.map((name) => dag(version, name, since.getTime() + 100))
    airflow.importErrors = [
      ...Array.from({ length: 7 }, (_, index) =>
        importError(version, `old_${index}.py`, since.getTime() - 60_000, 'ImportError: old')
      ),
      importError(version, 'broken.py', since.getTime() + 100, 'NameError: name y is not defined')
    ]
    const outcome = await confirm({
      url: airflow.url,
      changed: [...names, 'broken.py'],
      since
    })
    expect(outcome.confirmed).toEqual(['broken.py', ...names])
    expect(outcome.importErrors).toEqual([
      { path: 'broken.py', message: 'NameError: name y is not defined' }
    ])
    expect(outcome.preexisting).toHaveLength(7)
    expect(airflow.requests).toEqual(
      expect.arrayContaining([
        `GET ${api}/dags?limit=100&offset=6`,
        `GET ${api}/importErrors?limit=100&offset=6`
      ])
    )
  })
})

it('waits out a webserver that answers 503 for a while', async () => {
  const airflow = await startAirflow(3)
  const since = new Date()
  airflow.dags = [dag(3, 'report.py', since.getTime() + 100)]
  airflow.unavailable = 4
  const outcome = await confirm({ url: airflow.url, changed: ['report.py'], since })
  expect(outcome.confirmed).toEqual(['report.py'])
  expect(airflow.requests.filter((line) => line === 'GET /api/v2/version').length).toBeGreaterThan(
    1
  )
})

it('reports a webserver that answers 503 until the deadline', async () => {
  const airflow = await startAirflow(2)
  airflow.unavailable = Number.MAX_SAFE_INTEGER
  const message = await failure({
    url: airflow.url,
    changed: ['report.py'],
    since: new Date(),
    deadlineInMs: 500
  })
  expect(message).toBe(`AIRFLOW_API_URL (${airflow.url}): GET /api/v2/version answered HTTP 503`)
  expect(airflow.requests.length).toBeGreaterThan(1)
})

it('says where the function must run when the webserver is not reachable', async () => {
  const port = await freePort()
  const message = await failure({
    url: `http://127.0.0.1:${port}`,
    changed: ['report.py'],
    since: new Date()
  })
  expect(message).toContain(
    `The Airflow webserver at http://127.0.0.1:${port} (AIRFLOW_API_URL) is not reachable from the function (ECONNREFUSED`
  )
  expect(message).toContain('must run in the VPC')
})

it('says when the URL serves no Airflow API', async () => {
  const airflow = await startAirflow(2)
  const message = await failure({
    url: `${airflow.url}/elsewhere`,
    changed: ['report.py'],
    since: new Date()
  })
  expect(message).toContain(
    'serves no Airflow REST API: GET /api/v2/version answered HTTP 404 and GET /api/v1/version HTTP 404'
  )
})

it('never shows the password or the token', () => {
  expect(texts.length).toBeGreaterThan(10)
  for (const text of texts) {
    expect(text).not.toContain(PASSWORD)
    expect(text).not.toContain(TOKEN)
    expect(text).not.toContain(Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64'))
  }
})
