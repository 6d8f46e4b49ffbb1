import { PAYLOAD_LIMITS, type InvocationType } from './constants.js'
import { locateJsonError } from './json-error.js'

export type PayloadCheck = { ok: true; bytes: Buffer } | { ok: false; problem: string }

/**
 * Checks that `text` is one JSON document and fits Lambda's quota for the invocation type.
 * JSON.parse is not used for the message: V8's errors quote the input, which would copy the
 * payload (often holding keys or tokens) into the log.
 * Lambda itself would reject bad JSON only after the request, or, for Event, not at all: the
 * function would then fail later where nobody is watching.
 */
export function checkPayload(text: string, invocationType: InvocationType): PayloadCheck {
  const problem = locateJsonError(text)
  if (problem !== undefined) {
    return {
      ok: false,
      problem: `is not valid JSON ${where(text, problem.position)}: ${problem.reason}`
    }
  }
  const bytes = Buffer.from(text, 'utf8')
  const limit = PAYLOAD_LIMITS[invocationType]
  if (bytes.length > limit) {
    return {
      ok: false,
      problem: `is ${bytes.length} bytes, over Lambda's ${limit} byte (${limit / 1024 / 1024} MB) limit for ${invocationType} invocations`
    }
  }
  return { ok: true, bytes }
}

/** "at line 3, column 7" for a character offset. */
export function where(text: string, position: number): string {
  const before = text.slice(0, position)
  const line = before.split('\n').length
  const column = position - before.lastIndexOf('\n')
  return `at line ${line}, column ${column}`
}
