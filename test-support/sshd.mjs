// A real OpenSSH sshd (Debian's openssh-server) on a free loopback port, with its own host keys,
// an authorized client key and a temporary config, for tests, the benchmark and the demo.
import { execFileSync, spawn } from 'node:child_process'
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
  chmodSync
} from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { freePort } from './net.mjs'

const SSHD = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'].find((path) => existsSync(path))
const running = new Set()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export function sshdAvailable() {
  return SSHD !== undefined
}

/** A client key pair made with ssh-keygen; `passphrase` encrypts the private key. */
export function makeClientKey(dir, { type = 'ed25519', passphrase = '' } = {}) {
  const path = join(dir, `client_${type}_${passphrase ? 'enc' : 'plain'}`)
  if (!existsSync(path)) {
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      type,
      '-N',
      passphrase,
      '-C',
      'deploy@test',
      '-f',
      path
    ])
  }
  return {
    privateKey: readFileSync(path, 'utf8'),
    publicKey: readFileSync(`${path}.pub`, 'utf8').trim(),
    path
  }
}

/** The SHA256:… fingerprint of a public key file, as ssh-keygen prints it. */
export function fingerprintOf(publicKeyPath) {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyPath], {
    encoding: 'utf8'
  }).split(' ')[1]
}

/**
 * Host keys, authorized keys and a config for an sshd on loopback, in a fresh directory; the
 * caller starts it (in the foreground for tests, as a daemon for the self-test job).
 * @param {{ authorizedKeys: string[], hostKeyTypes?: string[], allowTcpForwarding?: boolean, port?: number }} options
 */
export async function prepareSshd({
  authorizedKeys,
  hostKeyTypes = ['ed25519'],
  allowTcpForwarding = false,
  port: fixedPort
}) {
  if (!SSHD) throw new Error('sshd not found: install Debian openssh-server (.ci/run does)')
  // sshd started as root refuses to run without its privilege-separation directory.
  try {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
  } catch {
    // not root: sshd then runs unprivileged and does not need it
  }
  const dir = mkdtempSync(join(tmpdir(), 'sshd-'))
  chmodSync(dir, 0o755)
  const hostKeys = hostKeyTypes.map((type) => {
    const path = join(dir, `ssh_host_${type}_key`)
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path])
    const publicKey = readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')
    return { type, path, publicKey, fingerprint: fingerprintOf(`${path}.pub`) }
  })
  writeFileSync(join(dir, 'authorized_keys'), authorizedKeys.join('\n') + '\n', { mode: 0o600 })
  const port = fixedPort ?? (await freePort())
  const pidFile = join(dir, 'sshd.pid')
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    ...hostKeys.map((key) => `HostKey ${key.path}`),
    `PidFile ${pidFile}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin yes',
    `AllowTcpForwarding ${allowTcpForwarding ? 'yes' : 'no'}`,
    'Subsystem sftp internal-sftp',
    'MaxStartups 100:30:200',
    'MaxSessions 50',
    'LogLevel VERBOSE',
    // Accept any variable a client sends, so a test sees it if the action ever forwards its own.
    'AcceptEnv *'
  ].join('\n')
  const configPath = join(dir, 'sshd_config')
  writeFileSync(configPath, config + '\n')
  return {
    sshd: SSHD,
    dir,
    configPath,
    pidFile,
    host: '127.0.0.1',
    port,
    user: userInfo().username,
    hostKeys,
    /** known_hosts lines for this server, one per host key. */
    knownHosts: hostKeys.map((key) => `[127.0.0.1]:${port} ${key.publicKey}`).join('\n')
  }
}

/**
 * @param {{ authorizedKeys: string[], hostKeyTypes?: string[], allowTcpForwarding?: boolean, port?: number }} options
 */
export async function startSshd(options) {
  return launchSshd(await prepareSshd(options))
}

/**
 * Starts a server made ready by prepareSshd, and resolves once it listens; a test that needs the
 * port and host keys before the server exists prepares first and launches at the right moment.
 */
export async function launchSshd({
  sshd,
  dir,
  configPath,
  port,
  host,
  user,
  hostKeys,
  knownHosts
}) {
  const child = spawn(sshd, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] })
  running.add(child)
  let log = ''
  child.stderr.on('data', (chunk) => {
    log = (log + chunk).slice(-20000)
  })
  try {
    await waitForPort(port, child, () => log)
  } catch (error) {
    running.delete(child)
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return {
    host,
    port,
    user,
    hostKeys,
    knownHosts,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      running.delete(child)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * Polls until sshd accepts a connection: a bounded wait for an event (the port listening), with
 * sshd's own log in the error when it exits or does not listen in time.
 */
async function waitForPort(port, child, log) {
  const timeoutMs = 30_000
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log()}`)
    const open = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`sshd did not listen on 127.0.0.1:${port} within ${timeoutMs} ms: ${log()}`)
}
