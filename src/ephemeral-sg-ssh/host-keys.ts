import { createHash, createHmac } from 'node:crypto'

/** One trusted (or revoked) host key: from a known_hosts line or a fingerprint line. */
export interface HostKeyPin {
  /** known_hosts host patterns (`host`, `[host]:port`, wildcards, `!negation`, `|1|` hashes); empty = any host. */
  patterns: string[]
  keyType?: string
  /** `SHA256:` + unpadded base64, as `ssh-keygen -l` prints it. */
  fingerprint: string
  revoked: boolean
  /** Where it came from, for messages. */
  source: string
}

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-dss'
])

/** The algorithms a client offers to get a host key of a given type. */
const ALGORITHMS_FOR_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-dss': ['ssh-dss']
}

export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`
}

/** The key type named inside an SSH public key blob (a length-prefixed string first). */
export function keyTypeOf(keyBlob: Buffer): string | undefined {
  if (keyBlob.length < 4) return undefined
  const length = keyBlob.readUInt32BE(0)
  if (length > 64 || keyBlob.length < 4 + length) return undefined
  return keyBlob.subarray(4, 4 + length).toString('latin1')
}

export function parseKnownHosts(text: string): HostKeyPin[] | { error: string } {
  const pins: HostKeyPin[] = []
  const lines = text.split(/\r?\n/)
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const fields = line.split(/\s+/)
    let revoked = false
    if (fields[0]?.startsWith('@')) {
      const marker = fields.shift()
      if (marker === '@revoked') revoked = true
      else
        return {
          error: `line ${index + 1}: ${marker} entries are not supported; pin the host keys themselves`
        }
    }
    const [hosts, keyType, base64] = fields
    if (
      hosts === undefined ||
      keyType === undefined ||
      base64 === undefined ||
      !KEY_TYPES.has(keyType)
    ) {
      return { error: `line ${index + 1} is not 'host key-type base64-key'` }
    }
    const blob = Buffer.from(base64, 'base64')
    if (keyTypeOf(blob) !== keyType) {
      return { error: `line ${index + 1}: the key is not a valid ${keyType} key` }
    }
    pins.push({
      patterns: hosts.split(','),
      keyType,
      fingerprint: fingerprintOf(blob),
      revoked,
      source: `known-hosts line ${index + 1}`
    })
  }
  return pins
}

/** Lines of `[host-pattern] [key-type] SHA256:…`; without a pattern a pin applies to every host. */
export function parseFingerprints(text: string): HostKeyPin[] | { error: string } {
  const pins: HostKeyPin[] = []
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const fields = line.split(/\s+/)
    const fingerprint = fields.pop()!
    if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(fingerprint)) {
      return {
        error: `line ${index + 1}: '${fingerprint}' is not a SHA256:… fingerprint as ssh-keygen -l prints it`
      }
    }
    let keyType: string | undefined
    if (fields.length > 0 && KEY_TYPES.has(fields[fields.length - 1]!)) keyType = fields.pop()
    if (fields.length > 1) return { error: `line ${index + 1} is not '[host] [key-type] SHA256:…'` }
    pins.push({
      patterns: fields.length === 1 ? fields[0]!.split(',') : [],
      ...(keyType !== undefined ? { keyType } : {}),
      fingerprint,
      revoked: false,
      source: `host-fingerprints line ${index + 1}`
    })
  }
  return pins
}

/** How known_hosts names a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function matchesPattern(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|')
    if (salt === undefined || hash === undefined) return false
    // OpenSSH hashes host names lower-cased, as it matches plain patterns without case.
    const digest = createHmac('sha1', Buffer.from(salt, 'base64'))
      .update(name.toLowerCase())
      .digest('base64')
    return digest === hash
  }
  const regex = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
    'i'
  )
  return regex.test(name)
}

/** known_hosts matching: any positive pattern matches and no negated (`!`) one does. */
export function pinApplies(pin: HostKeyPin, host: string, port: number): boolean {
  if (pin.patterns.length === 0) return true
  const name = knownHostsName(host, port)
  let matched = false
  for (const pattern of pin.patterns) {
    if (pattern.startsWith('!')) {
      if (matchesPattern(pattern.slice(1), name)) return false
    } else if (matchesPattern(pattern, name)) {
      matched = true
    }
  }
  return matched
}

export function pinsFor(pins: readonly HostKeyPin[], host: string, port: number): HostKeyPin[] {
  return pins.filter((pin) => pinApplies(pin, host, port))
}

/**
 * Host key algorithms to offer: only the pinned types, so a server with several host keys
 * presents the one that was pinned. Undefined (the library's default list) when a pin has no type.
 */
export function hostKeyAlgorithms(pins: readonly HostKeyPin[]): string[] | undefined {
  const trusted = pins.filter((pin) => !pin.revoked)
  if (trusted.length === 0 || trusted.some((pin) => pin.keyType === undefined)) return undefined
  return [...new Set(trusted.flatMap((pin) => ALGORITHMS_FOR_TYPE[pin.keyType!] ?? []))]
}

export type Verdict = { trusted: true } | { trusted: false; reason: string }

/** Decides whether the key a server presented is one of the pinned keys for it. */
export function verifyHostKey(pins: readonly HostKeyPin[], keyBlob: Buffer): Verdict {
  const fingerprint = fingerprintOf(keyBlob)
  const type = keyTypeOf(keyBlob) ?? 'unknown'
  const revoked = pins.find((pin) => pin.revoked && pin.fingerprint === fingerprint)
  if (revoked)
    return {
      trusted: false,
      reason: `its ${type} key ${fingerprint} is revoked (${revoked.source})`
    }
  if (pins.some((pin) => !pin.revoked && pin.fingerprint === fingerprint)) return { trusted: true }
  return {
    trusted: false,
    reason: `it presented a ${type} key ${fingerprint}, which matches none of the ${pins.filter((p) => !p.revoked).length} pinned key(s) for it`
  }
}
