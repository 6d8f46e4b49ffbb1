import { beforeEach, describe, expect, it, jest } from '@jest/globals'
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient
} from '@aws-sdk/client-lambda'
import { mockClient } from 'aws-sdk-client-mock'
import { INVOKE_ATTEMPTS } from '../../../src/invoke-lambda/constants.js'
import {
  describeInvokeFailure,
  invokeFunction,
  invokerTuning,
  waitUntilReady
} from '../../../src/invoke-lambda/lambda.js'
import type { InvokeSettings } from '../../../src/invoke-lambda/settings.js'

const lambdaMock = mockClient(LambdaClient)
const client = new LambdaClient({ region: 'us-east-1' })
const noWait = async () => undefined
const settings: InvokeSettings = {
  functionName: 'refresh-workers',
  label: 'refresh-workers:live',
  qualifier: 'live',
  payload: Buffer.from('{"a":1}'),
  invocationType: 'RequestResponse',
  failOnFunctionError: true,
  logTail: true,
  timeoutSeconds: 960,
  waitUntilReady: true,
  readyTimeoutSeconds: 300,
  target: { region: 'eu-west-1' }
}
const awsError = (name: string, status: number, message = name) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } })

beforeEach(() => {
  lambdaMock.reset()
})

describe('invokeFunction', () => {
  it('sends the payload, qualifier and a request for the log tail', async () => {
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200 })
    await invokeFunction(client, settings, noWait)
    expect(lambdaMock.commandCalls(InvokeCommand)[0]?.args[0].input).toEqual({
      FunctionName: 'refresh-workers',
      Qualifier: 'live',
      InvocationType: 'RequestResponse',
      LogType: 'Tail',
      Payload: Buffer.from('{"a":1}')
    })
  })

  it('asks for no log tail for Event invocations', async () => {
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 })
    await invokeFunction(client, { ...settings, invocationType: 'Event' }, noWait)
    expect(lambdaMock.commandCalls(InvokeCommand)[0]?.args[0].input.LogType).toBe('None')
  })

  it('retries throttling with backoff', async () => {
    const waits: number[] = []
    lambdaMock
      .on(InvokeCommand)
      .rejectsOnce(awsError('TooManyRequestsException', 429))
      .rejectsOnce(awsError('TooManyRequestsException', 429))
      .resolves({ StatusCode: 200 })
    const output = await invokeFunction(client, settings, async (ms) => void waits.push(ms))
    expect(output.StatusCode).toBe(200)
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(3)
    expect(waits).toHaveLength(2)
  })

  it('retries a connection that could not be opened', async () => {
    lambdaMock
      .on(InvokeCommand)
      .rejectsOnce(
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
      )
      .resolves({ StatusCode: 200 })
    await expect(invokeFunction(client, settings, noWait)).resolves.toMatchObject({
      StatusCode: 200
    })
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(2)
  })

  it('gives up on throttling after the attempt limit', async () => {
    lambdaMock.on(InvokeCommand).rejects(awsError('TooManyRequestsException', 429))
    await expect(invokeFunction(client, settings, noWait)).rejects.toThrow(
      'TooManyRequestsException'
    )
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(INVOKE_ATTEMPTS)
  })

  it.each([
    [
      'a socket timeout',
      Object.assign(new Error('the request socket timed out after 960000 ms of inactivity'), {
        name: 'TimeoutError'
      })
    ],
    ['a 5xx', awsError('ServiceException', 500)],
    [
      'a reset connection',
      // The HTTP handler renames resets to TimeoutError, keeping the code.
      Object.assign(new Error('read ECONNRESET'), { name: 'TimeoutError', code: 'ECONNRESET' })
    ]
  ])('never invokes again after %s', async (_label, failure) => {
    lambdaMock.on(InvokeCommand).rejectsOnce(failure).resolves({ StatusCode: 200 })
    await expect(invokeFunction(client, settings, noWait)).rejects.toBe(failure)
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(1)
  })
})

describe('invokerTuning', () => {
  it('never retries in the SDK, and lets the socket stay silent longer than the timeout', () => {
    const tuning = invokerTuning(960)
    expect(tuning.maxAttempts).toBe(1)
    expect(tuning.deadlineMs).toBe(960_000)
    expect(tuning.idleTimeoutMs).toBeGreaterThan(tuning.deadlineMs)
  })
})

