import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { InputError, SafetyError } from '../../src/common/errors.js'
import { hasControlCharacter } from '../../src/common/untrusted.js'
import { contentTypeFor } from '../../src/deploy-dags/content-type.js'
import {
  compileFilter,
  compileFolderExclusion,
  hashFile,
  normalizePattern,
  parsePatterns,
  PatternError,
  scanSource
} from '../../src/deploy-dags/selection.js'

describe('normalizePattern', () => {
  it.each([
    ['*.pyc', '**/*.pyc'],
    ['__pycache__/', '**/__pycache__/**'],
    ['/tests/', 'tests/**'],
    ['dags/*.py', 'dags/*.py'],
    ['/setup.py', 'setup.py']
  ])('%s → %s', (line, pattern) => {
    expect(normalizePattern(line)).toEqual({ pattern })
  })

  it.each([
    ['../secrets/*', "'.' and '..'"],
    ['dags\\*.py', 'use /'],
    ['[abc', "unbalanced '['"],
    ['{a,b', "unbalanced '{'"],
    ['a]', "unbalanced ']'"],
    ['!keep.py', 'negation'],
    ['/', 'empty pattern']
  ])('rejects %s', (line, message) => {
    const result = normalizePattern(line)
    expect('error' in result && result.error).toContain(message)
  })
})

describe('compileFilter', () => {
  const defaults = compileFilter([], parsePatterns(['__pycache__/', '*.pyc']))

  it('selects dotfiles and excludes bytecode by default', () => {
    expect(defaults('.airflowignore')).toBe(true)
    expect(defaults('common/.helpers.py')).toBe(true)
    expect(defaults('a.py')).toBe(true)
    expect(defaults('__pycache__/a.cpython-312.pyc')).toBe(false)
    expect(defaults('sub/__pycache__/x.txt')).toBe(false)
    expect(defaults('sub/b.pyc')).toBe(false)
  })

  it('applies include before exclude', () => {
    const filter = compileFilter(
      parsePatterns(['*.py', '.airflowignore']),
      parsePatterns(['tests/'])
    )
    expect(filter('etl/load.py')).toBe(true)
    expect(filter('.airflowignore')).toBe(true)
    expect(filter('README.md')).toBe(false)
    expect(filter('tests/test_dag.py')).toBe(false)
  })

  it('treats a bare name like .gitignore does: the file or the whole folder, at any depth', () => {
    const filter = compileFilter([], parsePatterns(['tests', 'scratch.py']))
    expect(filter('tests/test_a.py')).toBe(false)
    expect(filter('team/tests/conftest.py')).toBe(false)
    expect(filter('team/scratch.py')).toBe(false)
    expect(filter('team/tests_helpers.py')).toBe(true)
  })

  it('names the line of an invalid pattern', () => {
    expect(() => parsePatterns(['*.py', '[x'])).toThrow(PatternError)
    expect(() => parsePatterns(['*.py', '[x'])).toThrow(
      "pattern 2 '[x' is not valid: unbalanced '['"
    )
  })
})

describe('compileFolderExclusion', () => {
  const covered = (exclude: string[], folder: string) =>
    compileFolderExclusion(parsePatterns(exclude))(folder)

  it('covers a folder that a folder pattern or a bare name excludes whole, at any depth', () => {
    expect(covered(['__pycache__/', '*.pyc'], '__pycache__')).toBe(true)
    expect(covered(['__pycache__/', '*.pyc'], 'team/sub/__pycache__')).toBe(true)
    expect(covered(['.venv/'], '.venv')).toBe(true)
    expect(covered(['tests'], 'team/tests')).toBe(true)
    expect(covered(['/build'], 'build')).toBe(true)
    expect(covered(['dir/*'], 'dir/sub')).toBe(true)
    // A folder below a covered one is covered too.
    expect(covered(['.venv/'], '.venv/lib/python3.12')).toBe(true)
  })

  it('does not cover a folder that only some children of are excluded from', () => {
    expect(covered(['dir/*.py'], 'dir')).toBe(false)
    expect(covered(['*.pyc'], 'team')).toBe(false)
    expect(covered(['/build'], 'team/build')).toBe(false)
    expect(covered(['dir/*'], 'dir')).toBe(false)
    expect(covered(['.venv/'], 'venv')).toBe(false)
    expect(covered([], 'anything')).toBe(false)
    // A folder whose own name matches dir/*.py is excluded with all it holds.
    expect(covered(['dir/*.py'], 'dir/odd.py')).toBe(true)
  })
})

