import { gunzipSync, gzipSync } from 'node:zlib'
import { byText } from '../common/compare.js'
import { MANIFEST_NAME } from './constants.js'
import type { HashedFile } from './selection.js'

/** One object as ListObjectsV2 reports it. */
export interface RemoteObject {
  key: string
  size: number
  /** Without the surrounding quotes S3 puts on ETags. */
  etag: string
}

export interface ManifestEntry {
  sha256: string
  size: number
  etag: string
}

/**
 * Keyed by path relative to the prefix. The keys are file names from the repository, so the map
 * has no prototype: a file named `__proto__` or `constructor` is an entry like any other. Build
 * one with newManifest(); object spread and Object.fromEntries would give it a prototype again.
 */
export type Manifest = Record<string, ManifestEntry>

export function newManifest(): Manifest {
  return Object.create(null) as Manifest
}

/** The entry recorded for `path`, never something inherited. */
export function manifestEntry(manifest: Manifest, path: string): ManifestEntry | undefined {
  return Object.hasOwn(manifest, path) ? manifest[path] : undefined
}

/** The manifest object as stored: the format, then the entries by path. */
export interface ManifestDocument {
  format: 1
  objects: Manifest
}

/**
 * The manifest in a manifest object's text, or why there is none: the text is not JSON, or not a
 * manifest of this format (a newer writer's, or damaged). Entries of the wrong shape are left
 * out: they vouch for nothing, so their files are compared by content.
 */
export function parseManifestDocument(text: string): { manifest: Manifest } | { problem: string } {
  let document: Partial<ManifestDocument>
  try {
    document = JSON.parse(text) as Partial<ManifestDocument>
  } catch (error) {
    return { problem: `not JSON (${error instanceof Error ? error.message : String(error)})` }
  }
  if (
    typeof document !== 'object' ||
    document === null ||
    document.format !== 1 ||
    typeof document.objects !== 'object' ||
    document.objects === null ||
    Array.isArray(document.objects)
  ) {
    return { problem: 'unknown manifest format' }
  }
  const manifest = newManifest()
  for (const [path, entry] of Object.entries(document.objects)) {
    if (isManifestEntry(entry)) manifest[path] = entry
  }
  return { manifest }
}

/**
 * The manifest object's bytes: the document's JSON, gzip-compressed. 100,000 entries are 18 MB of
 * JSON and 7 MB compressed; the hashes, most of it, are random hex, which the fastest level
 * compresses nearly as well as the default one in about half the time. Stored with
 * `Content-Encoding: gzip`, so a browser or the console shows the JSON.
 */
export function encodeManifest(manifest: Manifest): Buffer {
  const document: ManifestDocument = { format: 1, objects: manifest }
  return gzipSync(JSON.stringify(document), { level: 1 })
}

/**
 * The manifest in a manifest object's bytes, compressed as encodeManifest writes it or plain JSON
 * as earlier versions wrote it (and as a client that undoes the content encoding gives it). JSON
 * text never starts with gzip's magic bytes, so the bytes say which they are.
 */
export function parseManifestBytes(
  bytes: Uint8Array
): { manifest: Manifest } | { problem: string } {
  const text = manifestText(bytes)
  return typeof text === 'string' ? parseManifestDocument(text) : text
}

const MANIFEST_MAX_BYTES = 256 * 1024 * 1024

/** The manifest's JSON text, uncompressed when it is gzip-compressed, or why it cannot be read. */
export function manifestText(
  bytes: Uint8Array,
  maxBytes = MANIFEST_MAX_BYTES
): string | { problem: string } {
  let plain = bytes
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      // Anyone who can write under the prefix can write this object: a few KB that expand to
      // gigabytes must not take the runner's memory. 256 MiB is some 1.4 million entries.
      plain = gunzipSync(bytes, { maxOutputLength: maxBytes })
    } catch (error) {
      return { problem: `not gzip (${error instanceof Error ? error.message : String(error)})` }
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(plain)
  } catch {
    return { problem: 'not UTF-8 text' }
  }
}

