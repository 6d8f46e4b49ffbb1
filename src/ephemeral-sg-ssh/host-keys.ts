import { createHash, createHmac } from 'node:crypto'
import { escapeText } from '../common/untrusted.js'

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

/** Key types that live on a security key: ssh-keygen lists them, but no server can have one as its host key. */
const SECURITY_KEY_TYPES = new Set([
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com'
])

/** An ECDSA pin whose curve was not written (`ECDSA SHA256:…`): any of the three curves. */
const ANY_ECDSA = 'ecdsa'

/** The algorithms a client offers to get a host key of a given type, in the order tried. */
const ALGORITHMS_FOR_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
  [ANY_ECDSA]: ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521']
}

/** Every host key type a server may have, in the order a type-less pin tries them. */
const HOST_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
  'ssh-dss'
]

/** True when a pin of `pinType` is a pin for keys of `keyType`. */
function typeCovers(pinType: string, keyType: string): boolean {
  return pinType === keyType || (pinType === ANY_ECDSA && keyType.startsWith('ecdsa-sha2-'))
}

/**
 * The key type ssh-keygen -l names in parentheses, as SSH names it. ECDSA needs the bit count
 * for its curve; without one it stands for any curve.
 */
function typeFromShortName(name: string, bits?: number): string | undefined {
  switch (name) {
    case 'ED25519':
      return 'ssh-ed25519'
    case 'RSA':
      return 'ssh-rsa'
    case 'DSA':
      return 'ssh-dss'
    case 'ED25519-SK':
      return 'sk-ssh-ed25519@openssh.com'
    case 'ECDSA-SK':
      return 'sk-ecdsa-sha2-nistp256@openssh.com'
    case 'ECDSA':
      if (bits === undefined) return ANY_ECDSA
      return [256, 384, 521].includes(bits) ? `ecdsa-sha2-nistp${bits}` : undefined
    default:
      return undefined
  }
}

/** A key type as written in a fingerprint line: the SSH name, or ssh-keygen's short name. */
function fingerprintKeyType(word: string): string | undefined {
  if (KEY_TYPES.has(word) || SECURITY_KEY_TYPES.has(word)) return word
  return typeFromShortName(word)
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

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/

/** One known_hosts host entry: a name or pattern, `[host]:port`, a `|1|` hash, maybe negated. */
const HOST_ENTRY =
  /^!?(?:\[[^\]\s@]+\]:\d{1,5}|[A-Za-z0-9_.*?:-]+|\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+)$/

/**
 * The field before the key type in ssh-keygen -l output: the host names when the key came from
 * known_hosts lines (`ssh-keyscan host | ssh-keygen -lf -`), the key's comment when it came from a
 * .pub file (`root@ip-10-0-1-10`, `no comment`, free text). It is taken as hosts only when it
 * reads as a known_hosts host list: one word, no `@`, every comma-separated part a host entry.
 */
function hostsOfListedField(field: string): string[] {
  if (field === '' || /\s|@/.test(field)) return []
  const parts = field.split(',')
  return parts.every((part) => HOST_ENTRY.test(part)) ? parts : []
}

/** `bits SHA256:… field (TYPE)`, exactly as `ssh-keygen -l` prints a key. */
const LISTED = /^(\d+)\s+(SHA256:\S+)(?:\s+(.*?))?\s+\(([A-Z0-9-]+)\)$/

/**
 * Fingerprint lines, each one of:
 * - `SHA256:…` or `key-type SHA256:…`: a pin for every host;
 * - `host key-type SHA256:…` or `host SHA256:…`: a pin for those known_hosts host patterns;
 * - a line as `ssh-keygen -l` prints it, `256 SHA256:… field (ED25519)`, where the field limits
 *   the pin to hosts only when it is a host list (see hostsOfListedField).
 * A key type is the SSH name (`ssh-ed25519`) or ssh-keygen's short name (`ED25519`).
 */
