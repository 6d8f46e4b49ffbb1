import * as core from '@actions/core'
import {
  createLambdaClients,
  describeInvokeFailure,
  invokeFunction,
  waitUntilReady
} from './lambda.js'
import { setOutputs, summaryMarkdown, writeResponseFile, writeSummary } from './report.js'
import { decodeInvokeOutput, functionErrorSummary } from './result.js'
import { readSettings } from './settings.js'

/** invoke-lambda: run the function, show its log, and fail the step when the function fails. */
export async function run(): Promise<void> {
  const started = Date.now()
  const settings = await readSettings()
  const { control, invoker } = createLambdaClients(settings.target, settings.timeoutSeconds)
  try {
    if (settings.waitUntilReady && settings.invocationType !== 'DryRun') {
      await waitUntilReady(control, settings)
    }

    const target = `${settings.functionName}${settings.qualifier ? `:${settings.qualifier}` : ''}`
    core.info(
      `Invoking ${target} (${settings.invocationType}, payload ${settings.payload?.length ?? 0} bytes)`
    )
    const output = await invokeFunction(invoker, settings).catch((error: unknown) => {
      throw describeInvokeFailure(error, settings)
    })
    const result = decodeInvokeOutput(output)
    const durationMs = Date.now() - started

    if (result.logTail) {
      core.startGroup('Function log (last 4 KB)')
      core.info(result.logTail)
      core.endGroup()
    }
    setOutputs(result, await writeResponseFile(result))
    await writeSummary(summaryMarkdown(settings, result, durationMs))

    if (result.functionError !== undefined) {
      const message = `Lambda function ${target} failed (${result.functionError}): ${functionErrorSummary(result)}`
      if (settings.failOnFunctionError) throw new Error(message)
      core.warning(`${message} (fail-on-function-error: false)`)
      return
    }
    core.info(`${target} answered ${result.statusCode} (version ${result.executedVersion ?? '?'})`)
  } finally {
    control.destroy()
    invoker.destroy()
  }
}
