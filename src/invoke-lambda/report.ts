import * as core from '@actions/core'
import { formatBytes, formatDuration, markdownCode } from '../common/summary.js'
import { INLINE_OUTPUT_LIMIT, writeRunnerTempFile } from '../common/runner.js'
import { Output } from './constants.js'
import { excerpt, type InvokeResult } from './result.js'
import type { InvokeSettings } from './settings.js'

/** The whole response, in a file later steps can read whatever its size. */
export function writeResponseFile(result: InvokeResult): Promise<string> {
  return writeRunnerTempFile(
    'invoke-lambda',
    `response-${result.requestId ?? Date.now().toString(36)}.json`,
    result.responseText
  )
}

export function setOutputs(result: InvokeResult, responseFile: string): void {
  core.setOutput(Output.StatusCode, String(result.statusCode))
  core.setOutput(Output.FunctionError, result.functionError ?? '')
  const size = Buffer.byteLength(result.responseText, 'utf8')
  if (size <= INLINE_OUTPUT_LIMIT) {
    core.setOutput(Output.Response, result.responseText)
  } else {
    core.setOutput(Output.Response, '')
    core.warning(
      `The response is ${formatBytes(size)}, too large to pass on inline; read it from the response-file output (${responseFile})`
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
    ['Function', markdownCode(settings.label)],
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
