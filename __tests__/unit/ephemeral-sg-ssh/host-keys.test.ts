import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  fingerprintOf,
  hostKeyAlgorithms,
  keyTypeOf,
  knownHostsName,
  parseFingerprints,
  parseKnownHosts,
  pinsFor,
  verifyHostKey,
  type HostKeyPin
} from '../../../src/ephemeral-sg-ssh/host-keys.js'
import { generateKey, type GeneratedKey } from './ssh-keys.js'

let dir: string
let ed25519: GeneratedKey
let rsa: GeneratedKey
let ecdsa: GeneratedKey
let ecdsa384: GeneratedKey
let other: GeneratedKey

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'host-keys-'))
  ed25519 = generateKey(dir, 'ed25519', ['-t', 'ed25519'])
  rsa = generateKey(dir, 'rsa', ['-t', 'rsa', '-b', '2048'])
  ecdsa = generateKey(dir, 'ecdsa', ['-t', 'ecdsa', '-b', '256'])
  ecdsa384 = generateKey(dir, 'ecdsa384', ['-t', 'ecdsa', '-b', '384'])
  other = generateKey(dir, 'other', ['-t', 'ed25519'])
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

const line = (hosts: string, key: GeneratedKey) => `${hosts} ${key.type} ${key.base64}`

function pinsOf(text: string): HostKeyPin[] {
  const pins = parseKnownHosts(text)
  if ('error' in pins) throw new Error(pins.error)
  return pins
}

function fingerprintPins(text: string): HostKeyPin[] {
  const pins = parseFingerprints(text)
  if ('error' in pins) throw new Error(pins.error)
  return pins
}

/** Which of these host/port pairs a pin applies to. */
function appliesTo(pins: HostKeyPin[], targets: [string, number][]): string[] {
  return targets
    .filter(([host, port]) => pinsFor(pins, host, port).length > 0)
    .map(([host, port]) => knownHostsName(host, port))
}

describe('fingerprintOf and keyTypeOf', () => {
  it('agree with ssh-keygen -l for every key type', () => {
    for (const key of [ed25519, rsa, ecdsa, ecdsa384]) {
      expect(fingerprintOf(key.blob)).toBe(key.fingerprint)
      expect(keyTypeOf(key.blob)).toBe(key.type)
    }
    expect([ed25519.type, rsa.type, ecdsa.type, ecdsa384.type]).toEqual([
      'ssh-ed25519',
      'ssh-rsa',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384'
    ])
  })

  it('finds no type in a blob too short to hold one', () => {
    expect(keyTypeOf(Buffer.from([0, 0]))).toBeUndefined()
    expect(keyTypeOf(Buffer.from([0, 0, 0, 20, 65]))).toBeUndefined()
    expect(keyTypeOf(Buffer.from('garbage that is not a key'))).toBeUndefined()
  })
})

describe('knownHostsName', () => {
  it('writes the port only when it is not 22', () => {
    expect(knownHostsName('web-1', 22)).toBe('web-1')
    expect(knownHostsName('web-1', 2222)).toBe('[web-1]:2222')
    expect(knownHostsName('2001:db8::1', 22)).toBe('2001:db8::1')
    expect(knownHostsName('2001:db8::1', 2200)).toBe('[2001:db8::1]:2200')
  })
})

