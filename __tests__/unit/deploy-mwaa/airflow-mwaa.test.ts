// Airflow's import errors through InvokeRestApi, against a fake MwaaApi that plays Airflow 2 or 3
// behind MWAA: its pages, its answers too big for one InvokeRestApi, and its refusals.
import { describe, expect, it } from '@jest/globals'
import { AirflowError } from '../../../src/common/airflow-parse.js'
import { MwaaError, type MwaaApi, type RestApiAnswer } from '../../../src/common/mwaa.js'
import {
  airflowRoleArn,
  confirmImports,
  MWAA_DAG_FOLDER,
  MwaaAirflowReader,
  PAGE_LIMIT,
  type MwaaReaderOptions
} from '../../../src/deploy-mwaa/airflow-mwaa.js'

const ENVIRONMENT = 'prod'
const SINCE = new Date('2026-11-30T16:00:00Z')
const BEFORE = '2026-11-30T15:00:00+00:00'
const AFTER = '2026-11-30T16:00:05.123456+00:00'

interface Ask {
  path: string
  limit: number
  offset: number
}

type Answerer = (ask: Ask, index: number) => RestApiAnswer | Promise<RestApiAnswer>

class FakeMwaa implements MwaaApi {
  readonly asks: Ask[] = []

  constructor(private readonly answerer: Answerer) {}

  getEnvironment(): never {
    throw new Error('not asked for here')
  }

  updateEnvironment(): never {
    throw new Error('not asked for here')
  }

  async invokeRestApi(
    name: string,
    request: { path: string; query?: Record<string, string | number> }
  ): Promise<RestApiAnswer> {
    expect(name).toBe(ENVIRONMENT)
    const ask = {
      path: request.path,
      limit: Number(request.query?.limit),
      offset: Number(request.query?.offset)
    }
    this.asks.push(ask)
    return this.answerer(ask, this.asks.length - 1)
  }

  destroy(): void {}
}

/** Airflow's collections as its REST API pages them. */
function airflow(collections: { dags?: unknown[]; importErrors?: unknown[] }): Answerer {
  return ({ path, limit, offset }) => {
    const [key, entries] =
      path === '/dags'
        ? ['dags', collections.dags ?? []]
        : ['import_errors', collections.importErrors ?? []]
    return {
      status: 200,
      body: { [key]: entries.slice(offset, offset + limit), total_entries: entries.length }
    }
  }
}

function reader(api: MwaaApi, options: Partial<MwaaReaderOptions> = {}): MwaaAirflowReader {
  return new MwaaAirflowReader({ api, environment: ENVIRONMENT, ...options })
}

async function failure(promise: Promise<unknown>): Promise<AirflowError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(AirflowError)
    return error as AirflowError
  }
  throw new Error('it succeeded')
}

const dags = (count: number) =>
  Array.from({ length: count }, (_, index) => ({ dag_id: `dag_${index}` }))

describe('airflowRoleArn', () => {
  it("names the environment's Airflow role, in the region's partition", () => {
    expect(airflowRoleArn('prod', { region: 'eu-west-1', account: '123456789012' })).toBe(
      'arn:aws:airflow:eu-west-1:123456789012:role/prod/Viewer'
    )
    expect(airflowRoleArn('prod', { region: 'cn-north-1' })).toBe(
      'arn:aws-cn:airflow:cn-north-1:<account>:role/prod/Viewer'
    )
    expect(airflowRoleArn('prod', {}, 'Op')).toBe('arn:aws:airflow:<region>:<account>:role/prod/Op')
  })
})

