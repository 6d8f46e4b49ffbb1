import * as core from '@actions/core'
import type { S3Client } from '@aws-sdk/client-s3'
import { describeAwsFailure } from '../common/aws.js'
import { errorMessage, InputError } from '../common/errors.js'
import { createMwaaApi } from '../common/mwaa-api.js'
import { MwaaError, type FileRole, type MwaaApi, type MwaaEnvironment } from '../common/mwaa.js'
import { bucketNameProblem } from '../common/s3-location.js'
import { escapeText } from '../common/untrusted.js'
import { createS3Client } from '../deploy-dags/bucket.js'
import {
  annotate,
  importErrorsBefore,
  planImportCheck,
  runImportCheck,
  type ImportCheck
} from './import-check.js'
import { readStoredStates, requireVersioning, uploadArtifact } from './artifacts.js'
import { Input, ROLE_NAME } from './constants.js'
import { readLocalArtifacts } from './local.js'
import { planEnvironment, updateRequest, type EnvironmentPlan, type LocalArtifact } from './plan.js'
import { writeReport, type DeployResult } from './report.js'
import { readSettings, type MwaaSettings } from './settings.js'
import { brokenReason, readinessOf } from './status.js'
import { EnvironmentBroken, followUpdate, waitUntilReady, WaitTimeout, type Watch } from './wait.js'

/**
 * deploy-mwaa: give the environment the repository's requirements, plugins and startup script,
 * with one UpdateEnvironment only when one of them changed, and confirm a DAG deploy with
 * Airflow's own import errors.
 */
export async function run(): Promise<void> {
  const started = Date.now()
  const settings = await readSettings()
  const local = await core.group('Read the files', () =>
    readLocalArtifacts(settings.sources, (line) => core.info(line))
  )
  const result: DeployResult = {
    environment: settings.environment,
    dryRun: settings.dryRun,
    versions: {},
    updated: false,
    durationMs: 0
  }
  const api = createMwaaApi(settings.target)
  const s3 = createS3Client(settings.target, 4)
  try {
    await deploy(settings, local, api, s3, result)
  } catch (error) {
    result.failure = errorMessage(error)
    throw error
  } finally {
    result.durationMs = Date.now() - started
    await writeReport(result)
    api.destroy()
    s3.destroy()
  }
}

async function deploy(
  settings: MwaaSettings,
  local: readonly LocalArtifact[],
  api: MwaaApi,
  s3: S3Client,
  result: DeployResult
): Promise<void> {
  const started = Date.now()
  const deadlineMs = started + settings.timeoutMs
  let environment = await describeEnvironment(api, settings.environment)
  result.status = environment.status
  const bucket = environmentBucket(settings, environment)
  result.bucket = bucket
  if (readinessOf(environment.status) === 'broken') {
    throw new EnvironmentBroken(brokenReason(environment), environment)
  }
  const watch: Watch = {
    api,
    name: settings.environment,
    deadlineMs,
    pollIntervalMs: settings.pollIntervalMs,
    log: (line) => core.info(line)
  }
  // Read before anything is written: a dag-changes input that cannot be right fails first.
  const check =
    settings.dagChanges !== undefined && !settings.dryRun
      ? await planImportCheck(settings, environment)
      : undefined

  if (local.length > 0) {
    // Both only read: the plan is known before anything is written.
    await requireVersioning(s3, bucket).catch((error: unknown) => {
      throw error instanceof InputError
        ? error
        : s3Failure(error, `Reading the versioning of s3://${bucket}`, bucket)
    })
    const plan = planEnvironment(
      local,
      environment,
      await readStoredStates(s3, bucket, local, environment).catch((error: unknown) => {
        throw s3Failure(error, `Reading s3://${bucket}`, bucket)
      })
    )
    result.plan = plan
    logPlan(plan, settings.dryRun)
    recordVersions(result, plan)
    if (settings.dryRun) {
      result.updated = plan.update
      return
    }

    if (plan.update) {
      // What Airflow reports before the update, so that what the update breaks is told apart.
      const before =
        check !== undefined
          ? await importErrorsBefore(api, environment, settings.target.region, deadlineMs)
          : undefined
      if (before !== undefined) result.importErrorsBefore = before
      const applied = await applyUpdate(watch, local, s3, bucket, environment, result)
      environment = applied.environment
      result.status = environment.status
      if (applied.before !== null) {
        if (!settings.wait) {
          result.updateEnd = 'not followed'
        } else {
          environment = await followToEnd(watch, applied.before, applied.calledMs, result)
        }
      }
    }
  } else if (settings.dryRun) {
    return
  }

  if (settings.dagChanges !== undefined) {
    await checkImports(settings, watch, environment, check, result)
  }
}

async function describeEnvironment(api: MwaaApi, name: string): Promise<MwaaEnvironment> {
  try {
    return await api.getEnvironment(name)
  } catch (error) {
    if (error instanceof MwaaError && error.code === 'ResourceNotFoundException') {
      throw new InputError(
        Input.Environment,
        `there is no MWAA environment named '${escapeText(name)}' in this account and Region (check the name and the region input)`
      )
    }
    throw error
  }
}