describe('parseKnownHosts', () => {
  it('reads a plain line with the fingerprint ssh-keygen prints, ignoring a trailing comment', () => {
    expect(parseKnownHosts(`${ed25519.publicLine.replace(/^/, 'web-1 ')}`)).toEqual([
      {
        patterns: ['web-1'],
        keyType: 'ssh-ed25519',
        fingerprint: ed25519.fingerprint,
        revoked: false,
        source: 'known-hosts line 1'
      }
    ])
  })

  it('reads rsa and ecdsa keys, skipping comments and blank lines but counting them', () => {
    const pins = pinsOf(
      ['# from ssh-keyscan', '', line('web-1', rsa), '   ', line('web-1', ecdsa)].join('\r\n')
    )
    expect(pins.map((pin) => [pin.keyType, pin.fingerprint, pin.source])).toEqual([
      ['ssh-rsa', rsa.fingerprint, 'known-hosts line 3'],
      ['ecdsa-sha2-nistp256', ecdsa.fingerprint, 'known-hosts line 5']
    ])
  })

  it('returns no pins for empty text', () => {
    expect(parseKnownHosts('')).toEqual([])
    expect(parseKnownHosts('\n# nothing\n')).toEqual([])
  })

  it('matches host on port 22 and [host]:port on other ports', () => {
    const targets: [string, number][] = [
      ['web-1', 22],
      ['web-1', 2222],
      ['web-2', 22]
    ]
    expect(appliesTo(pinsOf(line('web-1', ed25519)), targets)).toEqual(['web-1'])
    expect(appliesTo(pinsOf(line('[web-1]:2222', ed25519)), targets)).toEqual(['[web-1]:2222'])
  })

  it('matches any name of a comma list', () => {
    const pins = pinsOf(line('web-1,10.0.0.5,[10.0.0.6]:2200', ed25519))
    expect(pins[0]?.patterns).toEqual(['web-1', '10.0.0.5', '[10.0.0.6]:2200'])
    expect(
      appliesTo(pins, [
        ['web-1', 22],
        ['10.0.0.5', 22],
        ['10.0.0.6', 2200],
        ['10.0.0.6', 22],
        ['10.0.0.50', 22]
      ])
    ).toEqual(['web-1', '10.0.0.5', '[10.0.0.6]:2200'])
  })

  it('matches wildcards, case-insensitively, and only whole names', () => {
    const pins = pinsOf(line('*.internal,web-?', ed25519))
    expect(
      appliesTo(pins, [
        ['a.internal', 22],
        ['A.B.INTERNAL', 22],
        ['internal', 22],
        ['a.internal.example.com', 22],
        ['web-1', 22],
        ['web-12', 22],
        ['a.internal', 2222]
      ])
    ).toEqual(['a.internal', 'A.B.INTERNAL', 'web-1'])
  })

  it('treats the dot of a pattern literally', () => {
    expect(appliesTo(pinsOf(line('10.0.0.5', ed25519)), [['10a0b0c5', 22]])).toEqual([])
  })

  it('lets a negated pattern exclude a host a wildcard would match', () => {
    const pins = pinsOf(line('*.internal,!db.internal', ed25519))
    expect(
      appliesTo(pins, [
        ['web.internal', 22],
        ['db.internal', 22]
      ])
    ).toEqual(['web.internal'])
    // A negation alone matches nothing.
    expect(appliesTo(pinsOf(line('!db.internal', ed25519)), [['web.internal', 22]])).toEqual([])
  })

  it('matches hashed entries made by ssh-keygen -H', () => {
    const file = join(dir, 'known_hosts')
    writeFileSync(file, [line('web-1,10.0.0.5', ed25519), line('[web-2]:2222', rsa), ''].join('\n'))
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' })
    const hashed = readFileSync(file, 'utf8')
    expect(hashed).not.toMatch(/web-1|10\.0\.0\.5|web-2/)
    const pins = pinsOf(hashed)
    expect(pins).toHaveLength(3)
    for (const pin of pins) expect(pin.patterns[0]).toMatch(/^\|1\|[^|]+\|[^|]+$/)
    expect(pinsFor(pins, 'web-1', 22).map((pin) => pin.fingerprint)).toEqual([ed25519.fingerprint])
    // OpenSSH hashes lower-cased names, as plain patterns match without case.
    expect(pinsFor(pins, 'Web-1', 22).map((pin) => pin.fingerprint)).toEqual([ed25519.fingerprint])
    expect(pinsFor(pins, '10.0.0.5', 22).map((pin) => pin.fingerprint)).toEqual([
      ed25519.fingerprint
    ])
    expect(pinsFor(pins, 'web-2', 2222).map((pin) => pin.fingerprint)).toEqual([rsa.fingerprint])
    expect(pinsFor(pins, 'web-2', 22)).toEqual([])
    expect(pinsFor(pins, 'web-3', 22)).toEqual([])
  })

  it('does not match a malformed hashed pattern', () => {
    expect(appliesTo(pinsOf(line('|1|onlysalt', ed25519)), [['web-1', 22]])).toEqual([])
  })

  it('marks @revoked entries', () => {
    const pins = pinsOf(`${line('web-1', ed25519)}\n@revoked * ${other.type} ${other.base64}`)
    expect(pins.map((pin) => [pin.fingerprint, pin.revoked, pin.patterns])).toEqual([
      [ed25519.fingerprint, false, ['web-1']],
      [other.fingerprint, true, ['*']]
    ])
  })

  it('refuses @cert-authority entries, naming the line', () => {
    expect(
      parseKnownHosts(`${line('web-1', ed25519)}\n@cert-authority *.internal ${line('', rsa)}`)
    ).toEqual({
      error: 'line 2: @cert-authority entries are not supported; pin the host keys themselves'
    })
  })

  it.each([
    [`web-1 ssh-ed25519`, 1],
    [`web-1`, 1],
    [`# ok\nweb-1 ssh-foo AAAA`, 2],
    [`\n\nweb-1 AAAAC3NzaC1lZDI1NTE5 ssh-ed25519`, 3],
    [`@revoked web-1 ssh-ed25519`, 1]
  ])('names the line of a malformed entry in %j', (text, number) => {
    expect(parseKnownHosts(text)).toEqual({
      error: `line ${number} is not 'host key-type base64-key'`
    })
  })

  it('refuses a key whose content is of another type than the line says', () => {
    const text = `${line('web-1', ed25519)}\nweb-1 ssh-rsa ${ed25519.base64}`
    expect(parseKnownHosts(text)).toEqual({
      error: 'line 2: the key is not a valid ssh-rsa key'
    })
    expect(parseKnownHosts('web-1 ssh-ed25519 bm90IGEga2V5')).toEqual({
      error: 'line 1: the key is not a valid ssh-ed25519 key'
    })
  })
})