describe('MwaaAirflowReader', () => {
  it('reads every page of a collection, relative to the API root', async () => {
    const api = new FakeMwaa(airflow({ dags: dags(250) }))
    const entries = await reader(api).list('dags')
    expect(entries).toHaveLength(250)
    expect(entries[249]).toEqual({ dag_id: 'dag_249' })
    expect(api.asks).toEqual([
      { path: '/dags', limit: PAGE_LIMIT, offset: 0 },
      { path: '/dags', limit: PAGE_LIMIT, offset: 100 },
      { path: '/dags', limit: PAGE_LIMIT, offset: 200 }
    ])
  })

  it('reads import errors from import_errors', async () => {
    const importErrors = [{ filename: 'a.py', stack_trace: 'x', timestamp: AFTER }]
    const api = new FakeMwaa(airflow({ importErrors }))
    expect(await reader(api).list('importErrors')).toEqual(importErrors)
    expect(api.asks).toEqual([{ path: '/importErrors', limit: PAGE_LIMIT, offset: 0 }])
  })

  it('halves a page that Airflow fails to serve in time, and keeps the smaller size', async () => {
    const pages = airflow({ dags: dags(30) })
    const api = new FakeMwaa((ask, index) =>
      ask.limit > 12 ? { status: 504, body: { title: 'Gateway Timeout' } } : pages(ask, index)
    )
    expect(await reader(api).list('dags')).toHaveLength(30)
    expect(api.asks.map(({ limit, offset }) => `${limit}@${offset}`)).toEqual([
      '100@0',
      '50@0',
      '25@0',
      '13@0',
      '7@0',
      '7@7',
      '7@14',
      '7@21',
      '7@28'
    ])
  })

  it("halves a page on MWAA's timeouts and internal errors too", async () => {
    const pages = airflow({ importErrors: dags(3) })
    const api = new FakeMwaa((ask, index) => {
      if (ask.limit === 100) throw new MwaaError('timed out', 'TimeoutError', undefined, true)
      if (ask.limit === 50) throw new MwaaError('internal', 'InternalServerException', 500, false)
      return pages(ask, index)
    })
    expect(await reader(api).list('importErrors')).toHaveLength(3)
    expect(api.asks.map((ask) => ask.limit)).toEqual([100, 50, 25])
  })

  it('keeps each collection to its own page size', async () => {
    const pages = airflow({ dags: dags(3), importErrors: dags(3) })
    const api = new FakeMwaa((ask, index) =>
      ask.path === '/importErrors' && ask.limit > 1 ? { status: 500, body: {} } : pages(ask, index)
    )
    const read = reader(api, { pageLimit: 4 })
    await read.list('importErrors')
    await read.list('dags')
    expect(api.asks.map(({ path, limit }) => `${path} ${limit}`)).toEqual([
      '/importErrors 4',
      '/importErrors 2',
      '/importErrors 1',
      '/importErrors 1',
      '/importErrors 1',
      '/dags 4'
    ])
  })

  it('gives up for this poll when even one entry fails', async () => {
    const api = new FakeMwaa(() => ({ status: 502, body: {} }))
    const error = await failure(reader(api, { pageLimit: 8 }).list('importErrors'))
    expect(error.transient).toBe(true)
    expect(error.message).toBe(
      "Airflow of MWAA environment 'prod' (through InvokeRestApi): GET /importErrors failed even one entry at a time (Airflow answered HTTP 502); InvokeRestApi gives Airflow 10 seconds and 6 MB per answer"
    )
    expect(api.asks.map((ask) => ask.limit)).toEqual([8, 4, 2, 1])
  })

  it.each([401, 403])(
    'names the IAM permission when Airflow answers %i, at once',
    async (status) => {
      const api = new FakeMwaa(() => ({ status, body: { title: 'Forbidden' } }))
      const error = await failure(
        reader(api, { region: 'eu-west-1', account: '123456789012' }).list('dags')
      )
      expect(error.transient).toBe(false)
      expect(error.message).toBe(
        `Airflow answered HTTP ${status} to GET /dags in MWAA environment 'prod': the job's role needs airflow:InvokeRestApi on arn:aws:airflow:eu-west-1:123456789012:role/prod/Viewer (the Viewer role is enough to read DAGs and import errors)`
      )
      expect(api.asks).toHaveLength(1)
    }
  )

  it('names the IAM permission when MWAA denies the call', async () => {
    const api = new FakeMwaa(() => {
      throw new MwaaError('denied', 'AccessDeniedException', 403, false)
    })
    const error = await failure(reader(api).list('importErrors'))
    expect(error.transient).toBe(false)
    expect(error.message).toMatch(
      /^MWAA refused InvokeRestApi \(AccessDeniedException\) for GET \/importErrors in MWAA environment 'prod': the job's role needs airflow:InvokeRestApi on arn:aws:airflow:<region>:<account>:role\/prod\/Viewer/
    )
  })

  it('says when the environment must be updated before InvokeRestApi works', async () => {
    const api = new FakeMwaa(() => {
      throw new MwaaError(
        "MWAA InvokeRestApi of environment 'prod' failed with ValidationException (HTTP 400): Update your environment to use InvokeRestApi.",
        'ValidationException',
        400,
        false
      )
    })
    const error = await failure(reader(api, { airflowVersion: '2.8.1' }).list('dags'))
    expect(error.transient).toBe(false)
    expect(error.message).toMatch(
      /^MWAA environment 'prod' \(Airflow 2\.8\.1\) does not take InvokeRestApi yet: it needs an environment update to a version that supports it before its import errors can be read\. MWAA InvokeRestApi .*Update your environment to use InvokeRestApi\.$/
    )
  })

  it("passes MWAA's other refusals on, not as a wait", async () => {
    const api = new FakeMwaa(() => {
      throw new MwaaError(
        'MWAA InvokeRestApi … ResourceNotFoundException',
        'ResourceNotFoundException',
        404,
        false
      )
    })
    const error = await failure(reader(api).list('dags'))
    expect(error).toMatchObject({ transient: false })
    expect(error.message).toMatch(
      /through InvokeRestApi\): MWAA InvokeRestApi … ResourceNotFoundException$/
    )
    expect(api.asks).toHaveLength(1)
  })

  it('waits out a 429 and refuses an answer that is not a page', async () => {
    const throttled = new FakeMwaa(() => ({ status: 429, body: {} }))
    expect((await failure(reader(throttled).list('dags'))).transient).toBe(true)
    const notFound = new FakeMwaa(() => ({ status: 404, body: {} }))
    expect(await failure(reader(notFound).list('dags'))).toMatchObject({ transient: false })
    const strange = new FakeMwaa(() => ({ status: 200, body: { items: [] } }))
    expect((await failure(reader(strange).list('dags'))).message).toMatch(
      /GET \/dags answered without dags and total_entries/
    )
  })

  it('asks the first page after the deadline, but no further or smaller one', async () => {
    const past = Date.now() - 1
    const paged = new FakeMwaa(airflow({ dags: dags(3) }))
    const unfinished = await failure(reader(paged, { deadlineMs: past, pageLimit: 2 }).list('dags'))
    expect(unfinished).toMatchObject({ transient: true })
    expect(unfinished.message).toMatch(
      /: no time left to read all of GET \/dags \(2 of 3 entries read\)$/
    )
    expect(paged.asks).toHaveLength(1)
    const failing = new FakeMwaa(() => ({ status: 504, body: {} }))
    const failed = await failure(reader(failing, { deadlineMs: past }).list('importErrors'))
    expect(failed).toMatchObject({ transient: true })
    expect(failed.message).toMatch(
      /: GET \/importErrors failed \(Airflow answered HTTP 504\) and no time is left to ask for smaller pages$/
    )
    expect(failing.asks).toHaveLength(1)
  })
})

