import * as http from 'node:http'
import * as https from 'node:https'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { InputError, errorMessage } from './errors.js'
import { optionalString } from './inputs.js'
import { awsErrorCode, awsStatusCode } from './aws-errors.js'

// The error readers have no @actions/core behind them, so the refresh function shares them too.
export { awsErrorCode, awsStatusCode } from './aws-errors.js'

export const USER_AGENT = 'airflow-aws-deploy-actions'

/** Where the AWS calls go: a region, and optionally an S3/AWS-compatible endpoint (tests, MinIO). */
export interface AwsTarget {
  region: string
  endpointUrl?: string
}

const REGION_PATTERN = /^[a-z]{2}(-[a-z0-9]+)+-\d+$/

/**
 * Reads the `region` and `endpoint-url` inputs. The region falls back to AWS_REGION /
 * AWS_DEFAULT_REGION, which aws-actions/configure-aws-credentials exports.
 */
export function readAwsTarget(env: NodeJS.ProcessEnv = process.env): AwsTarget {
  const endpointUrl = optionalString('endpoint-url')
  if (endpointUrl !== undefined && !isHttpUrl(endpointUrl)) {
    throw new InputError('endpoint-url', `must be an http:// or https:// URL, got '${endpointUrl}'`)
  }
  const fromInput = optionalString('region')
  // S3-compatible stores name regions freely (R2 uses "auto"); AWS regions have one shape.
  if (fromInput !== undefined && endpointUrl === undefined && !REGION_PATTERN.test(fromInput)) {
    throw new InputError('region', `must be an AWS region such as eu-west-1, got '${fromInput}'`)
  }
  const region =
    fromInput ??
    nonEmpty(env.AWS_REGION) ??
    nonEmpty(env.AWS_DEFAULT_REGION) ??
    // A custom endpoint (a local S3-compatible store) still needs some region to sign with.
    (endpointUrl !== undefined ? 'us-east-1' : undefined)
  if (region === undefined) {
    throw new InputError(
      'region',
      'no AWS region given: set the region input, or AWS_REGION (aws-actions/configure-aws-credentials sets it)'
    )
  }
  return endpointUrl === undefined ? { region } : { region, endpointUrl }
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

export interface ClientTuning {
  /** Upper bound on parallel connections, kept alive between requests. */
  maxSockets?: number
  /** Attempts per request, including the first; the SDK backs off on throttling and 5xx. */
  maxAttempts?: number
  connectionTimeoutMs?: number
  /** Fail a request when its socket has been silent this long. */
  idleTimeoutMs?: number
  /** Fail a request that has not completed this long after it started. */
  deadlineMs?: number
}

/**
 * Configuration shared by every SDK v3 client of the pack. Credentials are deliberately left to
 * the SDK's default chain, so OIDC role sessions from configure-aws-credentials, instance
 * profiles and environment keys all work without an input of ours.
 */
export function clientConfig(target: AwsTarget, tuning: ClientTuning = {}) {
  const maxSockets = tuning.maxSockets ?? 50
  return {
    region: target.region,
    ...(target.endpointUrl !== undefined ? { endpoint: target.endpointUrl } : {}),
    maxAttempts: tuning.maxAttempts ?? 5,
    retryMode: 'standard',
    customUserAgent: USER_AGENT,
    requestHandler: new NodeHttpHandler({
      // keepAlive also turns on TCP keep-alive probes, which keep a long silent request (a
      // 15-minute Lambda invocation) from being dropped by NAT gateways on the way.
      httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets }),
      connectionTimeout: tuning.connectionTimeoutMs ?? 10_000,
      socketTimeout: tuning.idleTimeoutMs ?? 120_000,
      ...(tuning.deadlineMs !== undefined
        ? { requestTimeout: tuning.deadlineMs, throwOnRequestTimeout: true }
        : {})
    })
  }
}

/**
 * Turns an SDK failure into one sentence a workflow author can act on. `doing` says what was
 * attempted ("listing s3://bucket/dags/"); `hints` adds service-specific advice per error code.
 */
export function describeAwsFailure(
  error: unknown,
  doing: string,
  hints: Record<string, string> = {}
): Error {
  const code = awsErrorCode(error) ?? ''
  const status = awsStatusCode(error)
  const hint = hints[code]
  if (hint !== undefined) return new Error(`${doing} failed: ${hint}`)
  if (
    code === 'CredentialsProviderError' ||
    /Could not load credentials/i.test(errorMessage(error))
  ) {
    return new Error(
      `${doing} failed: no AWS credentials found. Add aws-actions/configure-aws-credentials (OIDC role) before this step, or provide AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.`
    )
  }
  if (
    [
      'InvalidAccessKeyId',
      'SignatureDoesNotMatch',
      'ExpiredToken',
      'InvalidToken',
      'UnrecognizedClientException'
    ].includes(code)
  ) {
    return new Error(
      `${doing} failed: the AWS credentials were rejected (${code}). Check the role or keys configured for this job.`
    )
  }
  if (code === 'AccessDenied' || code === 'AccessDeniedException' || status === 403) {
    return new Error(
      `${doing} failed: access denied (${code || 'HTTP 403'}). Grant the job's role the permission for this call.`
    )
  }
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || status === 301) {
    return new Error(
      `${doing} failed: the resource is in another region than the one configured (${code || 'HTTP 301'}). Set the region input to the resource's region.`
    )
  }
  if (
    ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'TimeoutError'].includes(
      code
    )
  ) {
    return new Error(
      `${doing} failed: could not reach the AWS endpoint (${code}). Check endpoint-url, region and the runner's network.`
    )
  }
  return new Error(`${doing} failed: ${code ? `${code}: ` : ''}${errorMessage(error)}`)
}
