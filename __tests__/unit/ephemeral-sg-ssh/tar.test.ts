import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { collectEntries, tarStream } from '../../../src/ephemeral-sg-ssh/tar.js'

let dir: string
let source: string
let dest: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tar-'))
  source = join(dir, 'source')
  dest = join(dir, 'dest')
  mkdirSync(source)
  mkdirSync(dest)
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** Pipes the stream into the system tar, as the remote `tar -x -p -f - -C dir` gets it. */
function extract(stream: Readable, into: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-x', '-p', '-f', '-', '-C', into], {
      stdio: ['pipe', 'ignore', 'pipe']
    })
    let stderr = ''
    tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    tar.on('error', reject)
    tar.on('close', (code) => resolve({ code, stderr }))
    stream.on('error', reject)
    stream.pipe(tar.stdin)
  })
}

/** Everything that must survive the trip: kind, mode, link target, content. */
function describeTree(root: string): Record<string, string> {
  const result: Record<string, string> = {}
  const walk = (folder: string, prefix: string) => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name)
      const relative = prefix + name
      const info = lstatSync(path)
      if (info.isSymbolicLink()) result[relative] = `link -> ${readlinkSync(path)}`
      else if (info.isDirectory()) {
        result[relative] = `dir ${(info.mode & 0o7777).toString(8)}`
        walk(path, `${relative}/`)
      } else {
        const digest = createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16)
        result[relative] = `file ${(info.mode & 0o7777).toString(8)} ${info.size} ${digest}`
      }
    }
  }
  walk(root, '')
  return result
}

const longDir = 'a-folder-with-a-rather-long-name-to-push-the-path-over-the-ustar-limit'
const longFile = `${'a-file-name-that-is-long-as-well-'.repeat(3)}end.txt`

function buildTree(): void {
  const write = (path: string, content: string | Buffer, mode = 0o644) => {
    writeFileSync(join(source, path), content)
    chmodSync(join(source, path), mode)
  }
  mkdirSync(join(source, '.config'))
  mkdirSync(join(source, 'bin'))
  mkdirSync(join(source, 'deep/er/still'), { recursive: true })
  mkdirSync(join(source, longDir, longDir), { recursive: true })
  mkdirSync(join(source, 'private'))
  write('.env', 'STAGE=prod\n', 0o600)
  write('.config/settings.json', '{"a": 1}\n')
  write('bin/start.sh', '#!/bin/sh\necho start\n', 0o755)
  write('bin/read-only', 'ro\n', 0o444)
  write('deep/er/still/leaf.txt', 'leaf\n')
  write(join(longDir, longDir, longFile), 'far away\n')
  write('naïve café ✓.txt', 'unicode name\n')
  write('empty', '')
  write('big.bin', randomBytes(1024 * 1024))
  write('odd size.bin', randomBytes(1000))
  write('private/key', 'secret\n', 0o600)
  chmodSync(join(source, 'private'), 0o700)
  chmodSync(join(source, 'bin'), 0o750)
  symlinkSync('bin/start.sh', join(source, 'start'))
  symlinkSync(join(longDir, longDir, longFile), join(source, 'far-link'))
  symlinkSync('naïve café ✓.txt', join(source, 'ünï-link'))
}

describe('collectEntries', () => {
  it('lists a folder depth first in name order, dotfiles included, with kinds and modes', async () => {
    mkdirSync(join(source, 'b'))
    writeFileSync(join(source, 'b/.hidden'), 'x')
    writeFileSync(join(source, 'a.txt'), 'hello')
    chmodSync(join(source, 'a.txt'), 0o640)
    writeFileSync(join(source, '.dot'), '')
    symlinkSync('a.txt', join(source, 'c-link'))
    const entries = await collectEntries(source)
    expect(
      entries.map(({ name, kind, size, linkTarget }) => ({ name, kind, size, linkTarget }))
    ).toEqual([
      { name: '.dot', kind: 'file', size: 0, linkTarget: undefined },
      { name: 'a.txt', kind: 'file', size: 5, linkTarget: undefined },
      { name: 'b', kind: 'directory', size: 0, linkTarget: undefined },
      { name: 'b/.hidden', kind: 'file', size: 1, linkTarget: undefined },
      { name: 'c-link', kind: 'symlink', size: 0, linkTarget: 'a.txt' }
    ])
    expect(entries[1]?.mode).toBe(0o640)
    expect(entries[1]?.absolutePath).toBe(join(source, 'a.txt'))
  })

  it('lists a single file under its own name', async () => {
    writeFileSync(join(source, 'app.tgz'), 'data')
    chmodSync(join(source, 'app.tgz'), 0o600)
    expect(await collectEntries(join(source, 'app.tgz'))).toEqual([
      expect.objectContaining({
        name: 'app.tgz',
        absolutePath: join(source, 'app.tgz'),
        kind: 'file',
        mode: 0o600,
        size: 4
      })
    ])
  })

  it('rejects a path that does not exist', async () => {
    await expect(collectEntries(join(source, 'missing'))).rejects.toThrow('ENOENT')
  })
})

