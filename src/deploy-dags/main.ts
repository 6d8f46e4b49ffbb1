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
  const s3 = createS3Client(settings.target, settings.concurrency)
  try {
    // Listing the bucket needs nothing from the local scan, so the two overlap. Both only read:
    // nothing is written before the selection and the plan have been checked.
    const bucketRead = readBucket(s3, settings, uri)
    bucketRead.catch(() => undefined) // awaited below; a local refusal may come first
    const local = await core.group(`Select files in ${settings.source}`, () =>
      selectFiles(settings)
    )
    checkSelection(settings, local, uri)
    const bucket = await bucketRead

    const plan = planSync({
      local,
      remote: bucket.remote,
      manifest: bucket.manifest,
      prefix: settings.prefix,
      force: settings.force,
      deleteExtraneous: settings.deleteExtraneous
    })
    logPlan(plan, uri)

    const refusal = settings.deleteExtraneous
      ? deleteRefusal(plan, settings.maxDeletePercent, uri)
      : undefined
    if (refusal !== undefined) {
      await writeReport({
        outcome: 'refused',
        uri,
        plan,
        durationMs: Date.now() - started,
        refusal
      })
      throw new SafetyError(refusal)
    }
    if (settings.dryRun) {
      await writeReport({ outcome: 'planned', uri, plan, durationMs: Date.now() - started })
      return
    }

    await applyPlan(s3, settings, plan, bucket.manifest)
    await writeReport({ outcome: 'deployed', uri, plan, durationMs: Date.now() - started })
  } finally {
    // Kept-alive sockets would otherwise hold the process open after the step is done.
    s3.destroy()
  }
}

async function selectFiles(settings: DeploySettings): Promise<HashedFile[]> {
  const files = await scanSource(settings.sourcePath, settings.filter)
  const hashed: HashedFile[] = new Array(files.length)
  // Hashing is I/O-bound on small files; a few in flight keep the disk busy.
  await forEachBounded(
    files.map((file, index) => ({ file, index })),
    16,
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
  const key = manifestKey(prefix)
  const [remote, { manifest, problem }] = await Promise.all([
    listPrefix(s3, bucket, prefix).catch((error: unknown) => {
      throw describeAwsFailure(error, `Listing ${uri}`, {
        NoSuchBucket: `bucket '${bucket}' does not exist (or not in this account/region); check the bucket input`,
        AccessDenied: `access denied; the job role needs s3:ListBucket on arn:aws:s3:::${bucket}`
      })
    }),
    readManifest(s3, bucket, key)
  ])
  if (problem !== undefined) {
    core.warning(
      `Ignoring the deploy manifest ${key} (${problem}); objects it described will be re-verified`
    )
  }
  return { remote, manifest }
}

function logPlan(plan: SyncPlan, uri: string): void {
  core.startGroup(`Compare with ${uri}`)
  core.info(`${plan.remoteCount} object(s) already there`)
  for (const upload of plan.uploads) core.info(`+ ${upload.key} (${upload.reason})`)
  for (const remove of plan.deletes) core.info(`- ${remove.key}`)
  core.endGroup()
  core.info(
    `plan: ${plan.uploads.length} to upload, ${plan.deletes.length} to delete, ${plan.unchanged.length} unchanged`
  )
}
