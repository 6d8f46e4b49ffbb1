// The test run's own output is read by a GitHub runner in CI: no line of it may be a workflow
// command or hold key material. These are the pieces that make sure of it.
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import {
  defuse,
  expectNoSecret,
  guardStream,
  unsafeLine
} from '../../test-support/output-guard.mjs'

const key = [
  '-----BEGIN OPENSSH PRIVATE KEY-----',
  'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
  'QyNTUxOQAAACCLxX2m5Oq0MfLf3fPZlH0zgZ9YrLbx6c2JvS7cRQbq3QAAAJgAAAAA',
  '-----END OPENSSH PRIVATE KEY-----'
].join('\n')

const log = [
  'Opened sg-1 to 203.0.113.10/32 on port 22',
  '::add-mask::hunter2',
  '   ::error file=a.py::indented still counts',
  'text ##[warning]legacy form anywhere in a line',
  `private-key=${key}`,
  'a line with :: in the middle is fine'
].join('\n')

describe('defuse', () => {
  it('leaves no line a runner would obey and no key block, and keeps the rest readable', () => {
    const safe = defuse(log)
    expect(safe.split('\n').map(unsafeLine)).toEqual(safe.split('\n').map(() => undefined))
    expect(safe).toContain(':\\x3aadd-mask::hunter2')
    expect(safe).toContain('   :\\x3aerror file=a.py::indented still counts')
    expect(safe).toContain('text ##\\x5bwarning]legacy form')
    expect(safe).toContain('private-key=[key block of ')
    expect(safe).toContain('Opened sg-1 to 203.0.113.10/32 on port 22')
    expect(safe).toContain('a line with :: in the middle is fine')
    expect(defuse(safe)).toBe(safe)
  })

  it('finds each kind of unsafe line', () => {
    expect(log.split('\n').map(unsafeLine)).toEqual([
      undefined,
      'a workflow command',
      'a workflow command',
      'a workflow command',
      'key material',
      undefined,
      undefined,
      undefined
    ])
  })
})

describe('guardStream', () => {
  it('defuses what is written, following line starts across writes', () => {
    const written: string[] = []
    const stream = { write: (chunk: string) => written.push(chunk) }
    guardStream(stream)
    stream.write('::save-state name=a::1\n')
    stream.write('half a line, ')
    stream.write('::then more\n')
    stream.write('::error::')
    stream.write('split command\n')
    expect(written.join('')).toBe(
      ':\\x3asave-state name=a::1\nhalf a line, ::then more\n:\\x3aerror::split command\n'
    )
  })
})

describe('expectNoSecret', () => {
  it('names the check and where, never the secret', () => {
    const line = key.split('\n')[1]!
    expect(() => expectNoSecret(`ok\n${line}\n`, key, 'private key found in stdout')).toThrow(
      /^private key found in stdout \(at character 3 of \d+\)$/
    )
    expect(() => expectNoSecret('nothing here', key, 'private key found in stdout')).not.toThrow()
  })
})

describe('scripts/check-test-output.mjs', () => {
  const check = (input: string) =>
    spawnSync(
      process.execPath,
      [resolve(import.meta.dirname, '../../scripts/check-test-output.mjs')],
      {
        input,
        encoding: 'utf8'
      }
    )

  it('passes clean output through unchanged', () => {
    const result = check('PASS a.test.ts\nTests: 3 passed\n')
    expect(result.status).toBe(0)
    expect(result.stdout).toBe(
      'PASS a.test.ts\nTests: 3 passed\ntest output check: no workflow command and no key material\n'
    )
  })

  it('fails on a workflow command or a key, and shows neither', () => {
    const result = check(`${log}\n`)
    expect(result.status).toBe(1)
    const shown = result.stdout.split('\n')
    expect(shown.map(unsafeLine).filter(Boolean)).toEqual([])
    expect(result.stdout).not.toContain(key.split('\n')[1])
    expect(result.stdout).toContain(
      'test output check: 7 line(s) held a workflow command and key material'
    )
  })
})

describe('the Jest configuration', () => {
  it('prints a leaky test file without a command or a key, failure message included', () => {
    const root = resolve(import.meta.dirname, '../..')
    const jest = spawnSync(
      process.execPath,
      [
        resolve(root, 'node_modules/jest/bin/jest.js'),
        '--testMatch',
        '**/test-support/fixtures/leaky-output.fixture.ts',
        '--ci'
      ],
      {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, FORCE_COLOR: '0', NODE_OPTIONS: '--experimental-vm-modules' }
      }
    )
    const output = `${jest.stdout}\n${jest.stderr}`
    expect(jest.status).toBe(1)
    expect(output).toContain('prints commands and fails with a key in its failure message')
    expect(output).toContain('[key block of ')
    expect(output).not.toContain('b3BlbnNzaC1rZXktdjEAAAAA')
    expect(output).toContain(':\\x3awarning::from console.log')
    expect(output).toContain(':\\x3aadd-mask::written to stdout')
    expect(output).toContain('##\\x5berror]written to stderr')
    const unsafe = output.split('\n').filter((line) => unsafeLine(line) !== undefined)
    expect(unsafe).toEqual([])
  })
})
