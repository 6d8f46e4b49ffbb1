import { createHash } from 'node:crypto'
import { lstat, readdir, readFile } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { ZipFile } from 'yazl'
import { escapeText } from '../common/untrusted.js'

/**
 * plugins.zip, built so that the same folder always gives the same bytes. MWAA starts a 10 to 30
 * minute environment update for every new plugins.zip object; a zip made with each checkout's
 * timestamps would differ on every push, so nothing of the checkout but paths and contents
 * reaches the archive: entries in byte order of their paths, one fixed time, one mode.
 */
export interface PluginsZip {
  bytes: Buffer
  /** Paths in the archive, in archive order. */
  entries: string[]
  /** SHA-256 of the bytes, hex. */
  sha256: string
}

/** Python's byte-code caches: rebuilt by Airflow, and different on every machine. */
const LEFT_OUT_FOLDERS = new Set(['__pycache__'])
const LEFT_OUT_SUFFIXES = ['.pyc', '.pyo']

/**
 * The earliest time a zip entry can hold (DOS time starts in 1980). Made of local fields, when
 * the zip is built: the DOS fields are written from local time, so this gives the same bytes in
 * every time zone.
 */
const fixedTime = (): Date => new Date(1980, 0, 1, 0, 0, 0)
const FILE_MODE = 0o100644

/** Why a plugins folder cannot be zipped: names the path and what is allowed. */
export class PluginsFolderError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PluginsFolderError'
  }
}

/** Files under `folder` that go into the zip, as archive paths sorted by their UTF-8 bytes. */
export async function pluginFiles(folder: string): Promise<string[]> {
  const found: string[] = []
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(folder, relative), { withFileTypes: true })
    for (const entry of entries) {
      const path = relative === '' ? entry.name : posix.join(relative, entry.name)
      if (entry.isDirectory()) {
        if (!LEFT_OUT_FOLDERS.has(entry.name)) await walk(path)
      } else if (entry.isFile()) {
        if (!LEFT_OUT_SUFFIXES.some((suffix) => entry.name.endsWith(suffix))) found.push(path)
      } else {
        // A link could carry a file of the runner into the environment, and a device or FIFO has
        // no content to zip: only what the repository holds as files goes in.
        throw new PluginsFolderError(
          `${escapeText(posix.join(folder, path))} is ${entry.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; plugins.zip holds regular files and folders only`
        )
      }
    }
  }
  const root = await lstat(folder).catch(() => undefined)
  if (root === undefined || !root.isDirectory()) {
    throw new PluginsFolderError(`${escapeText(folder)} is not a folder`)
  }
  await walk('')
  return found.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}

/** Zips the folder deterministically (see PluginsZip). */
export async function buildPluginsZip(folder: string): Promise<PluginsZip> {
  const entries = await pluginFiles(folder)
  const zip = new ZipFile()
  const mtime = fixedTime()
  for (const path of entries) {
    zip.addBuffer(await readFile(join(folder, path)), path, {
      mtime,
      mode: FILE_MODE,
      // The UT extra field would store the time in UTC, which differs by time zone from the
      // local-field time above.
      forceDosTimestamp: true,
      compress: true,
      compressionLevel: 9
    })
  }
  zip.end()
  const chunks: Buffer[] = []
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer)
  const bytes = Buffer.concat(chunks)
  return { bytes, entries, sha256: createHash('sha256').update(bytes).digest('hex') }
}
