import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, type Dirent } from 'node:fs'
import {
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  rmdir,
  stat,
  unlink,
  type FileHandle
} from 'node:fs/promises'
import { isAbsolute, posix } from 'node:path'
import { forEachBounded } from '../common/concurrency.js'
import { errorMessage } from '../common/errors.js'
import { listUnderPrefix } from '../common/s3-listing.js'
import { escapeBytes, escapeText } from '../common/untrusted.js'
import { MANIFEST_NAME } from '../deploy-dags/constants.js'
import { objectKey } from '../deploy-dags/plan.js'
import {
  FAILED_KEYS_REPORTED,
  FOLDER_IN_THE_WAY,
  NOT_STARTED,
  OUTSIDE,
  SyncLog,
  TAMPERED,
  TEMP_PREFIX,
  TEMP_SUFFIX,
  downloadVerdict,
  failureReason,
  isExtraneous,
  isInside,
  isTemporaryName,
  needsDownload,
  planDownloads,
  readManifest,
  selectObjects,
  shown,
  unsafePathReason,
  type PlannedDownload
} from './efs-plan.js'
import type { SyncReport } from './sync-report.js'
import { treeDigest, type TreeDigest } from './tree.js'

// EFS mode: the workers run on ECS/Fargate and mount their DAG folder from EFS, so the function
// (mounting the same access point) converges that folder itself, with infra/worker/sync-dags.sh's
// rules: content decides, files appear whole, the manifest vouches for bytes, nothing is written
// outside the folder. There is no lock: the function runs with reserved concurrency 1 in EFS mode
// (the template sets it), so the temporary files a run finds are those of an interrupted run.

export interface ConvergeOptions {
  s3: S3Client
  bucket: string
  /** '' for the bucket root, else a folder without surrounding slashes. */
  prefix: string
  /** The DAG folder on the mounted file system, an absolute path. */
  folder: string
  /** Paths relative to the prefix to report the SHA-256 of (null when absent). */
  reportPaths: readonly string[]
  /** Epoch ms: no download starts after it; what is left counts as failed. */
  deadlineMs?: number
  /** Downloads in flight, 16 unless given. */
  concurrency?: number
}

export interface ConvergeOutcome {
  report: SyncReport
  /** One line per change, capped, then a summary line; foreign names escaped. */
  output: string
  ok: boolean
  /** One line, when ok is false. */
  reason?: string
}

const DEFAULT_CONCURRENCY = 16
const NOT_A_FILE = 'not-a-file'
/** Stands for a folder that could not be read to the end: equal to no manifest's digest. */
const UNREADABLE_TREE: TreeDigest = { files: 0, sha256: '' }

type ObjectOutcome =
  | { kind: 'unchanged' }
  | { kind: 'downloaded' }
  | { kind: 'failed'; reason: string; notStarted?: boolean }

interface Run {
  options: ConvergeOptions
  folder: string
  log: SyncLog
  counts: { downloaded: number; deleted: number; unchanged: number }
  failedKeys: string[]
  notStarted: number
  /** SHA-256 of the files this run hashed or wrote, so the tree digest reads each file once. */
  known: Map<string, string>
}

export async function convergeFolder(options: ConvergeOptions): Promise<ConvergeOutcome> {
  const folder = checkedOptions(options)
  const run: Run = {
    options,
    folder,
    log: new SyncLog(),
    counts: { downloaded: 0, deleted: 0, unchanged: 0 },
    failedKeys: [],
    notStarted: 0,
    known: new Map()
  }
  let fatal: string | undefined
  try {
    fatal = await converge(run)
  } catch (error) {
    fatal = `unexpected error: ${errorText(error)}`
  }

  const hashes = new Map<string, string | null>()
  let tree = UNREADABLE_TREE
  try {
    for (const path of options.reportPaths) {
      if (path === '') continue
      const hash =
        unsafePathReason(path) === undefined ? await localFileHash(`${folder}/${path}`) : undefined
      hashes.set(path, hash ?? null)
    }
    tree = await folderTree(folder, run.known)
  } catch (error) {
    fatal ??= `unexpected error: ${errorText(error)}`
  }

  const report: SyncReport = {
    ...run.counts,
    failed: run.failedKeys.length,
    failedKeys: run.failedKeys.slice(0, FAILED_KEYS_REPORTED),
    hashes,
    tree
  }
  const output = run.log.text(report)
  const reason = fatal ?? failureReason(run.failedKeys, run.notStarted, options.deadlineMs)
  return reason === undefined ? { report, output, ok: true } : { report, output, ok: false, reason }
}

