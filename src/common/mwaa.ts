// What this pack reads and asks of an Amazon MWAA environment, in its own terms. The calls are made
// by mwaa-api.ts; the action and its tests only see these shapes.

/** Environment statuses, as the MWAA API names them. */
export type EnvironmentStatus =
  | 'CREATING'
  | 'CREATE_FAILED'
  | 'AVAILABLE'
  | 'UPDATING'
  | 'DELETING'
  | 'DELETED'
  | 'UNAVAILABLE'
  | 'UPDATE_FAILED'
  | 'ROLLING_BACK'
  | 'CREATING_SNAPSHOT'
  | 'PENDING'
  | 'MAINTENANCE'

/** A file MWAA takes from the environment's bucket: its key and the object version in use. */
export interface EnvironmentFile {
  /** The key in the source bucket (MWAA calls it the S3 path). */
  key: string
  /** Undefined when the environment names the path without a version. */
  versionId?: string
}

/** The files UpdateEnvironment applies, by role. */
export type FileRole = 'requirements' | 'plugins' | 'startup-script'

export const FILE_ROLES: readonly FileRole[] = ['requirements', 'plugins', 'startup-script']

export interface LastUpdate {
  /** SUCCESS, PENDING or FAILED; as given (text from AWS). */
  status?: string
  createdAt?: Date
  /** Present after a failed update: why it rolled back. Text from AWS, not escaped here. */
  error?: { code?: string; message?: string }
}

export interface MwaaEnvironment {
  name: string
  /** As given by AWS; a status this pack does not know is kept as text. */
  status: EnvironmentStatus | string
  /** Like 2.10.3 or 3.0.6. */
  airflowVersion?: string
  /** arn:aws:s3:::bucket */
  sourceBucketArn?: string
  /** The DAG folder in the bucket, like `dags`. */
  dagS3Path?: string
  files: Partial<Record<FileRole, EnvironmentFile>>
  lastUpdate?: LastUpdate
  executionRoleArn?: string
}

/** The request's JSON names, so a test can check what was sent. */
export const UPDATE_FIELDS: Record<FileRole, { path: string; version: string }> = {
  requirements: { path: 'RequirementsS3Path', version: 'RequirementsS3ObjectVersion' },
  plugins: { path: 'PluginsS3Path', version: 'PluginsS3ObjectVersion' },
  'startup-script': { path: 'StartupScriptS3Path', version: 'StartupScriptS3ObjectVersion' }
}

/** One answer of Airflow's REST API through InvokeRestApi. */
export interface RestApiAnswer {
  /** Airflow's HTTP status. */
  status: number
  /** Airflow's JSON answer. */
  body: unknown
}

export interface MwaaApi {
  /** GetEnvironment; an unknown name throws MwaaError with code ResourceNotFoundException. */
  getEnvironment(name: string): Promise<MwaaEnvironment>
  /**
   * UpdateEnvironment naming each file's key and version. Refused while another update runs
   * (MwaaError, code ValidationException); the caller decides whether to wait.
   */
  updateEnvironment(
    name: string,
    files: Partial<Record<FileRole, Required<EnvironmentFile>>>
  ): Promise<void>
  /**
   * InvokeRestApi: a GET of Airflow's REST API, `path` relative to the API root (`/dags`,
   * `/importErrors`). An answer of Airflow with a 4xx or 5xx status resolves, with that status;
   * MWAA's own refusals throw MwaaError.
   */
  invokeRestApi(
    name: string,
    request: { path: string; query?: Record<string, string | number> }
  ): Promise<RestApiAnswer>
  /** Ends kept-alive connections. */
  destroy(): void
}

/** A refusal or failure of the MWAA API. The message names the call; it never holds credentials. */
export class MwaaError extends Error {
  constructor(
    message: string,
    /** The AWS error code (ResourceNotFoundException, ValidationException, AccessDeniedException…). */
    readonly code: string,
    /** The HTTP status of MWAA's answer; undefined when none arrived. */
    readonly httpStatus: number | undefined,
    /** Throttling, a 5xx or a lost connection: the same call may succeed later. */
    readonly retryable: boolean
  ) {
    super(message)
    this.name = 'MwaaError'
  }
}
