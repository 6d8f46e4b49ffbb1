import * as core from '@actions/core'
import type { S3Client } from '@aws-sdk/client-s3'
import { checkedFiles, type ParseOutcome } from '../common/airflow-parse.js'
import { describeAwsFailure } from '../common/aws.js'
import { errorMessage, InputError } from '../common/errors.js'
import { createMwaaApi } from '../common/mwaa-api.js'
import { MwaaError, type FileRole, type MwaaApi, type MwaaEnvironment } from '../common/mwaa.js'
import { escapeText } from '../common/untrusted.js'
import { createS3Client } from '../deploy-dags/bucket.js'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ignoredByAirflow, ignoreSyntaxOf, mightHoldDag, type IgnoreFile } from './airflow-files.js'
import { confirmImports } from './airflow-mwaa.js'
import { readStoredStates, requireVersioning, uploadArtifact } from './artifacts.js'
import { Input, ROLE_NAME } from './constants.js'
import { dagChangesIn, readDagChanges } from './dag-changes.js'
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
    result.updated = plan.update
    logPlan(plan, settings.dryRun)
    recordVersions(result, plan)
    if (settings.dryRun) return

    if (plan.update) {
      const watch: Watch = {
        api,
        name: settings.environment,
        deadlineMs,
        pollIntervalMs: settings.pollIntervalMs,
        log: (line) => core.info(line)
      }
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
    await checkImports(settings, api, environment, result)
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
  return configured
}

