import ssh2 from 'ssh2'
import type { Client as SshClient, ClientChannel, ConnectConfig } from 'ssh2'
import { stat } from 'node:fs/promises'
import { posix } from 'node:path'
import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import type { Readable } from 'node:stream'
import {
  fingerprintOf,
  hostKeyAlgorithms,
  keyTypeOf,
  verifyHostKey,
  type HostKeyPin
} from './host-keys.js'
import { RUN_SCRIPT_COMMAND, lineSplitter, scriptFile, unpackCommand } from './script.js'
import { collectEntries, tarStream, walkEntries } from './tar.js'
import type { SshTarget, UploadPair } from './targets.js'

const { Client, utils } = ssh2

/** Checks a private key (and its passphrase) before anything is opened. */
export function checkPrivateKey(
  key: string,
  passphrase: string | undefined
): { type: string } | { error: string; input: 'private-key' | 'passphrase' } {
  const parsed = utils.parseKey(key, passphrase)
  if (parsed instanceof Error) {
    const message = parsed.message
    if (/passphrase|decrypt|bad decrypt|Encrypted/i.test(message)) {
      return {
        input: 'passphrase',
        error: passphrase ? 'does not decrypt private-key' : 'is needed: private-key is encrypted'
      }
    }
    return { input: 'private-key', error: `cannot be read as an SSH private key (${message})` }
  }
  const first = Array.isArray(parsed) ? parsed[0] : parsed
  if (first === undefined || !first.isPrivateKey()) {
    return {
      input: 'private-key',
      error: 'is a public key; give the private key (the file without .pub)'
    }
  }
  return { type: first.type }
}

/** A host's key did not match its pins: never retried, the connection is not trusted. */
export class HostKeyMismatch extends Error {}

/** Who may be trusted: pins to check, or anything (insecure-skip-host-key-check). */
export type Trust = { pins: HostKeyPin[] } | { insecure: true }

export interface Endpoint {
  target: SshTarget
  username: string
  trust: Trust
}

export interface Credentials {
  privateKey: string
  passphrase?: string
}

/**
 * The server showed a key of a type that no pin names, while a pin without a type may be for
 * another of its keys: not a failure yet, but a reason to ask for another key type.
 */
export class OtherKeyTypeShown extends Error {
  constructor(
    readonly keyType: string,
    readonly key: string
  ) {
    super(`presented a ${key} that no pin matches`)
  }
}

/** The longest one handshake may take, however much of connect-timeout is left. */
const HANDSHAKE_TIMEOUT_MS = 20_000

function connectOnce(
  endpoint: Endpoint,
  credentials: Credentials,
  timeoutMs: number,
  sock?: ClientChannel,
  shownTypes: ReadonlySet<string> = new Set()
): Promise<SshClient> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    let refusal: Error | undefined
    const config: ConnectConfig = {
      host: endpoint.target.host,
      port: endpoint.target.port,
      username: endpoint.username,
      privateKey: credentials.privateKey,
      ...(credentials.passphrase !== undefined ? { passphrase: credentials.passphrase } : {}),
      // ssh2 reads 0 as "no timeout": the least is 1 ms.
      readyTimeout: Math.max(1, Math.ceil(timeoutMs)),
      keepaliveInterval: 10_000,
      ...(sock !== undefined ? { sock } : {})
    }
    if ('pins' in endpoint.trust) {
      const pins = endpoint.trust.pins
      const algorithms = hostKeyAlgorithms(pins, shownTypes)
      if (algorithms !== undefined) config.algorithms = { serverHostKey: algorithms as never }
      config.hostVerifier = (key: Buffer) => {
        const verdict = verifyHostKey(pins, key)
        if (verdict.trusted) return true
        refusal = verdict.otherTypesMayMatch
          ? new OtherKeyTypeShown(
              keyTypeOf(key) ?? 'unknown',
              `${escapeText(keyTypeOf(key) ?? 'unknown')} key ${fingerprintOf(key)}`
            )
          : new HostKeyMismatch(
              `host key of ${endpoint.target.label} not trusted: ${verdict.reason}`
            )
        return false
      }
    }
    let ready = false
    client.once('ready', () => {
      ready = true
      resolve(client)
    })
    // `on`, not `once`: a connection can fail again after it was up (a reset mid-deploy), and an
    // unhandled 'error' would crash the process before its finally closes the security group.
    client.on('error', (error) => {
      client.end()
      if (ready) return
      reject(refusal ?? error)
    })
    client.connect(config)
  })
}

/**
 * One handshake of connectVerified: within `timeoutMs`, offering no host key type in
 * `shownTypes`. Throws OtherKeyTypeShown when the key presented matches no pin but another type may.
 */
export type HandshakeAttempt = (
  timeoutMs: number,
  shownTypes: ReadonlySet<string>
) => Promise<SshClient>

/**
 * One connection whose host key matched a pin. A pin without a key type does not say which of the
 * server's keys it is for, and the server presents only one per connection: when that one
 * matches no pin, connect again offering only the types not yet seen, until a key matches or the
 * server has no other type. A key of a pinned type that differs is a mismatch at once. Every
 * round gets only the time left before `deadline`, and none starts after it.
 */
