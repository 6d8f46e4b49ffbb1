import { createReadStream } from 'node:fs'
import { lstat, readFile, readdir, readlink, stat } from 'node:fs/promises'
import { join, posix, relative, sep } from 'node:path'
import { PassThrough, type Readable } from 'node:stream'
import { byText } from '../common/compare.js'

/**
 * A POSIX tar stream (ustar with pax headers for long names) of a file or a folder's content.
 * One stream over one SSH channel is far faster for many small files than one SFTP request per
 * file. Dotfiles are ordinary entries; file modes travel in the headers.
 */
export interface TarEntry {
  /** Path inside the archive, `/`-separated. */
  name: string
  absolutePath: string
  kind: 'file' | 'directory' | 'symlink'
  mode: number
  size: number
  mtime: number
  linkTarget?: string
}

/**
 * The entries of a file or a folder's content, yielded while walking, so the upload streams the
 * first files while the rest of the tree is still being listed.
 */
export async function* walkEntries(localPath: string): AsyncGenerator<TarEntry> {
  const info = await stat(localPath)
  if (info.isFile()) {
    const name = localPath.split(sep).pop()!
    yield {
      name,
      absolutePath: localPath,
      kind: 'file',
      mode: info.mode & 0o7777,
      size: info.size,
      mtime: info.mtimeMs
    }
    return
  }
  async function* walk(dir: string): AsyncGenerator<TarEntry> {
    const children = await readdir(dir, { withFileTypes: true })
    children.sort((a, b) => byText(a.name, b.name))
    for (const child of children) {
      const absolutePath = join(dir, child.name)
      const name = relative(localPath, absolutePath).split(sep).join('/')
      const entry = await lstat(absolutePath)
      const common = { name, absolutePath, mode: entry.mode & 0o7777, mtime: entry.mtimeMs }
      if (entry.isSymbolicLink()) {
        yield { ...common, kind: 'symlink', size: 0, linkTarget: await readlink(absolutePath) }
      } else if (entry.isDirectory()) {
        yield { ...common, kind: 'directory', size: 0 }
        yield* walk(absolutePath)
      } else if (entry.isFile()) {
        yield { ...common, kind: 'file', size: entry.size }
      }
    }
  }
  yield* walk(localPath)
}

export async function collectEntries(localPath: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = []
  for await (const entry of walkEntries(localPath)) entries.push(entry)
  return entries
}

const BLOCK = 512

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0'
}

function header(fields: {
  name: string
  mode: number
  size: number
  mtime: number
  type: string
  linkname?: string
}): Buffer {
  const block = Buffer.alloc(BLOCK)
  block.write(fields.name, 0, 100, 'utf8')
  block.write(octal(fields.mode, 8), 100, 8, 'ascii')
  block.write(octal(0, 8), 108, 8, 'ascii')
  block.write(octal(0, 8), 116, 8, 'ascii')
  block.write(octal(fields.size, 12), 124, 12, 'ascii')
  block.write(octal(Math.floor(fields.mtime / 1000), 12), 136, 12, 'ascii')
  block.write('        ', 148, 8, 'ascii')
  block.write(fields.type, 156, 1, 'ascii')
  if (fields.linkname) block.write(fields.linkname, 157, 100, 'utf8')
  block.write('ustar\0', 257, 6, 'ascii')
  block.write('00', 263, 2, 'ascii')
  let checksum = 0
  for (const byte of block) checksum += byte
  block.write(octal(checksum, 7) + ' ', 148, 8, 'ascii')
  return block
}

/** A pax extended header carrying what ustar cannot: long or non-ASCII paths and link targets. */
function paxHeader(entry: TarEntry): Buffer | undefined {
  const records: string[] = []
  const needsPax = (text: string) => Buffer.byteLength(text) > 99 || /[^\x20-\x7e]/.test(text)
  const record = (key: string, value: string) => {
    const body = ` ${key}=${value}\n`
    let length = Buffer.byteLength(body) + 1
    while (String(length).length + Buffer.byteLength(body) !== length)
      length = String(length).length + Buffer.byteLength(body)
    records.push(`${length}${body}`)
  }
  if (needsPax(entry.name)) record('path', entry.name)
  if (entry.linkTarget !== undefined && needsPax(entry.linkTarget))
    record('linkpath', entry.linkTarget)
  if (records.length === 0) return undefined
  const data = Buffer.from(records.join(''))
  return Buffer.concat([
    header({ name: 'PaxHeader', mode: 0o644, size: data.length, mtime: entry.mtime, type: 'x' }),
    data,
    Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK)
  ])
}

const shortName = (text: string) =>
  Buffer.byteLength(text) > 99 || /[^\x20-\x7e]/.test(text)
    ? posix.basename(text).slice(0, 90)
    : text

/** Bytes gathered before each write: one SSH packet per tiny header would dominate the upload. */
const WRITE_SIZE = 256 * 1024

/** Permission bits only: setuid, setgid and sticky dropped. */
const PERMISSION_BITS = 0o777
/** Permission bits with setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
const MODE_BITS = 0o7777

/**
 * Streams `entries` as a tar archive, reading each file only when its turn comes. Setuid, setgid
 * and sticky bits travel only when asked for: a setuid file from a checkout would otherwise run
 * as its remote owner, root when the deploy user is root.
 */
export function tarStream(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  options: { keepSpecialBits?: boolean } = {}
): Readable {
  const modeMask = options.keepSpecialBits === true ? MODE_BITS : PERMISSION_BITS
  const out = new PassThrough({ highWaterMark: 1024 * 1024 })
  let pending: Buffer[] = []
  let pendingBytes = 0
  const flush = async () => {
    if (pendingBytes === 0) return
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes)
    pending = []
    pendingBytes = 0
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve))
  }
  const push = async (buffer: Buffer) => {
    pending.push(buffer)
    pendingBytes += buffer.length
    if (pendingBytes >= WRITE_SIZE) await flush()
  }
  void (async () => {
    try {
      for await (const entry of entries) {
        const pax = paxHeader(entry)
        if (pax) await push(pax)
        const type = entry.kind === 'file' ? '0' : entry.kind === 'directory' ? '5' : '2'
        const name = shortName(entry.name) + (entry.kind === 'directory' ? '/' : '')
        await push(
          header({
            name,
            mode: entry.mode & modeMask,
            size: entry.kind === 'file' ? entry.size : 0,
            mtime: entry.mtime,
            type,
            ...(entry.linkTarget !== undefined ? { linkname: shortName(entry.linkTarget) } : {})
          })
        )
        if (entry.kind !== 'file') continue
        let written = 0
        if (entry.size <= WRITE_SIZE) {
          // Small files (most of an app tree): one read, no stream to set up per file.
          const content = await readFile(entry.absolutePath)
          written = content.length
          await push(content)
        } else {
          for await (const chunk of createReadStream(entry.absolutePath, {
            highWaterMark: WRITE_SIZE
          })) {
            const buffer = chunk as Buffer
            const take = buffer.subarray(0, Math.max(0, entry.size - written))
            written += take.length
            await push(take)
          }
        }
        if (written !== entry.size) {
          throw new Error(`${entry.absolutePath} changed size while being uploaded`)
        }
        const padding = (BLOCK - (entry.size % BLOCK)) % BLOCK
        if (padding > 0) await push(Buffer.alloc(padding))
      }
      await push(Buffer.alloc(BLOCK * 2))
      await flush()
      out.end()
    } catch (error) {
      out.destroy(error as Error)
    }
  })()
  return out
}
