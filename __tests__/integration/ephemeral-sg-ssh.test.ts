// The bundled ephemeral-sg-ssh, run as the GitHub runner runs it (main, then the post step),
// against moto_server's EC2 and real OpenSSH servers on loopback.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateVpcCommand,
  DescribeSecurityGroupRulesCommand,
  EC2Client
} from '@aws-sdk/client-ec2'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { expectNoSecret } from '../../test-support/output-guard.mjs'
import type { Proxy } from '../../test-support/proxy.mjs'
import { nodeRuntimes, type ActionRun } from '../../test-support/runner.mjs'
import {
  launchSshd,
  makeClientKey,
  prepareSshd,
  startSshd,
  type Sshd
} from '../../test-support/sshd.mjs'
import { proxyFor, removeWorkspaces, stopProxies, workspaceWith } from './helpers.js'
import {
  connectionsSeen,
  createGroup,
  deployInputs,
  logged,
  runEphemeralSgSsh
} from './security-groups.js'

let moto: Moto
let ec2: EC2Client
let server: Sshd
let keysDir: string
let key: { privateKey: string; publicKey: string }
let encryptedKey: { privateKey: string; publicKey: string }
let vpcId: string
const remoteRoot = mkdtempSync(join(tmpdir(), 'remote-'))

beforeAll(async () => {
  moto = await startMoto()
  ec2 = new EC2Client({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
  })
  keysDir = mkdtempSync(join(tmpdir(), 'client-keys-'))
  key = makeClientKey(keysDir)
  encryptedKey = makeClientKey(keysDir, { passphrase: 'correct horse battery' })
  server = await startSshd({
    authorizedKeys: [key.publicKey, encryptedKey.publicKey],
    hostKeyTypes: ['ed25519', 'rsa', 'ecdsa']
  })
  vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!
})
afterAll(async () => {
  removeWorkspaces()
  rmSync(remoteRoot, { recursive: true, force: true })
  rmSync(keysDir, { recursive: true, force: true })
  await stopProxies()
  await server?.stop()
  ec2?.destroy()
  await moto?.stop()
})

const newGroup = () => createGroup(ec2, vpcId)

/** Every rule of a group, as comparable text: the group must end exactly as it began. */
async function rulesOf(groupId: string): Promise<string[]> {
  const { SecurityGroupRules = [] } = await ec2.send(
    new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] })
  )
  return SecurityGroupRules.map(
    (rule) =>
      `${rule.SecurityGroupRuleId} ${rule.IsEgress ? 'egress' : 'ingress'} ${rule.IpProtocol} ${rule.FromPort}-${rule.ToPort} ${rule.CidrIpv4 ?? rule.CidrIpv6}`
  ).sort()
}

const baseInputs = (groupId: string, overrides: Record<string, string> = {}) =>
  deployInputs({ server, privateKey: key.privateKey, endpoint: moto.endpoint }, groupId, overrides)
const deploy = runEphemeralSgSsh

