import * as core from '@actions/core'
import type { S3Client } from '@aws-sdk/client-s3'
import { describeAwsFailure } from '../common/aws.js'
import { forEachBounded } from '../common/concurrency.js'
import { InputError, SafetyError } from '../common/errors.js'
import { formatBytes } from '../common/summary.js'
import { createS3Client, listPrefix, readManifest } from './bucket.js'
import { Input, MANIFEST_NAME } from './constants.js'
import { deleteRefusal, manifestKey, planSync, type SyncPlan } from './plan.js'
import { writeReport } from './report.js'
import { hashFile, scanSource, type HashedFile } from './selection.js'
import { readSettings, type DeploySettings } from './settings.js'
import { applyPlan } from './sync.js'

/** deploy-dags: make s3://bucket/prefix/ hold exactly the selected local files, byte for byte. */
export async function run(): Promise<void> {
  const started = Date.now()
  const settings = await readSettings()
  const uri = `s3://${settings.bucket}/${settings.prefix === '' ? '' : `${settings.prefix}/`}`

  const local = await core.group(`Select files in ${settings.source}`, () => selectFiles(settings))
  checkSelection(settings, local, uri)

  const s3 = createS3Client(settings.target, settings.concurrency)
  try {
    await deploy(s3, settings, local, uri, started)
  } finally {
    // Kept-alive sockets would otherwise hold the process open after the step is done.
    s3.destroy()
  }
}

async function deploy(
  s3: S3Client,
  settings: DeploySettings,
  local: HashedFile[],
  uri: string,
  started: number
): Promise<void> {
  const { plan, manifest } = await core.group(`Compare with ${uri}`, async () => {
    const state = await readBucket(s3, settings, uri)
    const plan = planSync({
      local,
      remote: state.remote,
      manifest: state.manifest,
      prefix: settings.prefix,
      force: settings.force,
      deleteExtraneous: settings.deleteExtraneous
    })
    logPlan(plan)
    return { plan, manifest: state.manifest }
  })

  const refusal = settings.deleteExtraneous
    ? deleteRefusal(plan, settings.maxDeletePercent, uri)
    : undefined
  if (refusal !== undefined) {
    await writeReport({ outcome: 'refused', uri, plan, durationMs: Date.now() - started, refusal })
    throw new SafetyError(refusal)
  }
  if (settings.dryRun) {
    await writeReport({ outcome: 'planned', uri, plan, durationMs: Date.now() - started })
    return
  }

  await applyPlan(s3, settings, plan, manifest)
  await writeReport({ outcome: 'deployed', uri, plan, durationMs: Date.now() - started })
}

async function selectFiles(settings: DeploySettings): Promise<HashedFile[]> {
  const files = await scanSource(settings.sourcePath, settings.filter)
  const hashed: HashedFile[] = new Array(files.length)
  // Hashing is I/O-bound on small files; a few in flight keep the disk busy.
  await forEachBounded(
    files.map((file, index) => ({ file, index })),
    8,
    async ({ file, index }) => {
      hashed[index] = await hashFile(file)
    }
  ).then(({ failures }) => {
    if (failures.length > 0) throw failures[0]?.error
  })
  const bytes = hashed.reduce((sum, f) => sum + f.size, 0)
  core.info(`${hashed.length} file(s), ${formatBytes(bytes)} selected in ${settings.sourcePath}`)
  return hashed
}

function checkSelection(settings: DeploySettings, local: HashedFile[], uri: string): void {
  if (local.some((file) => file.path === MANIFEST_NAME)) {
    throw new InputError(
      Input.Source,
      `'${settings.source}/${MANIFEST_NAME}' has the name this action keeps its manifest under; rename it or add it to exclude`
    )
  }
  if (local.length > 0) return
  if (settings.deleteExtraneous) {
    throw new SafetyError(
      `source '${settings.source}' selects no files (check the folder, include and exclude). ` +
        `Refusing to sync with delete: true, which would remove every object under ${uri}. Nothing was changed.`
    )
  }
  core.warning(`source '${settings.source}' selects no files; nothing to upload`)
}

async function readBucket(s3: S3Client, settings: DeploySettings, uri: string) {
  const { bucket, prefix } = settings
  let remote
  try {
    remote = await listPrefix(s3, bucket, prefix)
  } catch (error) {
    throw describeAwsFailure(error, `Listing ${uri}`, {
      NoSuchBucket: `bucket '${bucket}' does not exist (or not in this account/region); check the bucket input`,
      AccessDenied: `access denied; the job role needs s3:ListBucket on arn:aws:s3:::${bucket}`
    })
  }
  const key = manifestKey(prefix)
  const { manifest, problem } = await readManifest(
    s3,
    bucket,
    key,
    remote.some((object) => object.key === key)
  )
  if (problem !== undefined) {
    core.warning(
      `Ignoring the deploy manifest ${key} (${problem}); objects it described will be re-verified`
    )
  }
  return { remote, manifest }
}

function logPlan(plan: SyncPlan): void {
  core.info(`${plan.remoteCount} object(s) already there`)
  for (const upload of plan.uploads) core.info(`+ ${upload.key} (${upload.reason})`)
  for (const remove of plan.deletes) core.info(`- ${remove.key}`)
  core.info(
    `plan: ${plan.uploads.length} to upload, ${plan.deletes.length} to delete, ${plan.unchanged.length} unchanged`
  )
}
