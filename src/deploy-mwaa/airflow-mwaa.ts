import {
  AirflowError,
  pollParse,
  type AirflowReader,
  type ParseOutcome
} from '../common/airflow-parse.js'
import { MwaaError, type MwaaApi, type RestApiAnswer } from '../common/mwaa.js'
import { escapeText } from '../common/untrusted.js'
import { isRecord } from '../common/json-shape.js'

// Airflow's import errors of an MWAA environment, asked through InvokeRestApi: MWAA signs the
// job's role into Airflow, so no Airflow user, password or network path to the webserver is needed.
// InvokeRestApi gives Airflow 10 seconds and 6 MB per answer, so a page that fails with a
// timeout- or size-like failure is asked again with half the limit.

/** Where MWAA's workers, and Airflow's absolute file locations, hold the DAG folder. */
export const MWAA_DAG_FOLDER = '/usr/local/airflow/dags'

/** Airflow's default maximum_page_limit. */
export const PAGE_LIMIT = 100

const POLL_INTERVAL_MS = 15_000

/** The Airflow role whose rights the check needs: it only reads DAGs and import errors. */
const READ_ROLE = 'Viewer'

/** Where the IAM permission is named: unknown parts are shown as placeholders. */
export interface RoleArnParts {
  region?: string
  account?: string
}

/**
 * The resource InvokeRestApi is allowed on: the environment's Airflow role, one ARN per role.
 * The partition follows the region.
 */
export function airflowRoleArn(environment: string, parts: RoleArnParts, role = READ_ROLE): string {
  const region = parts.region ?? '<region>'
  const partition = region.startsWith('cn-')
    ? 'aws-cn'
    : region.startsWith('us-gov-')
      ? 'aws-us-gov'
      : 'aws'
  return `arn:${partition}:airflow:${region}:${parts.account ?? '<account>'}:role/${environment}/${role}`
}

export interface MwaaReaderOptions extends RoleArnParts {
  api: MwaaApi
  environment: string
  /** Like 2.10.3 or 3.0.6; named in the message when MWAA wants an update first. */
  airflowVersion?: string
  /** Epoch ms after which no further page, and no smaller one, is asked. */
  deadlineMs?: number
  /** The first page's size; halved on a failure that a smaller answer may avoid. */
  pageLimit?: number
}

type Collection = 'dags' | 'importErrors'

/** The path, relative to Airflow's API root (/api/v1 in Airflow 2, /api/v2 in Airflow 3). */
const COLLECTIONS: Record<Collection, { path: string; key: string }> = {
  dags: { path: '/dags', key: 'dags' },
  importErrors: { path: '/importErrors', key: 'import_errors' }
}

/** What one page ask gave: entries, or a failure a smaller page may avoid. */
type PageResult = { items: unknown[]; total: number } | { tooBig: string }

/** Airflow's REST API through MWAA's InvokeRestApi. */
export class MwaaAirflowReader implements AirflowReader {
  /** Per collection, kept between pages and polls: what failed once at a size will fail again. */
  private readonly limits: Record<Collection, number>

  constructor(private readonly options: MwaaReaderOptions) {
    const limit = Math.max(1, Math.floor(options.pageLimit ?? PAGE_LIMIT))
    this.limits = { dags: limit, importErrors: limit }
  }

  /**
   * The poll decided to ask, so the first page is always asked; a further page, or a smaller
   * one after a failure, is not asked once the deadline has passed.
   */
  async list(collection: Collection): Promise<unknown[]> {
    const entries: unknown[] = []
    for (;;) {
      const { items, total } = await this.page(collection, entries.length)
      entries.push(...items)
      if (items.length === 0 || entries.length >= total) return entries
      if (this.pastDeadline()) {
        throw new AirflowError(
          `${this.where()}: no time left to read all of GET ${COLLECTIONS[collection].path} (${entries.length} of ${total} entries read)`,
          true
        )
      }
    }
  }

  private pastDeadline(): boolean {
    const { deadlineMs } = this.options
    return deadlineMs !== undefined && Date.now() >= deadlineMs
  }

  /** One page at `offset`, its limit halved down to 1 while the answer fails like a size. */
  private async page(
    collection: Collection,
    offset: number
  ): Promise<{ items: unknown[]; total: number }> {
    for (;;) {
      const limit = this.limits[collection]
      const result = await this.ask(collection, limit, offset)
      if (!('tooBig' in result)) return result
      if (limit <= 1) {
        throw new AirflowError(
          `${this.where()}: GET ${COLLECTIONS[collection].path} failed even one entry at a time (${result.tooBig}); InvokeRestApi gives Airflow 10 seconds and 6 MB per answer`,
          true
        )
      }
      if (this.pastDeadline()) {
        throw new AirflowError(
          `${this.where()}: GET ${COLLECTIONS[collection].path} failed (${result.tooBig}) and no time is left to ask for smaller pages`,
          true
        )
      }
      this.limits[collection] = Math.ceil(limit / 2)
    }
  }

