// The bundled ephemeral-sg-ssh, run as the GitHub runner runs it, against moto_server's EC2 and a
// real OpenSSH server on loopback (as root here, so setuid bits and owners are real): uploads
// that drop special bits, every form of host-fingerprints against a server with two host keys,
// what a remote host says kept out of workflow commands, and the sweep-only mode.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import { CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { makeClientKey, startSshd, type Sshd } from '../../test-support/sshd.mjs'
import { proxyFor, removeWorkspaces, stopProxies, workspaceWith } from './helpers.js'
import {
  createGroup,
  deployInputs,
  connectionsSeen,
  earlierRunTags,
  logged,
  ingressRuleIds,
  ruleWith,
  runEphemeralSgSsh
} from './security-groups.js'

let moto: Moto
let ec2: EC2Client
let server: Sshd
let keysDir: string
let key: { privateKey: string; publicKey: string }
let vpcId: string
const remoteRoot = mkdtempSync(join(tmpdir(), 'remote-hardening-'))

beforeAll(async () => {
  moto = await startMoto()
  ec2 = new EC2Client({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
  })
  keysDir = mkdtempSync(join(tmpdir(), 'client-keys-'))
  key = makeClientKey(keysDir)
  server = await startSshd({ authorizedKeys: [key.publicKey] })
  vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!
}, 60_000)

afterAll(async () => {
  removeWorkspaces()
  rmSync(remoteRoot, { recursive: true, force: true })
  rmSync(keysDir, { recursive: true, force: true })
  await stopProxies()
  await server?.stop()
  ec2?.destroy()
  await moto?.stop()
})

const newGroup = () => createGroup(ec2, vpcId, 'hardening')

const hostKey = (type: string, of: Sshd = server) => {
  const found = of.hostKeys.find((k) => k.type === type)
  if (found === undefined) throw new Error(`test server has no ${type} host key`)
  return found
}

const baseInputs = (groupId: string, overrides: Record<string, string> = {}) =>
  deployInputs({ server, privateKey: key.privateKey, endpoint: moto.endpoint }, groupId, overrides)
const deploy = runEphemeralSgSsh

describe('uploads and special mode bits', () => {
  function setuidWorkspace(): string {
    const workspace = workspaceWith({ 'app/bin/tool': '#!/bin/sh\necho tool\n', 'app/README': 'x' })
    chmodSync(join(workspace, 'app/bin/tool'), 0o4755)
    mkdirSync(join(workspace, 'app/spool'))
    chmodSync(join(workspace, 'app/spool'), 0o1777)
    return workspace
  }
  const modeOf = (path: string) => (statSync(path).mode & 0o7777).toString(8)

  it('a setuid file arrives without the bit, owned by the remote user', async () => {
    const target = join(remoteRoot, `plain-${Date.now()}`)
    const run = await deploy(
      baseInputs(await newGroup(), { upload: `app:${target}`, script: `${target}/bin/tool` }),
      { workspace: setuidWorkspace() }
    )
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('tool')
    expect(modeOf(join(target, 'bin/tool'))).toBe('755')
    expect(modeOf(join(target, 'spool'))).toBe('777')
    // The remote user here is the one running sshd's session: files are theirs, not the archive's.
    const remoteUid = Number(execFileSync('id', ['-u', server.user], { encoding: 'utf8' }))
    expect(statSync(join(target, 'bin/tool')).uid).toBe(remoteUid)
  })

  it('keeps setuid and sticky bits with keep-special-bits', async () => {
    const target = join(remoteRoot, `kept-${Date.now()}`)
    const run = await deploy(
      baseInputs(await newGroup(), {
        upload: `app:${target}`,
        script: 'true',
        'keep-special-bits': 'true'
      }),
      { workspace: setuidWorkspace() }
    )
    expect(run.errors).toEqual([])
    expect(modeOf(join(target, 'bin/tool'))).toBe('4755')
    expect(modeOf(join(target, 'spool'))).toBe('1777')
  })
})