describe('parseFingerprints', () => {
  it('reads a bare fingerprint as a pin for every host, without a key type', () => {
    const pins = fingerprintPins(ed25519.fingerprint)
    expect(pins).toEqual([
      {
        patterns: [],
        fingerprint: ed25519.fingerprint,
        revoked: false,
        source: 'host-fingerprints line 1'
      }
    ])
    expect(pinsFor(pins, 'anything', 2222)).toHaveLength(1)
  })

  it('reads host patterns and key types', () => {
    const pins = fingerprintPins(
      [
        `# pinned out of band`,
        `web-1,web-2 ssh-ed25519 ${ed25519.fingerprint}`,
        `[bastion]:2200 ${rsa.fingerprint}`,
        `ecdsa-sha2-nistp256   ${ecdsa.fingerprint}`
      ].join('\n')
    )
    expect(pins).toEqual([
      {
        patterns: ['web-1', 'web-2'],
        keyType: 'ssh-ed25519',
        fingerprint: ed25519.fingerprint,
        revoked: false,
        source: 'host-fingerprints line 2'
      },
      {
        patterns: ['[bastion]:2200'],
        fingerprint: rsa.fingerprint,
        revoked: false,
        source: 'host-fingerprints line 3'
      },
      {
        patterns: [],
        keyType: 'ecdsa-sha2-nistp256',
        fingerprint: ecdsa.fingerprint,
        revoked: false,
        source: 'host-fingerprints line 4'
      }
    ])
    expect(pinsFor(pins, 'web-2', 22).map((pin) => pin.source)).toEqual([
      'host-fingerprints line 2',
      'host-fingerprints line 4'
    ])
    expect(pinsFor(pins, 'bastion', 2200).map((pin) => pin.source)).toEqual([
      'host-fingerprints line 3',
      'host-fingerprints line 4'
    ])
    expect(pinsFor(pins, 'bastion', 22).map((pin) => pin.source)).toEqual([
      'host-fingerprints line 4'
    ])
  })

  it.each([
    ['MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48', 1],
    ['SHA256:tooShort', 1],
    ['\nweb-1 SHA256:7Lw6BGC9lFCjZQa7fVqEtOdyKnUtb5ODnyfEQ7Q4Wuc=', 2],
    ['sha256:7Lw6BGC9lFCjZQa7fVqEtOdyKnUtb5ODnyfEQ7Q4Wuc', 1],
    ['web-1 ssh-ed25519', 1]
  ])('refuses %j, naming the line', (text, number) => {
    const result = parseFingerprints(text)
    expect(result).toEqual({ error: expect.stringMatching(new RegExp(`^line ${number}: '`)) })
    expect((result as { error: string }).error).toContain(
      'is not a SHA256:… fingerprint as ssh-keygen -l prints it'
    )
  })

  it('refuses more than a host and a key type before the fingerprint', () => {
    const fingerprint = 'SHA256:7Lw6BGC9lFCjZQa7fVqEtOdyKnUtb5ODnyfEQ7Q4Wuc'
    expect(parseFingerprints(`web-1 web-2 ${fingerprint}`)).toEqual({
      error: "line 1 is not '[host] [key-type] SHA256:…'"
    })
    expect(parseFingerprints(`web-1 ssh-foo ${fingerprint}`)).toEqual({
      error: "line 1 is not '[host] [key-type] SHA256:…'"
    })
  })
})

