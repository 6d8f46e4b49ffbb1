import * as core from '@actions/core'
import { INLINE_OUTPUT_LIMIT, writeJobSummary, writeRunnerTempFile } from '../common/runner.js'
import { capList, formatBytes, formatDuration, markdownCode } from '../common/summary.js'
import { escapeText } from '../common/untrusted.js'
import { Output } from './constants.js'
import type { Drift, SyncPlan } from './plan.js'

export type Outcome = 'deployed' | 'planned' | 'refused'

export interface Report {
  outcome: Outcome
  uri: string
  plan: SyncPlan
  durationMs: number
  refusal?: string
  /** Whether verify ran; `drift` is what it found. */
  verified?: boolean
  drift?: readonly Drift[]
}

const SUMMARY_KEYS = 200

export function changesJson(plan: SyncPlan, limit = INLINE_OUTPUT_LIMIT): string {
  const uploaded = plan.uploads.map((u) => u.key)
  const deleted = plan.deletes.map((d) => d.key)
  const full = JSON.stringify({ uploaded, deleted })
  // The runner's limit is in bytes; keys may hold multi-byte characters.
  const fits = (text: string) => Buffer.byteLength(text, 'utf8') <= limit
  if (fits(full)) return full
  // Halve the lists until the document fits, and say so: consumers must not take it as complete.
  let keep = Math.max(uploaded.length, deleted.length)
  let text = full
  while (!fits(text) && keep > 0) {
    keep = Math.floor(keep / 2)
    text = JSON.stringify({
      uploaded: uploaded.slice(0, keep),
      deleted: deleted.slice(0, keep),
      truncated: true,
      uploadedCount: uploaded.length,
      deletedCount: deleted.length
    })
  }
  return text
}

const bytesToUpload = (plan: SyncPlan) => plan.uploads.reduce((sum, u) => sum + u.file.size, 0)

/** What changed, in full: `changes` is capped so it can be passed on inline; this never is. */
export function fullChanges(report: Report): string {
  if (report.outcome === 'refused') return JSON.stringify({ uploaded: [], deleted: [] })
  return changesJson(report.plan, Number.POSITIVE_INFINITY)
}

export function setOutputs(report: Report, changesFile: string): void {
  const { plan } = report
  const uploadedBytes = bytesToUpload(plan)
  const changed = report.outcome !== 'refused' && plan.uploads.length + plan.deletes.length > 0
  core.setOutput(Output.Changed, String(changed))
  core.setOutput(Output.Uploaded, String(report.outcome === 'refused' ? 0 : plan.uploads.length))
  core.setOutput(Output.Deleted, String(report.outcome === 'refused' ? 0 : plan.deletes.length))
  core.setOutput(Output.Unchanged, String(plan.unchanged.length))
  core.setOutput(Output.Drifted, String(report.drift?.length ?? 0))
  core.setOutput(Output.UploadedBytes, String(report.outcome === 'refused' ? 0 : uploadedBytes))
  core.setOutput(
    Output.Changes,
    report.outcome === 'refused' ? JSON.stringify({ uploaded: [], deleted: [] }) : changesJson(plan)
  )
  core.setOutput(Output.ChangesFile, changesFile)
  core.setOutput(Output.S3Uri, report.uri)
  core.setOutput(Output.Refusal, report.refusal ?? '')
}

/** The job summary: in a dry run it is the plan, otherwise what was done. */
export function summaryMarkdown(report: Report): string {
  const { plan } = report
  const uploadedBytes = bytesToUpload(plan)
  const deletedBytes = plan.deletes.reduce((sum, d) => sum + d.size, 0)
  const title = {
    deployed: 'DAGs deployed',
    planned: 'DAG deploy plan (dry run, nothing changed)',
    refused: 'DAG deploy refused (nothing changed)'
  }[report.outcome]
  const verb = report.outcome === 'deployed' ? ['Uploaded', 'Deleted'] : ['To upload', 'To delete']
  const lines = [`### ${title}`, '', `Target: ${markdownCode(report.uri)}`, '']
  if (report.refusal !== undefined) lines.push(`> **Refused:** ${report.refusal}`, '')
  lines.push(
    '| | Objects | Bytes |',
    '| --- | ---: | ---: |',
    `| ${verb[0]} | ${plan.uploads.length} | ${formatBytes(uploadedBytes)} |`,
    `| ${verb[1]} | ${plan.deletes.length} | ${formatBytes(deletedBytes)} |`,
    `| Unchanged | ${plan.unchanged.length} | |`,
    ...(report.verified ? [`| Drifted (verify) | ${report.drift?.length ?? 0} | |`] : []),
    '',
    `Duration: ${formatDuration(report.durationMs)}`,
    ''
  )
  const section = (heading: string, items: { key: string; note?: string }[]) => {
    if (items.length === 0) return
    const { shown, omitted } = capList(items, SUMMARY_KEYS)
    lines.push(`<details><summary>${heading} (${items.length})</summary>`, '')
    for (const { key, note } of shown)
      // Escaped as in the log, so a key reads the same in both places.
      lines.push(`- ${markdownCode(escapeText(key))}${note ? ` (${note})` : ''}`)
    if (omitted > 0) lines.push(`- … and ${omitted} more`)
    lines.push('', '</details>', '')
  }
  section(
    "Drifted: the bucket did not hold the file's bytes",
    (report.drift ?? []).map((d) => ({ key: d.key, note: d.found }))
  )
  section(
    verb[0] as string,
    plan.uploads.map((u) => ({ key: u.key, note: u.reason }))
  )
  section(
    verb[1] as string,
    plan.deletes.map((d) => ({ key: d.key }))
  )
  return lines.join('\n')
}

export async function writeReport(report: Report): Promise<void> {
  const changesFile = await writeRunnerTempFile(
    'deploy-dags',
    `changes-${process.env.GITHUB_RUN_ID ?? 'local'}-${Date.now().toString(36)}.json`,
    fullChanges(report)
  )
  setOutputs(report, changesFile)
  await writeJobSummary(summaryMarkdown(report))
}
