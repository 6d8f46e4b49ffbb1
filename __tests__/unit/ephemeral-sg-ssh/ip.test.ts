import { afterEach, describe, expect, it } from '@jest/globals'
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  lookupPublicAddress,
  notPublicReason,
  parseAddress,
  unusableInputReason
} from '../../../src/ephemeral-sg-ssh/ip.js'

const address = (text: string) => {
  const parsed = parseAddress(text)
  if (parsed === undefined) throw new Error(`test table: ${text} is not an address`)
  return parsed
}

describe('parseAddress', () => {
  it('reads an IPv4 address as a /32', () => {
    expect(parseAddress('203.0.113.7')).toEqual({
      address: '203.0.113.7',
      family: 4,
      cidr: '203.0.113.7/32'
    })
  })

  it('reads an IPv6 address as a lower-case /128', () => {
    expect(parseAddress('2001:DB8::7')).toEqual({
      address: '2001:DB8::7',
      family: 6,
      cidr: '2001:db8::7/128'
    })
  })

  it('ignores surrounding whitespace', () => {
    expect(parseAddress('  198.51.100.20\r\n')).toEqual({
      address: '198.51.100.20',
      family: 4,
      cidr: '198.51.100.20/32'
    })
    expect(parseAddress('\t2001:db8::1\n')?.cidr).toBe('2001:db8::1/128')
  })

  it.each([
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:10.0.0.5', '10.0.0.5'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', '169.254.169.254'],
    ['::ffff:0.0.0.0', '0.0.0.0']
  ])('reads the IPv4-mapped %s as the IPv4 address %s, a /32', (text, ipv4) => {
    expect(parseAddress(text)).toEqual({ address: ipv4, family: 4, cidr: `${ipv4}/32` })
  })

  it.each([
    // Near the mapped range but not in it: ordinary IPv6 addresses.
    ['::ffff:0:a00:5', '::ffff:0:a00:5/128'],
    ['::fffe:a00:5', '::fffe:a00:5/128'],
    ['64:ff9b::a00:5', '64:ff9b::a00:5/128']
  ])('keeps %s an IPv6 address', (text, cidr) => {
    expect(parseAddress(text)).toMatchObject({ family: 6, cidr })
  })

  it.each([
    '',
    '   ',
    'localhost',
    'not an ip',
    '256.1.1.1',
    '1.2.3',
    '203.0.113.7/32',
    '203.0.113.7:80',
    '2001:db8::1/64',
    '2001:db8:::1',
    '<html>203.0.113.7</html>',
    '203.0.113.7 198.51.100.1',
    'fe80::1%eth0',
    'fe80::1%1'
  ])('rejects %j', (text) => {
    expect(parseAddress(text)).toBeUndefined()
  })
})