/** Whether a process (here, one a remote script started on the loopback server) still runs. */
function isRunning(pid: number): boolean {
  try {
    // A zombie (ended, not yet reaped) is not running: its state, after the name, is Z.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/**
 * Everything a run leaves readable, by name: logs (bar the add-mask commands the runner consumes),
 * outputs, summary, state.
 */
function everythingVisible(run: ActionRun): Record<string, string> {
  const log = (text: string) =>
    text
      .split('\n')
      .filter((line) => !line.startsWith('::add-mask::'))
      .join('\n')
  return {
    stdout: log(run.stdout),
    stderr: run.stderr,
    outputs: JSON.stringify(run.outputs),
    summary: run.summary,
    state: JSON.stringify(run.state),
    'post stdout': log(run.post?.stdout ?? ''),
    'post stderr': run.post?.stderr ?? ''
  }
}

describe.each(nodeRuntimes())('ephemeral-sg-ssh under $label', ({ path: node }) => {
  it('opens the group to the runner only, uploads, runs the script, and leaves the group as it found it', async () => {
    const groupId = await newGroup()
    const before = await rulesOf(groupId)
    const target = join(remoteRoot, `app-${Date.now()}`)
    const workspace = workspaceWith({
      'frontend/dist/index.html': '<h1>hello</h1>',
      'frontend/dist/.well-known/security.txt': 'contact',
      'frontend/dist/assets/app.js': 'console.log(1)',
      'server/start.sh': '#!/bin/sh\necho started\n'
    })
    chmodSync(join(workspace, 'server/start.sh'), 0o755)
    const run = await deploy(
      baseInputs(groupId, {
        upload: `frontend/dist:${target}/www\nserver/start.sh:${target}/bin/start.sh`,
        script: `test -f ${target}/www/.well-known/security.txt\necho "release=$RELEASE"\n${target}/bin/start.sh`,
        env: "RELEASE=v1.2 'quoted' $HOME"
      }),
      { node, workspace }
    )
    expect(run.errors).toEqual([])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain("release=v1.2 'quoted' $HOME")
    expect(run.stdout).toContain('started')
    // The rule opens the port the action connects to: the server's.
    expect(run.stdout).toMatch(
      new RegExp(`Opened sg-\\w+ to 203\\.0\\.113\\.10/32 on port ${server.port} \\(sgr-\\w+\\)`)
    )
    expect(readFileSync(join(target, 'www/index.html'), 'utf8')).toBe('<h1>hello</h1>')
    expect(statSync(join(target, 'bin/start.sh')).mode & 0o777).toBe(0o755)
    expect(statSync(join(target, 'www/index.html')).mode & 0o777).toBe(0o644)
    expect(run.outputs.ip).toBe('203.0.113.10')
    expect(run.outputs['rule-ids']).toMatch(/^sgr-\w+$/)
    const results = JSON.parse(run.outputs.results!)
    expect(results).toEqual([
      expect.objectContaining({
        host: `127.0.0.1:${server.port}`,
        status: 'succeeded',
        exitCode: 0
      })
    ])
    expect(Number(run.outputs['exposure-seconds'])).toBeGreaterThan(0)
    expect(run.summary).toContain('### SSH deploy succeeded')
    expect(run.post?.stdout).toContain('Every rule was already closed by the main step.')
    expect(await rulesOf(groupId)).toEqual(before)
  })
})

/** The remote script has printed its first line: the rule is open and the step is mid-deploy. */
const scriptRunning = (stdout: string) => /script-running$/m.test(stdout)

/** Ends a process a remote script recorded in `pidFile`, if it still runs. */
function stopRemote(pidFile: string): void {
  if (!existsSync(pidFile)) return
  const pid = Number(readFileSync(pidFile, 'utf8').trim())
  if (isRunning(pid)) process.kill(pid, 'SIGKILL')
}

/**
 * A remote script that says `script-running` and then runs until the test stops it: the step can
 * only end through the signal the test sends on that line, never by the script finishing first.
 */
function heldScript(name: string): { script: string; stop: () => void } {
  const pidFile = join(remoteRoot, `${name}.pid`)
  return {
    script: `echo $$ > ${pidFile}\necho script-running\nexec sleep infinity`,
    stop: () => stopRemote(pidFile)
  }
}

describe('ephemeral-sg-ssh failures leave the group as they found it', () => {
  it('when the script fails: the exit code is reported and the step fails', async () => {
    const groupId = await newGroup()
    const before = await rulesOf(groupId)
    const run = await deploy(
      baseInputs(groupId, { script: 'echo about to fail\nfalse\necho never' })
    )
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([expect.stringContaining('deploy failed on 1 of 1 host(s)')])
    expect(run.stdout).not.toContain('never')
    expect(JSON.parse(run.outputs.results!)[0]).toMatchObject({ status: 'failed', exitCode: 1 })
    expect(await rulesOf(groupId)).toEqual(before)
  })

  it('when the host key is wrong: no retry, a clear message', async () => {
    const groupId = await newGroup()
    const before = await rulesOf(groupId)
    const impostor = await startSshd({ authorizedKeys: [key.publicKey] })
    try {
      // The known_hosts line of the real server, pinned for the impostor's address.
      const pinned = server.knownHosts
        .split('\n')[0]!
        .replace(`]:${server.port} `, `]:${impostor.port} `)
      const run = await deploy(
        baseInputs(groupId, {
          hosts: `127.0.0.1:${impostor.port}`,
          'known-hosts': pinned,
          script: 'true'
        })
      )
      expect(run.exitCode).toBe(1)
      expect(run.errors[0]).toContain(`host key of 127.0.0.1:${impostor.port} not trusted`)
      expect(run.errors[0]).toContain('matches none of the 1 pinned key(s)')
      expect(run.stdout).not.toContain('retrying')
      expect(await rulesOf(groupId)).toEqual(before)
    } finally {
      await impostor.stop()
    }
  })

  it('when the main step is killed outright: the post step closes the rule', async () => {
    const groupId = await newGroup()
    const before = await rulesOf(groupId)
    const held = heldScript(`killed-${groupId}`)
    const run = await deploy(baseInputs(groupId, { script: held.script }), {
      signalWhen: { signal: 'SIGKILL', when: scriptRunning }
    }).finally(held.stop)
    expect(run.signal).toBe('SIGKILL')
    expect(run.state.rules).toMatch(/sgr-/)
    expect(run.state.revoked).toBeUndefined()
    expect(run.post?.exitCode).toBe(0)
    expect(run.post?.stdout).toMatch(/Closing 1 rule\(s\) the main step left open: sgr-\w+/)
    expect(await rulesOf(groupId)).toEqual(before)
  })

  it('when the main step gets SIGTERM: it closes the rule itself before exiting', async () => {
    const groupId = await newGroup()
    const before = await rulesOf(groupId)
    const held = heldScript(`sigterm-${groupId}`)
    const run = await deploy(baseInputs(groupId, { script: held.script }), {
      signalWhen: { signal: 'SIGTERM', when: scriptRunning }
    }).finally(held.stop)
    expect(run.exitCode).toBe(1)
    expect(run.warnings).toEqual([
      expect.stringContaining('SIGTERM received: closing the security groups')
    ])
    expect(run.state.revoked).toMatch(/sgr-/)
    expect(run.post?.stdout).toContain('Every rule was already closed by the main step.')
    expect(await rulesOf(groupId)).toEqual(before)
  })

  it('when the run is cancelled (SIGINT, then SIGTERM)', async () => {
    const groupId = await newGroup()
    const before = await rulesOf(groupId)
    const held = heldScript(`cancelled-${groupId}`)
    const run = await deploy(baseInputs(groupId, { script: held.script }), {
      cancelWhen: scriptRunning
    }).finally(held.stop)
    expect(run.status).toBe('cancelled')
    // The cancel came while the script ran, with the rule open.
    expect(run.stdout).toMatch(/script-running$/m)
    expect(run.state.rules).toMatch(/sgr-/)
    expect(run.warnings).toEqual([expect.stringContaining('SIGINT received')])
    expect(await rulesOf(groupId)).toEqual(before)
    expect(run.post?.exitCode).toBe(0)
  })

  it('keeps an identical rule that already existed, and never revokes it', async () => {
    const groupId = await newGroup()
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [
          {
            IpProtocol: 'tcp',
            FromPort: server.port,
            ToPort: server.port,
            IpRanges: [{ CidrIp: '203.0.113.10/32', Description: 'office' }]
          }
        ]
      })
    )
    const before = await rulesOf(groupId)
    const run = await deploy(baseInputs(groupId, { script: 'true' }))
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain(
      `already allows 203.0.113.10/32 on port ${server.port}; using that rule and leaving it in place`
    )
    expect(run.outputs['rule-ids']).toBe('')
    expect(await rulesOf(groupId)).toEqual(before)
  })

  it('warns when the identical rule belongs to another run of this action', async () => {
    const groupId = await newGroup()
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [
          {
            IpProtocol: 'tcp',
            FromPort: server.port,
            ToPort: server.port,
            IpRanges: [{ CidrIp: '203.0.113.10/32' }]
          }
        ],
        TagSpecifications: [
          {
            ResourceType: 'security-group-rule',
            Tags: [
              { Key: 'managed-by', Value: 'airflow-aws-deploy-actions/ephemeral-sg-ssh' },
              { Key: 'run-id', Value: '999' },
              { Key: 'deploy-session', Value: 'another-run' }
            ]
          }
        ]
      })
    )
    const before = await rulesOf(groupId)
    const run = await deploy(baseInputs(groupId, { script: 'true' }))
    expect(run.exitCode).toBe(0)
    expect(run.warnings).toEqual([
      expect.stringContaining('through a rule of run 999 of this action')
    ])
    expect(await rulesOf(groupId)).toEqual(before)
  })
})

