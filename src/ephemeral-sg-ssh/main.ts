import * as core from '@actions/core'
import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { untrustedOutput, writeJobSummary } from '../common/runner.js'
import { GroupAccess } from './access.js'
import { closeAllConnections, deployToHosts, type HostResult } from './deploy.js'
import {
  createClosingEc2Client,
  createEc2Client,
  requireGroups,
  sweepExpiredRules,
  sweepLeakedRules
} from './ec2.js'
import { lookupPublicAddress, type RunnerAddress } from './ip.js'
import {
  logSweep,
  setOutputs,
  setSweepOutputs,
  summaryMarkdown,
  sweepSummaryMarkdown
} from './report.js'
import { runContext } from './rules.js'
import {
  readSettings,
  readSweepSettings,
  sweepOnlyRequested,
  type SshSettings,
  type SweepSettings
} from './settings.js'

/**
 * ephemeral-sg-ssh: open the security groups to this runner's address only, deploy over SSH,
 * and close them again whatever happens (finally here, signals, and the post step). With
 * sweep-only, close only the expired rules earlier runs left behind.
 */
export async function run(): Promise<void> {
  if (sweepOnlyRequested()) return sweepOnly(readSweepSettings())
  const settings = await readSettings()
  maskSecrets(settings)
  if (settings.insecure) {
    core.warning(
      'insecure-skip-host-key-check: host keys are not verified, so whoever can intercept the connection can pose as the servers and receive the upload and the script; pin them with known-hosts or host-fingerprints'
    )
  }
  const address = await runnerAddress(settings)
  const ec2 = createEc2Client(settings.target)
  const closer = createClosingEc2Client(settings.target)
  const access = new GroupAccess(ec2, closer, settings.groupIds)
  let cancelled = false
  let hostOutput: ReturnType<typeof untrustedOutput> | undefined
  const stopOnSignal = (signal: NodeJS.Signals) => {
    cancelled = true
    hostOutput?.end()
    core.warning(`${signal} received: closing the security groups before exiting`)
    closeAllConnections()
    void access.close().finally(() => process.exit(1))
  }
  let results: HostResult[] = []
  let swept: string[] = []
  let unclosed: Awaited<ReturnType<GroupAccess['close']>> = []
  try {
    await requireGroups(ec2, settings.groupIds, settings.target.region)
    swept = await sweepLeakedRules(ec2, settings.groupIds, settings.ruleTtlSeconds)
    process.once('SIGINT', stopOnSignal)
    process.once('SIGTERM', stopOnSignal)
    await access.open(address, settings.openPorts, runContext(), settings.ruleTtlSeconds)
    if (cancelled) return
    // The hosts' output is theirs: a line like ::add-mask:: or ::error:: is shown, not obeyed.
    hostOutput = untrustedOutput()
    try {
      results = await deployToHosts(settings)
    } finally {
      hostOutput.end()
    }
  } finally {
    unclosed = await access
      .close()
      .catch((error: unknown) =>
        access.opened.map((rule) => ({ rule, reason: errorMessage(error) }))
      )
    process.removeListener('SIGINT', stopOnSignal)
    process.removeListener('SIGTERM', stopOnSignal)
    ec2.destroy()
    closer.destroy()
    const report = {
      address,
      ports: settings.openPorts,
      rules: access.opened,
      results,
      exposureSeconds: access.exposureSeconds(),
      swept
    }
    setOutputs(report)
    await writeJobSummary(
      summaryMarkdown({ ...report, unclosed: unclosed.map((entry) => entry.rule) })
    )
  }

  if (unclosed.length > 0) {
    throw new Error(
      `could not close ${unclosed.map(({ rule, reason }) => `${rule.ruleId} in ${rule.groupId} (${reason})`).join(', ')}; the post step will try again`
    )
  }
  const failed = results.filter((result) => result.status !== 'succeeded')
  if (failed.length > 0) {
    throw new Error(
      `deploy failed on ${failed.length} of ${results.length} host(s): ${failed.map((result) => `${result.host}: ${result.error ?? result.status}`).join('; ')}`
    )
  }
}

/**
 * sweep-only: revoke this action's rules past their tagged expiry in the groups, for a scheduled
 * job that covers groups rarely deployed to. No address lookup, no SSH.
 */
async function sweepOnly(settings: SweepSettings): Promise<void> {
  const ec2 = createEc2Client(settings.target)
  try {
    await requireGroups(ec2, settings.groupIds, settings.target.region)
    const result = await sweepExpiredRules(ec2, settings.groupIds, settings.ruleTtlSeconds)
    logSweep(settings.groupIds, result)
    setSweepOutputs(result)
    await writeJobSummary(sweepSummaryMarkdown(settings.groupIds, result))
    if (result.failed.length > 0) {
      throw new Error(
        `could not close ${result.failed.map(({ rule, reason }) => `${rule.ruleId} in ${rule.groupId} (${escapeText(reason)})`).join(', ')}; the next sweep tries again`
      )
    }
  } finally {
    ec2.destroy()
  }
}

async function runnerAddress(settings: SshSettings): Promise<RunnerAddress> {
  if (settings.ip) return settings.ip
  const { address, source } = await lookupPublicAddress(settings.ipLookupUrls)
  core.info(`This runner's public address is ${address.address} (from ${source})`)
  return address
}

/** The key, its passphrase and each line of the key, so no fragment of them reaches a log. */
function maskSecrets(settings: SshSettings): void {
  core.setSecret(settings.privateKey)
  for (const line of settings.privateKey.split(/\r?\n/)) {
    if (line.trim().length >= 8 && !line.startsWith('-----')) core.setSecret(line.trim())
  }
  if (settings.passphrase) core.setSecret(settings.passphrase)
}
