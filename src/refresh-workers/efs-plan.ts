import { escapeText } from '../common/untrusted.js'
import { MANIFEST_NAME } from '../deploy-dags/constants.js'
import {
  manifestEntry,
  manifestText,
  parseManifestDocument,
  type Manifest
} from '../deploy-dags/plan.js'

// The decisions of an EFS folder sync, without I/O. Each one is the rule infra/worker/sync-dags.sh
// applies on an EC2 worker, so a folder the function converges and one a worker converges from the
// same prefix end up the same, file for file, and report the same tree digest.

/** The temporary files a sync writes before renaming them into place: `.sync-dags.<random>.tmp`. */
export const TEMP_PREFIX = '.sync-dags.'
export const TEMP_SUFFIX = '.tmp'

/** The lines per file a run prints before it only counts them (the script's cap, kept alike). */
export const DETAIL_LINES = 100
export const FAILED_KEYS_REPORTED = 20

export const NO_MANIFEST = 'there is none, or it is not readable'
export const UNKNOWN_MANIFEST = 'it has a format this version does not read'
export const TAMPERED =
  'its bytes differ from the SHA-256 the manifest recorded (changed or tampered)'
export const OUTSIDE = 'its folder leads outside the DAG folder'
export const FOLDER_IN_THE_WAY = 'a folder of that name is in the way'
export const NOT_STARTED = 'its download had not started when the deadline passed'

export function isTemporaryName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX)
}

/**
 * Why a key's path below the prefix cannot be a file in the folder, or undefined. The control
 * characters are the script's (C0 and DEL): a wider set would refuse names the workers keep.
 */
export function unsafePathReason(path: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'it holds a control character'
  if (path.startsWith('/')) return 'it is absolute'
  const segments = path.split('/')
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return "it has an empty, '.' or '..' segment"
  }
  if (segments.some(isTemporaryName)) return "it has the name of this sync's temporary files"
  return undefined
}

/** Code point order, which is the UTF-8 byte order S3 lists in and Python sorts strings in. */
export function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

export interface ObjectSelection {
  /** Path below the prefix → key, for every key that can be a file in the folder. */
  objects: Map<string, string>
  /** Keys that cannot, in listing order: each counts as failed, none is ever a file here. */
  refused: { key: string; reason: string }[]
}

/**
 * The files the folder must hold, from the listed keys. Folder markers (`dir/`) are not files and
 * the manifest is the sync's own record, not a DAG file.
 */
export function selectObjects(keys: Iterable<string>, prefix: string): ObjectSelection {
  const base = prefix === '' ? '' : `${prefix}/`
  const objects = new Map<string, string>()
  const refused: ObjectSelection['refused'] = []
  for (const key of keys) {
    if (!key.startsWith(base) || key.endsWith('/')) continue
    const path = key.slice(base.length)
    if (path === MANIFEST_NAME) continue
    const reason = unsafePathReason(path)
    if (reason === undefined) objects.set(path, key)
    else refused.push({ key, reason })
  }
  return { objects, refused }
}

export type ManifestReading = { manifest: Manifest } | { manifest: undefined; note: string }

/**
 * The manifest from the manifest object's bytes (undefined when it could not be fetched). Without
 * one, every object is downloaded and compared: nothing vouches for its bytes, nothing is refused.
 */
export function readManifest(bytes: Uint8Array | undefined): ManifestReading {
  if (bytes === undefined) return { manifest: undefined, note: NO_MANIFEST }
  const text = manifestText(bytes)
  if (typeof text !== 'string') return { manifest: undefined, note: NO_MANIFEST }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    return { manifest: undefined, note: NO_MANIFEST }
  }
  const read = parseManifestDocument(text)
  if ('manifest' in read) return { manifest: read.manifest }
  // Valid JSON of another shape may be a newer writer's: said apart from a damaged object.
  const isObject = typeof document === 'object' && document !== null && !Array.isArray(document)
  return { manifest: undefined, note: isObject ? UNKNOWN_MANIFEST : NO_MANIFEST }
}

