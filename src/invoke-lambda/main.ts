import * as core from '@actions/core'
import {
  createLambdaClients,
  describeInvokeFailure,
  invokeFunction,
  waitUntilReady
} from './lambda.js'
import { printUntrusted, writeJobSummary } from '../common/runner.js'
import { escapeText } from '../common/untrusted.js'
import { setOutputs, summaryMarkdown, writeResponseFile } from './report.js'
import { decodeInvokeOutput, functionErrorSummary } from './result.js'
import { readSettings } from './settings.js'

/** invoke-lambda: run the function, show its log, and fail the step when the function fails. */
export async function run(): Promise<void> {
  const settings = await readSettings()
  const { control, invoker } = createLambdaClients(settings.target, settings.timeoutSeconds)
  try {
    if (settings.waitUntilReady && settings.invocationType !== 'DryRun') {
      await waitUntilReady(control, settings)
    }

    const target = settings.label
    core.info(
      `Invoking ${target} (${settings.invocationType}, payload ${settings.payload?.length ?? 0} bytes)`
    )
    const started = Date.now()
    const untilReady = () => waitUntilReady(control, settings)
    const output = await invokeFunction(invoker, settings, undefined, untilReady).catch(
      (error: unknown) => {
        throw describeInvokeFailure(error, settings)
      }
    )
    const result = decodeInvokeOutput(output)
    const durationMs = Date.now() - started

    if (result.logTail) {
      core.startGroup('Function log (last 4 KB)')
      const log = result.logTail
      await printUntrusted((print) => log.replace(/\n$/, '').split('\n').forEach(print))
      core.endGroup()
    }
    setOutputs(result, await writeResponseFile(result))
    await writeJobSummary(summaryMarkdown(settings, result, durationMs))

    if (result.functionError !== undefined) {
      // The error type and message are the function's own words: shown escaped, on one line.
      const message = `Lambda function ${target} failed (${escapeText(result.functionError)}): ${escapeText(functionErrorSummary(result))}`
      if (settings.failOnFunctionError) throw new Error(message)
      core.warning(`${message} (fail-on-function-error: false)`)
      return
    }
    core.info(
      `${target} answered ${result.statusCode} (version ${escapeText(result.executedVersion ?? '?')})`
    )
  } finally {
    control.destroy()
    invoker.destroy()
  }
}
