/** What an Invoke answered, decoded for people and for step outputs. */
export interface InvokeResult {
  statusCode: number
  functionError?: string
  responseText: string
  logTail?: string
  executedVersion?: string
  requestId?: string
}

export interface RawInvokeOutput {
  StatusCode?: number
  FunctionError?: string
  Payload?: Uint8Array
  LogResult?: string
  ExecutedVersion?: string
  $metadata?: { requestId?: string }
}

export function decodeInvokeOutput(output: RawInvokeOutput): InvokeResult {
  const result: InvokeResult = {
    statusCode: output.StatusCode ?? 0,
    responseText: output.Payload ? Buffer.from(output.Payload).toString('utf8') : ''
  }
  if (output.FunctionError) result.functionError = output.FunctionError
  // Lambda returns the last 4 KB of the log base64-encoded; nobody can read it that way.
  if (output.LogResult) result.logTail = Buffer.from(output.LogResult, 'base64').toString('utf8')
  if (output.ExecutedVersion) result.executedVersion = output.ExecutedVersion
  if (output.$metadata?.requestId) result.requestId = output.$metadata.requestId
  return result
}

/**
 * One line for a failed function: its errorType and errorMessage when the response is the
 * runtime's error document, otherwise the start of whatever it returned.
 */
export function functionErrorSummary(result: InvokeResult): string {
  try {
    const document = JSON.parse(result.responseText) as {
      errorType?: unknown
      errorMessage?: unknown
    }
    const type = typeof document.errorType === 'string' ? document.errorType : undefined
    const message = typeof document.errorMessage === 'string' ? document.errorMessage : undefined
    if (type !== undefined || message !== undefined) {
      return [type, message].filter((part) => part !== undefined).join(': ')
    }
  } catch {
    // not JSON: fall through to the raw excerpt
  }
  return excerpt(result.responseText, 500) || '(no response body)'
}

export function excerpt(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`
}
