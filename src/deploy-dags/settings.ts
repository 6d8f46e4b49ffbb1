import { realpath, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { readAwsTarget, type AwsTarget } from '../common/aws.js'
import { InputError } from '../common/errors.js'
import { bucketNameProblem, normalisePrefix } from '../common/s3-location.js'
import { escapeText } from '../common/untrusted.js'
import {
  booleanInput,
  choiceInput,
  integerInput,
  listInput,
  optionalString,
  requiredString
} from '../common/inputs.js'
import type { Encryption } from './bucket.js'
import { Input, SSE_CHOICES } from './constants.js'
import {
  compileFilter,
  compileFolderExclusion,
  parsePatterns,
  PatternError,
  systemFolderOf,
  within,
  type PathFilter
} from './selection.js'

export interface DeploySettings {
  /** As written in the workflow, for messages. */
  source: string
  sourcePath: string
  bucket: string
  /** Without leading or trailing slashes; '' is the bucket's root. */
  prefix: string
  filter: PathFilter
  /** A folder that exclude covers whole, which the scan never enters. */
  folderExcluded: (folder: string) => boolean
  deleteExtraneous: boolean
  maxDeletePercent: number
  dryRun: boolean
  force: boolean
  /** Confirm objects left unchanged against the checksum S3 stored for them (see verify.ts). */
  verify: boolean
  followSymlinksOutsideSource: boolean
  concurrency: number
  encryption: Encryption
  target: AwsTarget
}

/** Reads and checks every input before anything touches AWS. */
export async function readSettings(): Promise<DeploySettings> {
  const bucket = parseBucket(requiredString(Input.Bucket, 'give the name of the DAG bucket'))
  const prefix = parsePrefix(optionalString(Input.Prefix) ?? 'dags')
  const include = patternsInput(Input.Include)
  const exclude = patternsInput(Input.Exclude)
  const deleteExtraneous = booleanInput(Input.Delete, true)
  const maxDeletePercent = integerInput(Input.MaxDeletePercent, 50, { min: 0, max: 100 })
  const dryRun = booleanInput(Input.DryRun, false)
  const force = booleanInput(Input.Force, false)
  const verify = booleanInput(Input.Verify, false)
  const followSymlinksOutsideSource = booleanInput(Input.FollowSymlinksOutsideSource, false)
  const concurrency = integerInput(Input.Concurrency, 16, { min: 1, max: 64 })
  const sse = choiceInput(Input.Sse, SSE_CHOICES)
  const kmsKeyId = optionalString(Input.KmsKeyId)
  if (kmsKeyId !== undefined && sse !== 'aws:kms' && sse !== 'aws:kms:dsse') {
    throw new InputError(
      Input.KmsKeyId,
      `needs sse: aws:kms (or aws:kms:dsse); sse is ${sse ?? 'not set'}`
    )
  }
  const target = readAwsTarget()
  const source = optionalString(Input.Source) ?? 'dags'
  const sourcePath = resolve(source)
  await requireFolder(source, sourcePath)
  await requireInsideWorkspace(source, sourcePath, followSymlinksOutsideSource)
  const encryption: Encryption = {
    ...(sse !== undefined ? { sse } : {}),
    ...(kmsKeyId !== undefined ? { kmsKeyId } : {})
  }
  return {
    source,
    sourcePath,
    bucket,
    prefix,
    filter: compileFilter(include, exclude),
    folderExcluded: compileFolderExclusion(exclude),
    deleteExtraneous,
    maxDeletePercent,
    dryRun,
    force,
    verify,
    followSymlinksOutsideSource,
    concurrency,
    encryption,
    target
  }
}

export function parseBucket(value: string): string {
  const problem = bucketNameProblem(value)
  if (problem !== undefined) throw new InputError(Input.Bucket, problem)
  return value
}

/** `/` is the bucket root; see normalisePrefix. */
export function parsePrefix(value: string): string {
  const result = normalisePrefix(value)
  if ('problem' in result) throw new InputError(Input.Prefix, result.problem)
  return result.prefix
}

function patternsInput(name: string): string[] {
  try {
    return parsePatterns(listInput(name))
  } catch (error) {
    if (error instanceof PatternError) throw new InputError(name, error.message)
    throw error
  }
}

async function requireFolder(source: string, path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined)
  if (info === undefined) {
    throw new InputError(
      Input.Source,
      `folder '${source}' does not exist (looked in ${path}). Check out the repository first (actions/checkout) or fix the path.`
    )
  }
  if (!info.isDirectory()) {
    throw new InputError(Input.Source, `'${source}' is a file; give the folder that holds the DAGs`)
  }
}

/**
 * The folder itself, or one above it, may be a symbolic link too; a link in the repository would
 * otherwise deploy whatever folder it names. The action resolves `source` against the current
 * directory, which is the workspace on a runner.
 */
async function requireInsideWorkspace(
  source: string,
  path: string,
  followLinksOutside: boolean
): Promise<void> {
  const realSource = await realpath(path)
  const system = systemFolderOf(realSource)
  if (system !== undefined) {
    throw new InputError(
      Input.Source,
      `'${escapeText(source)}' is really ${escapeText(realSource)}, under ${system}; folders under /proc, /sys and /dev are never deployed`
    )
  }
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd()
  const realWorkspace = await realpath(workspace).catch(() => resolve(workspace))
  if (!followLinksOutside && !within(realWorkspace, realSource)) {
    throw new InputError(
      Input.Source,
      `'${escapeText(source)}' is really ${escapeText(realSource)}, outside the workspace (${escapeText(realWorkspace)}). ` +
        `A link out of the repository can publish any folder the runner can read. Give a folder in the repository, or set ${Input.FollowSymlinksOutsideSource}: true if it is outside on purpose.`
    )
  }
}