export interface PlannedDownload {
  path: string
  key: string
  /** The SHA-256 deploy-dags recorded; the downloaded bytes must have it. */
  expected: string | undefined
  /**
   * Object paths that are folders of this one (`a` for `a/b`). Their outcome decides whether `a`
   * is a file or a folder here, so this path waits for them, as in the script's one-by-one order.
   */
  after: string[]
}

/** Every object in code point order, the order the script works in. */
export function planDownloads(
  objects: ReadonlyMap<string, string>,
  manifest: Manifest | undefined
): PlannedDownload[] {
  return [...objects.keys()].sort(byCodePoint).map((path) => {
    const segments = path.split('/')
    const after: string[] = []
    for (let end = 1; end < segments.length; end++) {
      const folder = segments.slice(0, end).join('/')
      if (objects.has(folder)) after.push(folder)
    }
    const expected =
      manifest === undefined ? undefined : manifestEntry(manifest, path)?.sha256.toLowerCase()
    return { path, key: objects.get(path) as string, expected, after }
  })
}

/**
 * Whether a file needs a download: only a recorded SHA-256 equal to the local file's spares one.
 * `current` is the SHA-256 of the local regular file, undefined when there is none.
 */
export function needsDownload(expected: string | undefined, current: string | undefined): boolean {
  return expected === undefined || current !== expected
}

export type DownloadVerdict = 'refuse' | 'unchanged' | 'replace'

/** What to do with downloaded bytes: refuse them, drop them (equal to the file), or put them in place. */
export function downloadVerdict(
  expected: string | undefined,
  actual: string,
  current: string | undefined
): DownloadVerdict {
  if (expected !== undefined && actual !== expected) return 'refuse'
  return actual === current ? 'unchanged' : 'replace'
}

/** A local entry no object stands for; `path` is undefined for a name that is not UTF-8. */
export function isExtraneous(path: string | undefined, objects: ReadonlyMap<string, string>) {
  return path === undefined || !objects.has(path)
}

/** True when `real` (a resolved path) is the folder or below it. */
export function isInside(realFolder: string, real: string): boolean {
  return real === realFolder || real.startsWith(`${realFolder}/`)
}

/** Foreign text (a key, a path) in a line: quoted and escaped. */
export const shown = (text: string): string => `"${escapeText(text)}"`

export interface SyncCounts {
  downloaded: number
  deleted: number
  unchanged: number
  failed: number
}

/**
 * The run's lines: one per change, capped (the function's result has a size limit too), and notes
 * that are always kept. The summary line closes it.
 */
export class SyncLog {
  private readonly lines: string[] = []
  private details = 0

  detail(line: string): void {
    this.details += 1
    if (this.details <= DETAIL_LINES) this.lines.push(line)
  }

  note(line: string): void {
    this.lines.push(line)
  }

  text(counts: SyncCounts): string {
    const lines = [...this.lines]
    if (this.details > DETAIL_LINES) {
      lines.push(`... and ${this.details - DETAIL_LINES} more lines like these`)
    }
    lines.push(
      `${counts.downloaded} downloaded, ${counts.deleted} deleted, ${counts.unchanged} unchanged, ${counts.failed} failed`
    )
    return lines.join('\n')
  }
}

/** The one-line reason a run with failed keys gives, naming the deadline when it stopped one. */
export function failureReason(
  failedKeys: readonly string[],
  notStarted: number,
  deadlineMs: number | undefined
): string | undefined {
  const [first] = failedKeys
  if (first === undefined) return undefined
  const reason = `${failedKeys.length} key(s) not synced, the first ${shown(first)}`
  if (notStarted === 0 || deadlineMs === undefined) return reason
  return `${reason}; ${notStarted} download(s) had not started when the deadline (${new Date(deadlineMs).toISOString()}) passed`
}
