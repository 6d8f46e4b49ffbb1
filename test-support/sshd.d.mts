export interface HostKey {
  type: string
  path: string
  publicKey: string
  fingerprint: string
}
export interface Sshd {
  host: string
  port: number
  user: string
  hostKeys: HostKey[]
  knownHosts: string
  log(): string
  stop(): Promise<void>
}
export function sshdAvailable(): boolean
export function makeClientKey(
  dir: string,
  options?: { type?: string; passphrase?: string }
): { privateKey: string; publicKey: string; path: string }
export function fingerprintOf(publicKeyPath: string): string
export function startSshd(options: {
  authorizedKeys: string[]
  hostKeyTypes?: string[]
  allowTcpForwarding?: boolean
  port?: number
}): Promise<Sshd>
export interface PreparedSshd {
  sshd: string
  dir: string
  configPath: string
  pidFile: string
  host: string
  port: number
  user: string
  hostKeys: HostKey[]
  knownHosts: string
}
export function prepareSshd(options: {
  authorizedKeys: string[]
  hostKeyTypes?: string[]
  allowTcpForwarding?: boolean
  port?: number
}): Promise<PreparedSshd>
export function launchSshd(prepared: PreparedSshd): Promise<Sshd>
