import { isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import { type Stats } from 'node:fs'
import { open, readdir, readlink, realpath, stat } from 'node:fs/promises'
import { join, sep } from 'node:path'
import picomatch from 'picomatch'
import { byText } from '../common/compare.js'
import { forEachBounded } from '../common/concurrency.js'
import { InputError, SafetyError } from '../common/errors.js'
import { escapeBytes, escapeText, hasControlCharacter } from '../common/untrusted.js'
import { AWS_CLI_PART_SIZE, Input } from './constants.js'

/** A local file chosen for deployment, identified by its path relative to the source folder. */
export interface LocalFile {
  /** Relative path with `/` separators, also the object key below the prefix. */
  path: string
  absolutePath: string
  size: number
}

export interface HashedFile extends LocalFile {
  sha256: string
  md5: string
  /** The ETag `aws s3 sync` would have produced for a multipart upload, when the file is large. */
  cliMultipartEtag?: string
}

/**
 * Turns one glob line into a matcher pattern. Conventions follow .gitignore, which DAG repositories
 * already use: a pattern without `/` matches a name at any depth (`*.pyc`), a trailing `/` matches
 * a folder and everything in it (`__pycache__/`), a leading `/` anchors at the source folder.
 * Returns an error sentence for a pattern that cannot be right.
 */
export function normalizePattern(line: string): { pattern: string } | { error: string } {
  let pattern = line.trim()
  if (pattern.includes('\\')) return { error: 'use / as the path separator, not \\' }
  if (pattern.startsWith('!')) return { error: 'negation (!) is not supported; use exclude' }
  const segments = pattern.split('/')
  if (segments.includes('..') || segments.includes('.')) {
    return { error: "'.' and '..' segments are not allowed; patterns are relative to source" }
  }
  const unbalanced = unbalancedBracket(pattern)
  if (unbalanced) return { error: `unbalanced '${unbalanced}'` }
  const folder = pattern.endsWith('/')
  if (folder) pattern = pattern.replace(/\/+$/, '')
  const anchored = pattern.startsWith('/') || pattern.includes('/')
  pattern = pattern.replace(/^\/+/, '')
  if (pattern === '') return { error: 'empty pattern' }
  if (!anchored) pattern = `**/${pattern}`
  if (folder) pattern = `${pattern}/**`
  return { pattern }
}

function unbalancedBracket(pattern: string): string | undefined {
  const pairs: Record<string, string> = { '[': ']', '{': '}', '(': ')' }
  const closers = new Set(Object.values(pairs))
  const stack: string[] = []
  for (const char of pattern) {
    if (pairs[char] !== undefined) stack.push(char)
    else if (closers.has(char)) {
      const open = stack.pop()
      if (open === undefined || pairs[open] !== char) return char
    }
  }
  return stack.pop()
}

/**
 * Normalises glob lines; throws a PatternError naming the first line that cannot be right. As in
 * .gitignore, a pattern that names a folder also covers everything inside it (`tests`).
 */
export function parsePatterns(lines: readonly string[]): string[] {
  return lines.flatMap((line, index) => {
    const result = normalizePattern(line)
    if ('error' in result) throw new PatternError(index + 1, line, result.error)
    const { pattern } = result
    return pattern.endsWith('/**') ? [pattern] : [pattern, `${pattern}/**`]
  })
}

export class PatternError extends Error {
  constructor(
    readonly position: number,
    readonly line: string,
    readonly reason: string
  ) {
    super(`pattern ${position} '${line}' is not valid: ${reason}`)
  }
}

export type PathFilter = (path: string) => boolean

/**
 * Builds the selection predicate from normalised patterns (see parsePatterns). Dotfiles are
 * ordinary files: `.airflowignore` must reach the workers, and the helper modules it lists are
 * still imported by DAGs, so they are deployed too.
 */
export function compileFilter(include: readonly string[], exclude: readonly string[]): PathFilter {
  const options = { dot: true }
  const included = include.length === 0 ? () => true : picomatch([...include], options)
  const excluded = exclude.length === 0 ? () => false : picomatch([...exclude], options)
  return (path) => included(path) && !excluded(path)
}

/**
 * Builds the test for a folder that `exclude` covers whole: every path below it is excluded, so
 * nothing in it can ever be deployed and the scan need not enter it. parsePatterns gives each
 * pattern P as P and P/**, and folder patterns end in /**; such a pattern X/** covers every child
 * of a folder that X matches, or of a folder below one. A pattern like `dir/*.py` covers some
 * children of `dir`, not all, so `dir` is still walked and its files are filtered one by one.
 */
export function compileFolderExclusion(exclude: readonly string[]): (folder: string) => boolean {
  const stems = exclude
    .filter((pattern) => pattern.endsWith('/**'))
    .map((pattern) => pattern.slice(0, -'/**'.length))
  if (stems.length === 0) return () => false
  const covers = picomatch(stems, { dot: true })
  return (folder) => {
    const segments = folder.split('/')
    return segments.some((_, index) => covers(segments.slice(0, index + 1).join('/')))
  }
}

/** What the scan deploys and how far it may follow symbolic links; see scanSource. */
export interface ScanOptions {
  /** Follow links whose target is outside the source folder (a shared package in a monorepo). */
  followLinksOutside: boolean
  /** A folder that exclude covers whole (see compileFolderExclusion); never entered. */
  folderExcluded?: (folder: string) => boolean
}

/** Stats in flight while scanning: more than the threads that serve them (4 by default). */
const STATS_IN_FLIGHT = 32

/**
 * Lists the files under `root` that pass `filter`, sorted by path, after checking every entry
 * that will be deployed or walked into. Nothing is read from a file here, so the checks run
 * before any request and cost one directory read per folder plus a stat per link.
 *
 * An entry that can never be deployed is neither checked nor walked: a file that `filter`
 * rejects, a folder that `folderExcluded` covers, and a link standing for either, so `exclude`
 * can keep a virtualenv or a stray bytecode link out of the way. A name that is not valid UTF-8
 * is matched in its lossy decoding.
 *
 * A name that is not valid UTF-8 or holds a control character is refused: the object key would
 * not be the file's name, and a line break in a name printed to the log starts a workflow command.
 * A symbolic link is followed only when its real target is inside the real source folder (unless
 * `followLinksOutside`), and never to a device, FIFO or socket or into /proc, /sys or /dev: a link
 * in a merged pull request could otherwise publish any file the runner can read, such as
 * /proc/self/environ with the job's credentials. No folder whose real path is under /proc, /sys or
 * /dev is walked, however it was reached. A dangling link is refused too, since the file it stands
 * for would silently be missing from the bucket. Two links to one folder deploy it twice, under
 * each name; a link back into a folder being walked (a loop) is skipped.
 */
export async function scanSource(
  root: string,
  filter: PathFilter,
  options: ScanOptions = { followLinksOutside: false }
): Promise<LocalFile[]> {
  const folderExcluded = options.folderExcluded ?? (() => false)
  const realRoot = await realpath(root)
  const found: Omit<LocalFile, 'size'>[] = []
  const walk = async (dir: string, relativeDir: string, ancestors: ReadonlySet<string>) => {
    const real = await realpath(dir)
    refuseSystemFolder(relativeDir, real)
    if (ancestors.has(real)) return
    const inside = new Set(ancestors).add(real)
    // Raw bytes, so that a name which is not UTF-8 is seen as it is instead of being replaced.
    const entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' })
    const prefix = relativeDir === '' ? '' : `${relativeDir}/`
    for (const entry of entries) {
      const lossyPath = prefix + entry.name.toString('utf8')
      let isDirectory = entry.isDirectory()
      let isFile = entry.isFile()
      if (entry.isSymbolicLink()) {
        // Only to learn what the link stands for; it is checked below if it will be used. A
        // dangling link, or one to anything but a folder, would be deployed as a file.
        const bytes = Buffer.concat([Buffer.from(dir.endsWith(sep) ? dir : dir + sep), entry.name])
        isDirectory = (await stat(bytes).catch(() => undefined))?.isDirectory() ?? false
        isFile = !isDirectory
      }
      const wanted = isDirectory ? !folderExcluded(lossyPath) : isFile && filter(lossyPath)
      if (!wanted) continue
      const path = checkedName(relativeDir, entry.name)
      const absolutePath = join(dir, entry.name.toString('utf8'))
      if (entry.isSymbolicLink()) {
        const target = await checkedLink(path, absolutePath, realRoot, options)
        isDirectory = target.isDirectory()
      }
      if (isDirectory) {
        await walk(absolutePath, path, inside)
      } else {
        found.push({ path, absolutePath })
      }
    }
  }
  await walk(root, '', new Set())
  // The checks above ran before this. The sizes are read a few at a time: a stat per file all at
  // once holds a promise, a request and a Stats object for each, some 2 KB a file at 100,000.
  const files: LocalFile[] = new Array(found.length)
  const { failures } = await forEachBounded(
    found.map((file, index) => ({ file, index })),
    STATS_IN_FLIGHT,
    async ({ file, index }) => {
      files[index] = { ...file, size: (await stat(file.absolutePath)).size }
    }
  )
  if (failures.length > 0) throw failures[0]?.error
  return files.sort((a, b) => byText(a.path, b.path))
}

/** The entry's path relative to source, once its name is known to be a usable object key. */
function checkedName(relativeDir: string, name: Buffer): string {
  const prefix = relativeDir === '' ? '' : `${relativeDir}/`
  if (!isUtf8(name)) {
    throw new InputError(
      Input.Source,
      `the name of '${escapeText(prefix)}${escapeBytes(name)}' is not valid UTF-8 (shown with \\xNN for the stray bytes). ` +
        'Object keys are UTF-8; rename it. Nothing was deployed.'
    )
  }
  const text = name.toString('utf8')
  if (hasControlCharacter(text)) {
    throw new InputError(
      Input.Source,
      `the name of '${escapeText(prefix + text)}' (shown escaped) holds a control character or line break. ` +
        'Such a name cannot be shown safely in a log; rename it. Nothing was deployed.'
    )
  }
  return prefix + text
}

const SYSTEM_FOLDERS = ['/proc', '/sys', '/dev']

/** Which of /proc, /sys and /dev holds `realPath`, if any; never deployed from or walked. */
export function systemFolderOf(realPath: string): string | undefined {
  return SYSTEM_FOLDERS.find((folder) => within(folder, realPath))
}

/** Whether `path` is `folder` or below it; both real paths. */
export const within = (folder: string, path: string) =>
  path === folder || path.startsWith(folder.endsWith(sep) ? folder : folder + sep)

function refuseSystemFolder(relativeDir: string, real: string): void {
  const system = systemFolderOf(real)
  if (system === undefined) return
  const shown = relativeDir === '' ? 'source' : `the folder '${escapeText(relativeDir)}'`
  throw new SafetyError(
    `source: ${shown} is ${escapeText(real)}, under ${system}. Folders under /proc, /sys and /dev are never deployed: they expose the runner's environment and devices. Nothing was deployed.`
  )
}

/** What a link's real target is, once it is known to be a target the link may have. */
async function checkedLink(
  path: string,
  absolutePath: string,
  realRoot: string,
  options: ScanOptions
): Promise<Stats> {
  const shownTarget = async () =>
    escapeBytes(await readlink(absolutePath, { encoding: 'buffer' }).catch(() => Buffer.from('?')))
  const refuse = async (what: string, advice: string) =>
    new SafetyError(
      `source: the symbolic link '${escapeText(path)}' points to '${await shownTarget()}', ${what}. ${advice} Nothing was deployed.`
    )
  let target: string
  let info: Stats
  try {
    target = await realpath(absolutePath)
    info = await stat(target)
  } catch {
    throw await refuse(
      'which does not exist (or loops)',
      'A DAG it stands for would be missing from the bucket; fix or remove the link.'
    )
  }
  const system = systemFolderOf(target)
  if (system !== undefined) {
    throw await refuse(
      `which is under ${system}`,
      `Links into /proc, /sys and /dev are always refused: they expose the runner's environment and devices.`
    )
  }
  if (!info.isFile() && !info.isDirectory()) {
    throw await refuse(
      `which is ${specialKind(info)}`,
      'Only regular files and folders are deployed; links to anything else are always refused.'
    )
  }
  if (!options.followLinksOutside && !within(realRoot, target)) {
    throw await refuse(
      `outside the source folder (real path ${escapeText(target)})`,
      `A link out of source can publish any file the runner can read. Copy the file in, or set ${Input.FollowSymlinksOutsideSource}: true if the link brings in a shared folder on purpose.`
    )
  }
  return info
}

function specialKind(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO'
  if (info.isSocket()) return 'a socket'
  if (info.isCharacterDevice()) return 'a character device'
  if (info.isBlockDevice()) return 'a block device'
  return 'not a regular file'
}

/** How much of a file hashFile reads at a time. */
export const HASH_READ_SIZE = 256 * 1024

/**
 * Hashes a file's content: SHA-256 for identity, MD5 to recognise plain single-part ETags, and for
 * a file above one aws-cli part the multipart ETag `aws s3 sync` would have produced, so an object
 * it uploaded earlier is recognised without re-uploading it. The content goes through `scratch`,
 * which the caller may reuse from file to file: 100,000 files then allocate no buffer each.
 */
export async function hashFile(
  file: LocalFile,
  scratch: Buffer<ArrayBuffer> = Buffer.allocUnsafe(HASH_READ_SIZE)
): Promise<HashedFile> {
  const sha256 = createHash('sha256')
  const md5 = createHash('md5')
  const multipart = file.size > AWS_CLI_PART_SIZE
  const partDigests: Buffer[] = []
  let part = createHash('md5')
  let partFill = 0
  let size = 0
  const handle = await open(file.absolutePath, 'r')
  try {
    for (;;) {
      const { bytesRead } = await handle.read(scratch, 0, scratch.length, null)
      if (bytesRead === 0) break
      const chunk = scratch.subarray(0, bytesRead)
      sha256.update(chunk)
      md5.update(chunk)
      size += bytesRead
      let offset = 0
      while (multipart && offset < chunk.length) {
        const take = Math.min(AWS_CLI_PART_SIZE - partFill, chunk.length - offset)
        part.update(chunk.subarray(offset, offset + take))
        partFill += take
        offset += take
        if (partFill === AWS_CLI_PART_SIZE) {
          partDigests.push(part.digest())
          part = createHash('md5')
          partFill = 0
        }
      }
    }
  } finally {
    await handle.close()
  }
  if (partFill > 0) partDigests.push(part.digest())
  const hashed: HashedFile = {
    ...file,
    size,
    sha256: sha256.digest('hex'),
    md5: md5.digest('hex')
  }
  if (multipart && size > AWS_CLI_PART_SIZE) {
    const combined = createHash('md5').update(Buffer.concat(partDigests)).digest('hex')
    hashed.cliMultipartEtag = `${combined}-${partDigests.length}`
  }
  return hashed
}
