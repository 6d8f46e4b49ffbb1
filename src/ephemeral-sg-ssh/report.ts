import * as core from '@actions/core'
import { formatDuration, markdownCode } from '../common/summary.js'
import { escapeText } from '../common/untrusted.js'
import { CREATED_AT_TAG, EXPIRES_AT_TAG, Output } from './constants.js'
import type { HostResult } from './deploy.js'
import type { RunnerAddress } from './ip.js'
import type { SweepResult } from './ec2.js'
import type { OpenedRule } from './rules.js'

const ICONS: Record<HostResult['status'], string> = {
  succeeded: '✅',
  failed: '❌',
  skipped: '⏭️',
  cancelled: '⏹️'
}

export function resultsJson(results: readonly HostResult[]): string {
  return JSON.stringify(
    results.map(({ host, status, exitCode, durationMs, error }) => ({
      host,
      status,
      exitCode,
      durationMs,
      ...(error !== undefined ? { error } : {})
    }))
  )
}

export function setOutputs(report: {
  address?: RunnerAddress
  rules: readonly OpenedRule[]
  results: readonly HostResult[]
  exposureSeconds: number
  swept: readonly string[]
}): void {
  if (report.address) core.setOutput(Output.Ip, report.address.address)
  core.setOutput(Output.RuleIds, report.rules.map((rule) => rule.ruleId).join(','))
  core.setOutput(Output.Results, resultsJson(report.results))
  core.setOutput(Output.ExposureSeconds, String(report.exposureSeconds))
  core.setOutput(Output.SweptRuleIds, report.swept.join(','))
}

const portList = (ports: readonly number[]) =>
  `${ports.length === 1 ? 'port' : 'ports'} ${ports.join(', ')}`

export function summaryMarkdown(report: {
  address?: RunnerAddress
  /** The ports the rules opened: the ones dialled, not the port input. */
  ports: readonly number[]
  rules: readonly OpenedRule[]
  unclosed: readonly OpenedRule[]
  results: readonly HostResult[]
  exposureSeconds: number
  swept: readonly string[]
}): string {
  const failed = report.results.filter((result) => result.status !== 'succeeded').length
  const lines = [
    `### SSH deploy ${failed === 0 ? 'succeeded' : `failed on ${failed} of ${report.results.length} host(s)`}`,
    '',
    '| Host | Status | Exit code | Duration | Error |',
    '| --- | --- | ---: | ---: | --- |',
    ...report.results.map(
      (result) =>
        `| ${markdownCode(result.host)} | ${ICONS[result.status]} ${result.status} | ${result.exitCode ?? ''} | ${formatDuration(result.durationMs)} | ${result.error ? markdownCode(result.error) : ''} |`
    ),
    '',
    `Runner address ${report.address ? markdownCode(report.address.cidr) : '(unknown)'} was allowed on ${portList(report.ports)} through ${report.rules.length} rule(s) for ${report.exposureSeconds} s.`,
    ''
  ]
  if (report.swept.length > 0) {
    lines.push(
      `Closed ${report.swept.length} expired rule(s) left by earlier runs: ${report.swept.join(', ')}.`,
      ''
    )
  }
  if (report.unclosed.length > 0) {
    lines.push(
      `> **Still open:** ${report.unclosed.map((rule) => `${rule.ruleId} in ${rule.groupId}`).join(', ')}. The post step retries; check the group.`,
      ''
    )
  }
  return lines.join('\n')
}

/** One log line per rule closed, or one saying nothing had expired. */
export function logSweep(groupIds: readonly string[], result: SweepResult): void {
  for (const rule of result.swept) {
    // Tags can be written by anyone allowed to tag the rule: shown escaped.
    const expiry = rule.tags[EXPIRES_AT_TAG] ?? `(created ${rule.tags[CREATED_AT_TAG] ?? '?'})`
    core.info(`Closed ${rule.ruleId} in ${rule.groupId}, expired ${escapeText(expiry)}`)
  }
  if (result.swept.length === 0 && result.failed.length === 0) {
    core.info(`No rule of this action had expired in ${groupIds.join(', ')}`)
  }
}

export function setSweepOutputs(result: SweepResult): void {
  core.setOutput(Output.SweptRuleIds, result.swept.map((rule) => rule.ruleId).join(','))
}

/** sweep-only: what was closed (or that nothing had expired), and what would not close. */
export function sweepSummaryMarkdown(groupIds: readonly string[], result: SweepResult): string {
  const groups = groupIds.map(markdownCode).join(', ')
  const when = (tags: Record<string, string>) =>
    tags[EXPIRES_AT_TAG] !== undefined
      ? `expired ${markdownCode(tags[EXPIRES_AT_TAG])}`
      : `created ${markdownCode(tags[CREATED_AT_TAG] ?? '?')}`
  const lines = ['### Expired deploy rules swept', '']
  if (result.swept.length === 0 && result.failed.length === 0) {
    lines.push(`No rule of this action had expired in ${groups}; nothing was closed.`, '')
    return lines.join('\n')
  }
  if (result.swept.length > 0) {
    lines.push(
      `Closed ${result.swept.length} rule(s) of this action past their expiry in ${groups}:`,
      '',
      '| Rule | Group | Expiry | Left by |',
      '| --- | --- | --- | --- |',
      ...result.swept.map(
        (rule) =>
          `| ${markdownCode(rule.ruleId)} | ${markdownCode(rule.groupId)} | ${when(rule.tags)} | ${leftBy(rule.tags)} |`
      ),
      ''
    )
  }
  if (result.failed.length > 0) {
    lines.push(
      `> **Still open:** ${result.failed.map(({ rule, reason }) => `${markdownCode(rule.ruleId)} in ${markdownCode(rule.groupId)} (${markdownCode(reason)})`).join(', ')}. Revoke them by hand or let the next sweep retry.`,
      ''
    )
  }
  return lines.join('\n')
}

function leftBy(tags: Record<string, string>): string {
  const run = tags['run-id']
  const repository = tags['repository']
  if (run === undefined) return ''
  return `${repository !== undefined ? `${markdownCode(repository)} ` : ''}run ${markdownCode(run)}`
}