describe('scanSource and hashFile', () => {
  let root: string
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'scan-'))
    mkdirSync(join(root, 'dags', 'sub', '__pycache__'), { recursive: true })
    writeFileSync(join(root, 'dags', 'a.py'), 'print("a")\n')
    writeFileSync(join(root, 'dags', '.airflowignore'), 'helpers\n')
    writeFileSync(join(root, 'dags', 'sub', 'b.sql'), 'select 1')
    writeFileSync(join(root, 'dags', 'sub', '__pycache__', 'b.pyc'), 'x')
    symlinkSync(join(root, 'dags', 'a.py'), join(root, 'dags', 'link.py'))
    symlinkSync(join(root, 'dags'), join(root, 'dags', 'sub', 'loop'))
    mkdirSync(join(root, 'shared'))
    writeFileSync(join(root, 'shared', 'u.py'), 'u')
    symlinkSync(join(root, 'shared'), join(root, 'dags', 'team_a'))
    symlinkSync(join(root, 'shared'), join(root, 'dags', 'team_b'))
  })
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it('lists selected files sorted, follows links it is allowed to, survives loops', async () => {
    const files = await scanSource(
      join(root, 'dags'),
      compileFilter([], parsePatterns(['__pycache__/', '*.pyc'])),
      { followLinksOutside: true }
    )
    // Both links to one folder deploy it, under each name; the loop back to dags/ is cut.
    expect(files.map((f) => f.path)).toEqual([
      '.airflowignore',
      'a.py',
      'link.py',
      'sub/b.sql',
      'team_a/u.py',
      'team_b/u.py'
    ])
  })

  it('hashes content with SHA-256 and MD5', async () => {
    const [file] = await scanSource(
      join(root, 'dags'),
      compileFilter(parsePatterns(['a.py']), []),
      {
        followLinksOutside: true
      }
    )
    const hashed = await hashFile(file!)
    const content = 'print("a")\n'
    expect(hashed.sha256).toBe(createHash('sha256').update(content).digest('hex'))
    expect(hashed.md5).toBe(createHash('md5').update(content).digest('hex'))
    expect(hashed.cliMultipartEtag).toBeUndefined()
  })

  it('computes the 8 MiB multipart ETag for large files', async () => {
    const big = Buffer.alloc(9 * 1024 * 1024 + 5, 7)
    writeFileSync(join(root, 'big.bin'), big)
    const hashed = await hashFile({
      path: 'big.bin',
      absolutePath: join(root, 'big.bin'),
      size: big.length
    })
    const part = (from: number, to: number) =>
      createHash('md5').update(big.subarray(from, to)).digest()
    const eight = 8 * 1024 * 1024
    const expected = createHash('md5')
      .update(Buffer.concat([part(0, eight), part(eight, big.length)]))
      .digest('hex')
    expect(hashed.cliMultipartEtag).toBe(`${expected}-2`)
    expect(hashed.sha256).toBe(createHash('sha256').update(big).digest('hex'))
  })
})

