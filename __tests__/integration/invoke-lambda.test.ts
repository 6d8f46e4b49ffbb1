// The bundled invoke-lambda, run as the GitHub runner runs it, against moto_server's Lambda (which
// echoes the event). A proxy in between plays the parts moto cannot: function errors, log tails,
// throttling, slow functions.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { createEchoFunction, useLambdaWithoutDocker } from '../../test-support/lambda.mjs'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import type { ProxyHooks } from '../../test-support/proxy.mjs'
import { nodeRuntimes, runAction } from '../../test-support/runner.mjs'
import { credentials, proxyFor, removeWorkspaces, stopProxies, workspaceWith } from './helpers.js'

let moto: Moto
const [node24] = nodeRuntimes()
const FUNCTION = 'refresh-workers'

beforeAll(async () => {
  moto = await startMoto()
  await useLambdaWithoutDocker(moto.endpoint)
  await createEchoFunction(moto.endpoint, FUNCTION)
})
afterAll(async () => {
  removeWorkspaces()
  await stopProxies()
  await moto?.stop()
})

const proxy = (hooks: ProxyHooks = {}) => proxyFor(moto.endpoint, hooks)

const isInvoke = (req: { method: string; url: string }) =>
  req.method === 'POST' && req.url.includes('/invocations')
const isConfiguration = (req: { method: string; url: string }) =>
  req.method === 'GET' && req.url.includes('/configuration')

const invoke = (
  endpoint: string,
  inputs: Record<string, string> = {},
  options: { node?: string; workspace?: string } = {}
) =>
  runAction({
    action: 'invoke-lambda',
    node: options.node ?? node24!.path,
    env: credentials,
    ...(options.workspace ? { workspace: options.workspace } : {}),
    inputs: { 'function-name': FUNCTION, 'endpoint-url': endpoint, ...inputs }
  })

const event = {
  repository: 'octo-org/airflow',
  sha: 'ffac537e',
  bucket: 'dags',
  prefix: 'dags',
  keys: ['dags/a.py']
}

describe.each(nodeRuntimes())('invoke-lambda under $label', ({ path: node }) => {
  it('invokes the function synchronously and returns its response in the outputs', async () => {
    const result = await invoke(
      moto.endpoint,
      { payload: JSON.stringify(event), qualifier: 'live' },
      { node }
    )
    expect(result.errors).toEqual([])
    expect(result.exitCode).toBe(0)
    expect(result.outputs['status-code']).toBe('200')
    expect(result.outputs['function-error']).toBe('')
    expect(JSON.parse(result.outputs.response!)).toEqual(event)
    expect(result.outputs['request-id']).not.toBe('')
    expect(result.summary).toContain('### Lambda succeeded')
    expect(result.summary).toContain('| Function | `refresh-workers:live` |')
  })

  it('reads the event from payload-file and keeps the whole response in response-file', async () => {
    const workspace = workspaceWith({ 'event.json': JSON.stringify(event, null, 2) })
    const run = await runAction({
      action: 'invoke-lambda',
      node,
      workspace,
      env: credentials,
      keepFiles: true,
      inputs: {
        'function-name': FUNCTION,
        'endpoint-url': moto.endpoint,
        'payload-file': 'event.json'
      }
    })
    expect(run.exitCode).toBe(0)
    const file = run.outputs['response-file']!
    expect(file.startsWith(run.runnerTemp)).toBe(true)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(event)
  })

  it('queues an Event invocation and checks permissions with DryRun', async () => {
    const queued = await invoke(
      moto.endpoint,
      { payload: '{}', 'invocation-type': 'Event' },
      { node }
    )
    expect(queued.outputs['status-code']).toBe('202')
    expect(queued.summary).toContain('### Lambda queued')
    const dryRun = await invoke(moto.endpoint, { 'invocation-type': 'DryRun' }, { node })
    expect(dryRun.outputs['status-code']).toBe('204')
  })
})

