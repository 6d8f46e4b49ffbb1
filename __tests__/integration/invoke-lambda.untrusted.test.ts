// What Lambda answers (the function's error document, the function's state and reasons) is text
// from outside the workflow: the bundled invoke-lambda must show it, never obey it. moto_server's
// Lambda echoes the event; a proxy in between rewrites its answers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createEchoFunction, useLambdaWithoutDocker } from '../../test-support/lambda.mjs'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { issuedCommands } from '../../test-support/output-guard.mjs'
import type { ProxyHooks } from '../../test-support/proxy.mjs'
import { nodeRuntimes, runAction, type ActionRun } from '../../test-support/runner.mjs'
import { credentials, proxyFor, stopProxies } from './helpers.js'

let moto: Moto
const [node24] = nodeRuntimes()
const FUNCTION = 'refresh-workers'
const INJECTED = 'x\n::add-mask::dags\r::warning::obeyed'
const SHOWN = 'x\\n:\\x3aadd-mask:\\x3adags\\r:\\x3awarning:\\x3aobeyed'

beforeAll(async () => {
  moto = await startMoto()
  await useLambdaWithoutDocker(moto.endpoint)
  await createEchoFunction(moto.endpoint, FUNCTION)
})
afterAll(async () => {
  await stopProxies()
  await moto?.stop()
})

const isInvoke = (req: { method: string; url: string }) =>
  req.method === 'POST' && req.url.includes('/invocations')
const isConfiguration = (req: { method: string; url: string }) =>
  req.method === 'GET' && req.url.includes('/configuration')

const invoke = async (hooks: ProxyHooks, inputs: Record<string, string> = {}) => {
  const proxy = await proxyFor(moto.endpoint, hooks)
  return runAction({
    action: 'invoke-lambda',
    node: node24!.path,
    env: credentials,
    inputs: { 'function-name': FUNCTION, 'endpoint-url': proxy.url, payload: '{}', ...inputs }
  })
}

/** Commands the step's output issues other than groups, debug lines and the step's own error. */
function foreignCommands(run: ActionRun): string[] {
  return issuedCommands(run.stdout)
    .filter(({ command }) => !['group', 'endgroup', 'debug', 'error'].includes(command))
    .map(({ command, message }) => `${command}: ${message}`)
}

describe('invoke-lambda shows what Lambda answers, escaped', () => {
  it("puts the function's error type and message in the step's error on one line", async () => {
    const result = await invoke({
      rewrite: (req, res) =>
        isInvoke(req)
          ? {
              headers: { ...res.headers, 'x-amz-function-error': 'Unhandled' },
              body: Buffer.from(
                JSON.stringify({ errorType: 'Value\nError', errorMessage: INJECTED })
              )
            }
          : undefined
    })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      `Lambda function ${FUNCTION} failed (Unhandled): Value\\nError: ${SHOWN}`
    ])
    expect(foreignCommands(result)).toEqual([])
    expect(result.masks).toEqual([])
  })

  it('prints a state it waits on escaped', async () => {
    let polls = 0
    const result = await invoke({
      rewrite: (req, res) => {
        if (!isConfiguration(req) || polls++ > 0) return undefined
        const config = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>
        return {
          body: Buffer.from(
            JSON.stringify({ ...config, State: 'Pending', LastUpdateStatus: INJECTED })
          )
        }
      }
    })
    expect(result.errors).toEqual([])
    expect(result.stdout.split('\n')).toContain(
      `Waiting for function '${FUNCTION}': State Pending, LastUpdateStatus ${SHOWN}`
    )
    expect(foreignCommands(result)).toEqual([])
    expect(result.masks).toEqual([])
  })

  it("quotes a failed function's state reason escaped", async () => {
    const result = await invoke({
      rewrite: (req, res) => {
        if (!isConfiguration(req)) return undefined
        const config = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>
        return {
          body: Buffer.from(JSON.stringify({ ...config, State: 'Failed', StateReason: INJECTED }))
        }
      }
    })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([`function '${FUNCTION}' is in state Failed: ${SHOWN}`])
    expect(foreignCommands(result)).toEqual([])
  })
})
