import { describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readSettings } from '../../../src/invoke-lambda/settings.js'
import { useInputSandbox } from '../../support/input-sandbox.js'

const sandbox = useInputSandbox()
const { setInputs } = sandbox

const valid = { 'function-name': 'refresh-workers', region: 'eu-west-1' }

describe('readSettings', () => {
  it('applies the defaults', async () => {
    setInputs(valid)
    expect(await readSettings()).toEqual({
      functionName: 'refresh-workers',
      label: 'refresh-workers',
      invocationType: 'RequestResponse',
      failOnFunctionError: true,
      logTail: true,
      timeoutSeconds: 960,
      waitUntilReady: true,
      readyTimeoutSeconds: 300,
      target: { region: 'eu-west-1' }
    })
  })

  it('reads the payload inline or from a file', async () => {
    setInputs({ ...valid, payload: '{"sha": "abc"}' })
    expect((await readSettings()).payload?.toString()).toBe('{"sha": "abc"}')
    writeFileSync(join(sandbox.workdir(), 'event.json'), '{"keys": []}')
    setInputs({ ...valid, 'payload-file': 'event.json' })
    expect((await readSettings()).payload?.toString()).toBe('{"keys": []}')
  })

  it('takes the qualifier from the function ARN', async () => {
    setInputs({
      ...valid,
      'function-name': 'arn:aws:lambda:eu-west-1:123456789012:function:refresh:live'
    })
    const fromArn = await readSettings()
    expect(fromArn.qualifier).toBe('live')
    expect(fromArn.label).toBe('arn:aws:lambda:eu-west-1:123456789012:function:refresh:live')
    setInputs({ ...valid, qualifier: 'live' })
    expect((await readSettings()).label).toBe('refresh-workers:live')
  })

  it.each([
    [{ 'function-name': '' }, 'function-name: is required and was not given'],
    [
      { 'function-name': 'refresh workers' },
      "function-name: 'refresh workers' is not a function name"
    ],
    [{ qualifier: 'v 1' }, "qualifier: 'v 1' is not a version, alias or $LATEST"],
    [
      { 'function-name': 'refresh:live', qualifier: '3' },
      "qualifier: is '3' but function-name already names 'live'"
    ],
    [
      { 'function-name': 'arn:aws:lambda:us-east-2:123456789012:function:refresh' },
      'region: is eu-west-1, but function-name is an ARN in us-east-2; set region: us-east-2'
    ],
    [{ payload: '{"a": 1,}' }, 'payload: is not valid JSON at line 1, column 9'],
    [
      { payload: '{}', 'payload-file': 'event.json' },
      'payload-file: give payload or payload-file, not both'
    ],
    [{ 'payload-file': 'missing.json' }, "payload-file: cannot read 'missing.json' (no such file:"],
    [
      { 'invocation-type': 'Async' },
      "invocation-type: must be one of RequestResponse, Event, DryRun; got 'Async'"
    ],
    [{ timeout: '0' }, 'timeout: must be from 1 to 3600, got 0'],
    [{ timeout: '15m' }, "timeout: must be a whole number from 1 to 3600, got '15m'"],
    [{ 'ready-timeout': '-1' }, 'ready-timeout: must be a whole number'],
    [{ 'fail-on-function-error': 'no' }, "fail-on-function-error: must be true or false, got 'no'"],
    [{ 'log-tail': 'on' }, 'log-tail: must be true or false'],
    [{ region: '' }, 'region: no AWS region given']
  ])('rejects %j', async (override, message) => {
    setInputs({ ...valid, ...override })
    await expect(readSettings()).rejects.toThrow(message)
  })

  it('names the file and the line of bad JSON in payload-file', async () => {
    writeFileSync(join(sandbox.workdir(), 'event.json'), '{\n  "bucket": "dags"\n  "sha": "abc"\n}')
    setInputs({ ...valid, 'payload-file': 'event.json' })
    await expect(readSettings()).rejects.toThrow(
      "payload-file: is not valid JSON at line 3, column 3: expected ',' or '}'"
    )
  })

  it('refuses an Event payload over 1 MB', async () => {
    setInputs({
      ...valid,
      'invocation-type': 'Event',
      payload: JSON.stringify('x'.repeat(1024 * 1024))
    })
    await expect(readSettings()).rejects.toThrow(
      "payload: is 1048578 bytes, over Lambda's 1048576 byte (1 MB) limit"
    )
  })
})