describe('tarStream', () => {
  it('reproduces a tree exactly through the system tar', async () => {
    buildTree()
    expect(Buffer.byteLength(join(longDir, longDir, longFile))).toBeGreaterThan(100)
    const { code, stderr } = await extract(tarStream(await collectEntries(source)), dest)
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const diff = spawnSync('diff', ['-r', '--no-dereference', source, dest], { encoding: 'utf8' })
    expect(diff.stdout + diff.stderr).toBe('')
    expect(diff.status).toBe(0)
    const tree = describeTree(dest)
    expect(tree).toEqual(describeTree(source))
    expect(tree).toMatchObject({
      '.env': expect.stringMatching(/^file 600 11 /),
      bin: 'dir 750',
      'bin/start.sh': expect.stringMatching(/^file 755 /),
      'bin/read-only': expect.stringMatching(/^file 444 /),
      'deep/er/still/leaf.txt': expect.stringMatching(/^file 644 5 /),
      empty: expect.stringMatching(/^file 644 0 /),
      'big.bin': expect.stringMatching(/^file 644 1048576 /),
      private: 'dir 700',
      start: 'link -> bin/start.sh',
      'far-link': `link -> ${join(longDir, longDir, longFile)}`,
      'ünï-link': 'link -> naïve café ✓.txt',
      'naïve café ✓.txt': expect.stringMatching(/^file 644 13 /),
      [`${longDir}/${longDir}/${longFile}`]: expect.stringMatching(/^file 644 9 /)
    })
  })

  it('keeps modification times to the second', async () => {
    writeFileSync(join(source, 'old.txt'), 'x')
    const when = new Date('2020-02-03T04:05:06Z')
    utimesSync(join(source, 'old.txt'), when, when)
    await extract(tarStream(await collectEntries(source)), dest)
    expect(lstatSync(join(dest, 'old.txt')).mtime.toISOString()).toBe('2020-02-03T04:05:06.000Z')
  })

  it('carries a single file', async () => {
    writeFileSync(join(source, 'deploy.sh'), '#!/bin/sh\n')
    chmodSync(join(source, 'deploy.sh'), 0o755)
    await extract(tarStream(await collectEntries(join(source, 'deploy.sh'))), dest)
    expect(readdirSync(dest)).toEqual(['deploy.sh'])
    expect(readFileSync(join(dest, 'deploy.sh'), 'utf8')).toBe('#!/bin/sh\n')
    expect(lstatSync(join(dest, 'deploy.sh')).mode & 0o7777).toBe(0o755)
  })

  it('writes a well-formed empty archive for an empty folder', async () => {
    const chunks: Buffer[] = []
    for await (const chunk of tarStream(await collectEntries(source))) chunks.push(chunk as Buffer)
    expect(Buffer.concat(chunks)).toEqual(Buffer.alloc(1024))
  })

  it('emits whole 512-byte blocks', async () => {
    writeFileSync(join(source, 'a'), 'x'.repeat(700))
    const chunks: Buffer[] = []
    for await (const chunk of tarStream(await collectEntries(source))) chunks.push(chunk as Buffer)
    // header + 2 data blocks + 2 end blocks
    expect(Buffer.concat(chunks).length).toBe(5 * 512)
  })

  it('fails the stream when a file shrank after it was listed', async () => {
    writeFileSync(join(source, 'shrinks'), 'x'.repeat(5000))
    const entries = await collectEntries(source)
    truncateSync(join(source, 'shrinks'), 10)
    const stream = tarStream(entries)
    const error = await new Promise<Error>((resolve) => {
      stream.on('error', resolve)
      stream.resume()
    })
    expect(error.message).toBe(`${join(source, 'shrinks')} changed size while being uploaded`)
  })
})

describe('special mode bits', () => {
  /** The octal mode field of every ustar header in an archive, by entry name. */
  async function headerModes(stream: Readable): Promise<Record<string, string>> {
    const chunks: Buffer[] = []
    for await (const chunk of stream) chunks.push(chunk as Buffer)
    const archive = Buffer.concat(chunks)
    const modes: Record<string, string> = {}
    for (let offset = 0; offset + 512 <= archive.length;) {
      const block = archive.subarray(offset, offset + 512)
      if (block.every((byte) => byte === 0)) break
      const field = (start: number, length: number) =>
        block
          .subarray(start, start + length)
          .toString('latin1')
          .replace(/\0.*$/s, '')
      const size = parseInt(field(124, 12), 8)
      modes[field(0, 100)] = field(100, 8)
      offset += 512 + Math.ceil(size / 512) * 512
    }
    return modes
  }

  function specialTree(): void {
    writeFileSync(join(source, 'setuid'), '#!/bin/sh\n')
    chmodSync(join(source, 'setuid'), 0o4755)
    writeFileSync(join(source, 'setgid'), '#!/bin/sh\n')
    chmodSync(join(source, 'setgid'), 0o2750)
    mkdirSync(join(source, 'shared'))
    chmodSync(join(source, 'shared'), 0o3777)
  }

  it('are dropped from the headers of files and folders by default', async () => {
    specialTree()
    expect(await headerModes(tarStream(await collectEntries(source)))).toEqual({
      setgid: '0000750',
      setuid: '0000755',
      'shared/': '0000777'
    })
  })

  it('are kept when asked for', async () => {
    specialTree()
    const stream = tarStream(await collectEntries(source), { keepSpecialBits: true })
    expect(await headerModes(stream)).toEqual({
      setgid: '0002750',
      setuid: '0004755',
      'shared/': '0003777'
    })
  })

  it('arrive as dropped or kept through the system tar', async () => {
    specialTree()
    expect((await extract(tarStream(await collectEntries(source)), dest)).code).toBe(0)
    const kept = join(dir, 'kept')
    mkdirSync(kept)
    const stream = tarStream(await collectEntries(source), { keepSpecialBits: true })
    expect((await extract(stream, kept)).code).toBe(0)
    const modes = (root: string) =>
      ['setuid', 'setgid', 'shared'].map((name) =>
        (lstatSync(join(root, name)).mode & 0o7777).toString(8)
      )
    expect(modes(dest)).toEqual(['755', '750', '777'])
    expect(modes(kept)).toEqual(['4755', '2750', '3777'])
  })
})
