import { Readable } from 'node:stream'
import { uploadEntries } from './ssh.js'
import { tarStream, type TarEntry } from './tar.js'
import type { UploadPair } from './targets.js'

/**
 * The largest archive made once and kept in memory for every host. Walking the tree and reading
 * every file costs the runner about as much CPU per host as the SSH channel does; above this,
 * each host reads the tree again rather than the step holding the archive.
 */
export const SHARED_ARCHIVE_LIMIT = 64 * 1024 * 1024

/** One tar archive read once and replayed to any number of hosts, each at its own pace. */
export class SharedArchive {
  private readonly chunks: Buffer[] = []
  private done = false
  private failure: Error | undefined
  private waiting: (() => void)[] = []

  constructor(source: Readable) {
    source.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk)
      this.wake()
    })
    source.once('end', () => {
      this.done = true
      this.wake()
    })
    source.once('error', (error) => {
      this.failure = error
      this.wake()
    })
  }

  /** The archive from its first byte, as it is read: a host need not wait for the whole of it. */
  reader(): Readable {
    return Readable.from(this.replay(), { objectMode: false })
  }

  private async *replay(): AsyncGenerator<Buffer> {
    for (let next = 0; ;) {
      if (next < this.chunks.length) {
        yield this.chunks[next++]!
        continue
      }
      if (this.failure) throw this.failure
      if (this.done) return
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }
  }

  private wake(): void {
    for (const resolve of this.waiting.splice(0)) resolve()
  }
}

/** Bytes of an entry in the archive, at most: a pax header and its records, a header, the padded data. */
const entryBytes = (entry: TarEntry) => 1024 + 512 + Math.ceil(entry.size / 512) * 512

/**
 * The upload's archive, read once for every host, or undefined when it could be larger than
 * `limit` (each host then streams the tree itself, as for one host).
 */
export async function shareableArchive(
  pair: UploadPair,
  localPath: string,
  options: { keepSpecialBits?: boolean },
  limit = SHARED_ARCHIVE_LIMIT
): Promise<SharedArchive | undefined> {
  const { entries } = await uploadEntries(pair, localPath)
  const listed: TarEntry[] = []
  // The two zero blocks that end an archive.
  let size = 1024
  for await (const entry of entries) {
    size += entryBytes(entry)
    if (size > limit) return undefined
    listed.push(entry)
  }
  return new SharedArchive(tarStream(listed, options))
}