describe('confirmImports', () => {
  const folder = MWAA_DAG_FOLDER
  const options = (api: MwaaApi, deadlineMs = Date.now() + 5_000) => ({
    api,
    environment: ENVIRONMENT,
    changedPaths: ['etl/a.py', 'etl/b.py', 'etl/helpers.sql'],
    since: SINCE,
    deadlineMs,
    pollIntervalMs: 10
  })

  it('sorts the import errors of an Airflow 2 environment', async () => {
    const api = new FakeMwaa(
      airflow({
        dags: [
          { dag_id: 'a', fileloc: `${folder}/etl/a.py`, last_parsed_time: AFTER },
          { dag_id: 'old', fileloc: `${folder}/old.py`, last_parsed_time: AFTER }
        ],
        importErrors: [
          {
            filename: `${folder}/etl/b.py`,
            stack_trace: 'SyntaxError: invalid syntax',
            timestamp: AFTER
          },
          {
            filename: `${folder}/c.py`,
            stack_trace: "ModuleNotFoundError: No module named 'x'",
            timestamp: BEFORE
          }
        ]
      })
    )
    expect(await confirmImports({ ...options(api), airflowVersion: '2.10.3' })).toEqual({
      confirmed: ['etl/a.py', 'etl/b.py'],
      unconfirmed: [],
      importErrors: [{ path: 'etl/b.py', message: 'SyntaxError: invalid syntax' }],
      preexisting: [{ path: 'c.py', message: "ModuleNotFoundError: No module named 'x'" }]
    })
  })

  it('sorts the import errors of an Airflow 3 environment, whose paths are relative', async () => {
    const api = new FakeMwaa(
      airflow({
        dags: [
          {
            dag_id: 'a',
            fileloc: `${folder}/etl/a.py`,
            relative_fileloc: 'etl/a.py',
            last_parsed_time: '2026-11-30T16:00:05.123456Z'
          }
        ],
        importErrors: [
          {
            import_error_id: 1,
            filename: 'etl/b.py',
            bundle_name: 'dags-folder',
            stack_trace:
              'Traceback (most recent call last):\n  File "etl/b.py", line 1\n    import x\nImportError: x',
            timestamp: '2026-11-30T16:00:06Z'
          },
          { filename: 'c.py', bundle_name: 'dags-folder', stack_trace: 'E', timestamp: AFTER }
        ]
      })
    )
    expect(await confirmImports({ ...options(api), airflowVersion: '3.0.6' })).toEqual({
      confirmed: ['etl/a.py', 'etl/b.py'],
      unconfirmed: [],
      importErrors: [{ path: 'etl/b.py', message: 'ImportError: x' }],
      preexisting: [{ path: 'c.py', message: 'E' }]
    })
  })

  it('keeps asking until the changed files were parsed since the deploy', async () => {
    let polls = 0
    const api = new FakeMwaa((ask, index) => {
      if (ask.path === '/dags') polls += 1
      const parsed = polls >= 3 ? AFTER : BEFORE
      return airflow({
        dags: [
          { fileloc: `${folder}/etl/a.py`, last_parsed_time: parsed },
          { fileloc: `${folder}/etl/b.py`, last_parsed_time: parsed }
        ],
        importErrors: [
          // An older failure of a changed file is not the deploy's until the file is parsed again.
          { filename: `${folder}/etl/b.py`, stack_trace: 'old failure', timestamp: BEFORE }
        ]
      })(ask, index)
    })
    const outcome = await confirmImports(options(api))
    expect(polls).toBe(3)
    expect(outcome).toEqual({
      confirmed: ['etl/a.py', 'etl/b.py'],
      unconfirmed: [],
      importErrors: [],
      preexisting: []
    })
  })

  it('does not wait for a changed file the scheduler skips, yet blames an import error of it', async () => {
    const parsed = new FakeMwaa(
      airflow({ dags: [{ fileloc: `${folder}/etl/a.py`, last_parsed_time: AFTER }] })
    )
    const clean = await confirmImports({ ...options(parsed), skipped: ['etl/b.py'] })
    expect(clean).toEqual({
      confirmed: ['etl/a.py'],
      unconfirmed: [],
      importErrors: [],
      preexisting: []
    })
    expect(parsed.asks.filter((ask) => ask.path === '/dags')).toHaveLength(1)

    const failing = new FakeMwaa(
      airflow({
        dags: [{ fileloc: `${folder}/etl/a.py`, last_parsed_time: AFTER }],
        importErrors: [
          { filename: `${folder}/etl/b.py`, stack_trace: 'SyntaxError: x', timestamp: AFTER }
        ]
      })
    )
    expect(await confirmImports({ ...options(failing), skipped: ['etl/b.py'] })).toMatchObject({
      importErrors: [{ path: 'etl/b.py', message: 'SyntaxError: x' }]
    })
  })

  it('gives what it saw when the deadline passes', async () => {
    const api = new FakeMwaa(
      airflow({
        dags: [{ fileloc: `${folder}/etl/a.py`, last_parsed_time: AFTER }],
        importErrors: [{ filename: `${folder}/etl/b.py`, stack_trace: 'old', timestamp: BEFORE }]
      })
    )
    const outcome = await confirmImports(options(api, Date.now() + 1_000))
    expect(outcome).toEqual({
      confirmed: ['etl/a.py'],
      unconfirmed: ['etl/b.py'],
      importErrors: [],
      preexisting: [{ path: 'etl/b.py', message: 'old' }]
    })
    expect(api.asks.filter((ask) => ask.path === '/dags').length).toBeGreaterThan(1)
  })

  it('waits out a transient failure', async () => {
    const pages = airflow({
      dags: [
        { fileloc: `${folder}/etl/a.py`, last_parsed_time: AFTER },
        { fileloc: `${folder}/etl/b.py`, last_parsed_time: AFTER }
      ]
    })
    const api = new FakeMwaa((ask, index) =>
      index < 2 ? { status: 429, body: {} } : pages(ask, index)
    )
    expect((await confirmImports(options(api))).confirmed).toEqual(['etl/a.py', 'etl/b.py'])
  })

  it('throws the last transient failure when no poll succeeded by the deadline', async () => {
    const api = new FakeMwaa(() => ({ status: 429, body: {} }))
    const error = await failure(confirmImports(options(api, Date.now() + 100)))
    expect(error.message).toMatch(/Airflow answered HTTP 429 to GET \/(dags|importErrors)$/)
  })

  it('ends at once on a refusal that waiting cannot help', async () => {
    const api = new FakeMwaa(() => ({ status: 403, body: {} }))
    const error = await failure(
      confirmImports({ ...options(api), region: 'eu-west-1', account: '123456789012' })
    )
    expect(error.message).toMatch(/arn:aws:airflow:eu-west-1:123456789012:role\/prod\/Viewer/)
    // One poll: both collections asked once.
    expect(api.asks).toHaveLength(2)
  })
})
