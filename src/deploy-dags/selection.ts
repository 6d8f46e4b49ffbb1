import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, readdir, realpath, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import picomatch from 'picomatch'
import { byText } from '../common/compare.js'
import { AWS_CLI_PART_SIZE } from './constants.js'

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
 * Lists the files under `root` that pass `filter`, sorted by path. Symbolic links are followed,
 * as `aws s3 sync` does: two links to one folder deploy it twice, under each name. Only a link
 * back into a folder that is being walked (a loop) is skipped.
 */
export async function scanSource(root: string, filter: PathFilter): Promise<LocalFile[]> {
  const files: LocalFile[] = []
  const walk = async (dir: string, ancestors: ReadonlySet<string>): Promise<void> => {
    const real = await realpath(dir)
    if (ancestors.has(real)) return
    const inside = new Set(ancestors).add(real)
    const entries = await readdir(dir, { withFileTypes: true })
    for (const entry of entries) {
      const absolutePath = join(dir, entry.name)
      let isDirectory = entry.isDirectory()
      let isFile = entry.isFile()
      if (entry.isSymbolicLink()) {
        const target = await stat(absolutePath).catch(() => undefined)
        if (target === undefined) continue // dangling link: nothing to upload
        isDirectory = target.isDirectory()
        isFile = target.isFile()
      }
      if (isDirectory) {
        await walk(absolutePath, inside)
      } else if (isFile) {
        const path = relative(root, absolutePath).split(sep).join('/')
        if (!filter(path)) continue
        files.push({ path, absolutePath, size: (await stat(absolutePath)).size })
      }
    }
  }
  await walk(root, new Set())
  return files.sort((a, b) => byText(a.path, b.path))
}

/** Hashes a file's content: SHA-256 for identity, MD5 to recognise plain single-part ETags. */
export async function hashFile(file: LocalFile): Promise<HashedFile> {
  const sha256 = createHash('sha256')
  const md5 = createHash('md5')
  // Up to one aws-cli part, reading whole is cheapest; larger files are streamed.
  if (file.size <= AWS_CLI_PART_SIZE) {
    const content = await readFile(file.absolutePath)
    sha256.update(content)
    md5.update(content)
    return { ...file, size: content.length, sha256: sha256.digest('hex'), md5: md5.digest('hex') }
  }
  // Large files: stream, and also compute the multipart ETag `aws s3 sync` would have produced,
  // so an object it uploaded earlier is recognised without re-uploading it.
  const partDigests: Buffer[] = []
  let part = createHash('md5')
  let partFill = 0
  let size = 0
  for await (const chunk of createReadStream(file.absolutePath, { highWaterMark: 1024 * 1024 })) {
    const buffer = chunk as Buffer
    sha256.update(buffer)
    md5.update(buffer)
    size += buffer.length
    let offset = 0
    while (offset < buffer.length) {
      const take = Math.min(AWS_CLI_PART_SIZE - partFill, buffer.length - offset)
      part.update(buffer.subarray(offset, offset + take))
      partFill += take
      offset += take
      if (partFill === AWS_CLI_PART_SIZE) {
        partDigests.push(part.digest())
        part = createHash('md5')
        partFill = 0
      }
    }
  }
  if (partFill > 0) partDigests.push(part.digest())
  const hashed: HashedFile = {
    ...file,
    size,
    sha256: sha256.digest('hex'),
    md5: md5.digest('hex')
  }
  if (size > AWS_CLI_PART_SIZE) {
    const combined = createHash('md5').update(Buffer.concat(partDigests)).digest('hex')
    hashed.cliMultipartEtag = `${combined}-${partDigests.length}`
  }
  return hashed
}
