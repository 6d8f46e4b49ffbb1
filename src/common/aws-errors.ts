interface AwsErrorShape {
  name?: string
  Code?: string
  code?: string
  $metadata?: { httpStatusCode?: number }
}

/** The service's error code, e.g. NoSuchBucket, AccessDenied; or a Node network error code. */
export function awsErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const shape = error as AwsErrorShape
  // Node's network errors are plain Errors whose `code` (ECONNREFUSED…) says what happened.
  const name = shape.name === 'Error' ? undefined : shape.name
  return shape.Code ?? name ?? shape.code
}

export function awsStatusCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  return (error as AwsErrorShape).$metadata?.httpStatusCode
}