describe('host-fingerprints against a server with an ed25519 and an RSA host key', () => {
  // A server of its own per test, so that its log counts this test's connections only.
  let twoKeys: Sshd
  beforeEach(async () => {
    twoKeys = await startSshd({
      authorizedKeys: [key.publicKey],
      hostKeyTypes: ['ed25519', 'rsa']
    })
    // startSshd saw the port open by connecting once; wait for sshd to log that connection, so
    // that it is not counted as one of the test's.
    await logged(twoKeys, 'kex_exchange_identification')
  })
  afterEach(async () => {
    await twoKeys?.stop()
  })
  const rsa = () => hostKey('rsa', twoKeys)
  const ed25519 = () => hostKey('ed25519', twoKeys)

  async function deployWithFingerprints(fingerprints: string) {
    // Counted from here: starting the server connected once to see it listen.
    const before = connectionsSeen(twoKeys)
    const run = await deploy(
      baseInputs(await newGroup(), {
        hosts: `127.0.0.1:${twoKeys.port}`,
        'known-hosts': '',
        'host-fingerprints': fingerprints,
        script: 'echo reached'
      })
    )
    return { run, connections: connectionsSeen(twoKeys) - before }
  }

  it('a bare SHA256: of the RSA key: asks for the RSA key after the ed25519 one', async () => {
    const { run, connections } = await deployWithFingerprints(rsa().fingerprint)
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('reached')
    expect(run.stdout).toContain(
      `127.0.0.1:${twoKeys.port}: presented a ssh-ed25519 key ${ed25519().fingerprint} that no pin matches; asking for another of its host key types`
    )
    expect(run.warnings).toEqual([])
    expect(connections).toBe(2)
  })

  it('the line ssh-keygen -l prints for the RSA key, comment and all', async () => {
    const line = execFileSync('ssh-keygen', ['-l', '-f', `${rsa().path}.pub`], {
      encoding: 'utf8'
    }).trim()
    expect(line).toMatch(/^3072 SHA256:\S+ \S+@\S+ \(RSA\)$/)
    const { run, connections } = await deployWithFingerprints(line)
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('reached')
    // The type is in the line, so only RSA is offered: one connection.
    expect(connections).toBe(1)
  })

  it('what ssh-keyscan | ssh-keygen -lf - prints, host field [127.0.0.1]:port and all', async () => {
    const scanned = execFileSync('ssh-keyscan', ['-p', String(twoKeys.port), '127.0.0.1'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore']
    })
    const listed = execFileSync('ssh-keygen', ['-lf', '-'], { encoding: 'utf8', input: scanned })
    const rsaLine = listed.split('\n').find((line) => line.endsWith('(RSA)'))
    expect(rsaLine).toBe(`3072 ${rsa().fingerprint} [127.0.0.1]:${twoKeys.port} (RSA)`)
    const { run } = await deployWithFingerprints(listed)
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('reached')

    // The field is a host: the same line for another port pins nothing for this server.
    const elsewhere = await deploy(
      baseInputs(await newGroup(), {
        hosts: `127.0.0.1:${twoKeys.port}`,
        'known-hosts': '',
        'host-fingerprints': rsaLine!.replace(`]:${twoKeys.port} `, ']:2222 '),
        script: 'true'
      })
    )
    expect(elsewhere.errors).toEqual([
      `host-fingerprints: has no key for 127.0.0.1:${twoKeys.port} (looked for [127.0.0.1]:${twoKeys.port}; the host-fingerprints lines are for [127.0.0.1]:2222)`
    ])
  })

  it('a wrong fingerprint of a pinned type fails at once, with no retry of any kind', async () => {
    const other = makeClientKey(keysDir, { type: 'rsa' })
    const wrong = execFileSync('ssh-keygen', ['-l', '-f', `${other.path}.pub`], {
      encoding: 'utf8'
    }).split(' ')[1]!
    const { run, connections } = await deployWithFingerprints(`ssh-rsa ${wrong}`)
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toContain(
      `host key of 127.0.0.1:${twoKeys.port} not trusted: it presented a ssh-rsa key ${rsa().fingerprint}, which matches none of the 1 pinned key(s) for it`
    )
    expect(run.stdout).not.toContain('asking for another')
    expect(run.stdout).not.toContain('retrying')
    expect(connections).toBe(1)
  })

  it('a bare fingerprint that is no key of the server: every type is tried, then it fails', async () => {
    const other = makeClientKey(keysDir, { type: 'ed25519' })
    const wrong = execFileSync('ssh-keygen', ['-l', '-f', `${other.path}.pub`], {
      encoding: 'utf8'
    }).split(' ')[1]!
    const { run, connections } = await deployWithFingerprints(wrong)
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toContain(
      `host key of 127.0.0.1:${twoKeys.port} not trusted: it presented a ssh-ed25519 key ${ed25519().fingerprint}, a ssh-rsa key ${rsa().fingerprint}, and has no key of another type; none matches the 1 pinned key(s) for it`
    )
    expect(run.stdout).not.toContain('retrying in')
    // ed25519, RSA, then a last ask for the types left, which the server refuses.
    expect(connections).toBe(3)
  })

  it('a pin of a type the server does not have fails at once, naming the type', async () => {
    const { run, connections } = await deployWithFingerprints(`ECDSA ${rsa().fingerprint}`)
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toContain(
      `host key of 127.0.0.1:${twoKeys.port} not trusted: it has no host key of the pinned type(s) ecdsa`
    )
    expect(run.stdout).not.toContain('retrying')
    expect(connections).toBe(1)
  })

  it('a pin of a security-key type, which no server can have, fails before connecting', async () => {
    const { run, connections } = await deployWithFingerprints(`ED25519-SK ${rsa().fingerprint}`)
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toContain(
      `host key of 127.0.0.1:${twoKeys.port} not trusted: no key type pinned for it can be negotiated as a host key`
    )
    expect(connections).toBe(0)
  })
})

