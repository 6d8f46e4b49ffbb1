export interface ProxiedRequest {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: string
  status: number
}
export interface ProxyAnswer {
  status: number
  headers?: Record<string, string>
  body?: string | Buffer
}
export interface ProxyHooks {
  /** Answers a request instead of the server (a fault, or a call the server cannot answer). */
  intercept?: (req: {
    method: string
    url: string
    index: number
    headers: Record<string, string | string[] | undefined>
    body: Buffer
  }) => undefined | ProxyAnswer | Promise<undefined | ProxyAnswer>
  /** Forwards the request only once the promise settles (undefined: forward now). */
  hold?: (req: { method: string; url: string }) => undefined | Promise<unknown>
  rewrite?: (
    req: { method: string; url: string },
    res: { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }
  ) => undefined | { headers?: Record<string, string | string[] | undefined>; body?: Buffer }
}
export interface Proxy {
  url: string
  requests: ProxiedRequest[]
  load: { inFlight: number; maxInFlight: number }
  stop(): Promise<void>
}
export function startProxy(target: string, hooks?: ProxyHooks): Promise<Proxy>