describe('scanSource refuses what could leak or hide', () => {
  const every = compileFilter([], [])
  const inside = { followLinksOutside: false }
  const outside = { followLinksOutside: true }
  let root: string
  let source: string
  const made: string[] = []
  /** A source folder holding a.py plus `extra`; returns its path. */
  const sourceWith = (extra: (dir: string) => void): string => {
    const dir = mkdtempSync(join(root, 'src-'))
    writeFileSync(join(dir, 'a.py'), 'a')
    extra(dir)
    made.push(dir)
    return dir
  }
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'scan-guard-'))
    mkdirSync(join(root, 'shared'))
    writeFileSync(join(root, 'shared', 'u.py'), 'u')
    source = join(root, 'dags')
    mkdirSync(join(source, 'sub'), { recursive: true })
    writeFileSync(join(source, 'sub', 'b.py'), 'b')
  })
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  const scanError = async (dir: string, options = inside, filter = every) => {
    try {
      await scanSource(dir, filter, options)
    } catch (error) {
      return error as Error
    }
    throw new Error(`scanSource(${dir}) did not refuse`)
  }

  it('follows a link whose real target is inside source, however it is written', async () => {
    const dir = sourceWith((d) => {
      mkdirSync(join(d, 'lib'))
      writeFileSync(join(d, 'lib', 'x.py'), 'x')
      symlinkSync(join('..', basename(d), 'lib', 'x.py'), join(d, 'roundabout.py'))
      symlinkSync(join(d, 'lib'), join(d, 'lib-again'))
    })
    // The source given through a link of its own: its real path is what the targets are held to.
    symlinkSync(dir, join(root, 'via-link'))
    const files = await scanSource(join(root, 'via-link'), every, inside)
    expect(files.map((f) => f.path)).toEqual([
      'a.py',
      'lib-again/x.py',
      'lib/x.py',
      'roundabout.py'
    ])
  })

  it('refuses a link out of source, naming the link and its target', async () => {
    const dir = sourceWith((d) => symlinkSync(join(root, 'shared'), join(d, 'team')))
    const error = await scanError(dir)
    expect(error).toBeInstanceOf(SafetyError)
    expect(error.message).toContain(`symbolic link 'team' points to '${join(root, 'shared')}'`)
    expect(error.message).toContain('outside the source folder')
    expect(error.message).toContain('follow-symlinks-outside-source: true')
    // With the opt-in, the shared folder is deployed under the link's name.
    const files = await scanSource(dir, every, outside)
    expect(files.map((f) => f.path)).toEqual(['a.py', 'team/u.py'])
  })

  it('refuses a link to /proc/self/environ, even with the opt-in', async () => {
    const dir = sourceWith((d) => {
      mkdirSync(join(d, 'conf'))
      symlinkSync('/proc/self/environ', join(d, 'conf', 'env.txt'))
    })
    for (const options of [inside, outside]) {
      const error = await scanError(dir, options)
      expect(error).toBeInstanceOf(SafetyError)
      expect(error.message).toContain(
        "symbolic link 'conf/env.txt' points to '/proc/self/environ', which is under /proc"
      )
    }
    // A link that exclude keeps out is never followed, so it is not refused either.
    const conf = parsePatterns(['conf/'])
    const scanned = await scanSource(dir, compileFilter([], conf), {
      ...outside,
      folderExcluded: compileFolderExclusion(conf)
    })
    expect(scanned.map((f) => f.path)).toEqual(['a.py'])
    const txt = parsePatterns(['*.txt'])
    expect((await scanSource(dir, compileFilter([], txt), outside)).map((f) => f.path)).toEqual([
      'a.py'
    ])
  })

  it.each([
    ['/dev/null', 'under /dev'],
    ['/sys/kernel', 'under /sys'],
    ['/proc', 'under /proc']
  ])('refuses a link to %s with the opt-in', async (target, why) => {
    const dir = sourceWith((d) => symlinkSync(target, join(d, 'x')))
    expect((await scanError(dir, outside)).message).toContain(why)
  })

  it('refuses links to a FIFO and to a socket, inside source too', async () => {
    const fifoDir = sourceWith((d) => {
      execFileSync('mkfifo', [join(d, 'pipe')])
      symlinkSync(join(d, 'pipe'), join(d, 'pipe.py'))
    })
    expect((await scanError(fifoDir, outside)).message).toContain(
      "symbolic link 'pipe.py' points to"
    )
    expect((await scanError(fifoDir, outside)).message).toContain('which is a FIFO')

    const socketDir = sourceWith(() => undefined)
    const server = createServer()
    await new Promise<void>((done) => server.listen(join(socketDir, 'sock'), done))
    try {
      symlinkSync(join(socketDir, 'sock'), join(socketDir, 'sock.py'))
      expect((await scanError(socketDir, outside)).message).toContain('which is a socket')
    } finally {
      await new Promise((done) => server.close(done))
    }
  })

  it('refuses a dangling link and a link to itself, naming them', async () => {
    const dangling = sourceWith((d) => symlinkSync('gone.py', join(d, 'dag.py')))
    const error = await scanError(dangling, outside)
    expect(error.message).toContain(
      "symbolic link 'dag.py' points to 'gone.py', which does not exist"
    )
    const loop = sourceWith((d) => symlinkSync('self.py', join(d, 'self.py')))
    expect((await scanError(loop, outside)).message).toContain("'self.py' points to 'self.py'")
  })

  it.each([
    ['a line feed', 'x.py\n::add-mask::dags', 'x.py\\n:\\x3aadd-mask:\\x3adags'],
    ['a carriage return', 'x.py\r::warning::x', 'x.py\\r:\\x3awarning:\\x3ax'],
    ['a tab', 'a\tb.py', 'a\\tb.py'],
    ['DEL', 'a\u007fb.py', 'a\\x7fb.py'],
    ['a C1 control', 'a\u0085b.py', 'a\\x85b.py'],
    ['a line separator', 'a\u2028b.py', 'a\\u2028b.py']
  ])('refuses a name with %s, shown escaped', async (_what, name, shown) => {
    const dir = sourceWith((d) => {
      mkdirSync(join(d, 'team'))
      writeFileSync(join(d, 'team', name), 'x')
    })
    const error = await scanError(dir)
    expect(error).toBeInstanceOf(InputError)
    expect(error.message).toContain(`source: the name of 'team/${shown}'`)
    expect(hasControlCharacter(error.message)).toBe(false)
  })

  it('refuses a name that is not UTF-8, on a file or on a link, never skipping it', async () => {
    const stray = (d: string) =>
      Buffer.concat([Buffer.from(`${d}/caf`), Buffer.from([0xe9, 0x2e, 0x70, 0x79])])
    const onFile = sourceWith((d) => writeFileSync(stray(d), 'x'))
    const fileError = await scanError(onFile)
    expect(fileError).toBeInstanceOf(InputError)
    expect(fileError.message).toContain("the name of 'caf\\xe9.py' is not valid UTF-8")
    const onLink = sourceWith((d) => symlinkSync(join(d, 'a.py'), stray(d)))
    expect((await scanError(onLink)).message).toContain("'caf\\xe9.py' is not valid UTF-8")
    // Selected, it is refused even when matched in its lossy decoding; excluded, it is skipped.
    expect(
      await scanError(onFile, inside, compileFilter(parsePatterns(['caf*']), []))
    ).toBeInstanceOf(InputError)
    const dropped = compileFilter([], parsePatterns(['caf*']))
    expect((await scanSource(onFile, dropped, inside)).map((f) => f.path)).toEqual(['a.py'])
    expect((await scanSource(onLink, dropped, inside)).map((f) => f.path)).toEqual(['a.py'])
    const onFolder = sourceWith((d) => {
      mkdirSync(stray(d))
      writeFileSync(Buffer.concat([stray(d), Buffer.from('/x.py')]), 'x')
    })
    expect((await scanError(onFolder)).message).toContain("'caf\\xe9.py' is not valid UTF-8")
    const folderOut = parsePatterns(['caf*/'])
    const pruned = await scanSource(onFolder, compileFilter([], folderOut), {
      ...inside,
      folderExcluded: compileFolderExclusion(folderOut)
    })
    expect(pruned.map((f) => f.path)).toEqual(['a.py'])
  })

  describe('an entry exclude keeps out is neither checked nor walked', () => {
    const defaults = parsePatterns(['__pycache__/', '*.pyc'])
    const scanWith = (dir: string, exclude: string[], options = inside) =>
      scanSource(dir, compileFilter([], exclude), {
        ...options,
        folderExcluded: compileFolderExclusion(exclude)
      })

    it('skips a virtualenv link out of source inside an excluded folder', async () => {
      const dir = sourceWith((d) => {
        mkdirSync(join(d, '.venv', 'bin'), { recursive: true })
        symlinkSync('/usr/bin/env', join(d, '.venv', 'bin', 'python'))
        symlinkSync('/proc/self', join(d, '.venv', 'proc'))
      })
      expect((await scanError(dir)).message).toContain("symbolic link '.venv/")
      const files = await scanWith(dir, parsePatterns(['.venv/']))
      expect(files.map((f) => f.path)).toEqual(['a.py'])
    })

    it('skips dangling bytecode links the default exclude covers', async () => {
      const dir = sourceWith((d) => {
        mkdirSync(join(d, '__pycache__'))
        symlinkSync('gone.pyc', join(d, '__pycache__', 'gone.pyc'))
        symlinkSync('gone.pyc', join(d, 'stale.pyc'))
      })
      expect((await scanError(dir)).message).toContain('which does not exist')
      expect((await scanWith(dir, defaults)).map((f) => f.path)).toEqual(['a.py'])
    })

    it('skips an excluded file whose name holds a control character', async () => {
      const dir = sourceWith((d) => writeFileSync(join(d, 'Icon\r'), ''))
      expect((await scanError(dir)).message).toContain("the name of 'Icon\\r'")
      expect((await scanWith(dir, parsePatterns(['Icon?']))).map((f) => f.path)).toEqual(['a.py'])
    })

    it('still walks and checks a folder that exclude covers only in part', async () => {
      const dir = sourceWith((d) => {
        mkdirSync(join(d, 'dir'))
        writeFileSync(join(d, 'dir', 'x.py'), 'x')
        writeFileSync(join(d, 'dir', 'q.sql'), 'q')
      })
      const partly = parsePatterns(['dir/*.py'])
      expect((await scanWith(dir, partly)).map((f) => f.path)).toEqual(['a.py', 'dir/q.sql'])
      symlinkSync('/proc/self/environ', join(dir, 'dir', 'env.txt'))
      expect((await scanError(dir, inside, compileFilter([], partly))).message).toContain(
        "'dir/env.txt' points to '/proc/self/environ'"
      )
      await expect(scanWith(dir, partly)).rejects.toThrow("'dir/env.txt' points to")
    })
  })

  it('never walks a folder under /proc, /sys or /dev, however it was reached', async () => {
    const system = await scanError('/proc/sys/kernel', outside)
    expect(system).toBeInstanceOf(SafetyError)
    expect(system.message).toContain('source: source is /proc/sys/kernel, under /proc')
    // With the opt-in, a link to / is followed; its /dev is refused as a folder, not through
    // whichever link inside it happens to be read first. Exclude keeps the walk to /dev alone.
    const dir = sourceWith((d) => symlinkSync('/', join(d, 'host')))
    const onlyDev = parsePatterns(['host/[a-ce-z]*/', 'host/d[a-df-z]*/', 'host/[A-Z0-9._-]*/'])
    const error = await scanError(dir, {
      ...outside,
      folderExcluded: compileFolderExclusion(onlyDev)
    } as typeof outside)
    expect(error).toBeInstanceOf(SafetyError)
    expect(error.message).toContain("source: the folder 'host/dev' is /dev, under /dev")
  })

  it('still scans a plain tree', async () => {
    expect((await scanSource(source, every, inside)).map((f) => f.path)).toEqual(['sub/b.py'])
  })
})

describe('contentTypeFor', () => {
  it.each([
    ['a.py', 'text/x-python; charset=utf-8'],
    ['sub/q.SQL', 'application/sql; charset=utf-8'],
    ['.airflowignore', 'text/plain; charset=utf-8'],
    ['conf/x.yaml', 'application/yaml'],
    ['blob', 'application/octet-stream'],
    ['data.unknownext', 'application/octet-stream']
  ])('%s → %s', (path, type) => {
    expect(contentTypeFor(path)).toBe(type)
  })
})
