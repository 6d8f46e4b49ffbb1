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
    const notAForm = (line: number) => ({
      error: `line ${line} is not '[host] [key-type] SHA256:…' nor a line ssh-keygen -l prints ('256 SHA256:… comment (ED25519)')`
    })
    expect(parseFingerprints(`web-1 web-2 ${fingerprint}`)).toEqual(notAForm(1))
    expect(parseFingerprints(`web-1 ssh-foo ${fingerprint}`)).toEqual(notAForm(1))
    expect(parseFingerprints(`\nroot@web-1 ${fingerprint}`)).toEqual(notAForm(2))
    expect(parseFingerprints(`256 ${fingerprint} web-1`)).toEqual({
      error: "line 1: 'web-1' is not a SHA256:… fingerprint as ssh-keygen -l prints it"
    })
  })

  it('reads ssh-keygen short type names, as in its parentheses', () => {
    const fingerprint = 'SHA256:7Lw6BGC9lFCjZQa7fVqEtOdyKnUtb5ODnyfEQ7Q4Wuc'
    const typeOf = (text: string) => fingerprintPins(text)[0]?.keyType
    expect(typeOf(`ED25519 ${fingerprint}`)).toBe('ssh-ed25519')
    expect(typeOf(`web-1 RSA ${fingerprint}`)).toBe('ssh-rsa')
    expect(typeOf(`DSA ${fingerprint}`)).toBe('ssh-dss')
    expect(typeOf(`ED25519-SK ${fingerprint}`)).toBe('sk-ssh-ed25519@openssh.com')
    expect(typeOf(`ECDSA-SK ${fingerprint}`)).toBe('sk-ecdsa-sha2-nistp256@openssh.com')
    expect(typeOf(`256 ${fingerprint} root@vm (ECDSA)`)).toBe('ecdsa-sha2-nistp256')
    expect(typeOf(`384 ${fingerprint} root@vm (ECDSA)`)).toBe('ecdsa-sha2-nistp384')
    expect(typeOf(`521 ${fingerprint} root@vm (ECDSA)`)).toBe('ecdsa-sha2-nistp521')
    expect(typeOf(`256 ${fingerprint} root@vm (ECDSA-SK)`)).toBe(
      'sk-ecdsa-sha2-nistp256@openssh.com'
    )
    // Without a bit count the curve is unknown: any ECDSA key is of the pinned type.
    expect(typeOf(`ECDSA ${fingerprint}`)).toBe('ecdsa')
  })

  it('refuses a parenthesised type ssh-keygen does not print, naming the line', () => {
    const fingerprint = 'SHA256:7Lw6BGC9lFCjZQa7fVqEtOdyKnUtb5ODnyfEQ7Q4Wuc'
    expect(parseFingerprints(`# pins\n3072 ${fingerprint} root@vm (RSA2)`)).toEqual({
      error:
        "line 2: 'RSA2' with 3072 bits is not a key type ssh-keygen -l prints (ED25519, ECDSA, RSA, DSA, ED25519-SK, ECDSA-SK)"
    })
    expect(parseFingerprints(`300 ${fingerprint} root@vm (ECDSA)`)).toMatchObject({
      error: expect.stringMatching(/^line 1: 'ECDSA' with 300 bits/)
    })
    expect(parseFingerprints(`256 SHA256:short root@vm (ED25519)`)).toEqual({
      error: "line 1: 'SHA256:short' is not a SHA256:… fingerprint as ssh-keygen -l prints it"
    })
  })
})