describe('what the remote host says', () => {
  it('a failed upload quotes the remote stderr escaped: no workflow command is obeyed', async () => {
    // A key whose every session runs this instead: the host's answer to the upload.
    const hostile = await startSshd({
      authorizedKeys: [
        `command="printf '%s\\n' '::warning::from the host' '::add-mask::deploy' >&2; exit 3" ${key.publicKey}`
      ]
    })
    try {
      const run = await deploy(
        baseInputs(await newGroup(), {
          hosts: `127.0.0.1:${hostile.port}`,
          'known-hosts': hostile.knownHosts,
          upload: `app:${join(remoteRoot, 'never')}`
        }),
        { workspace: workspaceWith({ 'app/index.html': 'x' }) }
      )
      expect(run.exitCode).toBe(1)
      expect(run.warnings).toEqual([])
      expect(run.masks).not.toContain('deploy')
      expect(run.errors[0]).toContain(
        'failed: tar exited with 3: :\\x3awarning:\\x3afrom the host\\n:\\x3aadd-mask:\\x3adeploy'
      )
      const [result] = JSON.parse(run.outputs.results!)
      expect(result.error).not.toMatch(/[\n\r]|::/)
    } finally {
      await hostile.stop()
    }
  })

  it('the summary names the port the rule opened', async () => {
    const run = await deploy(baseInputs(await newGroup(), { script: 'true' }))
    expect(run.errors).toEqual([])
    expect(run.summary).toContain(`was allowed on port ${server.port} through 1 rule(s)`)
    expect(run.summary).not.toContain('port 22 ')
  })
})

describe('the ip input', () => {
  it('an IPv4-mapped address opens a /32 for its IPv4 address, which the connection matches', async () => {
    const run = await deploy(
      baseInputs(await newGroup(), { ip: '::ffff:203.0.113.10', script: 'echo reached' })
    )
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('reached')
    expect(run.outputs.ip).toBe('203.0.113.10')
    expect(run.summary).toContain('Runner address `203.0.113.10/32` was allowed')
    expect(run.summary).not.toContain('/128')
  })

  it('a reserved 240.0.0.0/4 address is refused before any AWS request', async () => {
    const groupId = await newGroup()
    const run = await deploy(baseInputs(groupId, { ip: '240.0.0.1', script: 'true' }))
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toContain("ip: '240.0.0.1' is reserved (240.0.0.0/4)")
    expect(await ingressRuleIds(ec2, groupId)).toEqual([])
  })
})

describe('sweep-only', () => {
  it('revokes only the expired rule of this pack, with no IP lookup and no SSH', async () => {
    const groupId = await newGroup()
    const leaked = await ruleWith(
      ec2,
      groupId,
      '198.51.100.1/32',
      earlierRunTags(new Date(Date.now() - 86_400_000), 3600, '900')
    )
    const fresh = await ruleWith(
      ec2,
      groupId,
      '198.51.100.2/32',
      earlierRunTags(new Date(), 21600, '901')
    )
    const foreign = await ruleWith(ec2, groupId, '198.51.100.3/32', [
      { Key: 'managed-by', Value: 'someone-else' },
      { Key: 'expires-at', Value: '2020-01-01T00:00:00.000Z' }
    ])
    const run = await deploy({
      'sweep-only': 'true',
      'security-group-ids': groupId,
      'endpoint-url': moto.endpoint,
      // Would fail the step if it were asked: sweep-only looks nothing up.
      'ip-lookup-urls': 'https://127.0.0.1:1/'
    })
    expect(run.errors).toEqual([])
    expect(run.exitCode).toBe(0)
    expect(await ingressRuleIds(ec2, groupId)).toEqual([fresh, foreign].sort())
    expect(run.outputs['swept-rule-ids']).toBe(leaked)
    expect(run.stdout).toContain(`Closed ${leaked} in ${groupId}, expired `)
    expect(run.summary).toContain('### Expired deploy rules swept')
    expect(run.summary).toContain(`| \`${leaked}\` | \`${groupId}\` | expired `)
    expect(run.state).toEqual({})
    expect(run.post?.stdout).toContain('No rule was opened.')
    expect(run.stdout).not.toMatch(/public address|retrying/)
  })

  it('says so when nothing had expired', async () => {
    const groupId = await newGroup()
    const run = await deploy({
      'sweep-only': 'true',
      'security-group-ids': groupId,
      'endpoint-url': moto.endpoint
    })
    expect(run.errors).toEqual([])
    expect(run.outputs['swept-rule-ids']).toBe('')
    expect(run.summary).toContain(`No rule of this action had expired in \`${groupId}\``)
  })

  it('refuses a script given with it, before any AWS request', async () => {
    const proxy = await proxyFor(moto.endpoint)
    const run = await deploy({
      'sweep-only': 'true',
      'security-group-ids': 'sg-0123456789abcdef0',
      'endpoint-url': proxy.url,
      script: 'systemctl restart app'
    })
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([
      'script: is not used with sweep-only: true, which connects to no host; remove script from this step'
    ])
    expect(proxy.requests).toEqual([])
  })

  it('names a group that does not exist', async () => {
    const run = await deploy({
      'sweep-only': 'true',
      'security-group-ids': 'sg-0123456789abcdef0',
      'endpoint-url': moto.endpoint
    })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(/^security-group-ids: .*sg-0123456789abcdef0/)
  })
})