/** The folder without a trailing slash, once the options are ones a sync can run with. */
function checkedOptions(options: ConvergeOptions): string {
  if (options.bucket === '') throw new Error('bucket is empty; give the DAG bucket')
  if (options.prefix.startsWith('/') || options.prefix.endsWith('/')) {
    throw new Error(
      `prefix '${escapeText(options.prefix)}' must be '' for the bucket root, or a folder without leading or trailing /`
    )
  }
  if (!isAbsolute(options.folder)) {
    throw new Error(`folder '${escapeText(options.folder)}' must be an absolute path`)
  }
  const folder = options.folder.replace(/\/+$/, '')
  if (folder === '') throw new Error('folder must not be /')
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new Error(`concurrency must be a whole number of 1 or more, not ${concurrency}`)
  }
  return folder
}

/** Runs the sync; returns why the run had to stop, when it did. */
async function converge(run: Run): Promise<string | undefined> {
  const { s3, bucket, prefix } = run.options
  await mkdir(run.folder, { recursive: true })
  await removeStaleTemporaries(run)

  let keys: string[]
  try {
    keys = (await listUnderPrefix(s3, bucket, prefix)).map((object) => object.key)
  } catch (error) {
    const where = escapeText(`s3://${bucket}/${prefix === '' ? '' : `${prefix}/`}`)
    return `cannot list ${where}: ${errorText(error)}`
  }
  const { objects, refused } = selectObjects(keys, prefix)
  for (const { key, reason } of refused) {
    run.failedKeys.push(key)
    run.log.detail(`refused the key ${shown(key)}: ${reason}`)
  }

  const reading = readManifest(await manifestBytes(s3, bucket, prefix))
  // Without the manifest nothing says what the deploy holds: a wrong prefix, or a bucket that
  // deploy-dags never wrote, would otherwise turn into deleting every DAG in the folder.
  if (reading.manifest === undefined) {
    const where = escapeText(`s3://${bucket}/${objectKey(prefix, MANIFEST_NAME)}`)
    return `no manifest at ${where} (${reading.note}); nothing was changed: deploy the DAGs with deploy-dags first`
  }

  const realFolder = await realpath(run.folder)
  const plan = planDownloads(objects, reading.manifest)
  const outcomes = new Map<string, ObjectOutcome>()
  const finished = new Map<string, Promise<unknown>>()
  const { failures } = await forEachBounded(
    plan,
    run.options.concurrency ?? DEFAULT_CONCURRENCY,
    async (download) => {
      const settled = (async () => {
        await Promise.all(download.after.map((path) => finished.get(path)))
        outcomes.set(download.path, await syncObject(run, realFolder, download))
      })()
      finished.set(
        download.path,
        settled.catch(() => undefined)
      )
      await settled
    }
  )
  // Reported in the script's order, whatever order the downloads ended in.
  for (const { path, key } of plan) {
    const outcome = outcomes.get(path)
    if (outcome === undefined) continue
    if (outcome.kind === 'unchanged') run.counts.unchanged += 1
    else if (outcome.kind === 'downloaded') {
      run.counts.downloaded += 1
      run.log.detail(`downloaded ${shown(path)}`)
    } else {
      run.failedKeys.push(key)
      if (outcome.notStarted) run.notStarted += 1
      run.log.detail(`failed ${shown(key)}: ${outcome.reason}`)
    }
  }
  if (failures[0] !== undefined) throw failures[0].error

  // A run that refused or failed a key still deletes: a refused key is never a file here, and a
  // failed one keeps its old file.
  await removeExtraneous(run, objects)
  return undefined
}

/** The manifest object's bytes, or undefined when it cannot be read (then nothing vouches). */
async function manifestBytes(
  s3: S3Client,
  bucket: string,
  prefix: string
): Promise<Uint8Array | undefined> {
  try {
    const object = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: objectKey(prefix, MANIFEST_NAME) })
    )
    return await object.Body?.transformToByteArray()
  } catch {
    return undefined
  }
}