describe('notPublicReason', () => {
  it.each([
    ['52.95.110.7'],
    ['8.8.8.8'],
    ['1.1.1.1'],
    ['100.63.255.255'],
    ['100.128.0.0'],
    ['172.15.255.255'],
    ['172.32.0.0'],
    ['192.167.255.255'],
    ['223.255.255.255'],
    ['2600:1f18::42'],
    ['2a00:1450:4001:80b::200e'],
    ['::ffff:52.95.110.7'],
    // 6to4 for a public IPv4 address (52.1.2.3), and addresses next to Teredo's /32.
    ['2002:3401:0203::1'],
    ['2001:1::1'],
    ['2001:4860:4860::8888']
  ])('accepts the public unicast address %s', (text) => {
    expect(notPublicReason(address(text))).toBeUndefined()
  })

  it.each([
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'the broadcast address'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['10.0.0.5', 'private (RFC 1918 / unique local)'],
    ['172.16.0.1', 'private (RFC 1918 / unique local)'],
    ['172.31.255.255', 'private (RFC 1918 / unique local)'],
    ['192.168.1.1', 'private (RFC 1918 / unique local)'],
    ['fc00::1', 'private (RFC 1918 / unique local)'],
    ['fd12:3456::1', 'private (RFC 1918 / unique local)'],
    ['100.64.0.1', 'shared carrier-grade NAT space (100.64.0.0/10)'],
    ['100.127.255.255', 'shared carrier-grade NAT space (100.64.0.0/10)'],
    ['0.1.2.3', '"this network" (0.0.0.0/8)'],
    ['240.0.0.1', 'reserved (240.0.0.0/4)'],
    ['255.255.255.254', 'reserved (240.0.0.0/4)'],
    ['192.0.0.8', 'reserved for IETF protocol assignments (192.0.0.0/24)'],
    ['198.18.0.1', 'reserved for benchmarking (198.18.0.0/15)'],
    ['192.0.2.1', 'reserved for documentation'],
    ['198.51.100.7', 'reserved for documentation'],
    ['203.0.113.7', 'reserved for documentation'],
    ['2001:db8::7', 'reserved for documentation'],
    // An IPv4-mapped IPv6 address is judged by the IPv4 address inside it.
    ['::ffff:10.0.0.5', 'private (RFC 1918 / unique local)'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['64:ff9b:1::1', 'outside IPv6 global unicast (2000::/3)'],
    ['100::1', 'outside IPv6 global unicast (2000::/3)'],
    // Teredo hides the IPv4 host behind it; no runner has such an address.
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo (2001::/32)'],
    ['2001::1', 'Teredo (2001::/32)'],
    ['2001:0:ffff:ffff:ffff:ffff:ffff:ffff', 'Teredo (2001::/32)'],
    // 6to4 is judged by the IPv4 address in its second and third words.
    [
      '2002:0a00:0005::1',
      '6to4 (2002::/16) for 10.0.0.5, which is private (RFC 1918 / unique local)'
    ],
    [
      '2002:c0a8:0101:1::1',
      '6to4 (2002::/16) for 192.168.1.1, which is private (RFC 1918 / unique local)'
    ],
    ['2002:7f00:1::', '6to4 (2002::/16) for 127.0.0.1, which is loopback'],
    ['2002:a9fe:a9fe::1', '6to4 (2002::/16) for 169.254.169.254, which is link-local'],
    [
      '2002:6440:0102::1',
      '6to4 (2002::/16) for 100.64.1.2, which is shared carrier-grade NAT space (100.64.0.0/10)'
    ],
    ['2002::1', '6to4 (2002::/16) for 0.0.0.0, which is unspecified'],
    ['2002:cb00:7107::7', '6to4 (2002::/16) for 203.0.113.7, which is reserved for documentation']
  ])('refuses %s as %s', (text, reason) => {
    expect(notPublicReason(address(text))).toBe(reason)
  })
})

describe('unusableInputReason', () => {
  it.each([
    ['10.0.0.5'],
    ['172.16.0.1'],
    ['192.168.1.1'],
    ['100.64.0.1'],
    ['fd00::5'],
    ['203.0.113.10'],
    ['2001:db8::7'],
    ['52.95.110.7'],
    ['::ffff:10.0.0.5']
  ])('allows %s, private or public', (text) => {
    expect(unusableInputReason(address(text))).toBeUndefined()
  })

  it.each([
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'the broadcast address'],
    ['224.0.0.251', 'multicast'],
    ['ff02::fb', 'multicast'],
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['0.1.2.3', '"this network" (0.0.0.0/8)'],
    ['0.255.255.255', '"this network" (0.0.0.0/8)'],
    ['240.0.0.1', 'reserved (240.0.0.0/4)'],
    ['255.255.255.254', 'reserved (240.0.0.0/4)'],
    ['::ffff:240.0.0.1', 'reserved (240.0.0.0/4)']
  ])('refuses %s as %s', (text, reason) => {
    expect(unusableInputReason(address(text))).toBe(reason)
  })
})

