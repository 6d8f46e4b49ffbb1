import * as core from '@actions/core'
import { formatDuration, markdownCode } from '../common/summary.js'
import { Output } from './constants.js'
import type { HostResult } from './deploy.js'
import type { RunnerAddress } from './ip.js'
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
}): void {
  if (report.address) core.setOutput(Output.Ip, report.address.address)
  core.setOutput(Output.RuleIds, report.rules.map((rule) => rule.ruleId).join(','))
  core.setOutput(Output.Results, resultsJson(report.results))
  core.setOutput(Output.ExposureSeconds, String(report.exposureSeconds))
}

export function summaryMarkdown(report: {
  address?: RunnerAddress
  port: number
  rules: readonly OpenedRule[]
  unclosed: readonly OpenedRule[]
  results: readonly HostResult[]
  exposureSeconds: number
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
    `Runner address ${report.address ? markdownCode(report.address.cidr) : '(unknown)'} was allowed on port ${report.port} through ${report.rules.length} rule(s) for ${report.exposureSeconds} s.`,
    ''
  ]
  if (report.unclosed.length > 0) {
    lines.push(
      `> **Still open:** ${report.unclosed.map((rule) => `${rule.ruleId} in ${rule.groupId}`).join(', ')}. The post step retries; check the group.`,
      ''
    )
  }
  return lines.join('\n')
}