function isManifestEntry(value: unknown): value is ManifestEntry {
  const entry = value as ManifestEntry
  return (
    typeof entry === 'object' &&
    entry !== null &&
    typeof entry.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(entry.sha256) &&
    typeof entry.etag === 'string' &&
    typeof entry.size === 'number'
  )
}

export type UploadReason = 'new' | 'modified' | 'forced' | 'unverified' | 'drift'

export interface PlannedUpload {
  file: HashedFile
  key: string
  reason: UploadReason
}

export interface PlannedDelete {
  key: string
  size: number
}

export interface SyncPlan {
  uploads: PlannedUpload[]
  deletes: PlannedDelete[]
  unchanged: string[]
  /** Objects under the prefix before the run (the manifest and folder markers excluded). */
  remoteCount: number
  /** Content-verified entries for objects the run leaves as they are. */
  verified: Manifest
}

export interface PlanInput {
  local: readonly HashedFile[]
  remote: readonly RemoteObject[]
  manifest: Manifest
  prefix: string
  force: boolean
  deleteExtraneous: boolean
}

export function objectKey(prefix: string, path: string): string {
  return prefix === '' ? path : `${prefix}/${path}`
}

export function manifestKey(prefix: string): string {
  return objectKey(prefix, MANIFEST_NAME)
}

/**
 * Decides, from the bucket's real contents, what to upload and delete so the prefix holds exactly
 * the local files. Content decides, never mtimes: an object is unchanged only when its content is
 * known to equal the file's, through the manifest (ETag still the one we recorded) or through an
 * ETag that is the file's MD5 or the multipart ETag `aws s3 sync` would have produced.
 */
export function planSync(input: PlanInput): SyncPlan {
  const base = input.prefix === '' ? '' : `${input.prefix}/`
  const ownManifest = manifestKey(input.prefix)
  const remoteByPath = new Map<string, RemoteObject>()
  for (const object of input.remote) {
    // Folder markers (zero-byte "dir/" keys made by consoles) are not files: neither kept nor deleted.
    if (!object.key.startsWith(base) || object.key.endsWith('/') || object.key === ownManifest) {
      continue
    }
    remoteByPath.set(object.key.slice(base.length), object)
  }

  const verified = newManifest()
  const knownSha256 = (path: string, object: RemoteObject): string | undefined => {
    const entry = manifestEntry(input.manifest, path)
    return entry !== undefined && entry.etag === object.etag && entry.size === object.size
      ? entry.sha256
      : undefined
  }

  const uploads: PlannedUpload[] = []
  const unchanged: string[] = []
  const localPaths = new Set<string>()
  for (const file of input.local) {
    localPaths.add(file.path)
    const key = objectKey(input.prefix, file.path)
    const object = remoteByPath.get(file.path)
    if (object === undefined) {
      uploads.push({ file, key, reason: 'new' })
      continue
    }
    if (input.force) {
      uploads.push({ file, key, reason: 'forced' })
      continue
    }
    if (object.size !== file.size) {
      uploads.push({ file, key, reason: 'modified' })
      continue
    }
    const sha256 = knownSha256(file.path, object)
    if (sha256 !== undefined) {
      if (sha256 === file.sha256) {
        unchanged.push(key)
        verified[file.path] = { sha256, size: object.size, etag: object.etag }
      } else {
        uploads.push({ file, key, reason: 'modified' })
      }
      continue
    }
    if (object.etag === file.md5 || object.etag === file.cliMultipartEtag) {
      unchanged.push(key)
      verified[file.path] = { sha256: file.sha256, size: object.size, etag: object.etag }
      continue
    }
    // Not in the manifest and the ETag proves nothing (SSE-KMS, another uploader): the content
    // may or may not differ, so upload; from then on the manifest knows this object.
    uploads.push({ file, key, reason: 'unverified' })
  }

  const deletes: PlannedDelete[] = []
  for (const [path, object] of remoteByPath) {
    if (localPaths.has(path)) continue
    if (input.deleteExtraneous) {
      deletes.push({ key: object.key, size: object.size })
    } else {
      const sha256 = knownSha256(path, object)
      if (sha256 !== undefined) verified[path] = { sha256, size: object.size, etag: object.etag }
    }
  }
  deletes.sort((a, b) => byText(a.key, b.key))

  return { uploads, deletes, unchanged, remoteCount: remoteByPath.size, verified }
}

