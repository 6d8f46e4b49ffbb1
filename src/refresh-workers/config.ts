import { InputError } from '../common/errors.js'
import { escapeText, hasControlCharacter } from '../common/untrusted.js'
import { bucketNameProblem, normalisePrefix } from '../common/s3-location.js'

/**
 * A problem with the function's own environment. It is the operator's to fix, never the
 * invoker's, so the message names the variable and where it comes from.
 */
export class ConfigError extends InputError {
  constructor(variable: string, problem: string) {
    super(
      variable,
      `${problem}; set ${variable} in the function's environment (the template sets it)`
    )
    this.name = 'ConfigError'
  }
}

/**
 * The environment variables the function reads. The CloudFormation template sets every one; an
 * empty value counts as unset.
 */
export const Env = {
  /** `ssm` (workers on EC2, synced through SSM Run Command) or `efs` (the function writes an EFS folder). */
  Mode: 'REFRESH_MODE',
  /** The DAG bucket, the same name deploy-dags is given. */
  Bucket: 'DAG_BUCKET',
  /** The folder in the bucket, written as for deploy-dags: `dags`, `airflow/dags`, or `/` for the bucket root. Default `dags`. */
  Prefix: 'DAG_PREFIX',
  /** ssm: the Auto Scaling groups of the workers, separated by commas or line breaks (so a name cannot hold a comma). */
  WorkerGroups: 'WORKER_GROUPS',
  /** ssm: the absolute path of the DAG folder on each worker, which the sync converges to the prefix. */
  WorkerDagFolder: 'WORKER_DAG_FOLDER',
  /** ssm, optional: the command that starts a worker launched by scale-out, after its DAGs are in place. */
  WorkerStartCommand: 'WORKER_START_COMMAND',
  /** ssm: the name of the SSM document (shipped in the template) that syncs a worker. */
  SsmDocument: 'SSM_DOCUMENT_NAME',
  /** ssm, `true` or `false` (default): whether a worker whose SSM agent is not Online is only reported instead of failing the refresh. */
  TolerateOffline: 'TOLERATE_OFFLINE_WORKERS',
  /** efs: the absolute path where the function mounts the EFS access point that holds the DAG folder. */
  EfsMountPath: 'EFS_MOUNT_PATH',
  /** Seconds kept back from the function's timeout to report before Lambda stops it (5 to 300, default 30). */
  DeadlineMargin: 'DEADLINE_MARGIN_SECONDS',
  /**
   * Optional: the DAG folder as Airflow sees it, for the Airflow confirmation to match its file
   * locations. Default: WORKER_DAG_FOLDER (ssm); required in efs mode when the confirmation is on.
   */
  AirflowDagFolder: 'AIRFLOW_DAG_FOLDER'
} as const

export const MODES = ['ssm', 'efs'] as const
export type Mode = (typeof MODES)[number]

interface CommonConfig {
  bucket: string
  /** Without surrounding slashes; '' is the bucket root. */
  prefix: string
  deadlineMarginMs: number
  /** Where Airflow reads the DAG files, when set (see Env.AirflowDagFolder). */
  airflowDagFolder?: string
}

export interface SsmConfig extends CommonConfig {
  mode: 'ssm'
  /** In the order given, without repeats. */
  workerGroups: string[]
  workerDagFolder: string
  workerStartCommand?: string
  ssmDocumentName: string
  tolerateOffline: boolean
}

export interface EfsConfig extends CommonConfig {
  mode: 'efs'
  efsMountPath: string
}

export type RefreshConfig = SsmConfig | EfsConfig

export const DEADLINE_MARGIN = { fallbackSeconds: 30, min: 5, max: 300 } as const

type Environment = Record<string, string | undefined>

/** Reads and checks the whole configuration; the first problem found is thrown as a ConfigError. */
export function readConfig(env: Environment = process.env): RefreshConfig {
  const mode = readMode(env)
  const bucket = readBucket(env)
  // As in deploy-dags, an empty prefix reads as unset (`dags`): the root is asked for with `/`.
  const prefix = readPrefix(env)
  const deadlineMarginMs = readMarginSeconds(env) * 1000
  const common = {
    bucket,
    prefix,
    deadlineMarginMs,
    ...(envValue(env, Env.AirflowDagFolder) !== undefined
      ? { airflowDagFolder: absolutePath(env, Env.AirflowDagFolder) }
      : {})
  }
  if (mode === 'efs') {
    for (const name of [
      Env.WorkerGroups,
      Env.WorkerDagFolder,
      Env.WorkerStartCommand,
      Env.SsmDocument,
      Env.TolerateOffline
    ]) {
      if (envValue(env, name) !== undefined) {
        throw new ConfigError(name, `is for ${Env.Mode}=ssm only and must be empty in efs mode`)
      }
    }
    return { mode, ...common, efsMountPath: absolutePath(env, Env.EfsMountPath) }
  }
  if (envValue(env, Env.EfsMountPath) !== undefined) {
    throw new ConfigError(
      Env.EfsMountPath,
      `is for ${Env.Mode}=efs only and must be empty in ssm mode`
    )
  }
  const workerStartCommand = readStartCommand(env)
  return {
    mode,
    ...common,
    workerGroups: readGroups(env),
    workerDagFolder: absolutePath(env, Env.WorkerDagFolder),
    ...(workerStartCommand !== undefined ? { workerStartCommand } : {}),
    ssmDocumentName: readDocumentName(env),
    tolerateOffline: readBoolean(env, Env.TolerateOffline, false)
  }
}

