export const Input = {
  FunctionName: 'function-name',
  Qualifier: 'qualifier',
  Payload: 'payload',
  PayloadFile: 'payload-file',
  InvocationType: 'invocation-type',
  FailOnFunctionError: 'fail-on-function-error',
  LogTail: 'log-tail',
  Timeout: 'timeout',
  WaitUntilReady: 'wait-until-ready',
  ReadyTimeout: 'ready-timeout',
  Region: 'region',
  EndpointUrl: 'endpoint-url'
} as const

export const Output = {
  StatusCode: 'status-code',
  FunctionError: 'function-error',
  Response: 'response',
  ResponseFile: 'response-file',
  ExecutedVersion: 'executed-version',
  LogResult: 'log-result',
  RequestId: 'request-id'
} as const

export const INVOCATION_TYPES = ['RequestResponse', 'Event', 'DryRun'] as const
export type InvocationType = (typeof INVOCATION_TYPES)[number]

/** Lambda's payload quotas: 6 MB for synchronous requests, 1 MB for asynchronous (Event) ones. */
export const PAYLOAD_LIMITS: Record<InvocationType, number> = {
  RequestResponse: 6 * 1024 * 1024,
  DryRun: 6 * 1024 * 1024,
  Event: 1024 * 1024
}

/** Lambda's longest run is 15 minutes; the default wait covers it with a margin. */
export const DEFAULT_TIMEOUT_SECONDS = 960
export const DEFAULT_READY_TIMEOUT_SECONDS = 300

/** Attempts for requests Lambda provably did not run (throttled, never connected). */
export const INVOKE_ATTEMPTS = 6
