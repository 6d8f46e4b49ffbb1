import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { contentTypeFor } from '../../src/deploy-dags/content-type.js'
import {
  compileFilter,
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
    symlinkSync(join(root, 'missing'), join(root, 'dags', 'dangling.py'))
    mkdirSync(join(root, 'shared'))
    writeFileSync(join(root, 'shared', 'u.py'), 'u')
    symlinkSync(join(root, 'shared'), join(root, 'dags', 'team_a'))
    symlinkSync(join(root, 'shared'), join(root, 'dags', 'team_b'))
  })
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it('lists selected files sorted, follows links, survives loops and dangling links', async () => {
    const files = await scanSource(
      join(root, 'dags'),
      compileFilter([], parsePatterns(['__pycache__/', '*.pyc']))
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
    const [file] = await scanSource(join(root, 'dags'), compileFilter(parsePatterns(['a.py']), []))
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