/** The variable's value, trimmed; an empty value counts as unset. */
export function envValue(env: Environment, name: string): string | undefined {
  const text = env[name]?.trim()
  return text === undefined || text === '' ? undefined : text
}

function required(env: Environment, name: string): string {
  const text = envValue(env, name)
  if (text === undefined) throw new ConfigError(name, 'is required and is not set')
  return text
}

function readBucket(env: Environment): string {
  const bucket = required(env, Env.Bucket)
  const problem = bucketNameProblem(bucket)
  if (problem !== undefined) throw new ConfigError(Env.Bucket, problem)
  return bucket
}

function readPrefix(env: Environment): string {
  const result = normalisePrefix(envValue(env, Env.Prefix) ?? 'dags')
  if ('problem' in result) throw new ConfigError(Env.Prefix, result.problem)
  return result.prefix
}

function readMode(env: Environment): Mode {
  const text = required(env, Env.Mode)
  const mode = MODES.find((choice) => choice === text)
  if (mode === undefined) {
    throw new ConfigError(Env.Mode, `must be ssm or efs, got '${escapeText(text)}'`)
  }
  return mode
}

const TRUE_VALUES = ['true', 'True', 'TRUE']
const FALSE_VALUES = ['false', 'False', 'FALSE']

/** YAML booleans only: `yes` or `1` is a mistake to report, never a silent `false`. */
function readBoolean(env: Environment, name: string, fallback: boolean): boolean {
  const text = envValue(env, name)
  if (text === undefined) return fallback
  if (TRUE_VALUES.includes(text)) return true
  if (FALSE_VALUES.includes(text)) return false
  throw new ConfigError(name, `must be true or false, got '${escapeText(text)}'`)
}

function readMarginSeconds(env: Environment): number {
  return readWholeSeconds(env, Env.DeadlineMargin, DEADLINE_MARGIN)
}

/** A whole number of seconds within the range, or its fallback when unset. */
export function readWholeSeconds(
  env: Environment,
  name: string,
  range: { fallbackSeconds: number; min: number; max: number }
): number {
  const text = envValue(env, name)
  if (text === undefined) return range.fallbackSeconds
  const { min, max } = range
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(
      name,
      `must be a whole number of seconds from ${min} to ${max}, got '${escapeText(text)}'`
    )
  }
  return Number(text)
}

/** Auto Scaling group names: 1 to 255 characters, no control characters. */
const GROUP_NAME = /^[\u0020-\uD7FF\uE000-\uFFFD]{1,255}$/

function readGroups(env: Environment): string[] {
  const names = required(env, Env.WorkerGroups)
    .split(/[,\r\n]/)
    .map((name) => name.trim())
    .filter((name) => name !== '')
  if (names.length === 0) {
    throw new ConfigError(Env.WorkerGroups, 'names no Auto Scaling group')
  }
  for (const name of names) {
    if (!GROUP_NAME.test(name)) {
      throw new ConfigError(
        Env.WorkerGroups,
        `'${escapeText(name)}' is not an Auto Scaling group name (1 to 255 printable characters)`
      )
    }
  }
  return [...new Set(names)]
}

function absolutePath(env: Environment, name: string): string {
  const text = required(env, name)
  if (hasControlCharacter(text)) {
    throw new ConfigError(name, `'${escapeText(text)}' (shown escaped) holds a control character`)
  }
  const segments = text.split('/').slice(1)
  if (
    !text.startsWith('/') ||
    text === '/' ||
    segments.some((segment) => segment === '.' || segment === '..')
  ) {
    throw new ConfigError(
      name,
      `must be an absolute folder path other than / and without . or .. (like /opt/airflow/dags), got '${escapeText(text)}'`
    )
  }
  return text.replace(/\/+$/, '')
}

function readStartCommand(env: Environment): string | undefined {
  const text = envValue(env, Env.WorkerStartCommand)
  if (text === undefined) return undefined
  // A script of several lines is fine; other controls are not, and NUL cannot pass through SSM.
  if (hasControlCharacter(text.replace(/[\n\t]/g, ''))) {
    throw new ConfigError(
      Env.WorkerStartCommand,
      'holds a control character other than a line break or a tab'
    )
  }
  return text
}

/** SSM document names: 3 to 128 of letters, digits, `_`, `-` and `.` (an ARN is allowed too). */
const DOCUMENT_NAME =
  /^([a-zA-Z0-9_\-.]{3,128}|arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:document\/[a-zA-Z0-9_\-.]{3,128})$/

function readDocumentName(env: Environment): string {
  const text = required(env, Env.SsmDocument)
  if (!DOCUMENT_NAME.test(text)) {
    throw new ConfigError(
      Env.SsmDocument,
      `'${escapeText(text)}' is not an SSM document name (3 to 128 letters, digits, _, - and .) or document ARN`
    )
  }
  return text
}