describe('ephemeral-sg-ssh input checks', () => {
  const watched = () => proxyFor(moto.endpoint)
  const authorizeCalls = (proxy: Proxy) =>
    proxy.requests.filter((r) => r.body.includes('Action=AuthorizeSecurityGroupIngress'))

  it.each([
    [{ 'known-hosts': '' }, 'known-hosts: no host keys given'],
    [{ hosts: 'deploy@bad host' }, "hosts: 'deploy@bad host'"],
    [{ hosts: '10.0.0.5:70000' }, 'port 70000 is out of range'],
    [{ 'private-key': 'not a key' }, 'private-key: cannot be read as an SSH private key'],
    [{ ip: '203.0.113.300' }, "ip: '203.0.113.300' is not an IPv4 or IPv6 address"],
    [
      { 'security-group-ids': 'group-1' },
      "security-group-ids: 'group-1' is not a security group id"
    ],
    [{ env: '1BAD=x' }, "env: '1BAD' is not NAME=value"]
  ])('%j fails before any AWS request', async (override, message) => {
    const proxy = await watched()
    const run = await deploy({
      ...baseInputs('sg-0123456789abcdef0', { script: 'true' }),
      ...override,
      'endpoint-url': proxy.url
    })
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([expect.stringContaining(message)])
    expect(proxy.requests).toEqual([])
  })

  it('an unknown group fails before anything is opened', async () => {
    const proxy = await watched()
    const run = await deploy({
      ...baseInputs('sg-0123456789abcdef0', { script: 'true' }),
      'endpoint-url': proxy.url
    })
    expect(run.errors).toEqual([expect.stringContaining('security-group-ids: ')])
    expect(run.errors[0]).toContain('sg-0123456789abcdef0')
    expect(authorizeCalls(proxy)).toEqual([])
  })

  it('a wrong passphrase fails before anything is opened', async () => {
    const proxy = await watched()
    const run = await deploy({
      ...baseInputs('sg-0123456789abcdef0', { script: 'true' }),
      'private-key': encryptedKey.privateKey,
      passphrase: 'wrong',
      'endpoint-url': proxy.url
    })
    expect(run.errors).toEqual(['passphrase: does not decrypt private-key'])
    expect(proxy.requests).toEqual([])
  })
})

