import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { execFileSync, spawnSync } from 'node:child_process'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  RUN_SCRIPT_COMMAND,
  lineSplitter,
  scriptFile,
  shellQuote,
  unpackCommand
} from '../../../src/ephemeral-sg-ssh/script.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'script-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** Runs a command line with bash, the way the remote shell gets it. */
function bash(command: string, input = '', env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync('bash', ['-c', command], {
    input,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: dir, ...env }
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('shellQuote', () => {
  it.each([
    '',
    'plain',
    'two words',
    "it's",
    "''",
    '"double" quotes',
    '$HOME ${PATH} $(id) $((1+1))',
    '`whoami`',
    'back\\slash \\n',
    'line one\nline two\n',
    'tab\there',
    '; rm -rf / #',
    '* ? [a-z] ~ !! & | < > ( ) { }',
    'ünïcödé ✓ 日本語 🚀',
    '-n \'mixed\' "all" $of `the` \\above\n'
  ])('survives bash unchanged: %j', (value) => {
    expect(bash(`printf %s ${shellQuote(value)}`)).toEqual({ code: 0, stdout: value, stderr: '' })
  })

  it('makes one word of anything', () => {
    expect(bash(`printf '<%s>' ${shellQuote('a b')} ${shellQuote("c 'd' e")}`).stdout).toBe(
      "<a b><c 'd' e>"
    )
  })
})

describe('scriptFile', () => {
  it('starts in strict mode, exports the env, then runs the script', () => {
    const file = scriptFile('echo "$STAGE"', [
      { name: 'STAGE', value: 'prod' },
      { name: 'NOTE', value: "it's $HOME" }
    ])
    expect(file).toBe(
      `set -euo pipefail\nexport STAGE='prod'\nexport NOTE='it'\\''s $HOME'\necho "$STAGE"\n`
    )
    expect(file.split('\n')[0]).toBe('set -euo pipefail')
  })

  it('hands every value to the script literally and exported', () => {
    const values = {
      QUOTES: `"a" 'b'`,
      DOLLAR: '$HOME $(id) `id`',
      MULTI: 'one\ntwo\n',
      EQUALS: 'a=b=c',
      EMPTY: '',
      UNICODE: 'ü ✓'
    }
    const env = Object.entries(values).map(([name, value]) => ({ name, value }))
    const script = Object.keys(values)
      .map((name) => `printenv ${name}; printf '\\0'`)
      .join('\n')
    const { code, stdout } = bash(scriptFile(script, env))
    expect(code).toBe(0)
    // printenv adds a newline to each value.
    expect(stdout.split('\0').slice(0, -1)).toEqual(Object.values(values).map((v) => `${v}\n`))
  })

  it('exports over a variable of the same name in the remote environment', () => {
    const { stdout } = bash(scriptFile('echo "[$STAGE]"', [{ name: 'STAGE', value: 'prod' }]), '', {
      STAGE: 'remote'
    })
    expect(stdout).toBe('[prod]\n')
  })

  it('stops at the first failing command (-e)', () => {
    const { code, stdout } = bash(scriptFile('echo before\nfalse\necho after', []))
    expect(code).toBe(1)
    expect(stdout).toBe('before\n')
  })

  it('fails on an unset variable (-u)', () => {
    const { code, stdout, stderr } = bash(scriptFile('echo "$NOT_SET_ANYWHERE"\necho after', []))
    expect(code).not.toBe(0)
    expect(stdout).toBe('')
    expect(stderr).toContain('NOT_SET_ANYWHERE: unbound variable')
  })

  it('fails when any command of a pipeline fails (pipefail)', () => {
    const { code, stdout } = bash(scriptFile('false | cat\necho after', []))
    expect(code).toBe(1)
    expect(stdout).toBe('')
    // Without strict mode the same script would carry on.
    expect(bash('false | cat\necho after').stdout).toBe('after\n')
  })
})

describe('RUN_SCRIPT_COMMAND', () => {
  function run(script: string) {
    const temp = join(dir, 'remote-tmp')
    mkdirSync(temp)
    const result = bash(RUN_SCRIPT_COMMAND, script, { TMPDIR: temp })
    return { ...result, leftover: readdirSync(temp) }
  }

  it("returns the script's exit code and leaves no file behind", () => {
    expect(run('echo out; echo err >&2; exit 7')).toEqual({
      code: 7,
      stdout: 'out\n',
      stderr: 'err\n',
      leftover: []
    })
    rmSync(join(dir, 'remote-tmp'), { recursive: true })
    expect(run(scriptFile('echo ok', []))).toEqual({
      code: 0,
      stdout: 'ok\n',
      stderr: '',
      leftover: []
    })
    rmSync(join(dir, 'remote-tmp'), { recursive: true })
    expect(run(scriptFile('true\nfalse\necho unreachable', []))).toMatchObject({
      code: 1,
      stdout: '',
      leftover: []
    })
  })

  it('gives the script /dev/null as stdin', () => {
    const { code, stdout } = run(
      'readlink /proc/self/fd/0\nif read -r line; then echo "read: $line"; else echo eof; fi'
    )
    expect(code).toBe(0)
    expect(stdout).toBe('/dev/null\neof\n')
  })

  it('runs the script from a private file already deleted when the script starts', () => {
    // The env values are in that file; even a killed script leaves nothing of them on disk.
    const marker = join(dir, 'seen')
    const { code, leftover } = run(
      `{ echo "$0"; stat -L -c '%a' /dev/fd/3; ls -A "$TMPDIR"; } > ${shellQuote(marker)}`
    )
    expect(code).toBe(0)
    expect(leftover).toEqual([])
    expect(readFileSync(marker, 'utf8').split('\n')).toEqual(['/dev/fd/3', '600', ''])
  })

  it('runs the script with bash, not sh', () => {
    expect(run('echo "${BASH_VERSION:+bash}"; [[ 1 == 1 ]]').stdout).toBe('bash\n')
  })
})

describe('unpackCommand', () => {
  it.each(["with space/and 'quote'", 'dollar $HOME `id` $(id)', '-starts-with-dash', 'ünï ✓'])(
    'creates and unpacks into %j',
    (name) => {
      const source = join(dir, 'source')
      mkdirSync(source)
      writeFileSync(join(source, 'file.txt'), 'content')
      const archive = execFileSync('tar', ['-c', '-f', '-', '-C', source, 'file.txt'])
      const remote = join(dir, 'nested', name)
      const result = spawnSync('bash', ['-c', unpackCommand(remote)], { input: archive, cwd: dir })
      expect(result.status).toBe(0)
      expect(readFileSync(join(remote, 'file.txt'), 'utf8')).toBe('content')
    }
  )

  it('quotes the path in both places', () => {
    expect(unpackCommand("/srv/it's")).toBe(
      `mkdir -p -- '/srv/it'\\''s' && tar -x -p --no-same-owner -f - -C '/srv/it'\\''s'`
    )
  })

  it('gives the files to the user who unpacks, not to the owner the archive names', () => {
    const source = join(dir, 'source')
    mkdirSync(source)
    writeFileSync(join(source, 'owned.txt'), 'content')
    // An archive claiming another owner: as root, tar would otherwise chown to it.
    const archive = execFileSync('tar', [
      '-c',
      '-f',
      '-',
      '--owner=4321',
      '--group=4321',
      '-C',
      source,
      'owned.txt'
    ])
    const remote = join(dir, 'unpacked')
    const result = spawnSync('bash', ['-c', unpackCommand(remote)], { input: archive })
    expect(result.status).toBe(0)
    const info = statSync(join(remote, 'owned.txt'))
    expect({ uid: info.uid, gid: info.gid }).toEqual({
      uid: process.getuid!(),
      gid: process.getgid!()
    })
  })
})

describe('lineSplitter', () => {
  function split(chunks: (string | Buffer)[], flush = true): string[] {
    const lines: string[] = []
    const splitter = lineSplitter((line) => lines.push(line))
    for (const chunk of chunks) splitter.push(chunk)
    if (flush) splitter.flush()
    return lines
  }

  it('joins lines split across chunks and splits chunks holding several lines', () => {
    expect(split(['ab', 'c\nde', 'f\ng', 'h\n'])).toEqual(['abc', 'def', 'gh'])
    expect(split(['one\ntwo\nthree\n'])).toEqual(['one', 'two', 'three'])
    expect(split([Buffer.from('x\ny'), Buffer.from('z\n')])).toEqual(['x', 'yz'])
  })

  it('decodes a multi-byte character split between two chunks', () => {
    const bytes = Buffer.from('héllo ✓\nsecond ✓')
    expect(split([bytes.subarray(0, 2), bytes.subarray(2, 9), bytes.subarray(9)])).toEqual([
      'héllo ✓',
      'second ✓'
    ])
  })

  it('strips a carriage return before the newline, even across chunks', () => {
    expect(split(['a\r\nb\r', '\nc\rd\n'])).toEqual(['a', 'b', 'c\rd'])
  })

  it('keeps empty lines', () => {
    expect(split(['\n\na\n', '\n'])).toEqual(['', '', 'a', ''])
  })

  it('emits a line only once it is complete, and the tail on flush', () => {
    const lines: string[] = []
    const splitter = lineSplitter((line) => lines.push(line))
    splitter.push('partial')
    expect(lines).toEqual([])
    splitter.push(' line\nnext')
    expect(lines).toEqual(['partial line'])
    splitter.flush()
    expect(lines).toEqual(['partial line', 'next'])
    splitter.flush()
    expect(lines).toEqual(['partial line', 'next'])
    splitter.push('again\n')
    expect(lines).toEqual(['partial line', 'next', 'again'])
  })

  it('emits nothing on flush when the output ended with a newline', () => {
    expect(split(['done\n'])).toEqual(['done'])
    expect(split([])).toEqual([])
    expect(split(['no newline'], false)).toEqual([])
  })
})
