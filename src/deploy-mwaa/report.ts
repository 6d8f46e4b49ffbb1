import * as core from '@actions/core'
import type { FileProblem, ParseOutcome } from '../common/airflow-parse.js'
import { FILE_ROLES, type FileRole } from '../common/mwaa.js'
import { writeJobSummary } from '../common/runner.js'
import { formatBytes, formatDuration, markdownCode } from '../common/summary.js'
import { Output, ROLE_NAME, VERSION_OUTPUT } from './constants.js'
import type { EnvironmentPlan, FilePlan } from './plan.js'

/** What a run did, filled in as it goes, so that a failed run reports as much as a good one. */
export interface DeployResult {
  environment: string
  dryRun: boolean
  bucket?: string
  plan?: EnvironmentPlan
  /** The version each file of this deploy is at in the environment's configuration. */
  versions: Partial<Record<FileRole, string>>
  /** UpdateEnvironment was called (in a dry run: would be). */
  updated: boolean
  /** The environment's status when the step ended. */
  status?: string
  /** How long this deploy waited for work it did not start. */
  waitedMs?: number
  /** From UpdateEnvironment to the update's end, when it was followed to the end. */
  updateMs?: number
  /** How the update ended: succeeded, failed, left running, or not followed (wait: false). */
  updateEnd?: 'succeeded' | 'failed' | 'timed out' | 'not followed' | 'broken'
  /** Set when the step fails: the one line it fails with. */
  failure?: string
  /** Airflow's import errors before the environment update, when the check follows one. */
  importErrorsBefore?: FileProblem[]
  /** The Airflow check, when dag-changes was given and it ran. */
  imports?: { outcome: ParseOutcome; dagSource: string; skipped?: string }
  durationMs: number
}

export function setOutputs(result: DeployResult): void {
  core.setOutput(Output.Updated, String(result.updated))
  for (const role of FILE_ROLES) core.setOutput(VERSION_OUTPUT[role], result.versions[role] ?? '')
  core.setOutput(Output.Status, result.status ?? '')
  core.setOutput(
    Output.DurationSeconds,
    result.updateMs !== undefined ? String(Math.round(result.updateMs / 1000)) : ''
  )
  const imports = result.imports?.outcome
  core.setOutput(
    Output.ImportErrors,
    imports !== undefined ? String(new Set(imports.importErrors.map((e) => e.path)).size) : ''
  )
  core.setOutput(
    Output.Unconfirmed,
    imports !== undefined ? String(imports.unconfirmed.length) : ''
  )
}

function fileAction(file: FilePlan, dryRun: boolean): string {
  switch (file.action) {
    case 'keep':
      return 'unchanged'
    case 'apply':
      return dryRun ? 'would be applied' : 'applied'
    case 'upload':
      return dryRun ? 'would be uploaded' : 'uploaded'
  }
}

/** The headline: what happened to the environment, in one sentence. */
export function headline(result: DeployResult): string {
  const name = markdownCode(result.environment)
  if (result.failure !== undefined && result.plan === undefined)
    return `${name}: nothing was changed`
  if (result.plan === undefined || result.plan.files.length === 0) {
    return `${name}: DAG files checked with Airflow`
  }
  if (result.dryRun) {
    return result.updated
      ? `${name}: merging would start an environment update (${changedNames(result.plan)}); MWAA takes 10 to 30 minutes for it`
      : `${name}: merging would not start an environment update; every file is already in effect`
  }
  if (!result.updated) {
    return result.plan.update
      ? `${name}: nothing was updated`
      : `${name}: no update; every file is already in effect`
  }
  switch (result.updateEnd) {
    case 'succeeded':
      return `${name}: updated (${changedNames(result.plan)}) in ${formatDuration(result.updateMs ?? 0)}`
    case 'failed':
      return `${name}: the update failed and MWAA rolled the environment back`
    case 'timed out':
      return `${name}: the update was still running when the timeout passed, and was left running`
    case 'broken':
      return `${name}: the environment broke during the update`
    default:
      return `${name}: update started (${changedNames(result.plan)}); not waited for`
  }
}

function changedNames(plan: EnvironmentPlan): string {
  const changed = plan.files.filter((file) => file.action !== 'keep')
  return changed.map((file) => ROLE_NAME[file.role]).join(', ')
}

export function summaryMarkdown(result: DeployResult): string {
  const lines = [`### MWAA: ${headline(result)}`, '']
  if (result.failure !== undefined) lines.push(`**Failed:** ${markdownCode(result.failure)}`, '')
  const plan = result.plan
  if (plan !== undefined && plan.files.length > 0) {
    lines.push('| File | From | Key | Bytes | Version | |', '|---|---|---|---:|---|---|')
    for (const file of plan.files) {
      const version = result.versions[file.role] ?? file.versionId ?? ''
      lines.push(
        `| ${ROLE_NAME[file.role]} | ${markdownCode(file.given)} | ${markdownCode(file.key)} | ${formatBytes(file.size)} | ${version === '' ? '' : markdownCode(version)} | ${fileAction(file, result.dryRun)}: ${markdownCode(file.why)} |`
      )
    }
    lines.push('')
  }
  const facts: string[] = []
  if (result.bucket !== undefined) facts.push(`bucket ${markdownCode(result.bucket)}`)
  if (result.status !== undefined) facts.push(`status ${markdownCode(result.status)}`)
  if (result.waitedMs !== undefined && result.waitedMs > 0) {
    facts.push(`waited ${formatDuration(result.waitedMs)} for an update already running`)
  }
  if (result.updateMs !== undefined) facts.push(`update took ${formatDuration(result.updateMs)}`)
  facts.push(`step took ${formatDuration(result.durationMs)}`)
  lines.push(facts.join(' · '), '')
  const imports = result.imports
  if (imports !== undefined) lines.push(...importLines(imports))
  return lines.join('\n')
}

function importLines(imports: NonNullable<DeployResult['imports']>): string[] {
  if (imports.skipped !== undefined)
    return [`**Airflow import check skipped:** ${markdownCode(imports.skipped)}`, '']
  const { outcome, dagSource } = imports
  const lines = ['#### Airflow import check', '']
  const repoPath = (path: string) => markdownCode(`${dagSource}/${path}`)
  if (outcome.importErrors.length === 0) {
    lines.push(
      `No import errors in the ${outcome.confirmed.length} changed DAG file(s) Airflow parsed after the deploy.`
    )
  } else {
    lines.push('| Changed file | Import error |', '|---|---|')
    for (const problem of outcome.importErrors) {
      lines.push(`| ${repoPath(problem.path)} | ${markdownCode(problem.message)} |`)
    }
  }
  if (outcome.unconfirmed.length > 0) {
    lines.push(
      '',
      `Not seen parsed by the timeout: ${outcome.unconfirmed.map(repoPath).join(', ')}`
    )
  }
  if (outcome.preexisting.length > 0) {
    lines.push(
      '',
      `Import errors from before this deploy, in files it did not change: ${outcome.preexisting.length}`
    )
  }
  lines.push('')
  return lines
}

export async function writeReport(result: DeployResult): Promise<void> {
  setOutputs(result)
  await writeJobSummary(summaryMarkdown(result))
}
