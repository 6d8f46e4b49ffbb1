import { describe, expect, it } from '@jest/globals'
import { parseFunctionReference } from '../../../src/invoke-lambda/function-name.js'
import { checkPayload } from '../../../src/invoke-lambda/payload.js'
import { decodeInvokeOutput, functionErrorSummary } from '../../../src/invoke-lambda/result.js'
import { backoffMs, isSafeToRetry } from '../../../src/invoke-lambda/retry.js'

describe('checkPayload', () => {
  it('accepts one JSON document and returns its bytes', () => {
    const check = checkPayload('{"bucket": "dags", "keys": ["dags/a.py"]}', 'RequestResponse')
    expect(check).toEqual({
      ok: true,
      bytes: Buffer.from('{"bucket": "dags", "keys": ["dags/a.py"]}')
    })
  })

  it('says where the JSON is wrong', () => {
    const check = checkPayload('{\n  "bucket": "dags",\n  "keys": [1,]\n}', 'RequestResponse')
    expect(check.ok).toBe(false)
    expect(!check.ok && check.problem).toMatch(/^is not valid JSON at line 3, column 14: /)
  })

  it("refuses payloads over Lambda's limits, naming the limit", () => {
    const sixMb = JSON.stringify({ blob: 'x'.repeat(6 * 1024 * 1024) })
    const sync = checkPayload(sixMb, 'RequestResponse')
    expect(!sync.ok && sync.problem).toContain(
      "over Lambda's 6291456 byte (6 MB) limit for RequestResponse"
    )
    const oneMb = JSON.stringify({ blob: 'x'.repeat(1024 * 1024) })
    expect(checkPayload(oneMb, 'RequestResponse').ok).toBe(true)
    const event = checkPayload(oneMb, 'Event')
    expect(!event.ok && event.problem).toContain('1048576 byte (1 MB) limit for Event')
  })

  it.each([
    ['{"a": 1,}', 'at line 1, column 9: expected a double-quoted property name'],
    ["{'a': 1}", 'at line 1, column 2: expected a double-quoted property name'],
    ['{"a" 1}', "at line 1, column 6: expected ':'"],
    ['[1 2]', "at line 1, column 4: expected ',' or ']'"],
    ['{"a": tru}', "at line 1, column 7: unexpected character 't'"],
    ['{"a": "x', 'unterminated string'],
    ['{"a": 1} {"b": 2}', "at line 1, column 10: unexpected character '{' after the JSON document"],
    ['{"a": 01}', "expected ',' or '}'"],
    ['', 'at line 1, column 1: unexpected end of input']
  ])('locates the error in %j', (text, message) => {
    const check = checkPayload(text, 'RequestResponse')
    expect(!check.ok && check.problem).toContain(message)
  })

  it('accepts every JSON value the platform accepts', () => {
    for (const text of [
      '{}',
      '[]',
      '"text"',
      '-1.5e3',
      'null',
      ' {"a":[true,false,null,{"b":"\\u00e9\\n"}]} '
    ]) {
      expect(JSON.parse(text)).toBeDefined()
      expect(checkPayload(text, 'Event').ok).toBe(true)
    }
  })
})

describe('parseFunctionReference', () => {
  it.each([
    ['refresh-workers', { name: 'refresh-workers' }],
    ['refresh-workers:live', { name: 'refresh-workers', qualifier: 'live' }],
    ['refresh:$LATEST', { name: 'refresh', qualifier: '$LATEST' }],
    ['123456789012:function:refresh', { name: 'refresh' }],
    [
      'arn:aws:lambda:eu-west-1:123456789012:function:refresh:7',
      { name: 'refresh', region: 'eu-west-1', qualifier: '7' }
    ],
    [
      'arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f',
      { name: 'f', region: 'us-gov-west-1' }
    ]
  ])('%s', (value, expected) => {
    expect(parseFunctionReference(value)).toEqual(expected)
  })

  it.each(['', 'has space', 'a/b', 'arn:aws:s3:::bucket', 'x'.repeat(65), 'f:bad qualifier'])(
    'rejects %j',
    (value) => {
      expect(parseFunctionReference(value)).toBeUndefined()
    }
  )
})

