import { BlockList, isIP } from 'node:net'
import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'

export interface RunnerAddress {
  address: string
  family: 4 | 6
  /** Exactly this address: /32 for IPv4, /128 for IPv6. */
  cidr: string
}

/**
 * An IPv4 or IPv6 address, nothing else: no prefix, no port, no zone id (`fe80::1%eth0`). An
 * IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) is read as its IPv4 address: the runner's
 * packets arrive as IPv4, and a /128 rule for the mapped form would never match them.
 */
export function parseAddress(text: string): RunnerAddress | undefined {
  const address = text.trim()
  // Node's isIP accepts a zone id; a rule cannot carry one.
  if (address.includes('%')) return undefined
  const family = isIP(address)
  if (family === 4) return { address, family, cidr: `${address}/32` }
  if (family === 6) {
    if (IPV4_MAPPED.check(address, 'ipv6')) return parseAddress(embeddedIpv4(address, 6))
    return { address, family, cidr: `${address.toLowerCase()}/128` }
  }
  return undefined
}

/** The eight 16-bit words of an IPv6 address, in any of its spellings. */
function ipv6Words(address: string): number[] {
  // The URL parser writes an IPv6 host in one canonical form: hex words, at most one `::`.
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  const [head = '', tail] = canonical.split('::')
  const words = (part: string) => (part === '' ? [] : part.split(':').map((w) => parseInt(w, 16)))
  const left = words(head)
  const right = tail === undefined ? [] : words(tail)
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
}

/** The IPv4 address held in the two words of an IPv6 address starting at word `at`. */
function embeddedIpv4(address: string, at: number): string {
  const words = ipv6Words(address)
  const [high = 0, low = 0] = words.slice(at, at + 2)
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.')
}

/** Address ranges by what they are. */
function ranges(list: [string, number][]): BlockList {
  const block = new BlockList()
  for (const [network, prefix] of list) {
    block.addSubnet(network, prefix, isIP(network) === 4 ? 'ipv4' : 'ipv6')
  }
  return block
}

const UNSPECIFIED = ranges([
  ['0.0.0.0', 32],
  ['::', 128]
])
const BROADCAST = ranges([['255.255.255.255', 32]])
const MULTICAST = ranges([
  ['224.0.0.0', 4],
  ['ff00::', 8]
])
const LOOPBACK = ranges([
  ['127.0.0.0', 8],
  ['::1', 128]
])
const LINK_LOCAL = ranges([
  ['169.254.0.0', 16],
  ['fe80::', 10]
])
const THIS_NETWORK = ranges([['0.0.0.0', 8]])
const RESERVED_IPV4 = ranges([['240.0.0.0', 4]])
const IPV4_MAPPED = ranges([['::ffff:0:0', 96]])
/** 6to4: 2002:AABB:CCDD::/48 is the site behind the IPv4 address AA.BB.CC.DD. */
const SIX_TO_FOUR = ranges([['2002::', 16]])

/**
 * What a looked-up answer must not be, first match wins. Documentation and benchmarking ranges are
 * refused too: no runner's traffic comes from them, so an echo service answering one is broken
 * or lying. Outside IPv4, only global unicast (2000::/3) is public.
 */
const NOT_PUBLIC: [string, BlockList][] = [
  ['unspecified', UNSPECIFIED],
  ['the broadcast address', BROADCAST],
  ['multicast', MULTICAST],
  ['loopback', LOOPBACK],
  ['link-local', LINK_LOCAL],
  [
    'private (RFC 1918 / unique local)',
    ranges([
      ['10.0.0.0', 8],
      ['172.16.0.0', 12],
      ['192.168.0.0', 16],
      ['fc00::', 7]
    ])
  ],
  ['shared carrier-grade NAT space (100.64.0.0/10)', ranges([['100.64.0.0', 10]])],
  ['"this network" (0.0.0.0/8)', THIS_NETWORK],
  ['reserved (240.0.0.0/4)', RESERVED_IPV4],
  ['reserved for IETF protocol assignments (192.0.0.0/24)', ranges([['192.0.0.0', 24]])],
  ['reserved for benchmarking (198.18.0.0/15)', ranges([['198.18.0.0', 15]])],
  [
    'reserved for documentation',
    ranges([
      ['192.0.2.0', 24],
      ['198.51.100.0', 24],
      ['203.0.113.0', 24],
      ['2001:db8::', 32]
    ])
  ],
  // A tunnel endpoint's address, not a runner's; it hides which IPv4 host is behind it.
  ['Teredo (2001::/32)', ranges([['2001::', 32]])]
]
const IPV6_GLOBAL_UNICAST = ranges([['2000::', 3]])