describe('invoke-lambda failures', () => {
  // A log line that looks like a workflow command must be shown, not obeyed.
  const log =
    'START RequestId: 1 Version: 1\n::warning::injected by the function\n[ERROR] ValueError: no such bucket: dags\nEND RequestId: 1\n'
  const failingFunction: ProxyHooks = {
    rewrite: (req, res) =>
      isInvoke(req)
        ? {
            headers: {
              ...res.headers,
              'x-amz-function-error': 'Unhandled',
              'x-amz-log-result': Buffer.from(log).toString('base64'),
              'x-amz-executed-version': '1'
            },
            body: Buffer.from(
              JSON.stringify({
                errorType: 'ValueError',
                errorMessage: 'no such bucket: dags',
                stackTrace: []
              })
            )
          }
        : undefined
  }

  it('fails the step with the error type and message, and shows the decoded log', async () => {
    const failing = await proxy(failingFunction)
    const result = await invoke(failing.url, { payload: JSON.stringify(event) })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      `Lambda function ${FUNCTION} failed (Unhandled): ValueError: no such bucket: dags`
    ])
    expect(result.stdout).toContain('::group::Function log (last 4 KB)')
    expect(result.stdout).toContain('[ERROR] ValueError: no such bucket: dags')
    expect(result.outputs['function-error']).toBe('Unhandled')
    expect(result.outputs['log-result']).toBe(log)
    expect(result.stdout).toContain('::warning::injected by the function')
    expect(result.warnings).toEqual([])
    expect(result.summary).toContain('### Lambda failed (Unhandled)')
  })

  it('turns a function error into a warning with fail-on-function-error: false', async () => {
    const failing = await proxy(failingFunction)
    const result = await invoke(failing.url, { payload: '{}', 'fail-on-function-error': 'false' })
    expect(result.exitCode).toBe(0)
    expect(result.warnings).toEqual([expect.stringContaining('ValueError: no such bucket: dags')])
    expect(result.outputs).toMatchObject({ 'function-error': 'Unhandled', 'executed-version': '1' })
  })

  it('retries throttling and then invokes exactly once', async () => {
    let throttled = 0
    const busy = await proxy({
      intercept: (req) =>
        isInvoke(req) && throttled++ < 2
          ? {
              status: 429,
              headers: {
                'content-type': 'application/json',
                'x-amzn-errortype': 'TooManyRequestsException'
              },
              body: JSON.stringify({
                Type: 'User',
                message: 'Rate Exceeded.',
                Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded'
              })
            }
          : undefined
    })
    const result = await invoke(busy.url, { payload: '{"n": 1}' })
    expect(result.errors).toEqual([])
    expect(busy.requests.filter(isInvoke).map((r) => r.status)).toEqual([429, 429, 200])
  })

  it('does not invoke again after a 5xx', async () => {
    const broken = await proxy({
      intercept: (req) =>
        isInvoke(req)
          ? {
              status: 500,
              headers: {
                'content-type': 'application/json',
                'x-amzn-errortype': 'ServiceException'
              },
              body: JSON.stringify({ message: 'internal error' })
            }
          : undefined
    })
    const result = await invoke(broken.url, { payload: '{}' })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([expect.stringContaining('ServiceException')])
    expect(broken.requests.filter(isInvoke)).toHaveLength(1)
  })

  it('does not invoke again when the function outlives the timeout', async () => {
    // The invocation is never answered: the function outlives any timeout, however busy the machine.
    const slow = await proxy({ hold: (req) => (isInvoke(req) ? new Promise(() => {}) : undefined) })
    const result = await invoke(slow.url, { payload: '{}', timeout: '1' })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      expect.stringContaining(
        'no response within 1 s (timeout). The function may still be running; it was not invoked a second time.'
      )
    ])
    expect(slow.requests.filter(isInvoke)).toHaveLength(1)
  })

  it('waits until the function is Active and its update done before invoking', async () => {
    let polls = 0
    const updating = await proxy({
      rewrite: (req, res) => {
        if (!isConfiguration(req) || polls++ >= 2) return undefined
        const config = JSON.parse(res.body.toString('utf8'))
        return {
          body: Buffer.from(
            JSON.stringify({ ...config, State: 'Active', LastUpdateStatus: 'InProgress' })
          )
        }
      }
    })
    const result = await invoke(updating.url, { payload: '{}' })
    expect(result.exitCode).toBe(0)
    const order = updating.requests.map((r) =>
      isInvoke(r) ? 'invoke' : isConfiguration(r) ? 'config' : r.url
    )
    expect(order).toEqual(['config', 'config', 'config', 'invoke'])
    expect(result.stdout).toContain('LastUpdateStatus InProgress')
  })

  it('invokes without waiting when the role may not read the configuration', async () => {
    const restricted = await proxy({
      intercept: (req) =>
        isConfiguration(req)
          ? {
              status: 403,
              headers: {
                'content-type': 'application/json',
                'x-amzn-errortype': 'AccessDeniedException'
              },
              body: JSON.stringify({
                Message: 'not authorized to perform: lambda:GetFunctionConfiguration'
              })
            }
          : undefined
    })
    const result = await invoke(restricted.url, { payload: '{}' })
    expect(result.exitCode).toBe(0)
    expect(result.warnings).toEqual([expect.stringContaining('no lambda:GetFunctionConfiguration')])
  })

  it('puts a response too large for a step output into response-file only', async () => {
    const big = JSON.stringify({
      keys: Array.from({ length: 30000 }, (_, i) => `dags/generated/dag_${i}.py`)
    })
    const large = await proxy({
      rewrite: (req, res) =>
        isInvoke(req) ? { headers: res.headers, body: Buffer.from(big) } : undefined
    })
    const run = await runAction({
      action: 'invoke-lambda',
      node: node24!.path,
      env: credentials,
      keepFiles: true,
      inputs: { 'function-name': FUNCTION, 'endpoint-url': large.url, payload: '{}' }
    })
    expect(run.exitCode).toBe(0)
    expect(run.outputs.response).toBe('')
    expect(run.warnings).toEqual([expect.stringContaining('too large to pass on inline')])
    expect(readFileSync(run.outputs['response-file']!, 'utf8')).toBe(big)
  })

  it('names a function that does not exist', async () => {
    const result = await invoke(moto.endpoint, { 'function-name': 'no-such-function' })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      "Reading the state of function 'no-such-function' failed: function 'no-such-function' was not found in us-east-1. Check function-name, qualifier and region."
    ])
  })

  it('refuses an Event payload over 1 MB before any AWS request', async () => {
    // A step's environment cannot hold a 1 MB input, so such payloads come from a file.
    const watched = await proxy()
    const workspace = workspaceWith({
      'event.json': JSON.stringify({ blob: 'x'.repeat(1024 * 1024) })
    })
    const result = await invoke(
      watched.url,
      { 'invocation-type': 'Event', 'payload-file': 'event.json' },
      { workspace }
    )
    expect(result.errors).toEqual([
      expect.stringContaining("over Lambda's 1048576 byte (1 MB) limit for Event")
    ])
    expect(watched.requests).toEqual([])
  })

  it.each([
    [{ payload: '{"sha": "abc",}' }, 'payload: is not valid JSON at line 1, column 15'],
    [
      { 'function-name': 'refresh:live', qualifier: '2' },
      "qualifier: is '2' but function-name already names 'live'"
    ]
  ])('rejects %j before any AWS request', async (inputs, message) => {
    const watched = await proxy()
    const result = await invoke(watched.url, inputs)
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([expect.stringContaining(message)])
    expect(watched.requests).toEqual([])
  })
})
