import { describe, expect, it } from '@jest/globals'
import { escapeBytes, escapeText, hasControlCharacter } from '../../src/common/untrusted.js'

/** What the runner would act on: a line starting with `::` after blanks, or `##[` anywhere. */
function runnerWouldObey(log: string): boolean {
  return log.split(/\r?\n|\r/).some((line) => /^\s*::/.test(line) || line.includes('##['))
}

describe('escapeText', () => {
  it('leaves ordinary names as they are', () => {
    expect(escapeText('dags/orders daily/ünïcode_日本.py')).toBe(
      'dags/orders daily/ünïcode_日本.py'
    )
  })

  it.each([
    'x.py\n::add-mask::dags',
    '::warning::forged',
    'a\r::error::b',
    'ok ##[add-mask]dags',
    'tab\there\u0085next\u2028line',
    '\u001b[31mred'
  ])('makes %j one line no runner obeys', (name) => {
    const escaped = escapeText(name)
    expect(hasControlCharacter(escaped)).toBe(false)
    expect(runnerWouldObey(escaped)).toBe(false)
    expect(runnerWouldObey(`uploaded ${escaped}`)).toBe(false)
  })

  it('is unambiguous: a backslash is doubled, a line break is \\n', () => {
    expect(escapeText('a\\nb')).toBe('a\\\\nb')
    expect(escapeText('a\nb')).toBe('a\\nb')
    expect(escapeText('::x')).toBe(':\\x3ax')
  })
})

describe('escapeBytes', () => {
  it('shows valid UTF-8 as text and each stray byte as \\xNN', () => {
    const name = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from('.py\n')])
    expect(escapeBytes(name)).toBe('caf\\xe9.py\\n')
    expect(escapeBytes(Buffer.from('日本.py'))).toBe('日本.py')
    expect(escapeBytes(Buffer.from([0xff, 0x3a, 0x3a, 0x41]))).toBe('\\xff:\\x3aA')
  })
})

describe('hasControlCharacter', () => {
  it('finds C0, DEL and C1 controls, not ordinary text', () => {
    expect(hasControlCharacter('dags/a.py')).toBe(false)
    expect(hasControlCharacter('a\u0000b')).toBe(true)
    expect(hasControlCharacter('a\u007fb')).toBe(true)
    expect(hasControlCharacter('a\u0085b')).toBe(true)
  })
})