async function syncObject(
  run: Run,
  realFolder: string,
  { path, key, expected }: PlannedDownload
): Promise<ObjectOutcome> {
  const local = `${run.folder}/${path}`
  const current = await localFileHash(local)
  if (current !== undefined) run.known.set(path, current)
  if (!needsDownload(expected, current)) return { kind: 'unchanged' }
  const { deadlineMs } = run.options
  if (deadlineMs !== undefined && Date.now() > deadlineMs) {
    return { kind: 'failed', reason: NOT_STARTED, notStarted: true }
  }

  const directory = posix.dirname(local)
  let temporary: { path: string; handle: FileHandle }
  try {
    // A link in the way must not make this write, or the folders it creates, land elsewhere.
    await refuseOutside(realFolder, directory)
    await mkdir(directory, { recursive: true })
    if ((await lstat(local).catch(() => undefined))?.isDirectory()) {
      throw new Refusal(FOLDER_IN_THE_WAY)
    }
    temporary = await createTemporary(directory)
  } catch (error) {
    return { kind: 'failed', reason: errorText(error) }
  }
  try {
    // The workers write to this file system too: a link swapped in since the check above could
    // have put the (still empty) temporary file elsewhere, so its own place is checked as well.
    if (!isInside(realFolder, await realpath(temporary.path))) throw new Refusal(OUTSIDE)
    const actual = await download(run.options, key, temporary.handle)
    const verdict = downloadVerdict(expected, actual, current)
    if (verdict === 'refuse') throw new Refusal(TAMPERED)
    if (verdict === 'unchanged') {
      await temporary.handle.close()
      await unlink(temporary.path)
      return { kind: 'unchanged' }
    }
    await temporary.handle.chmod(0o644)
    // Closed before the rename: on NFS the bytes reach the server on close, so other clients
    // never see the new name with partial content.
    await temporary.handle.close()
    await rename(temporary.path, local)
    run.known.set(path, actual)
    return { kind: 'downloaded' }
  } catch (error) {
    await temporary.handle.close().catch(() => undefined)
    await unlink(temporary.path).catch(() => undefined)
    return { kind: 'failed', reason: errorText(error) }
  }
}

/** A key's file refused for a reason of this sync's own (shown as is, not as an error). */
class Refusal extends Error {}

async function refuseOutside(realFolder: string, directory: string): Promise<void> {
  let existing = directory
  while (!(await lexists(existing))) existing = posix.dirname(existing)
  let real: string
  try {
    real = await realpath(existing)
  } catch (error) {
    throw new Refusal(`its folder cannot be resolved (${errorText(error)})`)
  }
  if (!isInside(realFolder, real)) throw new Refusal(OUTSIDE)
}

async function lexists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch {
    return false
  }
}

/** A new, empty file only this run knows of, in `directory`; O_EXCL never follows a link. */
async function createTemporary(directory: string): Promise<{ path: string; handle: FileHandle }> {
  const path = `${directory}/${TEMP_PREFIX}${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`
  return { path, handle: await open(path, 'wx', 0o600) }
}

/** Writes the object's bytes to `handle` and returns their SHA-256. */
async function download(
  { s3, bucket }: ConvergeOptions,
  key: string,
  handle: FileHandle
): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  const hash = createHash('sha256')
  const body = object.Body as AsyncIterable<Uint8Array> | undefined
  for await (const chunk of body ?? []) {
    hash.update(chunk)
    let written = 0
    while (written < chunk.length) {
      written += (await handle.write(chunk, written, chunk.length - written)).bytesWritten
    }
  }
  return hash.digest('hex')
}

/** SHA-256 of a regular file (not a link), or undefined. */
async function localFileHash(path: string): Promise<string | undefined> {
  try {
    if (!(await lstat(path)).isFile()) return undefined
    return await sha256Of(path)
  } catch {
    return undefined
  }
}

async function sha256Of(path: string | Buffer): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

// The folder is walked by the bytes of its names: a name that is not UTF-8 (written by something
// other than a sync) must still be found and removed, not misread into a name that is not there.

interface Entry {
  /** The full path, as bytes. */
  full: Buffer
  /** The path below the folder, as bytes. */
  relative: Buffer
  dirent: Dirent<Buffer>
}

