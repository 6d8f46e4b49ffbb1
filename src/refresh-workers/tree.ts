import { createHash } from 'node:crypto'
import type { Manifest } from '../deploy-dags/plan.js'

/**
 * One digest for a whole DAG folder: SHA-256 over a `<path>\0<sha256>\n` line per file, in the
 * UTF-8 byte order of the paths. The worker computes it over what its folder holds after a sync
 * (infra/worker/sync-dags.sh) and the function over the manifest, so equal digests mean every
 * file is there with the deployed bytes and nothing else is, however many files there are.
 */
export interface TreeDigest {
  files: number
  sha256: string
}

export function treeDigest(entries: Iterable<readonly [path: string, sha256: string]>): TreeDigest {
  const lines = [...entries].map(([path, sha256]) => [Buffer.from(path, 'utf8'), sha256] as const)
  lines.sort(([a], [b]) => Buffer.compare(a, b))
  const total = createHash('sha256')
  for (const [path, sha256] of lines) {
    total.update(path)
    total.update(`\0${sha256.toLowerCase()}\n`)
  }
  return { files: lines.length, sha256: total.digest('hex') }
}

/** The digest of the folder deploy-dags recorded: every manifest entry with its SHA-256. */
export function manifestTree(manifest: Manifest): TreeDigest {
  return treeDigest(Object.entries(manifest).map(([path, entry]) => [path, entry.sha256] as const))
}
