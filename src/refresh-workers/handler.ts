import { AutoScalingClient } from '@aws-sdk/client-auto-scaling'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { SSMClient } from '@aws-sdk/client-ssm'
import { awsErrorCode } from '../common/aws-errors.js'
import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { MANIFEST_NAME } from '../deploy-dags/constants.js'
import { parseManifestBytes, type Manifest } from '../deploy-dags/plan.js'
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import {
  AirflowEnv,
  confirmParsed,
  readAirflowConfig,
  readAirflowCredentials,
  type AirflowConfig
} from './airflow.js'
import { ConfigError, Env, readConfig, type RefreshConfig } from './config.js'
import { convergeFolder } from './efs.js'
import { launchActionOf, parseEvent, type RefreshRequest } from './events.js'
import { autoScalingLifecycle, ssmFleet, type LifecycleAction } from './fleet.js'
import { refresh, type Dependencies } from './main.js'
import { RefreshFailed, type RefreshResult } from './result.js'
import { systemClock } from './run-command.js'

/** The part of Lambda's context the function reads. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number
}

/**
 * The function: read the configuration, accept or refuse the event, refresh, and answer with the
 * result, or with a function error whose message is the result's one line, so that invoke-lambda
 * fails the deploy and shows it. The result is logged in full either way.
 */
export function makeHandler(
  build: (config: RefreshConfig) => Dependencies = (config) => awsDependencies(config),
  env: Record<string, string | undefined> = process.env,
  abandon: (action: LifecycleAction) => Promise<void> = (action) =>
    autoScalingLifecycle(new AutoScalingClient({})).complete(action, 'ABANDON')
) {
  return async (event: unknown, context: InvocationContext): Promise<RefreshResult> => {
    let config: RefreshConfig
    let confirm: Dependencies['confirmParsed']
    try {
      config = readConfig(env)
      const airflow = readAirflowConfig(env)
      confirm = airflow === undefined ? undefined : airflowConfirmation(config, airflow)
    } catch (error) {
      await abandonLaunch(event, abandon)
      throw error
    }
    const request = parseEvent(event, config)
    const deps = build(config)
    if (confirm !== undefined) deps.confirmParsed ??= confirm
    deps.log(describeRequest(request, config))
    const result = await refresh(request, context.getRemainingTimeInMillis(), config, deps)
    deps.log(JSON.stringify(result))
    if (!result.ok) throw new RefreshFailed(result)
    return result
  }
}

/**
 * A launch that arrives while the configuration is broken would otherwise hold its instance in
 * Pending:Wait until the hook times out, stalling every scale-out until then. It is abandoned at
 * once instead; if even that fails, the hook's own timeout still abandons it.
 */
async function abandonLaunch(
  event: unknown,
  abandon: (action: LifecycleAction) => Promise<void>
): Promise<void> {
  const action = launchActionOf(event)
  if (action === undefined) return
  try {
    await abandon(action)
    console.error(`${action.instanceId}: lifecycle action completed with ABANDON`)
  } catch (error) {
    console.error(
      `${action.instanceId}: completing its lifecycle action with ABANDON failed: ${escapeText(errorMessage(error))}`
    )
  }
}

function describeRequest(request: RefreshRequest, config: RefreshConfig): string {
  const source = `s3://${config.bucket}/${config.prefix === '' ? '' : `${config.prefix}/`}`
  switch (request.kind) {
    case 'deploy':
      return `Deploy of ${request.repository}@${request.sha} (run ${request.runId}, attempt ${request.runAttempt}): refreshing from ${source}`
    case 'resync':
      return `Full resync from ${source}${request.reason !== undefined ? `: ${request.reason}` : ''}`
    case 'launch':
      return `Launch of ${request.instanceId} in ${request.group}: syncing from ${source} before it joins`
  }
}

/** Where the clients send their calls: in Lambda, nothing (the runtime's region and role). */
export interface ClientOptions {
  endpoint?: string
  region?: string
  credentials?: { accessKeyId: string; secretAccessKey: string }
}

/** The AWS clients of the flow, and the log on standard output (CloudWatch Logs in Lambda). */
export function awsDependencies(
  config: RefreshConfig,
  clients: ClientOptions = {},
  log: (line: string) => void = (line) => console.log(line)
): Dependencies {
  // A local endpoint (AWS_ENDPOINT_URL, which the SDK honours by itself) has no virtual-host buckets.
  const local = clients.endpoint !== undefined || process.env.AWS_ENDPOINT_URL !== undefined
  const s3 = new S3Client({ ...clients, forcePathStyle: local })
  const deps: Dependencies = {
    clock: systemClock,
    log,
    readManifest: () => readManifest(s3, config.bucket, config.prefix)
  }
  if (config.mode === 'efs') {
    deps.convergeFolder = (reportPaths, deadlineMs) =>
      convergeFolder({
        s3,
        bucket: config.bucket,
        prefix: config.prefix,
        folder: config.efsMountPath,
        reportPaths,
        deadlineMs
      })
  }
  if (config.mode === 'ssm') {
    const autoScaling = new AutoScalingClient(clients)
    deps.fleet = ssmFleet(new SSMClient(clients), autoScaling, config.ssmDocumentName)
    deps.lifecycle = autoScalingLifecycle(autoScaling)
  }
  return deps
}

/**
 * The Airflow confirmation, reading the API user from Secrets Manager when it is needed. The
 * changed paths are relative to the prefix, which is the DAG folder Airflow reads.
 */
export function airflowConfirmation(
  config: RefreshConfig,
  airflow: AirflowConfig,
  clients: ClientOptions = {}
): NonNullable<Dependencies['confirmParsed']> {
  const dagFolder =
    config.airflowDagFolder ?? (config.mode === 'ssm' ? config.workerDagFolder : undefined)
  if (dagFolder === undefined) {
    throw new ConfigError(
      Env.AirflowDagFolder,
      `is required in efs mode when ${AirflowEnv.ApiUrl} is set: the DAG folder as Airflow sees it (like /opt/airflow/dags)`
    )
  }
  return async (changedPaths, since, deadlineMs) => {
    const client = new SecretsManagerClient(clients)
    try {
      const credentials = await readAirflowCredentials(airflow.credentialsSecret, client)
      return await confirmParsed({
        config: airflow,
        credentials,
        workerDagFolder: dagFolder,
        changedPaths,
        since,
        deadlineMs: Math.min(deadlineMs, Date.now() + airflow.confirmTimeoutMs)
      })
    } finally {
      client.destroy()
    }
  }
}

export async function readManifest(
  s3: S3Client,
  bucket: string,
  prefix: string
): Promise<Manifest> {
  const key = `${prefix === '' ? '' : `${prefix}/`}${MANIFEST_NAME}`
  let bytes: Uint8Array
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    bytes = (await object.Body?.transformToByteArray()) ?? new Uint8Array()
  } catch (error) {
    if (awsErrorCode(error) === 'NoSuchKey') {
      throw new Error(`there is no s3://${bucket}/${key}: deploy the DAGs with deploy-dags first`)
    }
    throw error
  }
  const read = parseManifestBytes(bytes)
  if ('problem' in read) throw new Error(`s3://${bucket}/${key} is no manifest: ${read.problem}`)
  return read.manifest
}
