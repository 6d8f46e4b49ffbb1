import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { readAwsTarget, type AwsTarget } from '../common/aws.js'
import { InputError } from '../common/errors.js'
import {
  booleanInput,
  integerInput,
  listInput,
  optionalString,
  requiredString
} from '../common/inputs.js'
import { DEFAULT_IP_LOOKUP_URLS, DEFAULT_MAX_PARALLEL, Input } from './constants.js'
import {
  knownHostsName,
  parseFingerprints,
  parseKnownHosts,
  pinsFor,
  type HostKeyPin
} from './host-keys.js'
import { parseAddress, unusableInputReason, type RunnerAddress } from './ip.js'
import { checkPrivateKey, type Endpoint } from './ssh.js'
import {
  parseEnvLine,
  parseGroupIds,
  parseTarget,
  parseUpload,
  type UploadPair
} from './targets.js'

export interface SshSettings {
  groupIds: string[]
  port: number
  /** The ports the rules open: the bastion's when there is one, otherwise every host's. */
  openPorts: number[]
  ip?: RunnerAddress
  ipLookupUrls: string[]
  hosts: Endpoint[]
  jump?: Endpoint
  privateKey: string
  passphrase?: string
  insecure: boolean
  uploads: (UploadPair & { localPath: string })[]
  /** Keep setuid, setgid and sticky bits in uploads (dropped unless asked for). */
  keepSpecialBits: boolean
  script?: string
  env: { name: string; value: string }[]
  parallel: boolean
  /** Hosts deployed at once when parallel. */
  maxParallel: number
  failFast: boolean
  connectTimeoutSeconds: number
  commandTimeoutSeconds: number
  ruleTtlSeconds: number
  target: AwsTarget
}

