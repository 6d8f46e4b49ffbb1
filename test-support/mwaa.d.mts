export type FileRole = 'requirements' | 'plugins' | 'startup-script'
export interface EnvironmentFile {
  key: string
  versionId?: string
}
export type EnvironmentFiles = Partial<Record<FileRole, EnvironmentFile>>

/** How an update ends: SUCCESS unless `error` is given. */
export interface UpdateScript {
  /** GetEnvironment answers showing UPDATING before the one that shows the end (default 2). */
  polls?: number
  /** A failure: ROLLING_BACK for one poll, then UPDATE_FAILED with this LastUpdate.Error. */
  error?: { code: string; message: string }
}
/** An update started by the test, as someone else would start one. */
export interface OtherUpdate extends UpdateScript {
  /** The files it applies when it succeeds. */
  files?: EnvironmentFiles
  /** LastUpdate.Source (default CUSTOMER). */
  source?: string
}
export interface UpdateRecord {
  by: 'UpdateEnvironment' | 'test'
  source: string
  requested: EnvironmentFiles
  polls: number
  error?: { code: string; message: string }
  startedAt: Date
  outcome: 'PENDING' | 'SUCCESS' | 'FAILED'
}
export interface LastUpdateState {
  status: 'SUCCESS' | 'PENDING' | 'FAILED' | string
  createdAt: Date
  source: string
  error?: { code: string; message: string }
}
/** enabled; needs-update: ValidationException 'Update your environment to use InvokeRestApi'; access-denied: 403. */
export type RestApiMode = 'enabled' | 'needs-update' | 'access-denied'

export interface EnvironmentSpec {
  name: string
  /** The source bucket's name, in moto. */
  bucket: string
  /** Default `dags`. */
  dagS3Path?: string
  /** Default: the attached Airflow's version, else 2.10.3. */
  airflowVersion?: string
  executionRoleArn?: string
  /** Default AVAILABLE. */
  status?: string
  files?: EnvironmentFiles
  lastUpdate?: Partial<LastUpdateState>
  /** Someone else's update, already running when the test starts (status UPDATING). */
  runningUpdate?: OtherUpdate
  airflow?: ScriptedAirflow
  restApi?: RestApiMode
}

export interface StandInEnvironment {
  readonly name: string
  readonly arn: string
  readonly bucket: string
  readonly sourceBucketArn: string
  readonly dagS3Path: string
  readonly airflowVersion: string
  readonly executionRoleArn: string
  readonly status: string
  /** The files in use; an update changes them only when it succeeds. */
  readonly files: EnvironmentFiles
  readonly lastUpdate: LastUpdateState
  /** Every update started, newest last. */
  readonly updates: UpdateRecord[]
  airflow: ScriptedAirflow | undefined
  restApi: RestApiMode
  /** Scripts for the next updates UpdateEnvironment starts, in order (default: SUCCESS after 2 polls). */
  scriptUpdates(...scripts: UpdateScript[]): void
  /** Starts someone else's update now; throws when one is running. */
  startUpdate(update?: OtherUpdate): void
  /** The running update ends at the next GetEnvironment. */
  finishUpdate(): void
  /** Sets the status as is (MAINTENANCE, CREATING_SNAPSHOT…), with no update behind it. */
  setStatus(status: string): void
  /** The Environment GetEnvironment answers (wire shape). */
  describe(): Record<string, unknown>
}

export interface MwaaCall {
  /** GetEnvironment, UpdateEnvironment, InvokeRestApi, or `METHOD /path` for an unknown one. */
  operation: string
  name?: string
  /** The JSON body sent (undefined when it was not JSON). */
  body: Record<string, unknown> | undefined
  at: Date
  /** The HTTP status answered. */
  status: number
  /** The x-amzn-errortype answered, if any. */
  error?: string
}
export interface RefusedRequest {
  method: string
  path: string
  /** InvalidSignatureException, MissingAuthenticationTokenException, UnrecognizedClientException… */
  code: string
  message: string
  at: Date
}

