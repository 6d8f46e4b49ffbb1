import { afterEach, describe, expect, it } from '@jest/globals'
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { lookupPublicAddress, parseAddress } from '../../../src/ephemeral-sg-ssh/ip.js'

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
    '203.0.113.7 198.51.100.1'
  ])('rejects %j', (text) => {
    expect(parseAddress(text)).toBeUndefined()
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
    const first = await serve(answer('203.0.113.7\n'))
    const second = await serve(answer('198.51.100.1\n'))
    await expect(lookupPublicAddress([first.url, second.url])).resolves.toEqual({
      address: { address: '203.0.113.7', family: 4, cidr: '203.0.113.7/32' },
      source: first.url
    })
    expect(first.hits()).toBe(1)
    expect(second.hits()).toBe(0)
  })

  it('reads an IPv6 answer', async () => {
    const server = await serve(answer('2001:DB8::42'))
    const { address } = await lookupPublicAddress([server.url])
    expect(address).toEqual({ address: '2001:DB8::42', family: 6, cidr: '2001:db8::42/128' })
  })

  it('skips a server answering something other than an address, and one failing with HTTP 500', async () => {
    const garbage = await serve(answer('<html>rate limited</html>'))
    const broken = await serve(answer('198.51.100.9', 500))
    const good = await serve(answer('203.0.113.7'))
    await expect(lookupPublicAddress([garbage.url, broken.url, good.url])).resolves.toEqual({
      address: { address: '203.0.113.7', family: 4, cidr: '203.0.113.7/32' },
      source: good.url
    })
    expect([garbage.hits(), broken.hits(), good.hits()]).toEqual([1, 1, 1])
  })

  it('skips a server that does not answer in time', async () => {
    const hung = await serve(() => undefined)
    const good = await serve(answer('203.0.113.7'))
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

  it('fails with no URLs to ask', async () => {
    await expect(lookupPublicAddress([])).rejects.toThrow(
      "could not find this runner's public IP (); set the ip input or ip-lookup-urls"
    )
  })
})
