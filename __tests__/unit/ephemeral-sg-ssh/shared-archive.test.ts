import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, type Readable } from 'node:stream'
import { SharedArchive, shareableArchive } from '../../../src/ephemeral-sg-ssh/shared-archive.js'
import { tarStream, walkEntries } from '../../../src/ephemeral-sg-ssh/tar.js'

let dir: string
let source: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'shared-archive-'))
  source = join(dir, 'app')
  mkdirSync(join(source, 'bin'), { recursive: true })
  writeFileSync(join(source, '.env.example'), 'PORT=3000\n')
  writeFileSync(join(source, 'bin', 'start.sh'), '#!/bin/sh\nexec node server.js\n', {
    mode: 0o755
  })
  writeFileSync(join(source, 'big.bin'), Buffer.alloc(600_000, 7))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

const bytesOf = async (stream: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
const pair = () => ({ local: 'app', remote: '/srv/app' })

describe('shareableArchive', () => {
  it('gives every host the very bytes one host would have streamed itself', async () => {
    const own = await bytesOf(tarStream(walkEntries(source)))
    const archive = await shareableArchive(pair(), source, {})
    expect(archive).toBeDefined()
    const [first, second] = await Promise.all([
      bytesOf(archive!.reader()),
      bytesOf(archive!.reader())
    ])
    expect(first.equals(own)).toBe(true)
    expect(second.equals(own)).toBe(true)
    // A host that starts once the archive is complete gets all of it too.
    expect((await bytesOf(archive!.reader())).equals(own)).toBe(true)
  })

  it('keeps special bits out unless asked for, like the stream of one host', async () => {
    const archive = await shareableArchive(pair(), source, { keepSpecialBits: true })
    const own = await bytesOf(tarStream(walkEntries(source), { keepSpecialBits: true }))
    expect((await bytesOf(archive!.reader())).equals(own)).toBe(true)
  })

  it('is not made when it could exceed the limit: each host then reads the tree itself', async () => {
    expect(await shareableArchive(pair(), source, {}, 100_000)).toBeUndefined()
    expect(await shareableArchive(pair(), source, {}, 700_000)).toBeDefined()
  })
})

describe('SharedArchive', () => {
  it('lets a reader that caught up wait for the next chunk instead of ending', async () => {
    const source = new PassThrough()
    const archive = new SharedArchive(source)
    const reading = bytesOf(archive.reader())
    source.write(Buffer.from('first '))
    await new Promise((resolve) => setImmediate(resolve))
    source.end(Buffer.from('second'))
    expect((await reading).toString()).toBe('first second')
  })

  it('fails every reader when reading the tree fails (a file changed size)', async () => {
    const source = new PassThrough()
    const archive = new SharedArchive(source)
    const early = bytesOf(archive.reader())
    source.write(Buffer.from('part'))
    source.destroy(new Error('/app/big.bin changed size while being uploaded'))
    const late = bytesOf(archive.reader())
    for (const result of await Promise.allSettled([early, late])) {
      expect(result.status).toBe('rejected')
      expect(String((result as PromiseRejectedResult).reason)).toContain('changed size')
    }
  })
})