export function parseFingerprints(text: string): HostKeyPin[] | { error: string } {
  const pins: HostKeyPin[] = []
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const number = index + 1
    const source = `host-fingerprints line ${number}`
    const listed = LISTED.exec(line)
    if (listed) {
      const [, bits, fingerprint, field, shortType] = listed as unknown as string[]
      if (!FINGERPRINT.test(fingerprint!)) return notAFingerprint(number, fingerprint!)
      const keyType = typeFromShortName(shortType!, Number(bits))
      if (keyType === undefined) {
        return {
          error: `line ${number}: '${escapeText(shortType!)}' with ${bits} bits is not a key type ssh-keygen -l prints (ED25519, ECDSA, RSA, DSA, ED25519-SK, ECDSA-SK)`
        }
      }
      pins.push({
        patterns: hostsOfListedField(field ?? ''),
        keyType,
        fingerprint: fingerprint!,
        revoked: false,
        source
      })
      continue
    }
    const fields = line.split(/\s+/)
    const fingerprint = fields.pop()!
    if (!FINGERPRINT.test(fingerprint)) return notAFingerprint(number, fingerprint)
    const typeWord = fields.length > 0 ? fingerprintKeyType(fields[fields.length - 1]!) : undefined
    if (typeWord !== undefined) fields.pop()
    if (fields.length > 1 || (fields.length === 1 && !hostPatternsValid(fields[0]!))) {
      return {
        error: `line ${number} is not '[host] [key-type] SHA256:…' nor a line ssh-keygen -l prints ('256 SHA256:… comment (ED25519)')`
      }
    }
    pins.push({
      patterns: fields.length === 1 ? fields[0]!.split(',') : [],
      ...(typeWord !== undefined ? { keyType: typeWord } : {}),
      fingerprint,
      revoked: false,
      source
    })
  }
  return pins
}

function hostPatternsValid(field: string): boolean {
  return field.split(',').every((part) => HOST_ENTRY.test(part))
}

function notAFingerprint(line: number, text: string): { error: string } {
  return {
    error: `line ${line}: '${escapeText(text)}' is not a SHA256:… fingerprint as ssh-keygen -l prints it`
  }
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
 * Host key algorithms to offer, so that the server presents a pinned key: only the pinned types
 * when every pin names its type; every type when one does not, less the types the server has
 * already shown (`shown`), so that each reconnection asks for the next of its keys. Empty when
 * nothing is left to ask for; undefined when there is no trusted pin.
 */
export function hostKeyAlgorithms(
  pins: readonly HostKeyPin[],
  shown: ReadonlySet<string> = new Set()
): string[] | undefined {
  const trusted = pins.filter((pin) => !pin.revoked)
  if (trusted.length === 0) return undefined
  const types = trusted.some((pin) => pin.keyType === undefined)
    ? HOST_KEY_TYPES
    : trusted.map((pin) => pin.keyType!)
  const algorithms = types
    .filter((type) => !shown.has(type))
    .flatMap((type) => ALGORITHMS_FOR_TYPE[type] ?? [])
  return [...new Set(algorithms)]
}

export type Verdict =
  | { trusted: true }
  | {
      trusted: false
      reason: string
      /**
       * The key is of a type no pin names, and a pin without a type may be for another of the
       * server's keys: worth reconnecting for another type. Never for a revoked key, nor for a
       * key of a pinned type (that is the wrong key).
       */
      otherTypesMayMatch: boolean
    }

/** Decides whether the key a server presented is one of the pinned keys for it. */
export function verifyHostKey(pins: readonly HostKeyPin[], keyBlob: Buffer): Verdict {
  const fingerprint = fingerprintOf(keyBlob)
  // The type is read from what the server sent: escaped for messages, raw for comparing.
  const rawType = keyTypeOf(keyBlob) ?? 'unknown'
  const type = escapeText(rawType)
  const revoked = pins.find((pin) => pin.revoked && pin.fingerprint === fingerprint)
  if (revoked)
    return {
      trusted: false,
      reason: `its ${type} key ${fingerprint} is revoked (${revoked.source})`,
      otherTypesMayMatch: false
    }
  const trusted = pins.filter((pin) => !pin.revoked)
  if (trusted.some((pin) => pin.fingerprint === fingerprint)) return { trusted: true }
  return {
    trusted: false,
    reason: `it presented a ${type} key ${fingerprint}, which matches none of the ${trusted.length} pinned key(s) for it`,
    otherTypesMayMatch:
      trusted.some((pin) => pin.keyType === undefined) &&
      !trusted.some((pin) => pin.keyType !== undefined && typeCovers(pin.keyType, rawType))
  }
}