/** MWAA reads only its configured bucket: another one named here is a mistake, said at once. */
function environmentBucket(settings: MwaaSettings, environment: MwaaEnvironment): string {
  const configured = environment.sourceBucketArn?.replace(/^arn:[^:]+:s3:::/, '')
  if (settings.bucket !== undefined) {
    if (configured !== undefined && configured !== settings.bucket) {
      throw new InputError(
        Input.Bucket,
        `is ${escapeText(settings.bucket)}, but environment ${escapeText(environment.name)} reads s3://${escapeText(configured)}; leave bucket empty to use the environment's`
      )
    }
    return settings.bucket
  }
  if (configured === undefined || configured === '') {
    throw new InputError(
      Input.Bucket,
      `environment ${escapeText(environment.name)} names no source bucket; give the bucket input`
    )
  }
  // Checked like an input: the name is printed and put in requests from here on.
  if (bucketNameProblem(configured) !== undefined) {
    throw new Error(
      `environment ${escapeText(environment.name)} names '${escapeText(configured)}' as its source bucket, which is not a bucket name`
    )
  }
  return configured
}

function s3Failure(error: unknown, doing: string, bucket: string): Error {
  return describeAwsFailure(error, doing, {
    NoSuchBucket: `bucket '${bucket}' does not exist (or not in this account/region)`,
    AccessDenied: `access denied; the job role needs s3:GetBucketVersioning on ${bucket}, s3:ListBucketVersions on it for the files' keys, and s3:GetObject and s3:GetObjectVersion on the files`
  })
}

function logPlan(plan: EnvironmentPlan, dryRun: boolean): void {
  core.startGroup('Compare with what the environment runs')
  for (const file of plan.files) {
    core.info(
      `${ROLE_NAME[file.role]} → ${escapeText(file.key)}: ${file.action} (${escapeText(file.why)})`
    )
  }
  core.endGroup()
  const changed = plan.files.filter((file) => file.action !== 'keep').length
  core.info(
    plan.update
      ? `${changed} file(s) to give the environment: ${dryRun ? 'an update would start' : 'an update starts'}`
      : 'Every file is already in effect: no update'
  )
}

function recordVersions(result: DeployResult, plan: EnvironmentPlan): void {
  for (const file of plan.files) {
    if (file.versionId !== undefined) result.versions[file.role] = file.versionId
  }
}

interface Applied {
  environment: MwaaEnvironment
  /** The last update before ours (undefined: none ever); null when no update was needed after all. */
  before: Date | undefined | null
  calledMs: number
}

/**
 * Waits for work in progress, uploads what differs, and calls UpdateEnvironment. The plan is
 * made again after a wait: the update that ran meanwhile may have changed what the environment
 * names, and the files not in this deploy must keep the versions it has then.
 */
async function applyUpdate(
  watch: Watch,
  local: readonly LocalArtifact[],
  s3: S3Client,
  bucket: string,
  first: MwaaEnvironment,
  result: DeployResult
): Promise<Applied> {
  // By role and key: after a wait the environment may name another key for a role.
  const uploaded = new Map<string, string>()
  const uploadedKey = (role: FileRole, key: string) => `${role}\n${key}`
  let environment = first
  for (;;) {
    if (readinessOf(environment.status) !== 'ready') {
      core.info(
        `Environment ${escapeText(watch.name)} is ${escapeText(environment.status)}: waiting for that to end before updating`
      )
      const waitStarted = Date.now()
      environment = await waitUntilReady(watch, environment)
      result.waitedMs = (result.waitedMs ?? 0) + Date.now() - waitStarted
    }
    const plan = planEnvironment(
      local,
      environment,
      await readStoredStates(s3, bucket, local, environment)
    )
    result.plan = plan
    if (!plan.update) {
      core.info('The environment already runs every file of this deploy: no update')
      recordVersions(result, plan)
      return { environment, before: null, calledMs: Date.now() }
    }
    for (const file of plan.files) {
      if (file.action !== 'upload' || uploaded.has(uploadedKey(file.role, file.key))) continue
      const artifact = local.find((candidate) => candidate.role === file.role) as LocalArtifact
      const versionId = await uploadArtifact(s3, bucket, file.key, artifact).catch(
        (error: unknown) => {
          throw describeAwsFailure(error, `Uploading s3://${bucket}/${escapeText(file.key)}`, {
            AccessDenied: `access denied; the job role needs s3:PutObject on arn:aws:s3:::${bucket}/${escapeText(file.key)} (and kms:GenerateDataKey when the bucket's key is a customer managed KMS key)`
          })
        }
      )
      uploaded.set(uploadedKey(file.role, file.key), versionId)
      core.info(
        `Uploaded ${escapeText(file.given)} to s3://${bucket}/${escapeText(file.key)}, version ${escapeText(versionId)}`
      )
    }
    const versions = new Map<FileRole, string>()
    for (const file of plan.files) {
      const versionId = uploaded.get(uploadedKey(file.role, file.key))
      if (versionId !== undefined) versions.set(file.role, versionId)
    }
    const request = updateRequest(environment, plan, versions)
    const before = environment.lastUpdate?.createdAt
    const calledMs = Date.now()
    try {
      await watch.api.updateEnvironment(watch.name, request)
    } catch (error) {
      if (error instanceof MwaaError && error.code === 'ValidationException') {
        // Refused: another update may have started between the look and the call.
        const now = await watch.api.getEnvironment(watch.name)
        if (readinessOf(now.status) === 'busy') {
          environment = now
          continue
        }
        throw new Error(
          `MWAA refused to update environment ${escapeText(watch.name)}: ${error.message}`
        )
      }
      if (error instanceof MwaaError && !error.retryable) throw error
      // The call may have reached MWAA: it is not sent again, which could start a second update.
      const now = await watch.api.getEnvironment(watch.name).catch(() => undefined)
      throw new Error(
        `${errorMessage(error)}. The update may have started all the same: environment ${escapeText(watch.name)} is ${escapeText(now?.status ?? 'unknown')}; look at its last update before running again`
      )
    }
    for (const file of plan.files) {
      const given = request[file.role]
      if (given !== undefined) result.versions[file.role] = given.versionId
    }
    result.updated = true
    core.info(
      `UpdateEnvironment accepted for ${escapeText(watch.name)}: ${describeRequest(request)}`
    )
    return { environment: await watch.api.getEnvironment(watch.name), before, calledMs }
  }
}

