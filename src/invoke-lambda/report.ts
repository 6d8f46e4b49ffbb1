import * as core from '@actions/core'
import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatBytes, formatDuration, markdownCode } from '../common/summary.js'
import { Output, RESPONSE_OUTPUT_LIMIT } from './constants.js'
import { excerpt, type InvokeResult } from './result.js'
import type { InvokeSettings } from './settings.js'

/**
 * Writes the whole response to a file under RUNNER_TEMP (the runner empties it after the job),
 * so a response larger than a step output can carry is still available to later steps.
 */
export async function writeResponseFile(result: InvokeResult): Promise<string> {
  const dir = join(process.env.RUNNER_TEMP || tmpdir(), 'invoke-lambda')
  await mkdir(dir, { recursive: true })
  const name = `response-${result.requestId ?? Date.now().toString(36)}.json`.replace(
    /[^\w.-]/g,
    '_'
  )
  const path = join(dir, name)
  await writeFile(path, result.responseText)
  return path
}

export function setOutputs(result: InvokeResult, responseFile: string): void {
  core.setOutput(Output.StatusCode, String(result.statusCode))
  core.setOutput(Output.FunctionError, result.functionError ?? '')
  const size = Buffer.byteLength(result.responseText, 'utf8')
  if (size <= RESPONSE_OUTPUT_LIMIT) {
    core.setOutput(Output.Response, result.responseText)
  } else {
    core.setOutput(Output.Response, '')
    core.warning(
      `The response is ${formatBytes(size)}, too large for a step output; read it from the response-file output (${responseFile})`
    )
  }
  core.setOutput(Output.ResponseFile, responseFile)
  core.setOutput(Output.ExecutedVersion, result.executedVersion ?? '')
  core.setOutput(Output.LogResult, result.logTail ?? '')
  core.setOutput(Output.RequestId, result.requestId ?? '')
}

export function summaryMarkdown(
  settings: InvokeSettings,
  result: InvokeResult,
  durationMs: number
): string {
  const outcome = result.functionError
    ? `failed (${result.functionError})`
    : { RequestResponse: 'succeeded', Event: 'queued', DryRun: 'permitted (dry run)' }[
        settings.invocationType
      ]
  const rows: [string, string][] = [
    ['Function', markdownCode(settings.functionName)],
    ['Qualifier', settings.qualifier ? markdownCode(settings.qualifier) : '(unqualified)'],
    ['Invocation type', settings.invocationType],
    ['Status code', String(result.statusCode)],
    ['Executed version', result.executedVersion ?? ''],
    ['Duration', formatDuration(durationMs)],
    ['Request id', result.requestId ? markdownCode(result.requestId) : '']
  ]
  const lines = [
    `### Lambda ${outcome}`,
    '',
    '| | |',
    '| --- | --- |',
    ...rows.map(([name, value]) => `| ${name} | ${value} |`),
    ''
  ]
  if (result.responseText !== '') {
    lines.push(
      'Response (excerpt):',
      '',
      '```json',
      excerpt(result.responseText, 1000).replace(/```/g, "'''"),
      '```',
      ''
    )
  }
  return lines.join('\n')
}

export async function writeSummary(markdown: string): Promise<void> {
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown, true).write()
}
