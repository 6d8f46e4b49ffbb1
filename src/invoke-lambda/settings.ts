import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { readAwsTarget, type AwsTarget } from '../common/aws.js'
import { InputError } from '../common/errors.js'
import {
  booleanInput,
  choiceInput,
  integerInput,
  optionalString,
  requiredString
} from '../common/inputs.js'
import {
  DEFAULT_READY_TIMEOUT_SECONDS,
  DEFAULT_TIMEOUT_SECONDS,
  INVOCATION_TYPES,
  Input,
  type InvocationType
} from './constants.js'
import { parseFunctionReference, QUALIFIER_PATTERN } from './function-name.js'
import { checkPayload } from './payload.js'

export interface InvokeSettings {
  /** As given (name, ARN or partial ARN): Lambda resolves it. */
  functionName: string
  /** The function and qualifier as people read them in logs: `name:qualifier`. */
  label: string
  qualifier?: string
  payload?: Buffer
  invocationType: InvocationType
  failOnFunctionError: boolean
  logTail: boolean
  timeoutSeconds: number
  waitUntilReady: boolean
  readyTimeoutSeconds: number
  target: AwsTarget
}

/** Reads and checks every input before any call to AWS. */
export async function readSettings(): Promise<InvokeSettings> {
  const functionName = requiredString(
    Input.FunctionName,
    'give the name or ARN of the function to invoke'
  )
  const reference = parseFunctionReference(functionName)
  if (reference === undefined) {
    throw new InputError(
      Input.FunctionName,
      `'${functionName}' is not a function name (letters, digits, - and _, up to 64), ` +
        'a function ARN, or a partial ARN (123456789012:function:name)'
    )
  }
  let qualifier = optionalString(Input.Qualifier)
  if (qualifier !== undefined && !QUALIFIER_PATTERN.test(qualifier)) {
    throw new InputError(Input.Qualifier, `'${qualifier}' is not a version, alias or $LATEST`)
  }
  if (reference.qualifier !== undefined) {
    if (qualifier !== undefined && qualifier !== reference.qualifier) {
      throw new InputError(
        Input.Qualifier,
        `is '${qualifier}' but function-name already names '${reference.qualifier}'; give one of them`
      )
    }
    qualifier = reference.qualifier
  }
  const invocationType = choiceInput(Input.InvocationType, INVOCATION_TYPES) ?? 'RequestResponse'
  const failOnFunctionError = booleanInput(Input.FailOnFunctionError, true)
  const logTail = booleanInput(Input.LogTail, true)
  const timeoutSeconds = integerInput(Input.Timeout, DEFAULT_TIMEOUT_SECONDS, { min: 1, max: 3600 })
  const waitUntilReady = booleanInput(Input.WaitUntilReady, true)
  const readyTimeoutSeconds = integerInput(Input.ReadyTimeout, DEFAULT_READY_TIMEOUT_SECONDS, {
    min: 1,
    max: 3600
  })
  const target = readAwsTarget()
  if (
    reference.region !== undefined &&
    target.endpointUrl === undefined &&
    reference.region !== target.region
  ) {
    throw new InputError(
      Input.Region,
      `is ${target.region}, but function-name is an ARN in ${reference.region}; set region: ${reference.region}`
    )
  }
  const payload = await readPayload(invocationType)
  const label =
    qualifier !== undefined && reference.qualifier === undefined
      ? `${functionName}:${qualifier}`
      : functionName
  return {
    functionName,
    label,
    ...(qualifier !== undefined ? { qualifier } : {}),
    ...(payload !== undefined ? { payload } : {}),
    invocationType,
    failOnFunctionError,
    logTail,
    timeoutSeconds,
    waitUntilReady,
    readyTimeoutSeconds,
    target
  }
}

async function readPayload(invocationType: InvocationType): Promise<Buffer | undefined> {
  const inline = optionalString(Input.Payload)
  const file = optionalString(Input.PayloadFile)
  if (inline !== undefined && file !== undefined) {
    throw new InputError(Input.PayloadFile, 'give payload or payload-file, not both')
  }
  if (inline !== undefined) return checked(Input.Payload, inline, invocationType)
  if (file === undefined) return undefined
  const path = resolve(file)
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new InputError(
      Input.PayloadFile,
      `cannot read '${file}' (${error.code === 'ENOENT' ? `no such file: ${path}` : error.message})`
    )
  })
  return checked(Input.PayloadFile, text, invocationType)
}

function checked(input: string, text: string, invocationType: InvocationType): Buffer {
  const check = checkPayload(text, invocationType)
  if (!check.ok) throw new InputError(input, check.problem)
  return check.bytes
}
