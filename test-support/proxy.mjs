// A loopback HTTP proxy in front of a real server (moto_server). It records every request, and
// lets a test inject faults (throttling, 5xx) or answer calls the server cannot (a stand-in), hold
// requests until an event, or rewrite responses (an ETag that is not an MD5, as under SSE-KMS)
// while the real server does the actual work.
import { createServer, request as httpRequest } from 'node:http'

/**
 * @param {string} target base URL of the real server
 * @param {{
 *   intercept?: (req: { method: string, url: string, index: number, headers: Record<string, string | string[] | undefined>, body: Buffer }) =>
 *     undefined | Answer | Promise<undefined | Answer>,
 *   hold?: (req: { method: string, url: string }) => undefined | Promise<unknown>,
 *   rewrite?: (req: { method: string, url: string }, res: { status: number, headers: Record<string, string | string[] | undefined>, body: Buffer }) =>
 *     undefined | { headers?: Record<string, string | string[] | undefined>, body?: Buffer }
 * }} hooks
 * @typedef {{ status: number, headers?: Record<string, string>, body?: string | Buffer }} Answer
 */
export async function startProxy(target, hooks = {}) {
  const upstream = new URL(target)
  /** @type {{ method: string, url: string, headers: Record<string, string | string[] | undefined>, status: number }[]} */
  const requests = []
  const load = { inFlight: 0, maxInFlight: 0 }
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', async () => {
      const entry = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        // The start of the request body: enough to see a query-protocol Action=… parameter.
        body: Buffer.concat(chunks).subarray(0, 2000).toString('utf8'),
        status: 0
      }
      requests.push(entry)
      load.inFlight++
      load.maxInFlight = Math.max(load.maxInFlight, load.inFlight)
      res.once('close', () => load.inFlight--)
      let injected
      try {
        injected = await hooks.intercept?.({
          method: entry.method,
          url: entry.url,
          index: requests.length - 1,
          headers: req.headers,
          body: Buffer.concat(chunks)
        })
      } catch (error) {
        injected = { status: 500, body: `the proxy's intercept failed: ${error}` }
      }
      if (injected) {
        entry.status = injected.status
        res.writeHead(injected.status, injected.headers ?? { 'content-type': 'application/xml' })
        res.end(injected.body ?? '')
        return
      }
      // A held request goes on when the test says so (an event), never after a guessed time.
      const held = hooks.hold?.({ method: entry.method, url: entry.url })
      const forwardUpstream = () => {
        // The client gave up (a timeout, a cancelled step) while the request was held.
        if (res.destroyed) return
        const forward = httpRequest(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: upstream.host }
          },
          (upstreamRes) => {
            const body = []
            upstreamRes.on('data', (chunk) => body.push(chunk))
            upstreamRes.on('end', () => {
              let headers = { ...upstreamRes.headers }
              let payload = Buffer.concat(body)
              const changed = hooks.rewrite?.(
                { method: entry.method, url: entry.url },
                { status: upstreamRes.statusCode ?? 502, headers, body: payload }
              )
              if (changed?.headers) headers = changed.headers
              if (changed?.body) {
                payload = changed.body
                headers['content-length'] = String(payload.length)
                delete headers['transfer-encoding']
              }
              entry.status = upstreamRes.statusCode ?? 502
              res.writeHead(entry.status, headers)
              res.end(payload)
            })
          }
        )
        forward.on('error', (error) => {
          entry.status = 502
          res.writeHead(502)
          res.end(String(error))
        })
        forward.end(Buffer.concat(chunks))
      }
      if (held === undefined) forwardUpstream()
      else held.then(forwardUpstream, forwardUpstream)
    })
  })
  server.keepAliveTimeout = 5000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** Requests being answered at the same moment, now and at most. */
    load,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