/**
 * Refuses a deletion that is more likely a mistake than an intent: wiping more than
 * `maxDeletePercent` of the prefix (a wrong `source`, a bad `include`). Returns the refusal text.
 */
export function deleteRefusal(
  plan: SyncPlan,
  maxDeletePercent: number,
  uri: string
): string | undefined {
  if (plan.deletes.length === 0 || maxDeletePercent >= 100) return undefined
  // Whole numbers, so that 7 of 100 at 7% is not refused by floating-point rounding.
  if (plan.deletes.length * 100 <= maxDeletePercent * plan.remoteCount) return undefined
  const percent = (plan.deletes.length / plan.remoteCount) * 100
  return (
    `Refusing to delete ${plan.deletes.length} of ${plan.remoteCount} objects under ${uri} ` +
    `(${percent.toFixed(0)}%, more than max-delete-percent: ${maxDeletePercent}). ` +
    `Nothing was changed. Check source, include and exclude; if the deletion is intended, ` +
    `raise max-delete-percent (100 allows any share) or set delete: false.`
  )
}

/** The manifest after a run: entries verified by the plan plus the objects just uploaded. */
export function nextManifest(
  plan: SyncPlan,
  uploaded: readonly (ManifestEntry & { path: string })[]
): Manifest {
  const next = newManifest()
  for (const path of Object.keys(plan.verified)) next[path] = plan.verified[path] as ManifestEntry
  for (const { path, sha256, size, etag } of uploaded) next[path] = { sha256, size, etag }
  return sortManifest(next)
}

export function sortManifest(manifest: Manifest): Manifest {
  const sorted = newManifest()
  for (const path of Object.keys(manifest).sort(byText)) {
    sorted[path] = manifest[path] as ManifestEntry
  }
  return sorted
}

/** An object left unchanged by the plan whose bytes in the bucket are not the file's. */
export interface Drift {
  key: string
  file: HashedFile
  /** What was found instead, for the warning and the summary. */
  found: string
}

/**
 * The plan once `verify` has found drift: each drifted object is uploaded again (reason `drift`)
 * instead of being left as it is, and the manifest no longer vouches for it until it is.
 */
export function withDrift(plan: SyncPlan, drift: readonly Drift[]): SyncPlan {
  if (drift.length === 0) return plan
  const drifted = new Set(drift.map((d) => d.key))
  const verified = newManifest()
  for (const [path, entry] of Object.entries(plan.verified)) {
    if (!drift.some((d) => d.file.path === path)) verified[path] = entry
  }
  return {
    ...plan,
    uploads: [
      ...plan.uploads,
      ...drift.map(({ key, file }) => ({ file, key, reason: 'drift' as const }))
    ],
    unchanged: plan.unchanged.filter((key) => !drifted.has(key)),
    verified
  }
}

/**
 * Whether two manifests record the same entries, in whatever order. Compared entry by entry: at
 * 100,000 files, sorted copies and their JSON would briefly double the run's memory.
 */
export function sameManifest(a: Manifest, b: Manifest): boolean {
  const paths = Object.keys(a)
  if (paths.length !== Object.keys(b).length) return false
  return paths.every((path) => {
    const mine = a[path] as ManifestEntry
    const theirs = manifestEntry(b, path)
    return (
      theirs !== undefined &&
      theirs.sha256 === mine.sha256 &&
      theirs.size === mine.size &&
      theirs.etag === mine.etag
    )
  })
}
