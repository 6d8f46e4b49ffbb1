import { afterAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InputError } from '../../../src/common/errors.js'
import {
  DEFAULT_IP_LOOKUP_URLS,
  DEFAULT_MAX_PARALLEL
} from '../../../src/ephemeral-sg-ssh/constants.js'
import {
  readSettings,
  readSweepSettings,
  sweepOnlyRequested
} from '../../../src/ephemeral-sg-ssh/settings.js'
import { generateKey } from './ssh-keys.js'
import { useInputSandbox } from '../../support/input-sandbox.js'

// Made at load time: the it.each tables below are built before any beforeAll runs.
const keys = mkdtempSync(join(tmpdir(), 'ssh-settings-keys-'))
const client = generateKey(keys, 'client', ['-t', 'ed25519'])
const encrypted = generateKey(keys, 'encrypted', ['-t', 'ed25519'], 'secret')
const encryptedPem = generateKey(
  keys,
  'encrypted-pem',
  ['-t', 'rsa', '-b', '2048', '-m', 'PEM'],
  'secret'
)
const webKey = generateKey(keys, 'web', ['-t', 'ed25519'])
const bastionKey = generateKey(keys, 'bastion', ['-t', 'rsa', '-b', '2048'])

afterAll(() => {
  rmSync(keys, { recursive: true, force: true })
})

const sandbox = useInputSandbox({ 'dist/index.html': '<h1>hi</h1>' })
const { setInputs } = sandbox

const knownHosts = () => `web-1 ${webKey.type} ${webKey.base64}`
const valid = () => ({
  'security-group-ids': 'sg-0123456789abcdef0',
  hosts: 'deploy@web-1',
  'private-key': client.privateKey,
  'known-hosts': knownHosts(),
  script: 'systemctl restart app',
  region: 'eu-west-1'
})

async function inputError(inputs: Record<string, string>): Promise<InputError> {
  setInputs(inputs)
  const error = await readSettings().then(
    () => undefined,
    (error: unknown) => error
  )
  if (!(error instanceof InputError))
    throw new Error(`expected an InputError, got ${String(error)}`)
  return error
}