export async function connectVerified(
  endpoint: Endpoint,
  credentials: Credentials,
  deadline: number,
  options: {
    openSock?: () => Promise<ClientChannel>
    onRetry?: (message: string) => void
    attempt?: HandshakeAttempt
  } = {}
): Promise<SshClient> {
  const { openSock, onRetry } = options
  const attempt: HandshakeAttempt =
    options.attempt ??
    (async (timeoutMs, shownTypes) =>
      connectOnce(
        endpoint,
        credentials,
        timeoutMs,
        openSock ? await openSock() : undefined,
        shownTypes
      ))
  const label = endpoint.target.label
  const pins = 'pins' in endpoint.trust ? endpoint.trust.pins : []
  const shown = new Set<string>()
  const presented: string[] = []
  const pinned = () => pins.filter((pin) => !pin.revoked).length
  const mismatch = (why: string) =>
    new HostKeyMismatch(
      `host key of ${label} not trusted: it presented ${presented.join(', ')}, ${why}; none matches the ${pinned()} pinned key(s) for it`
    )
  const outOfTime = () =>
    presented.length > 0
      ? new Error(
          `host key of ${label} not verified within connect-timeout: it presented ${presented.join(', ')}, none matching the ${pinned()} pinned key(s) for it, and no time was left to ask for another of its host key types`
        )
      : new Error(`connect-timeout passed before a connection to ${label} could be tried`)
  for (;;) {
    if ('pins' in endpoint.trust && hostKeyAlgorithms(pins, shown)?.length === 0) {
      if (presented.length > 0) throw mismatch('and no other key type is left to ask for')
      throw new HostKeyMismatch(
        `host key of ${label} not trusted: no key type pinned for it can be negotiated as a host key`
      )
    }
    const timeoutMs = Math.min(deadline - Date.now(), HANDSHAKE_TIMEOUT_MS)
    if (timeoutMs <= 0) throw outOfTime()
    try {
      return await attempt(timeoutMs, shown)
    } catch (error) {
      if (error instanceof OtherKeyTypeShown && !shown.has(error.keyType)) {
        shown.add(error.keyType)
        presented.push(`a ${error.key}`)
        onRetry?.(`${label}: ${error.message}; asking for another of its host key types`)
        continue
      }
      if (error instanceof OtherKeyTypeShown) throw mismatch('and that type again')
      if (/no matching host key format/i.test(errorMessage(error))) {
        if (presented.length > 0) throw mismatch('and has no key of another type')
        throw new HostKeyMismatch(
          `host key of ${label} not trusted: it has no host key of the pinned type(s) ${[...new Set(pins.filter((pin) => !pin.revoked).map((pin) => pin.keyType))].join(', ')}`
        )
      }
      // Asking for another key type ran into the deadline: say that, not just "timed out".
      if (presented.length > 0 && isTransient(error) && Date.now() >= deadline) throw outOfTime()
      throw error
    }
  }
}

/** Errors worth another attempt while the new rule propagates: the network, not the server. */
function isTransient(error: unknown): boolean {
  if (error instanceof HostKeyMismatch) return false
  const code = (error as { code?: string }).code ?? ''
  const level = (error as { level?: string }).level ?? ''
  if (
    [
      'ECONNREFUSED',
      'ETIMEDOUT',
      'EHOSTUNREACH',
      'ENETUNREACH',
      'ECONNRESET',
      'EAI_AGAIN'
    ].includes(code)
  )
    return true
  if (level === 'client-timeout' || level === 'client-socket') return true
  // A jump host refusing to forward yet (the target's rule not in place) reads as a channel open failure.
  return /Timed out while waiting for handshake|Channel open failure|connect failed/i.test(
    errorMessage(error)
  )
}

export interface Connection {
  client: SshClient
  close(): void
}

/**
 * Connects, through the jump host when one is given, retrying with backoff until `deadline`: right
 * after a rule is added, packets may still be dropped for a moment.
 */