const SLASH = Buffer.from('/')
const join = (parent: Buffer, name: Buffer): Buffer =>
  parent.length === 0 ? name : Buffer.concat([parent, SLASH, name])

/** The entries of a folder, in name order; none when it cannot be read (as os.walk does). */
async function entries(full: Buffer, relative: Buffer): Promise<Entry[]> {
  let dirents: Dirent<Buffer>[]
  try {
    dirents = await readdir(full, { withFileTypes: true, encoding: 'buffer' })
  } catch {
    return []
  }
  return dirents
    .sort((a, b) => Buffer.compare(a.name, b.name))
    .map((dirent) => ({
      full: join(full, dirent.name),
      relative: join(relative, dirent.name),
      dirent
    }))
}

/** The path below the folder as text, or undefined when it is not UTF-8 (no key can name it). */
function pathText(relative: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(relative)
  } catch {
    return undefined
  }
}

/** True for a link that leads to a folder: the script's walk lists it with the folders. */
async function isFolderLink(entry: Entry): Promise<boolean> {
  if (!entry.dirent.isSymbolicLink()) return false
  return (await stat(entry.full).catch(() => undefined))?.isDirectory() ?? false
}

/** Temporary files left by an interrupted run; nothing else runs a sync of this folder. */
async function removeStaleTemporaries(run: Run): Promise<void> {
  const visit = async (full: Buffer, relative: Buffer): Promise<void> => {
    for (const entry of await entries(full, relative)) {
      if (entry.dirent.isDirectory()) await visit(entry.full, entry.relative)
      else if (
        isTemporaryName(entry.dirent.name.toString('latin1')) &&
        !(await isFolderLink(entry))
      ) {
        await unlink(entry.full)
        run.log.detail(`removed the stale temporary file "${escapeBytes(entry.relative)}"`)
      }
    }
  }
  await visit(Buffer.from(run.folder), Buffer.alloc(0))
}

/** Deletes every entry no object stands for, then the folders that leaves empty. */
async function removeExtraneous(run: Run, objects: ReadonlyMap<string, string>): Promise<void> {
  const visit = async (full: Buffer, relative: Buffer): Promise<void> => {
    const found = await entries(full, relative)
    const folders = found.filter((entry) => entry.dirent.isDirectory())
    for (const folder of folders) await visit(folder.full, folder.relative)
    for (const entry of found) {
      if (!entry.dirent.isDirectory() && isExtraneous(pathText(entry.relative), objects)) {
        await unlink(entry.full)
        run.counts.deleted += 1
        run.log.detail(`deleted "${escapeBytes(entry.relative)}"`)
      }
    }
    // A folder still holding something stays; the error says only that.
    for (const folder of folders) await rmdir(folder.full).catch(() => undefined)
  }
  await visit(Buffer.from(run.folder), Buffer.alloc(0))
}

/**
 * The digest of everything the folder holds, as the script computes it: each entry that is not a
 * folder (a link, even to a folder, or anything but a regular file counts as not-a-file, so no
 * difference hides), by its path below the folder.
 */
async function folderTree(folder: string, known: ReadonlyMap<string, string>): Promise<TreeDigest> {
  const lines: [string, string][] = []
  const visit = async (full: Buffer, relative: Buffer): Promise<void> => {
    for (const entry of await entries(full, relative)) {
      if (entry.dirent.isDirectory()) {
        await visit(entry.full, entry.relative)
        continue
      }
      // A name that is not UTF-8 remains only in a run that failed (its delete, or the listing).
      const path = entry.relative.toString('utf8')
      const digest = entry.dirent.isFile()
        ? (known.get(path) ?? (await sha256Of(entry.full)))
        : NOT_A_FILE
      lines.push([path, digest])
    }
  }
  await visit(Buffer.from(folder), Buffer.alloc(0))
  return treeDigest(lines)
}

/** An error as one line: this sync's own refusals as they are, others with their name, escaped. */
function errorText(error: unknown): string {
  if (error instanceof Refusal) return error.message
  const name = error instanceof Error && error.name !== 'Error' ? `${error.name}: ` : ''
  return escapeText(`${name}${errorMessage(error)}`)
}