describe('parseFingerprints reads what ssh-keygen -l prints', () => {
  /** A key as ssh-keygen makes it, with `comment` (`''`: ssh-keygen's own default, user@host). */
  function keyWithComment(name: string, type: string, comment?: string): string {
    const path = join(dir, name)
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      type,
      '-N',
      '',
      ...(comment !== undefined ? ['-C', comment] : []),
      '-f',
      path
    ])
    return `${path}.pub`
  }
  const listed = (args: string[], input?: string) =>
    execFileSync('ssh-keygen', args, { encoding: 'utf8', ...(input ? { input } : {}) }).trim()

  it.each([
    ['the default user@host comment', 'ed25519', undefined],
    ['an RSA key', 'rsa', 'root@ip-10-0-1-10'],
    ['an ECDSA key', 'ecdsa', 'root@ip-10-0-1-10'],
    ['no comment', 'ed25519', ''],
    ['a comment with spaces', 'ed25519', 'deploy key for web (2024)']
  ])('a .pub file with %s, as a pin for every host', (name, type, comment) => {
    const pub = keyWithComment(name.replace(/\W+/g, '-'), type, comment)
    const line = listed(['-l', '-f', pub])
    expect(line).toMatch(/^\d+ SHA256:\S+ .* \([A-Z0-9-]+\)$/)
    const pins = fingerprintPins(line)
    const blob = Buffer.from(readFileSync(pub, 'utf8').split(' ')[1]!, 'base64')
    expect(pins).toEqual([
      {
        patterns: [],
        keyType: keyTypeOf(blob),
        fingerprint: fingerprintOf(blob),
        revoked: false,
        source: 'host-fingerprints line 1'
      }
    ])
    expect(verifyHostKey(pins, blob)).toEqual({ trusted: true })
  })

  it('known_hosts lines piped to ssh-keygen -lf -: the field is the host it applies to', () => {
    const knownHosts = [
      line('web-1', ed25519),
      line('[127.0.0.1]:2222', rsa),
      line('web-2,10.0.0.6', ecdsa384)
    ].join('\n')
    const printed = listed(['-lf', '-'], knownHosts + '\n')
    expect(printed.split('\n')).toEqual([
      expect.stringMatching(/^256 SHA256:\S+ web-1 \(ED25519\)$/),
      expect.stringMatching(/^2048 SHA256:\S+ \[127\.0\.0\.1\]:2222 \(RSA\)$/),
      expect.stringMatching(/^384 SHA256:\S+ web-2,10\.0\.0\.6 \(ECDSA\)$/)
    ])
    const pins = fingerprintPins(printed)
    expect(pins.map((pin) => [pin.patterns, pin.keyType, pin.fingerprint])).toEqual([
      [['web-1'], 'ssh-ed25519', ed25519.fingerprint],
      [['[127.0.0.1]:2222'], 'ssh-rsa', rsa.fingerprint],
      [['web-2', '10.0.0.6'], 'ecdsa-sha2-nistp384', ecdsa384.fingerprint]
    ])
    expect(pinsFor(pins, 'web-1', 22).map((pin) => pin.fingerprint)).toEqual([ed25519.fingerprint])
    expect(pinsFor(pins, '127.0.0.1', 2222).map((pin) => pin.fingerprint)).toEqual([
      rsa.fingerprint
    ])
    expect(pinsFor(pins, '127.0.0.1', 22)).toEqual([])
    expect(pinsFor(pins, '10.0.0.6', 22).map((pin) => pin.keyType)).toEqual(['ecdsa-sha2-nistp384'])
  })

  it('hashed known_hosts lines keep their hashed host', () => {
    const file = join(dir, 'hashed_known_hosts')
    writeFileSync(file, line('web-9', ed25519) + '\n')
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' })
    const pins = fingerprintPins(listed(['-lf', file]))
    expect(pins[0]?.patterns[0]).toMatch(/^\|1\|/)
    expect(pinsFor(pins, 'web-9', 22)).toHaveLength(1)
    expect(pinsFor(pins, 'web-8', 22)).toEqual([])
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

  it('offers every host key type when a pin has no type', () => {
    const typed = pinsOf(line('web-1', ed25519))
    expect(hostKeyAlgorithms([...typed, ...fingerprintPins(rsa.fingerprint)])).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-dss'
    ])
  })

  it('leaves out the types the server has already shown, down to nothing', () => {
    const pins = fingerprintPins(rsa.fingerprint)
    expect(hostKeyAlgorithms(pins, new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256']))).toEqual([
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-dss'
    ])
    const all = new Set([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      'ssh-rsa',
      'ssh-dss'
    ])
    expect(hostKeyAlgorithms(pins, all)).toEqual([])
  })

  it('offers every curve for an ECDSA pin without one, and nothing for security-key types', () => {
    expect(hostKeyAlgorithms(fingerprintPins(`ECDSA ${ecdsa.fingerprint}`))).toEqual([
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521'
    ])
    expect(hostKeyAlgorithms(fingerprintPins(`ED25519-SK ${ed25519.fingerprint}`))).toEqual([])
  })

  it('is undefined when there is no trusted pin', () => {
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
      reason: `it presented a ssh-ed25519 key ${other.fingerprint}, which matches none of the 2 pinned key(s) for it`,
      otherTypesMayMatch: false
    })
    expect(verifyHostKey(pins, ecdsa.blob)).toEqual({
      trusted: false,
      reason: `it presented a ecdsa-sha2-nistp256 key ${ecdsa.fingerprint}, which matches none of the 2 pinned key(s) for it`,
      otherTypesMayMatch: false
    })
  })

  it('asks for another key type only when a pin has no type and none names the type shown', () => {
    const mayMatch = (pins: HostKeyPin[], key: GeneratedKey) => {
      const verdict = verifyHostKey(pins, key.blob)
      return verdict.trusted ? 'trusted' : verdict.otherTypesMayMatch
    }
    // A bare pin of the RSA key; the server shows its ed25519 key first.
    expect(mayMatch(fingerprintPins(rsa.fingerprint), ed25519)).toBe(true)
    // The ed25519 type is pinned, with another key: that is the wrong key, not another type.
    const typedAndBare = fingerprintPins(`ssh-ed25519 ${other.fingerprint}\n${rsa.fingerprint}`)
    expect(mayMatch(typedAndBare, ed25519)).toBe(false)
    expect(mayMatch(typedAndBare, ecdsa)).toBe(true)
    expect(mayMatch(typedAndBare, rsa)).toBe('trusted')
    // Every pin typed: only those types were offered, so a mismatch is final.
    expect(mayMatch(fingerprintPins(`ssh-rsa ${rsa.fingerprint}`), ed25519)).toBe(false)
    // An ECDSA pin of no particular curve names every ECDSA key.
    expect(
      mayMatch(fingerprintPins(`ECDSA ${ecdsa384.fingerprint}\n${rsa.fingerprint}`), ecdsa)
    ).toBe(false)
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
      reason: `its ssh-ed25519 key ${ed25519.fingerprint} is revoked (known-hosts line 2)`,
      otherTypesMayMatch: false
    })
  })
})