export interface MwaaStandInOptions {
  /**
   * moto's endpoint: the environments' buckets and their object versions. Requests to the stand-in
   * that are not MWAA's (not signed for `airflow`, not on /environments/ or /restapi/) go there.
   */
  s3Endpoint: string
  region?: string
  /** The credentials every request must be signed with (default testing/testing). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  accountId?: string
  /** InvokeRestApi's payload cap (default 6 MB); over it: RestApiServerException, status 500. */
  maxResponseBytes?: number
  /** Runs before each signed call is answered (its status is not set yet). */
  beforeAnswer?: (call: MwaaCall) => void | Promise<void>
}
export interface MwaaStandIn {
  endpoint: string
  region: string
  /** Runs before each signed call is answered; may be set at any moment. */
  beforeAnswer: ((call: MwaaCall) => void | Promise<void>) | undefined
  /** Every signed call, once answered. */
  calls: MwaaCall[]
  /** Every request refused for its signature or credentials. */
  refused: RefusedRequest[]
  /** Requests not for MWAA (S3's), passed on to moto, with moto's status. */
  forwarded: { method: string; url: string; status: number }[]
  addEnvironment(spec: EnvironmentSpec): StandInEnvironment
  environment(name: string): StandInEnvironment
  /** The first call (already made or to come) that matches; rejects after timeoutMs (20 s). */
  waitForCall(
    predicate: (call: MwaaCall) => boolean,
    options?: { timeoutMs?: number }
  ): Promise<MwaaCall>
  stop(): Promise<void>
}
export function startMwaaStandIn(options: MwaaStandInOptions): Promise<MwaaStandIn>

/** What the scheduler gets from a file: its DAG ids, or an import error's stack trace. */
export type DagFile = { dags: string[]; paused?: boolean } | { importError: string }
export interface AirflowRequest {
  method: string
  /** Relative to the API root: `/dags`, `/importErrors`. */
  path: string
  query: Record<string, unknown>
  body?: unknown
}
export interface AirflowAnswer {
  status: number
  body: unknown
}
export interface ScriptedAirflowOptions {
  /** 2.x or 3.x (default 2.10.3). */
  version?: string
  /** Default /usr/local/airflow/dags. */
  dagsFolder?: string
  /** [api] maximum_page_limit (default 100). */
  maxPageLimit?: number
  /** dags_are_paused_at_creation (default true). */
  pausedAtCreation?: boolean
  /** Requests Airflow takes over 10 s to answer: MWAA's timeout answers them (504). */
  slowWhen?: (request: AirflowRequest) => boolean
}
export class ScriptedAirflow {
  constructor(options?: ScriptedAirflowOptions)
  readonly version: string
  readonly major: 2 | 3
  readonly dagsFolder: string
  /** Answers in place of the model when it returns an answer. */
  answerWith: ((request: AirflowRequest) => AirflowAnswer | undefined) | undefined
  /** Every request that reached Airflow; status undefined and timedOut when MWAA cut it off. */
  readonly requests: (AirflowRequest & { status: number | undefined; timedOut?: boolean })[]
  /** Every parse, with its moment and the files it looked at. */
  readonly parses: { at: Date; paths: string[] }[]
  /** Declares a file on the scheduler's disk (path relative to the DAG folder). */
  setFile(path: string, content: DagFile): void
  removeFile(path: string): void
  /** Parses `paths` (default all) now; returns the parse moment. */
  parse(paths?: string[]): Date
  /** Parses once `count` more GET /dags have been answered (the next one sees the result). */
  parseAfterDagsRequests(count: number, paths?: string[]): void
  /** Airflow's answer to a request, as InvokeRestApi reaches it. */
  answer(request: AirflowRequest): AirflowAnswer
  /** Airflow's timestamp text of a moment (2: +00:00, 3: Z; microseconds). */
  timestamp(date: Date): string
}