describe('readSettings', () => {
  it('reads a minimal configuration with the defaults', async () => {
    setInputs(valid())
    expect(await readSettings()).toEqual({
      groupIds: ['sg-0123456789abcdef0'],
      port: 22,
      ipLookupUrls: DEFAULT_IP_LOOKUP_URLS,
      hosts: [
        {
          target: { user: 'deploy', host: 'web-1', port: 22, label: 'deploy@web-1' },
          username: 'deploy',
          trust: {
            pins: [
              {
                patterns: ['web-1'],
                keyType: 'ssh-ed25519',
                fingerprint: webKey.fingerprint,
                revoked: false,
                source: 'known-hosts line 1'
              }
            ]
          }
        }
      ],
      privateKey: client.privateKey.trim(),
      insecure: false,
      uploads: [],
      keepSpecialBits: false,
      script: 'systemctl restart app',
      env: [],
      openPorts: [22],
      parallel: true,
      maxParallel: DEFAULT_MAX_PARALLEL,
      failFast: false,
      connectTimeoutSeconds: 60,
      commandTimeoutSeconds: 1800,
      ruleTtlSeconds: 21600,
      target: { region: 'eu-west-1' }
    })
  })

  it('reads an IPv4-mapped ip as its IPv4 address, private ones allowed', async () => {
    setInputs({ ...valid(), ip: '::ffff:10.0.0.5' })
    const settings = await readSettings()
    expect(settings.ip).toEqual({ address: '10.0.0.5', family: 4, cidr: '10.0.0.5/32' })
  })

  it('reads a full configuration', async () => {
    setInputs({
      ...valid(),
      'security-group-ids': 'sg-11111111, sg-22222222\nsg-11111111',
      port: '2222',
      ip: ' 2001:DB8::5 ',
      'ip-lookup-urls': 'https://ip.example.com\n# comment\nhttps://ip2.example.com/raw',
      hosts: 'web-1\nops@10.0.0.6:2200',
      username: 'deploy',
      'private-key': encrypted.privateKey,
      passphrase: 'secret',
      'known-hosts': `[web-1]:2222 ${webKey.type} ${webKey.base64}`,
      'host-fingerprints': `[10.0.0.6]:2200 ${webKey.fingerprint}\nbastion ${bastionKey.fingerprint}`,
      'jump-host': 'jump@bastion',
      upload: 'dist:/var/www/app\ndist/index.html : /var/www/index.html',
      env: 'STAGE=prod\nURL=https://x/?a=1',
      parallel: 'false',
      'max-parallel': '3',
      'fail-fast': 'true',
      'connect-timeout': '30',
      'command-timeout': '600',
      'rule-ttl': '3600',
      'endpoint-url': 'http://127.0.0.1:5000'
    })
    const settings = await readSettings()
    expect(settings).toMatchObject({
      groupIds: ['sg-11111111', 'sg-22222222'],
      port: 2222,
      ip: { address: '2001:DB8::5', family: 6, cidr: '2001:db8::5/128' },
      ipLookupUrls: ['https://ip.example.com', 'https://ip2.example.com/raw'],
      passphrase: 'secret',
      uploads: [
        { local: 'dist', remote: '/var/www/app', localPath: join(sandbox.workdir(), 'dist') },
        {
          local: 'dist/index.html',
          remote: '/var/www/index.html',
          localPath: join(sandbox.workdir(), 'dist', 'index.html')
        }
      ],
      env: [
        { name: 'STAGE', value: 'prod' },
        { name: 'URL', value: 'https://x/?a=1' }
      ],
      parallel: false,
      maxParallel: 3,
      failFast: true,
      connectTimeoutSeconds: 30,
      commandTimeoutSeconds: 600,
      ruleTtlSeconds: 3600,
      target: { region: 'eu-west-1', endpointUrl: 'http://127.0.0.1:5000' }
    })
    expect(
      settings.hosts.map((host) => [host.username, host.target.host, host.target.port])
    ).toEqual([
      ['deploy', 'web-1', 2222],
      ['ops', '10.0.0.6', 2200]
    ])
    expect(
      settings.hosts.map((host) =>
        'pins' in host.trust ? host.trust.pins.map((pin) => pin.source) : 'insecure'
      )
    ).toEqual([['known-hosts line 1'], ['host-fingerprints line 1']])
    expect(settings.jump).toEqual({
      target: { user: 'jump', host: 'bastion', port: 22, label: 'jump@bastion' },
      username: 'jump',
      trust: {
        pins: [
          {
            patterns: ['bastion'],
            fingerprint: bastionKey.fingerprint,
            revoked: false,
            source: 'host-fingerprints line 2'
          }
        ]
      }
    })
  })

  it('reaches the jump host on port 22 while the hosts use the port input', async () => {
    setInputs({
      ...valid(),
      port: '2222',
      hosts: 'deploy@web-1',
      'known-hosts': `[web-1]:2222 ${webKey.type} ${webKey.base64}\nbastion ${bastionKey.type} ${bastionKey.base64}`,
      'jump-host': 'jump@bastion'
    })
    const settings = await readSettings()
    expect(settings.hosts[0]?.target.port).toBe(2222)
    expect(settings.jump?.target.port).toBe(22)

    setInputs({
      ...valid(),
      'known-hosts': `${knownHosts()}\n[bastion]:2200 ${bastionKey.type} ${bastionKey.base64}`,
      'jump-host': 'jump@bastion:2200'
    })
    expect((await readSettings()).jump?.target.port).toBe(2200)
  })

  it('accepts an encrypted key with its passphrase, and upload without script', async () => {
    setInputs({
      ...valid(),
      'private-key': encryptedPem.privateKey,
      passphrase: 'secret',
      script: '',
      upload: 'dist:/srv/app'
    })
    const settings = await readSettings()
    expect(settings.passphrase).toBe('secret')
    expect(settings).not.toHaveProperty('script')
    expect(settings.uploads).toHaveLength(1)
  })

  it('skips host-key checking only when told to', async () => {
    setInputs({ ...valid(), 'known-hosts': '', 'insecure-skip-host-key-check': 'true' })
    const settings = await readSettings()
    expect(settings.insecure).toBe(true)
    expect(settings.hosts[0]?.trust).toEqual({ insecure: true })
  })

  it.each<[string, Record<string, string>, string, string]>([
    [
      'missing security-group-ids',
      { 'security-group-ids': '' },
      'security-group-ids',
      'security-group-ids: is required and was not given'
    ],
    [
      'a bad group id',
      { 'security-group-ids': 'sg-11111111,sg-nope' },
      'security-group-ids',
      "security-group-ids: 'sg-nope' is not a security group id"
    ],
    ['a bad port', { port: '70000' }, 'port', 'port: must be from 1 to 65535, got 70000'],
    ['a port that is not a number', { port: 'ssh' }, 'port', 'port: must be a whole number'],
    [
      'a bad ip',
      { ip: '203.0.113.300' },
      'ip',
      "ip: '203.0.113.300' is not an IPv4 or IPv6 address"
    ],
    [
      'an ip with a prefix',
      { ip: '203.0.113.7/24' },
      'ip',
      "ip: '203.0.113.7/24' is not an IPv4 or IPv6 address"
    ],
    [
      'an unspecified ip',
      { ip: '0.0.0.0' },
      'ip',
      "ip: '0.0.0.0' is unspecified, which cannot be the source of the runner's connections"
    ],
    ['an unspecified IPv6 ip', { ip: '::' }, 'ip', "ip: '::' is unspecified"],
    ['a multicast ip', { ip: '239.1.2.3' }, 'ip', "ip: '239.1.2.3' is multicast"],
    ['a multicast IPv6 ip', { ip: 'ff02::1' }, 'ip', "ip: 'ff02::1' is multicast"],
    [
      'the broadcast ip',
      { ip: '255.255.255.255' },
      'ip',
      "ip: '255.255.255.255' is the broadcast address"
    ],
    ['a loopback ip', { ip: '127.0.0.1' }, 'ip', "ip: '127.0.0.1' is loopback"],
    ['a link-local ip', { ip: '169.254.169.254' }, 'ip', "ip: '169.254.169.254' is link-local"],
    ['a "this network" ip', { ip: '0.1.2.3' }, 'ip', `ip: '0.1.2.3' is "this network" (0.0.0.0/8)`],
    ['a reserved ip', { ip: '240.0.0.1' }, 'ip', "ip: '240.0.0.1' is reserved (240.0.0.0/4)"],
    [
      'an IPv4-mapped loopback ip',
      { ip: '::ffff:127.0.0.1' },
      'ip',
      "ip: '::ffff:127.0.0.1' is loopback"
    ],
    [
      'an ip with a zone id',
      { ip: 'fe80::1%eth0' },
      'ip',
      "ip: 'fe80::1%eth0' has a zone id; give the address alone"
    ],
    [
      'keep-special-bits that is not a boolean',
      { 'keep-special-bits': 'yes' },
      'keep-special-bits',
      "keep-special-bits: must be true or false, got 'yes'"
    ],
    [
      'an http lookup URL',
      { 'ip-lookup-urls': 'https://ok.example.com\nhttp://checkip.amazonaws.com' },
      'ip-lookup-urls',
      "ip-lookup-urls: 'http://checkip.amazonaws.com' is not an https:// URL"
    ],
    [
      'a missing private key',
      { 'private-key': '' },
      'private-key',
      'private-key: is required and was not given'
    ],
    [
      'a garbage private key',
      { 'private-key': 'not a key at all' },
      'private-key',
      'private-key: cannot be read as an SSH private key'
    ],
    [
      'no host-key information',
      { 'known-hosts': '' },
      'known-hosts',
      'known-hosts: no host keys given'
    ],
    [
      'insecure-skip-host-key-check that is not a boolean',
      { 'known-hosts': '', 'insecure-skip-host-key-check': 'yes' },
      'insecure-skip-host-key-check',
      "insecure-skip-host-key-check: must be true or false, got 'yes'"
    ],
    [
      'a malformed known-hosts line',
      { 'known-hosts': `${knownHosts()}\nweb-2 ssh-ed25519` },
      'known-hosts',
      "known-hosts: line 2 is not 'host key-type base64-key'"
    ],
    [
      'a bad fingerprint',
      { 'host-fingerprints': 'web-1 SHA256:short' },
      'host-fingerprints',
      "host-fingerprints: line 1: 'SHA256:short' is not a SHA256:… fingerprint"
    ],
    [
      'a host with no known-hosts pin',
      { hosts: 'deploy@web-1\ndeploy@web-2' },
      'known-hosts',
      'known-hosts: has no key for deploy@web-2 (looked for web-2)'
    ],
    [
      'a host whose pin is for another port',
      { hosts: 'deploy@web-1:2222' },
      'known-hosts',
      'known-hosts: has no key for deploy@web-1:2222 (looked for [web-1]:2222)'
    ],
    [
      'a host with only a revoked key',
      { 'known-hosts': `@revoked ${knownHosts()}` },
      'known-hosts',
      'known-hosts: has no key for deploy@web-1 (looked for web-1)'
    ],
    [
      'a jump host with no pin',
      { 'jump-host': 'jump@bastion' },
      'known-hosts',
      'known-hosts: has no key for jump@bastion (looked for bastion)'
    ],
    [
      'a malformed host',
      { hosts: 'deploy@web_1' },
      'hosts',
      "hosts: 'deploy@web_1': 'web_1' is not a host name or address"
    ],
    [
      'a host with a bad port',
      { hosts: 'deploy@web-1:99999' },
      'hosts',
      "hosts: 'deploy@web-1:99999': port 99999 is out of range (1-65535)"
    ],
    ['no hosts', { hosts: '' }, 'hosts', 'hosts: is required'],
    [
      'a malformed jump host',
      { 'jump-host': 'jump@bad host' },
      'jump-host',
      "jump-host: 'jump@bad host': 'bad host' is not a host name or address"
    ],
    [
      'a host without a user',
      { hosts: 'web-1' },
      'username',
      'username: is needed for web-1 (or write it as user@web-1)'
    ],
    [
      'a bad env line',
      { env: 'STAGE=prod\nMY-VAR=x' },
      'env',
      "env: 'MY-VAR' is not NAME=value with a shell variable name"
    ],
    [
      'an upload without a remote path',
      { upload: 'dist' },
      'upload',
      "upload: 'dist' is not local:remote"
    ],
    [
      'an upload of a missing local path',
      { upload: 'build:/srv/app' },
      'upload',
      "upload: 'build' does not exist (looked in "
    ],
    [
      'neither script nor upload',
      { script: '' },
      'script',
      'script: nothing to do: give script and/or upload'
    ],
    [
      'a bad timeout',
      { 'command-timeout': '0' },
      'command-timeout',
      'command-timeout: must be from 1'
    ],
    [
      'no host at a time',
      { 'max-parallel': '0' },
      'max-parallel',
      'max-parallel: must be from 1 to 256, got 0'
    ],
    [
      'a max-parallel that is not a number',
      { 'max-parallel': 'all' },
      'max-parallel',
      "max-parallel: must be a whole number from 1 to 256, got 'all'"
    ]
  ])('rejects %s', async (_case, override, input, message) => {
    const error = await inputError({ ...valid(), ...override })
    expect(error.input).toBe(input)
    expect(error.message).toContain(message)
  })

  it.each(['10.0.0.5', '172.16.4.4', '192.168.0.10', '100.64.0.9', 'fd00::5', '52.95.110.7'])(
    'allows the ip %s, private addresses included (a runner inside the VPC)',
    async (ip) => {
      setInputs({ ...valid(), ip })
      expect((await readSettings()).ip?.address).toBe(ip)
    }
  )

  it('keeps setuid, setgid and sticky bits only when asked to', async () => {
    setInputs({ ...valid(), 'keep-special-bits': 'true' })
    expect((await readSettings()).keepSpecialBits).toBe(true)
  })

  it('reads every form of host-fingerprints line, ssh-keygen -l output included', async () => {
    const listed = execFileSync('ssh-keygen', ['-l', '-f', `${webKey.privatePath}.pub`], {
      encoding: 'utf8'
    }).trim()
    const forms = [
      webKey.fingerprint,
      `ED25519 ${webKey.fingerprint}`,
      `ssh-ed25519 ${webKey.fingerprint}`,
      `web-1 ssh-ed25519 ${webKey.fingerprint}`,
      `web-1 ED25519 ${webKey.fingerprint}`,
      listed.replace(' web (ED25519)', ' root@ip-10-0-1-10 (ED25519)'),
      listed.replace(' web (ED25519)', ' no comment (ED25519)'),
      listed.replace(' web (ED25519)', ' the web key (ED25519)'),
      listed.replace(' web (ED25519)', ' web-1 (ED25519)'),
      listed.replace(' web (ED25519)', ' web-1,10.0.0.5 (ED25519)')
    ]
    expect(listed).toMatch(/^256 SHA256:\S+ web \(ED25519\)$/)
    for (const form of forms) {
      setInputs({ ...valid(), 'known-hosts': '', 'host-fingerprints': form })
      const [host] = (await readSettings()).hosts
      expect({ form, pins: host?.trust }).toEqual({
        form,
        pins: {
          pins: [expect.objectContaining({ fingerprint: webKey.fingerprint, revoked: false })]
        }
      })
    }
  })

  it('takes a one-word field of an ssh-keygen -l line as the host, and says so when it names no host', async () => {
    const listed = execFileSync('ssh-keygen', ['-l', '-f', `${webKey.privatePath}.pub`], {
      encoding: 'utf8'
    }).trim()
    const error = await inputError({ ...valid(), 'known-hosts': '', 'host-fingerprints': listed })
    expect(error.message).toBe(
      'host-fingerprints: has no key for deploy@web-1 (looked for web-1; the host-fingerprints lines are for web)'
    )
  })

  it('does not warn about a fingerprint without a key type: every type is tried', async () => {
    setInputs({ ...valid(), 'known-hosts': '', 'host-fingerprints': webKey.fingerprint })
    const written: string[] = []
    const write = process.stdout.write
    process.stdout.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof write
    try {
      await readSettings()
    } finally {
      process.stdout.write = write
    }
    expect(written).toEqual([])
  })

  it('names the fingerprint input when only fingerprints are given', async () => {
    const error = await inputError({
      ...valid(),
      'known-hosts': '',
      'host-fingerprints': `web-1 ${webKey.fingerprint}`,
      hosts: 'deploy@web-1\ndeploy@web-2'
    })
    expect(error.message).toBe(
      'host-fingerprints: has no key for deploy@web-2 (looked for web-2; the host-fingerprints lines are for web-1)'
    )
  })

  it('names the absolute path it looked for an upload in', async () => {
    const error = await inputError({ ...valid(), upload: 'build:/srv/app' })
    expect(error.message).toBe(
      `upload: 'build' does not exist (looked in ${join(sandbox.workdir(), 'build')})`
    )
  })

  it('asks for the passphrase of an encrypted key', async () => {
    for (const key of [encrypted, encryptedPem]) {
      const error = await inputError({ ...valid(), 'private-key': key.privateKey })
      expect(error.message).toBe('passphrase: is needed: private-key is encrypted')
    }
  })

  it('refuses a wrong passphrase', async () => {
    for (const key of [encrypted, encryptedPem]) {
      const error = await inputError({
        ...valid(),
        'private-key': key.privateKey,
        passphrase: 'not the secret'
      })
      expect(error.message).toBe('passphrase: does not decrypt private-key')
    }
  })

  it("opens the bastion's port when there is one, otherwise every host's", async () => {
    setInputs({
      ...valid(),
      hosts: 'deploy@web-1\ndeploy@web-1:2222',
      'known-hosts': `${knownHosts()}\n[web-1]:2222 ${webKey.type} ${webKey.base64}`
    })
    expect((await readSettings()).openPorts).toEqual([22, 2222])
    setInputs({
      ...valid(),
      port: '2222',
      hosts: 'deploy@web-1',
      'jump-host': 'jump@bastion',
      'known-hosts': `[web-1]:2222 ${webKey.type} ${webKey.base64}\nbastion ${bastionKey.type} ${bastionKey.base64}`
    })
    expect((await readSettings()).openPorts).toEqual([22])
  })

  it('refuses a public key given as private-key', async () => {
    const error = await inputError({ ...valid(), 'private-key': client.publicLine })
    expect(error.message).toBe(
      'private-key: is a public key; give the private key (the file without .pub)'
    )
  })

  it('checks the key before it looks at the hosts', async () => {
    const error = await inputError({ ...valid(), 'private-key': 'garbage', hosts: 'bad host' })
    expect(error.input).toBe('private-key')
  })
})

