import type { EnvironmentFile, FileRole, MwaaEnvironment } from '../common/mwaa.js'
import { FILE_ROLES } from '../common/mwaa.js'
import { KEY_INPUT } from './constants.js'

// Which files to upload and whether the environment must be updated. MWAA runs the object
// versions its configuration names, not whatever is latest in the bucket: a file counts as
// deployed only when the version the environment names holds the repository's bytes. An upload
// whose update failed or never ran is applied by the next run instead of being taken as done.

/** A file of the repository, read (and for plugins, zipped) for the environment. */
export interface LocalArtifact {
  role: FileRole
  /** The input that named it, and its value, for messages. */
  input: string
  given: string
  bytes: Buffer
  /** Hex SHA-256 of the bytes. */
  sha256: string
  /** The key input; undefined means the environment's key, else the role's usual name. */
  key?: string
}

/** What the bucket holds at an artifact's key. */
export interface StoredState {
  /** The latest version; undefined when there is no object at the key. */
  latest?: { versionId: string; sha256: string }
  /** The content of the version the environment names, when it names this key and a version. */
  inEffectSha256?: string
}

export type FileAction =
  /** The environment already runs these bytes. */
  | 'keep'
  /** The bytes are the latest version already; the environment is to be given it. */
  | 'apply'
  /** The bytes go up as a new version, which the environment is then given. */
  | 'upload'

export interface FilePlan {
  role: FileRole
  input: string
  given: string
  key: string
  sha256: string
  size: number
  action: FileAction
  /** Why, in a few words, for the log and the summary. */
  why: string
  /** The version the environment keeps or is given; for `upload`, known once uploaded. */
  versionId?: string
}

export interface EnvironmentPlan {
  files: FilePlan[]
  /** Whether UpdateEnvironment is called. */
  update: boolean
}

/** The key an artifact goes to: its key input, else the environment's key, else the usual name. */
export function artifactKey(artifact: LocalArtifact, environment: MwaaEnvironment): string {
  return artifact.key ?? environment.files[artifact.role]?.key ?? KEY_INPUT[artifact.role].fallback
}

export function planEnvironment(
  local: readonly LocalArtifact[],
  environment: MwaaEnvironment,
  stored: ReadonlyMap<FileRole, StoredState>
): EnvironmentPlan {
  const files = local.map((artifact): FilePlan => {
    const key = artifactKey(artifact, environment)
    const state = stored.get(artifact.role) ?? {}
    const named = environment.files[artifact.role]
    const base = {
      role: artifact.role,
      input: artifact.input,
      given: artifact.given,
      key,
      sha256: artifact.sha256,
      size: artifact.bytes.length
    }
    if (
      named?.key === key &&
      named.versionId !== undefined &&
      state.inEffectSha256 === artifact.sha256
    ) {
      return { ...base, action: 'keep', why: 'unchanged', versionId: named.versionId }
    }
    const notInEffect =
      named === undefined
        ? 'the environment has none'
        : named.key !== key
          ? `the environment names ${named.key}`
          : 'the environment runs other bytes'
    if (state.latest?.sha256 === artifact.sha256) {
      return {
        ...base,
        action: 'apply',
        why: `uploaded before, not applied (${notInEffect})`,
        versionId: state.latest.versionId
      }
    }
    return {
      ...base,
      action: 'upload',
      why: state.latest === undefined ? `new (${notInEffect})` : `changed (${notInEffect})`
    }
  })
  return { files, update: files.some((file) => file.action !== 'keep') }
}

/**
 * The UpdateEnvironment request: each file of this deploy at its version, and every other file
 * the environment names kept at its current key and version. MWAA is never left to pick a
 * version for a file that was not mentioned.
 */
export function updateRequest(
  environment: MwaaEnvironment,
  plan: EnvironmentPlan,
  uploaded: ReadonlyMap<FileRole, string>
): Partial<Record<FileRole, Required<EnvironmentFile>>> {
  const request: Partial<Record<FileRole, Required<EnvironmentFile>>> = {}
  for (const role of FILE_ROLES) {
    const file = plan.files.find((candidate) => candidate.role === role)
    if (file !== undefined) {
      const versionId = uploaded.get(role) ?? file.versionId
      if (versionId === undefined) {
        throw new Error(`${file.key} was to be uploaded before the update, and was not`)
      }
      request[role] = { key: file.key, versionId }
      continue
    }
    const current = environment.files[role]
    if (current?.versionId !== undefined) {
      request[role] = { key: current.key, versionId: current.versionId }
    }
  }
  return request
}