/** Reads and checks every input; nothing is opened before this has passed. */
export async function readSettings(): Promise<SshSettings> {
  const groups = parseGroupIds(
    requiredString(Input.SecurityGroupIds, 'give the security group(s) of the servers')
  )
  if ('error' in groups) throw new InputError(Input.SecurityGroupIds, groups.error)
  const port = integerInput(Input.Port, 22, { min: 1, max: 65535 })

  const ip = readIpInput()
  const ipLookupUrls = listInput(Input.IpLookupUrls)
  for (const url of ipLookupUrls) {
    if (!/^https:\/\//.test(url))
      throw new InputError(Input.IpLookupUrls, `'${url}' is not an https:// URL`)
  }

  const privateKey = requiredString(Input.PrivateKey, 'give the SSH private key, from a secret')
  const passphrase = optionalString(Input.Passphrase)
  const key = checkPrivateKey(privateKey, passphrase)
  if ('error' in key) throw new InputError(key.input, key.error)

  const insecure = booleanInput(Input.InsecureSkipHostKeyCheck, false)
  const pins = readPins()
  if (pins.length === 0 && !insecure) {
    throw new InputError(
      Input.KnownHosts,
      'no host keys given: set known-hosts (lines from ssh-keyscan, checked out of band) or host-fingerprints (SHA256:…); insecure-skip-host-key-check: true turns verification off'
    )
  }

  const defaultUser = optionalString(Input.Username)
  const endpoint = (text: string, input: string, defaultPort: number): Endpoint => {
    const target = parseTarget(text, defaultPort)
    if ('error' in target) throw new InputError(input, `'${text}': ${target.error}`)
    const username = target.user ?? defaultUser
    if (username === undefined) {
      throw new InputError(Input.Username, `is needed for ${text} (or write it as user@${text})`)
    }
    if (insecure) return { target, username, trust: { insecure: true } }
    const hostPins = pinsFor(pins, target.host, target.port)
    if (hostPins.filter((pin) => !pin.revoked).length === 0) {
      const named = [
        ...new Set(
          pins
            .filter((pin) => pin.source.startsWith('host-fingerprints'))
            .flatMap((pin) => pin.patterns)
        )
      ]
      throw new InputError(
        pins.some((pin) => pin.source.startsWith('known-hosts'))
          ? Input.KnownHosts
          : Input.HostFingerprints,
        `has no key for ${text} (looked for ${knownHostsName(target.host, target.port)}${named.length > 0 ? `; the host-fingerprints lines are for ${named.join(', ')}` : ''})`
      )
    }
    return { target, username, trust: { pins: hostPins } }
  }
  const hostLines = listInput(Input.Hosts)
  if (hostLines.length === 0)
    throw new InputError(Input.Hosts, 'is required: one [user@]host[:port] per line')
  const hosts = hostLines.map((line) => endpoint(line, Input.Hosts, port))
  const jumpText = optionalString(Input.JumpHost)
  // The bastion is reached on its own SSH port (22 unless written), not on the servers' port.
  const jump = jumpText === undefined ? undefined : endpoint(jumpText, Input.JumpHost, 22)

  const uploads = []
  for (const line of listInput(Input.Upload)) {
    const pair = parseUpload(line)
    if ('error' in pair) throw new InputError(Input.Upload, pair.error)
    const localPath = resolve(pair.local)
    if ((await stat(localPath).catch(() => undefined)) === undefined) {
      throw new InputError(Input.Upload, `'${pair.local}' does not exist (looked in ${localPath})`)
    }
    uploads.push({ ...pair, localPath })
  }
  const script = optionalString(Input.Script)
  const env = listInput(Input.Env).map((line) => {
    const parsed = parseEnvLine(line)
    if ('error' in parsed) throw new InputError(Input.Env, parsed.error)
    return parsed
  })
  if (uploads.length === 0 && script === undefined) {
    throw new InputError(Input.Script, 'nothing to do: give script and/or upload')
  }

  const openPorts = jump ? [jump.target.port] : [...new Set(hosts.map((host) => host.target.port))]
  return {
    groupIds: groups.ids,
    port,
    openPorts,
    ...(ip !== undefined ? { ip } : {}),
    ipLookupUrls: ipLookupUrls.length > 0 ? ipLookupUrls : DEFAULT_IP_LOOKUP_URLS,
    hosts,
    ...(jump !== undefined ? { jump } : {}),
    privateKey,
    ...(passphrase !== undefined ? { passphrase } : {}),
    insecure,
    uploads,
    keepSpecialBits: booleanInput(Input.KeepSpecialBits, false),
    ...(script !== undefined ? { script } : {}),
    env,
    parallel: booleanInput(Input.Parallel, true),
    maxParallel: integerInput(Input.MaxParallel, DEFAULT_MAX_PARALLEL, { min: 1, max: 256 }),
    failFast: booleanInput(Input.FailFast, false),
    connectTimeoutSeconds: integerInput(Input.ConnectTimeout, 60, { min: 1, max: 3600 }),
    commandTimeoutSeconds: integerInput(Input.CommandTimeout, 1800, { min: 1, max: 21600 }),
    ruleTtlSeconds: integerInput(Input.RuleTtl, 21600, { min: 60, max: 604800 }),
    target: readAwsTarget()
  }
}

/**
 * The `ip` input: any unicast address, private ones included (a self-hosted runner inside the
 * VPC), but not one that no packet reaching a security group can come from.
 */
function readIpInput(): RunnerAddress | undefined {
  const text = optionalString(Input.Ip)
  if (text === undefined) return undefined
  if (text.includes('%')) {
    throw new InputError(Input.Ip, `'${text}' has a zone id; give the address alone`)
  }
  const ip = parseAddress(text)
  if (ip === undefined) {
    throw new InputError(Input.Ip, `'${text}' is not an IPv4 or IPv6 address`)
  }
  const reason = unusableInputReason(ip)
  if (reason !== undefined) {
    throw new InputError(
      Input.Ip,
      `'${text}' is ${reason}, which cannot be the source of the runner's connections; give this runner's own unicast address (private addresses are fine)`
    )
  }
  return ip
}

/** Sweep-only mode: the groups and how to reach EC2, and nothing about SSH. */
export interface SweepSettings {
  groupIds: string[]
  ruleTtlSeconds: number
  target: AwsTarget
}

/** Inputs that only mean something when the action connects; sweep-only refuses them. */
const CONNECTION_INPUTS = [
  Input.Hosts,
  Input.JumpHost,
  Input.PrivateKey,
  Input.Passphrase,
  Input.KnownHosts,
  Input.HostFingerprints,
  Input.Upload,
  Input.Script,
  Input.Env,
  Input.Ip
]

export function sweepOnlyRequested(): boolean {
  return booleanInput(Input.SweepOnly, false)
}

/**
 * sweep-only: true. A script or an upload given with it would silently not run, so any input
 * that only a deploy uses is an error rather than ignored.
 */
export function readSweepSettings(): SweepSettings {
  const groups = parseGroupIds(
    requiredString(Input.SecurityGroupIds, 'give the security group(s) to sweep')
  )
  if ('error' in groups) throw new InputError(Input.SecurityGroupIds, groups.error)
  const given = CONNECTION_INPUTS.filter((name) => optionalString(name) !== undefined)
  if (given.length > 0) {
    throw new InputError(
      given[0]!,
      `is not used with sweep-only: true, which connects to no host; remove ${given.join(', ')} from this step`
    )
  }
  return {
    groupIds: groups.ids,
    ruleTtlSeconds: integerInput(Input.RuleTtl, 21600, { min: 60, max: 604800 }),
    target: readAwsTarget()
  }
}

function readPins(): HostKeyPin[] {
  const known = parseKnownHosts(optionalString(Input.KnownHosts) ?? '')
  if ('error' in known) throw new InputError(Input.KnownHosts, known.error)
  const fingerprints = parseFingerprints(optionalString(Input.HostFingerprints) ?? '')
  if ('error' in fingerprints) throw new InputError(Input.HostFingerprints, fingerprints.error)
  return [...known, ...fingerprints]
}