describe('sweep-only', () => {
  const sweepInputs = {
    'sweep-only': 'true',
    'security-group-ids': 'sg-11111111,sg-22222222',
    region: 'eu-west-1'
  }

  it('is off unless asked for, and must be a boolean', () => {
    setInputs({})
    expect(sweepOnlyRequested()).toBe(false)
    setInputs({ 'sweep-only': 'true' })
    expect(sweepOnlyRequested()).toBe(true)
    setInputs({ 'sweep-only': 'on' })
    expect(() => sweepOnlyRequested()).toThrow("sweep-only: must be true or false, got 'on'")
  })

  it('needs only the security groups (and where EC2 is)', () => {
    setInputs({ ...sweepInputs, 'rule-ttl': '3600', 'endpoint-url': 'http://127.0.0.1:5000' })
    expect(readSweepSettings()).toEqual({
      groupIds: ['sg-11111111', 'sg-22222222'],
      ruleTtlSeconds: 3600,
      target: { region: 'eu-west-1', endpointUrl: 'http://127.0.0.1:5000' }
    })
  })

  it('still needs the security groups', () => {
    setInputs({ 'sweep-only': 'true', region: 'eu-west-1' })
    expect(() => readSweepSettings()).toThrow(
      'security-group-ids: is required and was not given; give the security group(s) to sweep'
    )
  })

  it.each([
    ['script', 'systemctl restart app'],
    ['upload', 'dist:/srv/app'],
    ['hosts', 'deploy@web-1'],
    ['private-key', 'key'],
    ['known-hosts', 'web-1 ssh-ed25519 AAAA'],
    ['ip', '203.0.113.10']
  ])('refuses %s, which would silently do nothing', (input, value) => {
    setInputs({ ...sweepInputs, [input]: value })
    let error: unknown
    try {
      readSweepSettings()
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).input).toBe(input)
    expect((error as InputError).message).toBe(
      `${input}: is not used with sweep-only: true, which connects to no host; remove ${input} from this step`
    )
  })
})