export async function connect(
  endpoint: Endpoint,
  credentials: Credentials,
  deadline: number,
  jump?: Endpoint,
  onRetry?: (message: string) => void,
  stopped: () => boolean = () => false
): Promise<Connection> {
  for (let attempt = 1; ; attempt++) {
    let bastion: SshClient | undefined
    try {
      if (jump === undefined) {
        const client = await connectVerified(endpoint, credentials, deadline, { onRetry })
        return { client, close: () => client.end() }
      }
      bastion = await connectVerified(jump, credentials, deadline, { onRetry })
      const via = bastion
      // A fresh channel through the bastion for each connection to the target.
      const forward = () =>
        new Promise<ClientChannel>((resolve, reject) =>
          via.forwardOut(
            '127.0.0.1',
            0,
            endpoint.target.host,
            endpoint.target.port,
            (error, stream) => (error ? reject(error) : resolve(stream))
          )
        )
      const client = await connectVerified(endpoint, credentials, deadline, {
        openSock: forward,
        onRetry
      })
      return {
        client,
        close: () => {
          client.end()
          via.end()
        }
      }
    } catch (error) {
      bastion?.end()
      const wait = Math.min(5000, 250 * 2 ** (attempt - 1))
      if (!isTransient(error) || stopped() || Date.now() + wait >= deadline) throw error
      // The reason can quote what the server sent: one escaped line.
      onRetry?.(
        `${endpoint.target.label}: ${escapeText(errorMessage(error))}; retrying in ${wait} ms`
      )
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
}

export interface CommandResult {
  exitCode: number | null
  signal?: string
  timedOut: boolean
  stderrTail: string
}

/**
 * Runs `command`, feeding `input` to its stdin, streaming its output line by line. Finishes on the
 * remote exit status, not on channel close: a background process the script started keeps the
 * channel open, and must not hang the step.
 */
export function runCommand(
  client: SshClient,
  command: string,
  input: Readable | string,
  onLine: (line: string, stream: 'stdout' | 'stderr') => void,
  timeoutMs: number
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error)
      let stderrTail = ''
      const stdout = lineSplitter((line) => onLine(line, 'stdout'))
      const stderr = lineSplitter((line) => {
        stderrTail = (stderrTail + line + '\n').slice(-2000)
        onLine(line, 'stderr')
      })
      let settled = false
      let afterExit: NodeJS.Timeout | undefined
      const finish = (result: Omit<CommandResult, 'stderrTail'>) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        // A pending timer keeps the process alive: the step would exit that much later.
        clearTimeout(afterExit)
        stdout.flush()
        stderr.flush()
        resolve({ ...result, stderrTail })
      }
      const timer = setTimeout(() => {
        channel.signal('TERM')
        channel.close()
        finish({ exitCode: null, timedOut: true })
      }, timeoutMs)
      channel.on('data', (chunk: Buffer) => stdout.push(chunk))
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
      let exit: Omit<CommandResult, 'stderrTail'> | undefined
      channel.on('exit', (code: number | null, signal?: string) => {
        exit = { exitCode: code ?? null, ...(signal ? { signal } : {}), timedOut: false }
        // Output still in flight arrives right after the exit status; if the channel stays open
        // after that (a background process holds it), stop waiting for its EOF.
        afterExit = setTimeout(() => {
          if (exit) finish(exit)
          channel.close()
        }, 250)
      })
      channel.on('close', () => finish(exit ?? { exitCode: null, timedOut: false }))
      channel.on('error', (channelError: Error) => {
        if (!settled) {
          settled = true
          clearTimeout(timer)
          reject(channelError)
        }
      })
      if (typeof input === 'string') channel.end(input)
      else {
        input.on('error', (streamError) => {
          if (!settled) {
            settled = true
            clearTimeout(timer)
            channel.close()
            reject(streamError)
          }
        })
        input.pipe(channel)
      }
    })
  })
}

/**
 * Where an upload lands: a folder's content goes into `remote`; a file goes to `remote` (or into
 * it, with a trailing /). A folder is streamed while it is walked.
 */
export async function uploadEntries(pair: UploadPair, localPath: string) {
  const info = await stat(localPath)
  if (!info.isFile() || pair.remote.endsWith('/')) {
    return { entries: walkEntries(localPath), directory: pair.remote }
  }
  const [entry] = await collectEntries(localPath)
  return {
    entries: [{ ...entry!, name: posix.basename(pair.remote) }],
    directory: posix.dirname(pair.remote)
  }
}

/**
 * Uploads `pair` as one tar stream. `archive`, when given, is that stream already made (read once
 * for every host); otherwise the tree is read here.
 */
export async function upload(
  client: SshClient,
  pair: UploadPair,
  localPath: string,
  timeoutMs: number,
  options: { keepSpecialBits?: boolean; archive?: Readable } = {}
): Promise<void> {
  const { entries, directory } = await uploadEntries(pair, localPath)
  const result = await runCommand(
    client,
    unpackCommand(directory),
    options.archive ?? tarStream(entries, options),
    () => undefined,
    timeoutMs
  )
  if (result.exitCode !== 0) {
    const why = result.timedOut
      ? 'timed out'
      : `tar exited with ${result.exitCode ?? result.signal ?? 'no status'}`
    // What tar said comes from the remote host: whoever prints this error escapes it.
    const said = result.stderrTail.trim().slice(-STDERR_QUOTED)
    throw new Error(
      `upload ${pair.local} → ${pair.remote} failed: ${why}${said ? `: ${said}` : ''}`
    )
  }
}

/** How much of a failed upload's stderr its error quotes. */
const STDERR_QUOTED = 500

export function runScript(
  client: SshClient,
  script: string,
  env: readonly { name: string; value: string }[],
  onLine: (line: string, stream: 'stdout' | 'stderr') => void,
  timeoutMs: number
): Promise<CommandResult> {
  return runCommand(client, RUN_SCRIPT_COMMAND, scriptFile(script, env), onLine, timeoutMs)
}