describe('isSafeToRetry', () => {
  const error = (fields: Record<string, unknown>, message = 'x') =>
    Object.assign(new Error(message), fields)

  it.each([
    [
      'throttling',
      error({ name: 'TooManyRequestsException', $metadata: { httpStatusCode: 429 } }),
      true
    ],
    [
      'a 429 of another name',
      error({ name: 'Throttled', $metadata: { httpStatusCode: 429 } }),
      true
    ],
    ['a function not ready yet', error({ name: 'ResourceNotReadyException' }), true],
    ['connection refused', error({ code: 'ECONNREFUSED' }), true],
    ['DNS failure', error({ code: 'ENOTFOUND' }), true],
    [
      'no connection within the connect timeout',
      error(
        { name: 'TimeoutError' },
        'the request socket did not establish a connection with the server within the configured timeout of 10000 ms.'
      ),
      true
    ],
    [
      'a silent socket (the function may be running)',
      error({ name: 'TimeoutError' }, 'the request socket timed out after 960000 ms of inactivity'),
      false
    ],
    [
      'the request deadline',
      error({ name: 'TimeoutError', code: 'ETIMEDOUT' }, 'exceeded requestTimeout'),
      false
    ],
    ['a reset connection', error({ code: 'ECONNRESET' }), false],
    [
      'a Lambda 5xx',
      error({ name: 'ServiceException', $metadata: { httpStatusCode: 500 } }),
      false
    ],
    [
      'access denied',
      error({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } }),
      false
    ]
  ])('%s → %s', (_label, failure, expected) => {
    expect(isSafeToRetry(failure)).toBe(expected)
  })

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffMs(1, () => 1)).toBe(500)
    expect(backoffMs(3, () => 1)).toBe(2000)
    expect(backoffMs(10, () => 1)).toBe(20000)
    expect(backoffMs(3, () => 0)).toBe(0)
  })
})

describe('decodeInvokeOutput and functionErrorSummary', () => {
  const log = 'START RequestId: 1\nTraceback: ValueError: no such bucket\nEND RequestId: 1\n'

  it('decodes the base64 log tail and the payload', () => {
    const result = decodeInvokeOutput({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: Buffer.from(
        '{"errorType":"ValueError","errorMessage":"no such bucket","stackTrace":[]}'
      ),
      LogResult: Buffer.from(log).toString('base64'),
      ExecutedVersion: '7',
      $metadata: { requestId: 'req-1' }
    })
    expect(result).toEqual({
      statusCode: 200,
      functionError: 'Unhandled',
      responseText: '{"errorType":"ValueError","errorMessage":"no such bucket","stackTrace":[]}',
      logTail: log,
      executedVersion: '7',
      requestId: 'req-1'
    })
    expect(functionErrorSummary(result)).toBe('ValueError: no such bucket')
  })

  it('falls back to the raw response when it is not an error document', () => {
    expect(
      functionErrorSummary({ statusCode: 200, responseText: 'Task timed out after 3.00 seconds' })
    ).toBe('Task timed out after 3.00 seconds')
    expect(functionErrorSummary({ statusCode: 200, responseText: '' })).toBe('(no response body)')
  })
})

describe('locateJsonError agrees with JSON.parse', () => {
  it('on 3,000 mutated documents', () => {
    let seed = 42
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    const base = JSON.stringify({
      bucket: 'dags',
      keys: ['dags/a.py', 'dags/ü.py'],
      n: -1.5e3,
      ok: true,
      none: null,
      nested: { list: [1, 2, { x: 'quote " and \\ backslash' }] }
    })
    const alphabet = '{}[],:"\\ 0123456789-+.eEtruefalsn\n\tx'
    for (let round = 0; round < 3000; round++) {
      const chars = [...base]
      const edits = 1 + Math.floor(random() * 3)
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * chars.length)
        const char = alphabet[Math.floor(random() * alphabet.length)]!
        const kind = random()
        if (kind < 0.33) chars.splice(at, 1)
        else if (kind < 0.66) chars.splice(at, 0, char)
        else chars[at] = char
      }
      const text = chars.join('')
      let valid = true
      try {
        JSON.parse(text)
      } catch {
        valid = false
      }
      expect([text, checkPayload(text, 'RequestResponse').ok]).toEqual([text, valid])
    }
  })
})
