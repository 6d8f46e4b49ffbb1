import { escapeText } from '../common/untrusted.js'
import type { TreeDigest } from './tree.js'

/**
 * What infra/worker/sync-dags.sh reports on a worker, from the last line of its output that starts
 * with `SYNC-RESULT `: the counts of the run and the SHA-256 of each path the function asked about
 * (null where the file is absent).
 */
export interface SyncReport {
  downloaded: number
  deleted: number
  unchanged: number
  failed: number
  /** The first keys that did not sync, at most 20, as the script lists them. */
  failedKeys: string[]
  hashes: Map<string, string | null>
  /** The digest of everything the folder holds after the run. */
  tree: TreeDigest
}

export const SYNC_RESULT_MARKER = 'SYNC-RESULT '

const COUNTS = ['downloaded', 'deleted', 'unchanged', 'failed'] as const

/**
 * Reads the report out of a worker's standard output. SSM keeps only the start of a long output,
 * and a killed run prints no report, so a missing or malformed line is a problem to name, never a
 * worker to count as refreshed.
 */
export function parseSyncReport(output: string): SyncReport | { problem: string } {
  const line = output
    .split(/\r?\n/)
    .reverse()
    .find((candidate) => candidate.startsWith(SYNC_RESULT_MARKER))
  if (line === undefined) {
    return {
      problem:
        'the sync script printed no SYNC-RESULT line (it did not finish, or its output was cut short)'
    }
  }
  let value: unknown
  try {
    value = JSON.parse(line.slice(SYNC_RESULT_MARKER.length))
  } catch {
    return { problem: 'the SYNC-RESULT line is not JSON' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { problem: 'the SYNC-RESULT line is not a JSON object' }
  }
  const fields = value as Record<string, unknown>
  for (const name of COUNTS) {
    const count = fields[name]
    if (!Number.isSafeInteger(count) || (count as number) < 0) {
      return { problem: `the SYNC-RESULT line's ${name} is not a count` }
    }
  }
  const failedKeys = fields.failedKeys
  if (!Array.isArray(failedKeys) || !failedKeys.every((key) => typeof key === 'string')) {
    return { problem: "the SYNC-RESULT line's failedKeys is not a list of keys" }
  }
  const hashes = fields.hashes
  if (typeof hashes !== 'object' || hashes === null || Array.isArray(hashes)) {
    return { problem: "the SYNC-RESULT line's hashes is not an object" }
  }
  const reported = new Map<string, string | null>()
  for (const [path, hash] of Object.entries(hashes)) {
    if (hash !== null && (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash))) {
      return {
        problem: `the SYNC-RESULT line's hash for '${escapeText(path.slice(0, 120))}' is not a SHA-256`
      }
    }
    reported.set(path, hash)
  }
  const tree = fields.tree
  if (
    typeof tree !== 'object' ||
    tree === null ||
    !Number.isSafeInteger((tree as Record<string, unknown>).files) ||
    ((tree as Record<string, unknown>).files as number) < 0 ||
    !/^[0-9a-f]{64}$/.test(String((tree as Record<string, unknown>).sha256))
  ) {
    return { problem: "the SYNC-RESULT line's tree is not a file count with a SHA-256" }
  }
  return {
    downloaded: fields.downloaded as number,
    deleted: fields.deleted as number,
    unchanged: fields.unchanged as number,
    failed: fields.failed as number,
    failedKeys: failedKeys as string[],
    hashes: reported,
    tree: {
      files: (tree as Record<string, unknown>).files as number,
      sha256: (tree as Record<string, unknown>).sha256 as string
    }
  }
}