describe('ephemeral-sg-ssh behaviour', () => {
  it('keeps the key and passphrase out of every log, output and state, and forwards nothing from its own environment', async () => {
    const groupId = await newGroup()
    const run = await deploy(
      baseInputs(groupId, {
        'private-key': encryptedKey.privateKey,
        passphrase: 'correct horse battery',
        script: 'env | sort'
      }),
      { keepFiles: true }
    )
    expect(run.exitCode).toBe(0)
    // A failure names what was found where, never the key or the passphrase.
    for (const [where, text] of Object.entries(everythingVisible(run))) {
      expectNoSecret(text, encryptedKey.privateKey, `private key found in ${where}`)
      expectNoSecret(text, 'correct horse battery', `passphrase found in ${where}`)
    }
    // The remote environment has no INPUT_*, no AWS keys, nothing the step itself had.
    expect(run.stdout).not.toMatch(/^INPUT_/m)
    expect(run.stdout).not.toContain('AWS_SECRET_ACCESS_KEY')
    expect(run.stdout).not.toContain('GITHUB_')
    expect(run.masks).toContain('correct horse battery')
    rmSync(run.home, { recursive: true, force: true })
  })

  it('does not hang on a background process the script leaves running', async () => {
    const groupId = await newGroup()
    const pidFile = join(remoteRoot, `background-${groupId}.pids`)
    // The second one keeps the script's output open. Both outlive the step, which proves it did
    // not wait for them; had it waited, command-timeout would have failed it first.
    const run = await deploy(
      baseInputs(groupId, {
        script: `nohup sleep infinity >/dev/null 2>&1 &\necho $! > ${pidFile}\nsleep infinity &\necho $! >> ${pidFile}\necho detached`,
        'command-timeout': '30'
      })
    )
    const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number)
    try {
      expect(run.errors).toEqual([])
      expect(run.exitCode).toBe(0)
      expect(run.stdout).toMatch(/detached$/m)
      expect(pids.map(isRunning)).toEqual([true, true])
    } finally {
      for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL')
    }
  })

  it('negotiates only the pinned key type on a server that offers several', async () => {
    const groupId = await newGroup()
    const rsaOnly = server.knownHosts.split('\n').find((line) => line.includes('ssh-rsa'))!
    const run = await deploy(baseInputs(groupId, { 'known-hosts': rsaOnly, script: 'echo ok' }))
    expect(run.errors).toEqual([])
    expect(run.exitCode).toBe(0)
  })

  it('accepts fingerprints instead of known_hosts lines', async () => {
    const groupId = await newGroup()
    const ecdsa = server.hostKeys.find((k) => k.type === 'ecdsa')!
    const run = await deploy(
      baseInputs(groupId, {
        'known-hosts': '',
        'host-fingerprints': `[127.0.0.1]:${server.port} ecdsa-sha2-nistp256 ${ecdsa.fingerprint}`,
        script: 'echo ok'
      })
    )
    expect(run.errors).toEqual([])
  })

  it('without host keys and with insecure-skip-host-key-check: warns and goes on', async () => {
    const groupId = await newGroup()
    const run = await deploy(
      baseInputs(groupId, {
        'known-hosts': '',
        'insecure-skip-host-key-check': 'true',
        script: 'true'
      })
    )
    expect(run.exitCode).toBe(0)
    expect(run.warnings).toEqual([expect.stringContaining('host keys are not verified')])
  })

  it('runs every host, labels their output, and fails when one fails', async () => {
    const groupId = await newGroup()
    const second = await startSshd({ authorizedKeys: [key.publicKey] })
    try {
      const run = await deploy(
        baseInputs(groupId, {
          hosts: `127.0.0.1:${server.port}\n127.0.0.1:${second.port}`,
          'known-hosts': `${server.knownHosts}\n${second.knownHosts}`,
          // Fails on the second server only (its port ends SSH_CONNECTION).
          script: `echo "port \${SSH_CONNECTION##* }"\n[ "\${SSH_CONNECTION##* }" != "${second.port}" ] || exit 4`
        })
      )
      expect(run.exitCode).toBe(1)
      expect(run.stdout).toContain(`[127.0.0.1:${server.port}] port ${server.port}`)
      expect(run.stdout).toContain(`[127.0.0.1:${second.port}] port ${second.port}`)
      const results = JSON.parse(run.outputs.results!)
      expect(
        results.map((r: { status: string; exitCode: number }) => [r.status, r.exitCode])
      ).toEqual([
        ['succeeded', 0],
        ['failed', 4]
      ])
      expect(run.errors[0]).toContain(`127.0.0.1:${second.port}: script exited with 4`)
    } finally {
      await second.stop()
    }
  })

  it('opens every group, for an IPv6 address with a /128 rule, and closes them all', async () => {
    const first = await newGroup()
    const second = await newGroup()
    const before = [await rulesOf(first), await rulesOf(second)]
    const run = await deploy(
      baseInputs(`${first}, ${second}`, { ip: '2001:db8::7', script: 'true' })
    )
    expect(run.errors).toEqual([])
    const opened = [...run.stdout.matchAll(/Opened (sg-\w+) to (\S+) on port/g)].map(
      (match) => `${match[1]} ${match[2]}`
    )
    expect(new Set(opened)).toEqual(
      new Set([`${first} 2001:db8::7/128`, `${second} 2001:db8::7/128`])
    )
    expect(run.outputs['rule-ids']!.split(',')).toHaveLength(2)
    expect([await rulesOf(first), await rulesOf(second)]).toEqual(before)
  })

  it('one host after the other, stopping at the first failure with fail-fast', async () => {
    const groupId = await newGroup()
    const second = await startSshd({ authorizedKeys: [key.publicKey] })
    try {
      const run = await deploy(
        baseInputs(groupId, {
          hosts: `127.0.0.1:${server.port}\n127.0.0.1:${second.port}`,
          'known-hosts': `${server.knownHosts}\n${second.knownHosts}`,
          parallel: 'false',
          'fail-fast': 'true',
          script: 'exit 5'
        })
      )
      expect(run.exitCode).toBe(1)
      const results = JSON.parse(run.outputs.results!)
      expect(
        results.map((r: { status: string; exitCode: number | null }) => [r.status, r.exitCode])
      ).toEqual([
        ['failed', 5],
        ['skipped', null]
      ])
    } finally {
      await second.stop()
    }
  })

  it('deploys to no more hosts at once than max-parallel', async () => {
    const groupId = await newGroup()
    const second = await startSshd({ authorizedKeys: [key.publicKey] })
    const marks = join(remoteRoot, `max-parallel-${groupId}`)
    mkdirSync(marks)
    // Each host's script says it started, by its server's port, and holds on until the test
    // lets it go: while the first host holds, the second must not even have been connected to.
    const script = [
      'port=${SSH_CONNECTION##* }',
      `touch ${marks}/started-$port`,
      `until [ -e ${marks}/release-$port ]; do sleep 0.05; done`
    ].join('\n')
    const until = async (file: string) => {
      // A bound for a host that never starts, far beyond what a busy machine takes.
      const deadline = Date.now() + 60_000
      while (!existsSync(join(marks, file))) {
        if (Date.now() > deadline) throw new Error(`no host wrote ${file}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    // The server was probed for its port when it started; that connection is counted once closed.
    await logged(second, 'kex_exchange_identification')
    const probes = connectionsSeen(second)
    const release = (port: number) => writeFileSync(join(marks, `release-${port}`), '')
    let running: Promise<ActionRun> | undefined
    try {
      running = deploy(
        baseInputs(groupId, {
          hosts: `127.0.0.1:${server.port}\n127.0.0.1:${second.port}`,
          'known-hosts': `${server.knownHosts}\n${second.knownHosts}`,
          'max-parallel': '1',
          script
        })
      )
      await until(`started-${server.port}`)
      expect(connectionsSeen(second)).toBe(probes)
      release(server.port)
      await until(`started-${second.port}`)
      release(second.port)
      const run = await running
      expect(run.exitCode).toBe(0)
      const results = JSON.parse(run.outputs.results!)
      expect(results.map((r: { status: string }) => r.status)).toEqual(['succeeded', 'succeeded'])
    } finally {
      // A failed check above must not leave the hosts waiting.
      release(server.port)
      release(second.port)
      await running?.catch(() => undefined)
      await second.stop()
    }
  })

  it('stops a script that outlives command-timeout', async () => {
    const groupId = await newGroup()
    const before = await rulesOf(groupId)
    const pidFile = join(remoteRoot, `timeout-${groupId}.pid`)
    // The script's own process runs until the test stops it: the step can only have ended
    // through the timeout.
    const run = await deploy(
      baseInputs(groupId, {
        script: `echo $$ > ${pidFile}\necho waiting\nexec sleep infinity`,
        'command-timeout': '2'
      })
    )
    try {
      expect(run.exitCode).toBe(1)
      expect(run.stdout).toMatch(/waiting$/m)
      expect(run.errors[0]).toContain('script timed out after 2 s')
      expect(await rulesOf(groupId)).toEqual(before)
    } finally {
      // The step is done; what it started on the server must not outlive the test either.
      stopRemote(pidFile)
    }
  })

  it('retries the connection until the server answers (rule propagation)', async () => {
    const groupId = await newGroup()
    // Host keys and port are made now; the server starts only once the action has been refused
    // and says it will retry, as a host does that the new rule does not reach yet.
    const prepared = await prepareSshd({ authorizedKeys: [key.publicKey] })
    let late: Promise<Sshd> | undefined
    try {
      const run = await deploy(
        baseInputs(groupId, {
          hosts: `127.0.0.1:${prepared.port}`,
          'known-hosts': prepared.knownHosts,
          'connect-timeout': '50',
          script: 'echo reached'
        }),
        {
          onStdout: (stdout) => {
            if (late === undefined && stdout.includes('retrying in')) late = launchSshd(prepared)
          }
        }
      )
      expect(late).toBeDefined()
      await late
      expect(run.errors).toEqual([])
      expect(run.stdout).toMatch(/ECONNREFUSED.*retrying in \d+ ms/)
      expect(run.stdout).toMatch(/reached$/m)
    } finally {
      if (late) await (await late).stop()
      else rmSync(prepared.dir, { recursive: true, force: true })
    }
  })

  it('reaches a private server through a verified jump host', async () => {
    const groupId = await newGroup()
    const bastion = await startSshd({ authorizedKeys: [key.publicKey], allowTcpForwarding: true })
    try {
      const inputs = baseInputs(groupId, {
        'jump-host': `${bastion.user}@127.0.0.1:${bastion.port}`,
        'known-hosts': `${server.knownHosts}\n${bastion.knownHosts}`,
        script: 'echo "via ${SSH_CONNECTION%% *}"'
      })
      const run = await deploy(inputs)
      expect(run.errors).toEqual([])
      expect(run.stdout).toContain('via 127.0.0.1')
      expect(bastion.log()).toMatch(/direct-tcpip|Accepted publickey/)

      const wrongBastionKey = await deploy({
        ...inputs,
        'known-hosts': `${server.knownHosts}\n${server.knownHosts.replaceAll(`]:${server.port} `, `]:${bastion.port} `)}`
      })
      expect(wrongBastionKey.exitCode).toBe(1)
      expect(wrongBastionKey.errors[0]).toContain(
        `host key of ${bastion.user}@127.0.0.1:${bastion.port} not trusted`
      )
    } finally {
      await bastion.stop()
    }
  })

  it('sweeps rules it left in earlier runs once they outlive rule-ttl, and nothing else', async () => {
    const groupId = await newGroup()
    const tagged = async (
      cidr: string,
      createdAt: string,
      managedBy = 'airflow-aws-deploy-actions/ephemeral-sg-ssh'
    ) =>
      ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: groupId,
          IpPermissions: [
            {
              IpProtocol: 'tcp',
              FromPort: server.port,
              ToPort: server.port,
              IpRanges: [{ CidrIp: cidr }]
            }
          ],
          TagSpecifications: [
            {
              ResourceType: 'security-group-rule',
              Tags: [
                { Key: 'managed-by', Value: managedBy },
                { Key: 'created-at', Value: createdAt }
              ]
            }
          ]
        })
      )
    const leaked = await tagged('198.51.100.1/32', '2026-01-01T00:00:00.000Z')
    await tagged('198.51.100.2/32', new Date().toISOString())
    await tagged('198.51.100.3/32', '2026-01-01T00:00:00.000Z', 'someone-else')
    const before = await rulesOf(groupId)
    const run = await deploy(baseInputs(groupId, { script: 'true', 'rule-ttl': '3600' }))
    expect(run.exitCode).toBe(0)
    const leakedId = leaked.SecurityGroupRules![0]!.SecurityGroupRuleId!
    expect(run.stdout).toContain(`Swept 1 rule(s) left by earlier runs: ${leakedId}`)
    expect(await rulesOf(groupId)).toEqual(before.filter((rule) => !rule.startsWith(leakedId)))
  })

  it('leaves nothing of its own under RUNNER_TEMP', async () => {
    const groupId = await newGroup()
    const run = await deploy(baseInputs(groupId, { script: 'true' }), { keepFiles: true })
    expect(run.exitCode).toBe(0)
    expect(existsSync(run.runnerTemp) ? readdirSync(run.runnerTemp) : []).toEqual([])
    rmSync(run.home, { recursive: true, force: true })
  })
})
