import ssh2 from 'ssh2'
import type { Client as SshClient, ClientChannel, ConnectConfig } from 'ssh2'
import { stat } from 'node:fs/promises'
import { posix } from 'node:path'
import { errorMessage } from '../common/errors.js'
import type { Readable } from 'node:stream'
import { hostKeyAlgorithms, verifyHostKey, type HostKeyPin } from './host-keys.js'
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

function connectOnce(
  endpoint: Endpoint,
  credentials: Credentials,
  timeoutMs: number,
  sock?: ClientChannel
): Promise<SshClient> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    let mismatch: string | undefined
    const config: ConnectConfig = {
      host: endpoint.target.host,
      port: endpoint.target.port,
      username: endpoint.username,
      privateKey: credentials.privateKey,
      ...(credentials.passphrase !== undefined ? { passphrase: credentials.passphrase } : {}),
      readyTimeout: Math.max(1000, timeoutMs),
      keepaliveInterval: 10_000,
      ...(sock !== undefined ? { sock } : {})
    }
    if ('pins' in endpoint.trust) {
      const pins = endpoint.trust.pins
      const algorithms = hostKeyAlgorithms(pins)
      if (algorithms !== undefined) config.algorithms = { serverHostKey: algorithms as never }
      config.hostVerifier = (key: Buffer) => {
        const verdict = verifyHostKey(pins, key)
        if (!verdict.trusted) mismatch = verdict.reason
        return verdict.trusted
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
      if (mismatch !== undefined) {
        reject(new HostKeyMismatch(`host key of ${endpoint.target.label} not trusted: ${mismatch}`))
      } else {
        reject(error)
      }
    })
    client.connect(config)
  })
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
    const remaining = deadline - Date.now()
    let bastion: SshClient | undefined
    try {
      if (jump === undefined) {
        const client = await connectOnce(endpoint, credentials, Math.min(remaining, 20_000))
        return { client, close: () => client.end() }
      }
      bastion = await connectOnce(jump, credentials, Math.min(remaining, 20_000))
      const via = bastion
      const channel = await new Promise<ClientChannel>((resolve, reject) =>
        via.forwardOut(
          '127.0.0.1',
          0,
          endpoint.target.host,
          endpoint.target.port,
          (error, stream) => (error ? reject(error) : resolve(stream))
        )
      )
      const client = await connectOnce(
        endpoint,
        credentials,
        Math.min(deadline - Date.now(), 20_000),
        channel
      )
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
      onRetry?.(`${endpoint.target.label}: ${errorMessage(error)}; retrying in ${wait} ms`)
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
      const finish = (result: Omit<CommandResult, 'stderrTail'>) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
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
        setTimeout(() => {
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

export async function upload(
  client: SshClient,
  pair: UploadPair,
  localPath: string,
  timeoutMs: number
): Promise<void> {
  const { entries, directory } = await uploadEntries(pair, localPath)
  const result = await runCommand(
    client,
    unpackCommand(directory),
    tarStream(entries),
    () => undefined,
    timeoutMs
  )
  if (result.exitCode !== 0) {
    const why = result.timedOut
      ? 'timed out'
      : `tar exited with ${result.exitCode ?? result.signal ?? 'no status'}`
    throw new Error(
      `upload ${pair.local} → ${pair.remote} failed: ${why}${result.stderrTail ? `: ${result.stderrTail.trim()}` : ''}`
    )
  }
}

export function runScript(
  client: SshClient,
  script: string,
  env: readonly { name: string; value: string }[],
  onLine: (line: string, stream: 'stdout' | 'stderr') => void,
  timeoutMs: number
): Promise<CommandResult> {
  return runCommand(client, RUN_SCRIPT_COMMAND, scriptFile(script, env), onLine, timeoutMs)
}