describe('invokeFunction on an inactive function', () => {
  it('waits until it is ready, then invokes again', async () => {
    lambdaMock
      .on(InvokeCommand)
      .rejectsOnce(awsError('ResourceNotReadyException', 502))
      .resolves({ StatusCode: 200 })
    let waited = 0
    const output = await invokeFunction(client, settings, noWait, async () => {
      waited++
    })
    expect(output.StatusCode).toBe(200)
    expect(waited).toBe(1)
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(2)
  })
})

describe('describeInvokeFailure', () => {
  it.each([
    [
      awsError('ResourceNotFoundException', 404),
      "function 'refresh-workers:live' was not found in eu-west-1. Check function-name, qualifier and region."
    ],
    [
      awsError('AccessDeniedException', 403),
      "the job's role needs lambda:InvokeFunction on refresh-workers"
    ],
    [
      Object.assign(new Error('the request socket timed out after 961000 ms of inactivity'), {
        name: 'TimeoutError'
      }),
      'no response within 960 s (timeout). The function may still be running; it was not invoked a second time.'
    ],
    [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'could not reach the AWS endpoint (ECONNREFUSED)'
    ],
    [
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError'
      }),
      'no AWS credentials found'
    ]
  ])('%s', (error, message) => {
    const described = describeInvokeFailure(error, settings)
    expect(described.message).toContain("Invoking function 'refresh-workers:live' failed: ")
    expect(described.message).toContain(message)
  })
})

describe('waitUntilReady', () => {
  it('polls while the function is Pending or being updated', async () => {
    lambdaMock
      .on(GetFunctionConfigurationCommand)
      .resolvesOnce({ State: 'Pending' })
      .resolvesOnce({ State: 'Active', LastUpdateStatus: 'InProgress' })
      .resolves({ State: 'Active', LastUpdateStatus: 'Successful' })
    const waits: number[] = []
    await waitUntilReady(client, settings, async (ms) => void waits.push(ms))
    expect(waits).toEqual([1000, 2000])
    expect(lambdaMock.commandCalls(GetFunctionConfigurationCommand)[0]?.args[0].input).toEqual({
      FunctionName: 'refresh-workers',
      Qualifier: 'live'
    })
  })

  it('fails on a failed function or a failed update, with the reason', async () => {
    lambdaMock
      .on(GetFunctionConfigurationCommand)
      .resolves({ State: 'Failed', StateReason: 'Role is invalid' })
    await expect(waitUntilReady(client, settings, noWait)).rejects.toThrow(
      'is in state Failed: Role is invalid'
    )
    lambdaMock.on(GetFunctionConfigurationCommand).resolves({
      State: 'Active',
      LastUpdateStatus: 'Failed',
      LastUpdateStatusReason: 'Image not found'
    })
    await expect(waitUntilReady(client, settings, noWait)).rejects.toThrow(
      'last update of function'
    )
  })

  it('gives up after ready-timeout', async () => {
    lambdaMock.on(GetFunctionConfigurationCommand).resolves({ State: 'Pending' })
    // Each pause moves a clock of the test's own: the deadline is reached without waiting.
    let now = Date.parse('2026-01-01T00:00:00Z')
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => now)
    const pauses: number[] = []
    try {
      await expect(
        waitUntilReady(client, { ...settings, readyTimeoutSeconds: 2 }, async (ms) => {
          pauses.push(ms)
          now += ms
        })
      ).rejects.toThrow(
        'is still not ready (State Pending, LastUpdateStatus ?) after 2 s; raise ready-timeout'
      )
    } finally {
      clock.mockRestore()
    }
    // Backing off from 1 s, and never pausing beyond the deadline (2 s would).
    expect(pauses).toEqual([1000, 1000])
  })

  it('carries on without waiting when the role may not read the configuration', async () => {
    lambdaMock.on(GetFunctionConfigurationCommand).rejects(awsError('AccessDeniedException', 403))
    await expect(waitUntilReady(client, settings, noWait)).resolves.toBeUndefined()
  })

  it('names a function that does not exist', async () => {
    lambdaMock
      .on(GetFunctionConfigurationCommand)
      .rejects(awsError('ResourceNotFoundException', 404))
    await expect(waitUntilReady(client, settings, noWait)).rejects.toThrow(
      "function 'refresh-workers:live' was not found in eu-west-1"
    )
  })
})
