export interface ProxiedRequest {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: string
  status: number
}
export interface ProxyHooks {
  intercept?: (req: {
    method: string
    url: string
    index: number
  }) => undefined | { status: number; headers?: Record<string, string>; body?: string }
  delayMs?: (req: { method: string; url: string }) => number
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