  private async ask(collection: Collection, limit: number, offset: number): Promise<PageResult> {
    const { path, key } = COLLECTIONS[collection]
    let answer: RestApiAnswer
    try {
      answer = await this.options.api.invokeRestApi(this.options.environment, {
        path,
        query: { limit, offset }
      })
    } catch (error) {
      if (!(error instanceof MwaaError)) throw error
      return this.mwaaFailure(error, path)
    }
    const { status, body } = answer
    if (status === 401 || status === 403) {
      throw new AirflowError(
        this.permissionProblem(`Airflow answered HTTP ${status} to GET ${path}`)
      )
    }
    if (status >= 500) return { tooBig: `Airflow answered HTTP ${status}` }
    if (status === 429) {
      throw new AirflowError(`${this.where()}: Airflow answered HTTP 429 to GET ${path}`, true)
    }
    if (status < 200 || status >= 300) {
      throw new AirflowError(`${this.where()}: Airflow answered HTTP ${status} to GET ${path}`)
    }
    const record = isRecord(body) ? body : {}
    const items = record[key]
    const total = record.total_entries
    if (!Array.isArray(items) || typeof total !== 'number') {
      throw new AirflowError(
        `${this.where()}: GET ${path} answered without ${key} and total_entries; is this Airflow's REST API?`
      )
    }
    return { items: items as unknown[], total }
  }

  private mwaaFailure(error: MwaaError, path: string): PageResult {
    // MwaaError's messages are escaped where AWS's text enters them.
    if (error.code === 'AccessDeniedException') {
      throw new AirflowError(
        this.permissionProblem(`MWAA refused InvokeRestApi (AccessDeniedException) for GET ${path}`)
      )
    }
    if (error.code === 'ValidationException' && /update your environment/i.test(error.message)) {
      const version =
        this.options.airflowVersion !== undefined
          ? ` (Airflow ${escapeText(this.options.airflowVersion)})`
          : ''
      throw new AirflowError(
        `MWAA environment '${escapeText(this.options.environment)}'${version} does not take InvokeRestApi yet: it needs an environment update to a version that supports it before its import errors can be read. ${error.message}`
      )
    }
    if (error.retryable || error.code === 'InternalServerException') {
      return {
        tooBig: `${error.code}${error.httpStatus !== undefined ? ` (HTTP ${error.httpStatus})` : ''}`
      }
    }
    throw new AirflowError(`${this.where()}: ${error.message}`)
  }

  private permissionProblem(what: string): string {
    const environment = escapeText(this.options.environment)
    return `${what} in MWAA environment '${environment}': the job's role needs airflow:InvokeRestApi on ${escapeText(airflowRoleArn(this.options.environment, this.options))} (the ${READ_ROLE} role is enough to read DAGs and import errors)`
  }

  private where(): string {
    return `Airflow of MWAA environment '${escapeText(this.options.environment)}' (through InvokeRestApi)`
  }
}

export interface ConfirmImportsOptions extends RoleArnParts {
  api: MwaaApi
  /** The environment's name. */
  environment: string
  airflowVersion?: string
  /** Paths relative to the DAG folder that the deploy uploaded. */
  changedPaths: readonly string[]
  /** Only a parse at or after this moment counts: before it, Airflow saw the old files. */
  since: Date
  /** Epoch ms after which no poll starts. */
  deadlineMs: number
  /** MWAA's min_file_process_interval is 30 s by default. */
  pollIntervalMs?: number
  /** The first page's size. */
  pageLimit?: number
  /** Changed files the scheduler skips: not waited for (see ParsePoll.skipped). */
  skipped?: readonly string[]
}

/**
 * Polls the environment's Airflow until every changed DAG file was parsed after `since` or the
 * deadline passes, and sorts its import errors into the deploy's and older ones.
 */
export function confirmImports(options: ConfirmImportsOptions): Promise<ParseOutcome> {
  const reader = new MwaaAirflowReader({
    api: options.api,
    environment: options.environment,
    deadlineMs: options.deadlineMs,
    ...(options.airflowVersion !== undefined ? { airflowVersion: options.airflowVersion } : {}),
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.account !== undefined ? { account: options.account } : {}),
    ...(options.pageLimit !== undefined ? { pageLimit: options.pageLimit } : {})
  })
  return pollParse({
    connect: async () => reader,
    dagFolder: MWAA_DAG_FOLDER,
    changedPaths: options.changedPaths,
    since: options.since,
    deadlineMs: options.deadlineMs,
    pollIntervalMs: options.pollIntervalMs ?? POLL_INTERVAL_MS,
    ...(options.skipped !== undefined ? { skipped: options.skipped } : {})
  })
}