const kind = (address: RunnerAddress) => (address.family === 4 ? 'ipv4' : 'ipv6')

/** Why `address` cannot be this runner's public address, or undefined when it is public unicast. */
export function notPublicReason(address: RunnerAddress): string | undefined {
  const type = kind(address)
  for (const [reason, block] of NOT_PUBLIC) {
    if (block.check(address.address, type)) return reason
  }
  if (type === 'ipv6' && !IPV6_GLOBAL_UNICAST.check(address.address, type)) {
    return 'outside IPv6 global unicast (2000::/3)'
  }
  if (type === 'ipv6' && SIX_TO_FOUR.check(address.address, type)) {
    // A 6to4 address is only as public as the IPv4 address it is built on.
    const ipv4 = embeddedIpv4(address.address, 1)
    const reason = notPublicReason({ address: ipv4, family: 4, cidr: `${ipv4}/32` })
    if (reason !== undefined) return `6to4 (2002::/16) for ${ipv4}, which is ${reason}`
  }
  return undefined
}

/**
 * Why `address` cannot be the `ip` input, or undefined. Private addresses stay allowed (a runner
 * inside the VPC); loopback and link-local never reach a security group, so a rule for them could
 * only be a mistake that ends in a connection timeout.
 */
export function unusableInputReason(address: RunnerAddress): string | undefined {
  const type = kind(address)
  const refused: [string, BlockList][] = [
    ['unspecified', UNSPECIFIED],
    ['the broadcast address', BROADCAST],
    ['multicast', MULTICAST],
    ['loopback', LOOPBACK],
    ['link-local', LINK_LOCAL],
    ['"this network" (0.0.0.0/8)', THIS_NETWORK],
    ['reserved (240.0.0.0/4)', RESERVED_IPV4]
  ]
  return refused.find(([, block]) => block.check(address.address, type))?.[0]
}

/** How much of an echo service's answer an error quotes. */
const QUOTED_ANSWER = 60
/** How much of an answer is read: an address is a few bytes, and no endless body is waited for. */
const ANSWER_LIMIT = 1024

async function answerText(response: Response): Promise<string> {
  const reader = response.body?.getReader()
  if (reader === undefined) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  while (size < ANSWER_LIMIT) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.length
  }
  await reader.cancel().catch(() => undefined)
  return Buffer.concat(chunks).subarray(0, ANSWER_LIMIT).toString('utf8')
}

/**
 * Asks each URL in turn for this runner's public address over HTTPS; the first answer that is a
 * public unicast address wins. Redirects are failures (the URL given is the one trusted), and
 * every answer is quoted escaped and shortened. Errors name every URL tried.
 */
export async function lookupPublicAddress(
  urls: readonly string[],
  timeoutMs = 5000
): Promise<{ address: RunnerAddress; source: string }> {
  const problems: string[] = []
  for (const url of urls) {
    try {
      const response = await fetch(url, {
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual'
      })
      const text = (await answerText(response)).trim()
      if (response.status >= 300 && response.status < 400) {
        const location = escapeText((response.headers.get('location') ?? '').slice(0, 200))
        problems.push(
          `${url}: redirects (HTTP ${response.status}${location ? ` to ${location}` : ''}), which is not followed`
        )
        continue
      }
      if (!response.ok) {
        problems.push(`${url}: HTTP ${response.status}`)
        continue
      }
      const address = parseAddress(text)
      if (address === undefined) {
        problems.push(
          `${url}: answered '${escapeText(text.slice(0, QUOTED_ANSWER))}', not an IP address`
        )
        continue
      }
      const reason = notPublicReason(address)
      if (reason === undefined) return { address, source: url }
      problems.push(`${url}: answered ${escapeText(address.address)}, which is ${reason}`)
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code
      problems.push(`${url}: ${escapeText(cause ?? errorMessage(error))}`)
    }
  }
  throw new Error(
    `could not find this runner's public IP (${problems.join('; ')}); set the ip input or ip-lookup-urls`
  )
}