function describeRequest(request: ReturnType<typeof updateRequest>): string {
  return Object.entries(request)
    .map(
      ([role, file]) =>
        `${ROLE_NAME[role as FileRole]} ${escapeText(file.key)} @ ${escapeText(file.versionId)}`
    )
    .join(', ')
}

async function followToEnd(
  watch: Watch,
  before: Date | undefined,
  calledMs: number,
  result: DeployResult
): Promise<MwaaEnvironment> {
  try {
    const end = await followUpdate(watch, before)
    result.status = end.environment.status
    result.updateMs = Date.now() - calledMs
    switch (end.progress.state) {
      case 'succeeded':
        result.updateEnd = 'succeeded'
        core.info(`Environment ${escapeText(watch.name)} is AVAILABLE with the update`)
        return end.environment
      case 'failed':
        result.updateEnd = 'failed'
        throw new Error(
          `MWAA could not apply the update to environment ${escapeText(watch.name)} and rolled it back (status ${escapeText(end.environment.status)}): ${end.progress.code}: ${end.progress.message}`
        )
      case 'broken':
        result.updateEnd = 'broken'
        throw new Error(end.progress.reason)
    }
  } catch (error) {
    if (error instanceof WaitTimeout) {
      result.updateEnd = 'timed out'
      result.status = error.environment.status
    }
    throw error
  }
}

async function checkImports(
  settings: MwaaSettings,
  watch: Watch,
  first: MwaaEnvironment,
  check: ImportCheck | undefined,
  result: DeployResult
): Promise<void> {
  if (check === undefined) {
    core.info('No DAG file (.py) was uploaded: nothing for Airflow to confirm')
    return
  }
  let environment = first
  if (readinessOf(environment.status) !== 'ready') {
    if (!settings.wait) {
      const skipped = `the environment is ${environment.status} and wait is false; Airflow is asked once it is AVAILABLE`
      core.warning(`Airflow import check skipped: ${escapeText(skipped)}`)
      result.imports = {
        outcome: { confirmed: [], unconfirmed: [], importErrors: [], preexisting: [] },
        dagSource: settings.dagSource,
        skipped
      }
      return
    }
    // Someone else's update: Airflow restarts at its end, so the check waits for it.
    environment = await waitUntilReady(watch, environment)
    result.status = environment.status
  }
  const outcome = await core.group(
    `Ask Airflow about ${check.paths.length} DAG file(s)${check.rerun ? ' (a re-run: the whole folder)' : ''}`,
    () =>
      runImportCheck({
        api: watch.api,
        environment,
        region: settings.target.region,
        check,
        before: result.importErrorsBefore,
        confirmTimeoutMs: settings.confirmTimeoutMs,
        pollIntervalMs: Math.min(settings.pollIntervalMs, 15_000)
      })
  )
  result.imports = { outcome, dagSource: settings.dagSource }
  annotate(outcome, settings.dagSource)
  if (outcome.importErrors.length > 0) {
    const files = new Set(outcome.importErrors.map((problem) => problem.path)).size
    throw new Error(
      `Airflow in environment ${escapeText(environment.name)} failed to import ${files} DAG file(s) after this deploy: ${outcome.importErrors.map((problem) => (problem.path.startsWith('/') ? problem.path : `${settings.dagSource}/${problem.path}`)).join(', ')}`
    )
  }
}