describe('hostKeyAlgorithms', () => {
  it('offers only the pinned key types', () => {
    expect(hostKeyAlgorithms(pinsOf(line('web-1', ed25519)))).toEqual(['ssh-ed25519'])
    expect(hostKeyAlgorithms(pinsOf(line('web-1', ecdsa384)))).toEqual(['ecdsa-sha2-nistp384'])
  })

  it('offers the SHA-2 signature algorithms for an RSA key, strongest first', () => {
    expect(hostKeyAlgorithms(pinsOf(line('web-1', rsa)))).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa'
    ])
  })

  it('combines several types without repeats', () => {
    const pins = pinsOf(
      [line('web-1', ed25519), line('web-1', rsa), line('web-2', other), line('web-1', ecdsa)].join(
        '\n'
      )
    )
    expect(hostKeyAlgorithms(pins)).toEqual([
      'ssh-ed25519',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ecdsa-sha2-nistp256'
    ])
  })

  it('leaves out the types of revoked keys', () => {
    const pins = pinsOf(`${line('web-1', ed25519)}\n@revoked ${line('web-1', rsa)}`)
    expect(hostKeyAlgorithms(pins)).toEqual(['ssh-ed25519'])
  })

  it('is undefined (the default list) when a pin has no type, or there is no trusted pin', () => {
    const typed = pinsOf(line('web-1', ed25519))
    expect(hostKeyAlgorithms([...typed, ...fingerprintPins(rsa.fingerprint)])).toBeUndefined()
    expect(hostKeyAlgorithms([])).toBeUndefined()
    expect(hostKeyAlgorithms(pinsOf(`@revoked ${line('web-1', rsa)}`))).toBeUndefined()
  })
})

describe('verifyHostKey', () => {
  it('trusts a key pinned in known_hosts or by fingerprint', () => {
    expect(verifyHostKey(pinsOf(line('web-1', rsa)), rsa.blob)).toEqual({ trusted: true })
    expect(verifyHostKey(fingerprintPins(ecdsa.fingerprint), ecdsa.blob)).toEqual({
      trusted: true
    })
    const several = pinsOf([line('web-1', ed25519), line('web-1', rsa)].join('\n'))
    expect(verifyHostKey(several, ed25519.blob)).toEqual({ trusted: true })
    expect(verifyHostKey(several, rsa.blob)).toEqual({ trusted: true })
  })

  it('names the type and fingerprint of a key that matches no pin', () => {
    const pins = pinsOf([line('web-1', ed25519), line('web-1', rsa)].join('\n'))
    expect(verifyHostKey(pins, other.blob)).toEqual({
      trusted: false,
      reason: `it presented a ssh-ed25519 key ${other.fingerprint}, which matches none of the 2 pinned key(s) for it`
    })
    expect(verifyHostKey(pins, ecdsa.blob)).toEqual({
      trusted: false,
      reason: `it presented a ecdsa-sha2-nistp256 key ${ecdsa.fingerprint}, which matches none of the 2 pinned key(s) for it`
    })
  })

  it('trusts nothing with no pins', () => {
    expect(verifyHostKey([], ed25519.blob)).toMatchObject({ trusted: false })
  })

  it('rejects a revoked key even when it is also pinned', () => {
    const pins = [
      ...fingerprintPins(ed25519.fingerprint),
      ...pinsOf(`# revoked\n@revoked * ${ed25519.type} ${ed25519.base64}`)
    ]
    expect(verifyHostKey(pins, ed25519.blob)).toEqual({
      trusted: false,
      reason: `its ssh-ed25519 key ${ed25519.fingerprint} is revoked (known-hosts line 2)`
    })
  })
})