function s3Failure(error: unknown, doing: string, bucket: string): Error {
  return describeAwsFailure(error, doing, {
    NoSuchBucket: `bucket '${bucket}' does not exist (or not in this account/region)`,
    AccessDenied: `access denied; the job role needs s3:GetBucketVersioning, s3:GetObject and s3:GetObjectVersion on the artifacts in ${bucket}`
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
  const uploaded = new Map<FileRole, string>()
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
      result.updated = false
      recordVersions(result, plan)
      return { environment, before: null, calledMs: Date.now() }
    }
    for (const file of plan.files) {
      if (file.action !== 'upload' || uploaded.has(file.role)) continue
      const artifact = local.find((candidate) => candidate.role === file.role) as LocalArtifact
      const versionId = await uploadArtifact(s3, bucket, file.key, artifact).catch(
        (error: unknown) => {
          throw describeAwsFailure(error, `Uploading s3://${bucket}/${escapeText(file.key)}`, {
            AccessDenied: `access denied; the job role needs s3:PutObject on arn:aws:s3:::${bucket}/${escapeText(file.key)} (and kms:GenerateDataKey when the bucket's key is a customer managed KMS key)`
          })
        }
      )
      uploaded.set(file.role, versionId)
      core.info(
        `Uploaded ${escapeText(file.given)} to s3://${bucket}/${escapeText(file.key)}, version ${escapeText(versionId)}`
      )
    }
    const request = updateRequest(environment, plan, uploaded)
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
      throw error
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
  api: MwaaApi,
  environment: MwaaEnvironment,
  result: DeployResult
): Promise<void> {
  const changes = dagChangesIn(
    await readDagChanges(settings.dagChanges as string),
    environment.dagS3Path ?? 'dags'
  )
  if (changes.truncated) {
    core.warning(
      `${Input.DagChanges} holds a shortened list of changes; pass deploy-dags' changes-file output to check every changed file`
    )
  }
  if (changes.elsewhere.length > 0 && changes.uploaded.length === 0) {
    throw new InputError(
      Input.DagChanges,
      `none of the ${changes.elsewhere.length} uploaded key(s) is in ${escapeText(environment.dagS3Path ?? 'dags')}/, the DAG folder of environment ${escapeText(environment.name)}; check deploy-dags' prefix`
    )
  }
  const checked = checkedFiles(changes.uploaded)
  if (checked.length === 0) {
    core.info('No DAG file (.py) was uploaded: nothing for Airflow to confirm')
    return
  }
  if (readinessOf(environment.status) !== 'ready') {
    const skipped = `the environment is ${environment.status}; Airflow is asked once it is AVAILABLE (wait: true)`
    core.warning(`Airflow import check skipped: ${escapeText(skipped)}`)
    result.imports = {
      outcome: { confirmed: [], unconfirmed: [], importErrors: [], preexisting: [] },
      dagSource: settings.dagSource,
      skipped
    }
    return
  }
  const skipped = await filesAirflowSkips(settings.dagSource, checked, environment.airflowVersion)
  for (const { path, why } of skipped) {
    core.info(`Not waited for: ${escapeText(path)} (${why})`)
  }
  // Only a parse after this moment counts: the files are in S3 and any update has ended.
  const since = new Date()
  const outcome = await core.group(`Ask Airflow about ${checked.length} changed DAG file(s)`, () =>
    confirmImports({
      api,
      environment: environment.name,
      airflowVersion: environment.airflowVersion ?? '',
      // For the ARN the error names when IAM refuses InvokeRestApi.
      region: settings.target.region,
      ...accountOf(environment),
      changedPaths: changes.uploaded,
      since,
      deadlineMs: since.getTime() + settings.confirmTimeoutMs,
      pollIntervalMs: Math.min(settings.pollIntervalMs, 15_000),
      skipped: skipped.map((file) => file.path)
    })
  )
  result.imports = { outcome, dagSource: settings.dagSource }
  annotate(outcome, settings.dagSource)
  if (outcome.importErrors.length > 0) {
    const files = new Set(outcome.importErrors.map((problem) => problem.path)).size
    throw new Error(
      `Airflow in environment ${escapeText(environment.name)} failed to import ${files} changed DAG file(s): ${outcome.importErrors.map((problem) => `${settings.dagSource}/${problem.path}`).join(', ')}`
    )
  }
}

/**
 * The changed DAG files, as the repository holds them, that the scheduler does not parse: listed
 * in an .airflowignore, or without the words its safe mode looks for. A file the repository does
 * not hold (another source) is waited for.
 */
async function filesAirflowSkips(
  dagSource: string,
  paths: readonly string[],
  airflowVersion: string | undefined
): Promise<Array<{ path: string; why: string }>> {
  const folders = new Set([''])
  for (const path of paths) {
    const parts = path.split('/').slice(0, -1)
    parts.forEach((_, index) => folders.add(parts.slice(0, index + 1).join('/')))
  }
  const ignoreFiles: IgnoreFile[] = []
  for (const folder of [...folders].sort()) {
    const file = join(dagSource, folder, '.airflowignore')
    const text = await readFile(file, 'utf8').catch(() => undefined)
    if (text !== undefined) ignoreFiles.push({ folder, text })
  }
  const syntax = ignoreSyntaxOf(airflowVersion)
  const skipped: Array<{ path: string; why: string }> = []
  for (const path of paths) {
    if (ignoredByAirflow(path, ignoreFiles, syntax)) {
      skipped.push({ path, why: `.airflowignore lists it (${syntax} syntax)` })
      continue
    }
    const content = await readFile(join(dagSource, path)).catch(() => undefined)
    if (content !== undefined && !mightHoldDag(content)) {
      skipped.push({
        path,
        why: 'it lacks "airflow" or "dag", which the scheduler\'s safe mode looks for'
      })
    }
  }
  return skipped
}

function accountOf(environment: MwaaEnvironment): { account?: string } {
  const account = /^arn:[^:]+:iam::(\d{12}):/.exec(environment.executionRoleArn ?? '')?.[1]
  return account !== undefined ? { account } : {}
}

/** Each import error on its file in the repository, so the pull request and the run show it there. */
function annotate(outcome: ParseOutcome, dagSource: string): void {
  // Airflow names a file outside its DAG folder by its absolute path: no repository file to mark.
  const where = (path: string) => (path.startsWith('/') ? {} : { file: `${dagSource}/${path}` })
  for (const problem of outcome.importErrors) {
    core.error(`Airflow failed to import this DAG file: ${problem.message}`, {
      title: 'Import error after deploy',
      ...where(problem.path)
    })
  }
  for (const problem of outcome.preexisting) {
    core.warning(
      `Import error from before this deploy, not caused by it (${problem.path}): ${problem.message}`,
      { title: 'Existing import error', ...where(problem.path) }
    )
  }
  for (const path of outcome.unconfirmed) {
    core.warning(
      'Airflow had not parsed this file by confirm-timeout (a module without DAGs is never listed as parsed)',
      { title: 'Not confirmed', ...where(path) }
    )
  }
  core.info(
    `${outcome.confirmed.length} changed DAG file(s) parsed, ${outcome.importErrors.length} import error(s), ${outcome.unconfirmed.length} not confirmed, ${outcome.preexisting.length} older import error(s) elsewhere`
  )
}
