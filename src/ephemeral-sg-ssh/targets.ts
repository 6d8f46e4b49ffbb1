import { isIP } from 'node:net'

/** One SSH destination from `[user@]host[:port]`. */
export interface SshTarget {
  user?: string
  host: string
  port: number
  /** As written, for labels and messages. */
  label: string
}

const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** Parses `[user@]host[:port]`; an IPv6 address with a port is written `[2001:db8::1]:22`. */
export function parseTarget(text: string, defaultPort: number): SshTarget | { error: string } {
  const value = text.trim()
  let rest = value
  let user: string | undefined
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    user = rest.slice(0, at)
    rest = rest.slice(at + 1)
    if (!USER.test(user)) return { error: `'${user}' is not a user name` }
  }
  let host = rest
  let port = defaultPort
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest)
  if (bracketed) {
    host = bracketed[1]!
    if (bracketed[2] !== undefined) port = Number(bracketed[2])
    if (isIP(host) !== 6) return { error: `'${host}' in brackets is not an IPv6 address` }
  } else if (isIP(rest) === 6) {
    host = rest
  } else {
    const colon = rest.lastIndexOf(':')
    if (colon >= 0) {
      host = rest.slice(0, colon)
      const portText = rest.slice(colon + 1)
      if (!/^\d{1,5}$/.test(portText)) return { error: `'${portText}' is not a port` }
      port = Number(portText)
    }
    if (isIP(host) !== 4 && !HOSTNAME.test(host))
      return { error: `'${host}' is not a host name or address` }
  }
  if (port < 1 || port > 65535) return { error: `port ${port} is out of range (1-65535)` }
  return { ...(user !== undefined ? { user } : {}), host, port, label: value }
}

/** A `local:remote` upload pair. Directories are copied with their content, dotfiles included. */
export interface UploadPair {
  local: string
  remote: string
}

export function parseUpload(text: string): UploadPair | { error: string } {
  const colon = text.indexOf(':')
  if (colon <= 0 || colon === text.length - 1) {
    return { error: `'${text}' is not local:remote (for example dist:/var/www/app)` }
  }
  const local = text.slice(0, colon).trim()
  const remote = text.slice(colon + 1).trim()
  if (local === '' || remote === '') return { error: `'${text}' is not local:remote` }
  if (remote.includes('\0') || local.includes('\0')) return { error: 'paths cannot contain NUL' }
  return { local, remote }
}

/** `NAME=value` for the script's environment; the value is taken literally. */
export function parseEnvLine(text: string): { name: string; value: string } | { error: string } {
  const eq = text.indexOf('=')
  const name = eq < 0 ? text : text.slice(0, eq)
  if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    return { error: `'${name}' is not NAME=value with a shell variable name` }
  }
  return { name, value: text.slice(eq + 1) }
}

/** Security group ids, separated by newlines or commas. */
export function parseGroupIds(text: string): { ids: string[] } | { error: string } {
  const ids = text
    .split(/[\s,]+/)
    .map((id) => id.trim())
    .filter((id) => id !== '')
  const bad = ids.find((id) => !/^sg-[0-9a-f]{8,17}$/.test(id))
  if (bad !== undefined)
    return { error: `'${bad}' is not a security group id (sg-0123456789abcdef0)` }
  return { ids: [...new Set(ids)] }
}