describe('lookupPublicAddress', () => {
  const servers: Server[] = []
  afterEach(async () => {
    await Promise.all(
      servers.splice(0).map(
        (server) =>
          new Promise((resolve) => {
            server.closeAllConnections()
            server.close(resolve)
          })
      )
    )
  })

  /** A local server answering like an IP echo service; returns its URL and a hit counter. */
  async function serve(handler: RequestListener): Promise<{ url: string; hits: () => number }> {
    let hits = 0
    const server = createServer((request, response) => {
      hits++
      handler(request, response)
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    return { url: `http://127.0.0.1:${port}/ip`, hits: () => hits }
  }

  const answer =
    (body: string, status = 200): RequestListener =>
    (_request, response) => {
      response.writeHead(status, { 'content-type': 'text/plain' })
      response.end(body)
    }

  async function closedPortUrl(): Promise<string> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    return `http://127.0.0.1:${port}/ip`
  }

  it('takes the first good answer and asks no further', async () => {
    const first = await serve(answer('52.95.110.7\n'))
    const second = await serve(answer('52.95.110.1\n'))
    await expect(lookupPublicAddress([first.url, second.url])).resolves.toEqual({
      address: { address: '52.95.110.7', family: 4, cidr: '52.95.110.7/32' },
      source: first.url
    })
    expect(first.hits()).toBe(1)
    expect(second.hits()).toBe(0)
  })

  it('reads an IPv6 answer', async () => {
    const server = await serve(answer('2600:1F18::42'))
    const { address } = await lookupPublicAddress([server.url])
    expect(address).toEqual({ address: '2600:1F18::42', family: 6, cidr: '2600:1f18::42/128' })
  })

  it('skips a server answering something other than an address, and one failing with HTTP 500', async () => {
    const garbage = await serve(answer('<html>rate limited</html>'))
    const broken = await serve(answer('52.95.110.9', 500))
    const good = await serve(answer('52.95.110.7'))
    await expect(lookupPublicAddress([garbage.url, broken.url, good.url])).resolves.toEqual({
      address: { address: '52.95.110.7', family: 4, cidr: '52.95.110.7/32' },
      source: good.url
    })
    expect([garbage.hits(), broken.hits(), good.hits()]).toEqual([1, 1, 1])
  })

  it('skips a server that does not answer in time', async () => {
    const hung = await serve(() => undefined)
    const good = await serve(answer('52.95.110.7'))
    const result = await lookupPublicAddress([hung.url, good.url], 300)
    expect(result.source).toBe(good.url)
    expect(hung.hits()).toBe(1)
  })

  it('names every URL and what went wrong with it when none answers', async () => {
    const closed = await closedPortUrl()
    const garbage = await serve(answer('  <html>not an address</html>  '))
    const broken = await serve(answer('oops', 500))
    const error = await lookupPublicAddress([closed, garbage.url, broken.url]).then(
      () => undefined,
      (error: unknown) => error as Error
    )
    expect(error?.message).toBe(
      `could not find this runner's public IP (${closed}: ECONNREFUSED; ` +
        `${garbage.url}: answered '<html>not an address</html>', not an IP address; ` +
        `${broken.url}: HTTP 500); set the ip input or ip-lookup-urls`
    )
  })

  it('shortens a long answer in the message', async () => {
    const chatty = await serve(answer('x'.repeat(500)))
    await expect(lookupPublicAddress([chatty.url])).rejects.toThrow(
      `${chatty.url}: answered '${'x'.repeat(60)}', not an IP address)`
    )
  })

  it('refuses a private, loopback or metadata answer and asks the next URL', async () => {
    const privateAnswer = await serve(answer('10.0.0.5'))
    const loopback = await serve(answer('127.0.0.1'))
    const metadata = await serve(answer('169.254.169.254'))
    const good = await serve(answer('52.95.110.7'))
    await expect(
      lookupPublicAddress([privateAnswer.url, loopback.url, metadata.url, good.url])
    ).resolves.toEqual({
      address: { address: '52.95.110.7', family: 4, cidr: '52.95.110.7/32' },
      source: good.url
    })
    expect([privateAnswer.hits(), loopback.hits(), metadata.hits(), good.hits()]).toEqual([
      1, 1, 1, 1
    ])
  })

  it('names why each answer was refused when none is public', async () => {
    const privateAnswer = await serve(answer('10.0.0.5\n'))
    const unspecified = await serve(answer('0.0.0.0'))
    const cgnat = await serve(answer('100.64.1.2'))
    await expect(
      lookupPublicAddress([privateAnswer.url, unspecified.url, cgnat.url])
    ).rejects.toThrow(
      `could not find this runner's public IP (` +
        `${privateAnswer.url}: answered 10.0.0.5, which is private (RFC 1918 / unique local); ` +
        `${unspecified.url}: answered 0.0.0.0, which is unspecified; ` +
        `${cgnat.url}: answered 100.64.1.2, which is shared carrier-grade NAT space (100.64.0.0/10)); ` +
        'set the ip input or ip-lookup-urls'
    )
  })

  it('does not follow a redirect, even to a server answering a public address', async () => {
    const target = await serve(answer('52.95.110.7'))
    const redirecting = await serve((_request, response) => {
      response.writeHead(302, { location: target.url })
      response.end()
    })
    await expect(lookupPublicAddress([redirecting.url])).rejects.toThrow(
      `${redirecting.url}: redirects (HTTP 302 to ${target.url}), which is not followed`
    )
    expect(target.hits()).toBe(0)
  })

  it('reads an IPv4-mapped answer as its IPv4 address, for a /32 rule', async () => {
    const server = await serve(answer('::ffff:52.95.110.7\n'))
    const { address } = await lookupPublicAddress([server.url])
    expect(address).toEqual({ address: '52.95.110.7', family: 4, cidr: '52.95.110.7/32' })
  })

  it('refuses a mapped private answer, a Teredo one and a 6to4 one for a private address', async () => {
    const mapped = await serve(answer('::ffff:10.0.0.5'))
    const teredo = await serve(answer('2001:0:4136:e378:8000:63bf:3fff:fdd2'))
    const sixToFour = await serve(answer('2002:c0a8:101:0:0:0:0:1'))
    await expect(lookupPublicAddress([mapped.url, teredo.url, sixToFour.url])).rejects.toThrow(
      `could not find this runner's public IP (` +
        `${mapped.url}: answered 10.0.0.5, which is private (RFC 1918 / unique local); ` +
        `${teredo.url}: answered 2001:0:4136:e378:8000:63bf:3fff:fdd2, which is Teredo (2001::/32); ` +
        `${sixToFour.url}: answered 2002:c0a8:101:0:0:0:0:1, which is 6to4 (2002::/16) for 192.168.1.1, which is private (RFC 1918 / unique local)); ` +
        'set the ip input or ip-lookup-urls'
    )
  })

  it('tries the next URL after a redirect', async () => {
    const redirecting = await serve((_request, response) => {
      response.writeHead(301, { location: 'https://elsewhere.example/' })
      response.end()
    })
    const good = await serve(answer('2600:1f18::42'))
    const result = await lookupPublicAddress([redirecting.url, good.url])
    expect(result.source).toBe(good.url)
    expect(redirecting.hits()).toBe(1)
  })

  it('quotes an answer escaped, so it cannot issue a workflow command', async () => {
    const hostile = await serve(answer('x\n::add-mask::secret\r\n##[error]boom'))
    const error = await lookupPublicAddress([hostile.url]).then(
      () => undefined,
      (error: unknown) => error as Error
    )
    expect(error?.message).toContain(
      `${hostile.url}: answered 'x\\n:\\x3aadd-mask:\\x3asecret\\r\\n##\\x5berror]boom', not an IP address`
    )
    expect(error?.message).not.toMatch(/[\r\n]/)
  })

  it('reads only the start of an answer that never ends', async () => {
    const endless = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.write('x'.repeat(4096))
    })
    // The lookup's own timeout is far longer than the test's: it must not wait for the end.
    await expect(lookupPublicAddress([endless.url], 60_000)).rejects.toThrow(
      `${endless.url}: answered '${'x'.repeat(60)}', not an IP address`
    )
  })

  it('fails with no URLs to ask', async () => {
    await expect(lookupPublicAddress([])).rejects.toThrow(
      "could not find this runner's public IP (); set the ip input or ip-lookup-urls"
    )
  })
})
