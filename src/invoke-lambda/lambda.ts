import * as core from '@actions/core'
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  type InvokeCommandOutput
} from '@aws-sdk/client-lambda'
import { awsErrorCode, clientConfig, describeAwsFailure, type AwsTarget } from '../common/aws.js'
import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { INVOKE_ATTEMPTS } from './constants.js'
import { backoffMs, isSafeToRetry } from './retry.js'
import type { InvokeSettings } from './settings.js'

export type Sleep = (ms: number) => Promise<void>
const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export interface LambdaClients {
  /** Read-only calls; the SDK retries them as usual. */
  control: LambdaClient
  /** Invoke only: the SDK never retries it, and it waits as long as the function may run. */
  invoker: LambdaClient
}

/** How the Invoke client waits: see the comments; unit-tested because each line prevents a bug. */
export function invokerTuning(timeoutSeconds: number) {
  const timeoutMs = timeoutSeconds * 1000
  return {
    // Retries are decided by isSafeToRetry: an SDK retry after a socket timeout is how a long
    // function ends up running twice.
    maxAttempts: 1,
    // Lambda sends nothing until the function returns, so the socket is silent for as long as
    // the function runs: an idle limit shorter than the timeout would cut a long run short.
    idleTimeoutMs: timeoutMs + 5_000,
    deadlineMs: timeoutMs
  }
}

export function createLambdaClients(target: AwsTarget, timeoutSeconds: number): LambdaClients {
  return {
    control: new LambdaClient(clientConfig(target)),
    invoker: new LambdaClient(clientConfig(target, invokerTuning(timeoutSeconds)))
  }
}

const describeFunction = (settings: InvokeSettings) => `function '${settings.label}'`

export function notFoundHint(settings: InvokeSettings): Record<string, string> {
  const hint = `${describeFunction(settings)} was not found in ${settings.target.region}. Check function-name, qualifier and region.`
  return { ResourceNotFoundException: hint }
}

/**
 * Waits until the function is Active and its last update Successful: invoking while a deploy of
 * the function is in progress fails, or runs the old code.
 */
export async function waitUntilReady(
  client: LambdaClient,
  settings: InvokeSettings,
  pause: Sleep = sleep
): Promise<void> {
  const deadline = Date.now() + settings.readyTimeoutSeconds * 1000
  for (let poll = 1; ; poll++) {
    const config = await readConfiguration(client, settings)
    if (config === undefined) return
    const { State: state, LastUpdateStatus: update } = config
    if (state === 'Failed') {
      throw new Error(
        `${describeFunction(settings)} is in state Failed: ${escapeText(config.StateReason ?? 'no reason given')}`
      )
    }
    if (update === 'Failed') {
      throw new Error(
        `the last update of ${describeFunction(settings)} failed: ${escapeText(config.LastUpdateStatusReason ?? 'no reason given')}. Fix the function's deployment first.`
      )
    }
    if (state !== 'Pending' && update !== 'InProgress') {
      if (poll > 1)
        core.info(`${describeFunction(settings)} is ready (${escapeText(state ?? 'Active')})`)
      return
    }
    const remaining = deadline - Date.now()
    const status = escapeText(`State ${state ?? '?'}, LastUpdateStatus ${update ?? '?'}`)
    if (remaining <= 0) {
      throw new Error(
        `${describeFunction(settings)} is still not ready (${status}) after ${settings.readyTimeoutSeconds} s; raise ready-timeout or set wait-until-ready: false`
      )
    }
    core.info(`Waiting for ${describeFunction(settings)}: ${status}`)
    await pause(Math.min(remaining, 1_000 * Math.min(poll, 5)))
  }
}

/** The function's configuration, or undefined when the job may not read it. */
async function readConfiguration(client: LambdaClient, settings: InvokeSettings) {
  try {
    return await client.send(
      new GetFunctionConfigurationCommand({
        FunctionName: settings.functionName,
        Qualifier: settings.qualifier
      })
    )
  } catch (error) {
    const code = awsErrorCode(error)
    if (code === 'AccessDeniedException' || code === 'AccessDenied') {
      // Least-privilege deploy roles often may invoke but not read the configuration.
      core.warning(
        `Cannot read the state of ${describeFunction(settings)} (no lambda:GetFunctionConfiguration); invoking without waiting. Set wait-until-ready: false to skip this check.`
      )
      return undefined
    }
    throw describeAwsFailure(
      error,
      `Reading the state of ${describeFunction(settings)}`,
      notFoundHint(settings)
    )
  }
}

/**
 * Invokes once, retrying only what provably did not run the function (see isSafeToRetry).
 */
export async function invokeFunction(
  client: LambdaClient,
  settings: InvokeSettings,
  pause: Sleep = sleep,
  untilReady?: () => Promise<void>
): Promise<InvokeCommandOutput> {
  const command = new InvokeCommand({
    FunctionName: settings.functionName,
    Qualifier: settings.qualifier,
    InvocationType: settings.invocationType,
    // Only synchronous invocations return a log tail.
    LogType: settings.logTail && settings.invocationType === 'RequestResponse' ? 'Tail' : 'None',
    Payload: settings.payload
  })
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.send(command)
    } catch (error) {
      if (!isSafeToRetry(error) || attempt >= INVOKE_ATTEMPTS) throw error
      if (awsErrorCode(error) === 'ResourceNotReadyException' && untilReady !== undefined) {
        // An Inactive function wakes up (Pending, minutes for VPC functions) when invoked.
        core.info(`${describeFunction(settings)} is not ready (it was inactive); waiting for it`)
        await untilReady()
        continue
      }
      const wait = backoffMs(attempt)
      core.info(
        `Lambda did not run the function (${escapeText(awsErrorCode(error) ?? errorMessage(error))}); trying again in ${wait} ms (attempt ${attempt + 1} of ${INVOKE_ATTEMPTS})`
      )
      await pause(wait)
    }
  }
}

/** One message for an Invoke that got no answer from the function. */
export function describeInvokeFailure(error: unknown, settings: InvokeSettings): Error {
  const doing = `Invoking ${describeFunction(settings)}`
  if (awsErrorCode(error) === 'TimeoutError' && !isSafeToRetry(error)) {
    // The HTTP handler names resets and broken pipes TimeoutError too; only these two are time.
    if (/requestTimeout|inactivity/.test(errorMessage(error))) {
      return new Error(
        `${doing} failed: no response within ${settings.timeoutSeconds} s (timeout). The function may still be running; it was not invoked a second time.`
      )
    }
    return new Error(
      `${doing} failed: the connection broke after the request was sent (${errorMessage(error)}). The function may have run; it was not invoked a second time.`
    )
  }
  return describeAwsFailure(error, doing, {
    ...notFoundHint(settings),
    AccessDeniedException: `access denied; the job's role needs lambda:InvokeFunction on ${settings.functionName}`,
    RequestEntityTooLargeException:
      'Lambda rejected the payload as too large for this invocation type',
    TooManyRequestsException: `Lambda kept throttling the invocation (${INVOKE_ATTEMPTS} attempts); check the function's reserved concurrency`
  })
}
