import * as core from '@actions/core'
import type { S3Client } from '@aws-sdk/client-s3'
import { describeAwsFailure } from '../common/aws.js'
import { forEachBounded } from '../common/concurrency.js'
import { InputError, SafetyError } from '../common/errors.js'
import { formatBytes } from '../common/summary.js'
import { escapeText } from '../common/untrusted.js'
import { createS3Client, listPrefix, readManifest } from './bucket.js'
import { Input, MANIFEST_NAME } from './constants.js'
import {
  deleteRefusal,
  manifestKey,
  objectKey,
  planSync,
  withDrift,
  type Drift,
  type SyncPlan
} from './plan.js'
import { writeReport } from './report.js'
import {
  HASH_READ_SIZE,
  hashFile,
  scanSource,
  type HashedFile,
  type LocalFile
} from './selection.js'
import { readSettings, type DeploySettings } from './settings.js'
import { applyPlan } from './sync.js'
import { findDrift } from './verify.js'

/** deploy-dags: make s3://bucket/prefix/ hold exactly the selected local files, byte for byte. */
export async function run(): Promise<void> {
  const started = Date.now()
  const settings = await readSettings()
  const uri = `s3://${settings.bucket}/${settings.prefix === '' ? '' : `${settings.prefix}/`}`
  // Names, links and the selection are checked before the first request goes out.
  const selected = await core.group(`Select files in ${settings.source}`, () =>
    selectFiles(settings)
  )
  checkSelection(settings, selected, uri)
  const s3 = createS3Client(settings.target, settings.concurrency)
  try {
    // Reading the bucket needs nothing from the file contents, so it overlaps the hashing.
    // Both only read: nothing is written before the plan has been checked.
    const bucketRead = readBucket(s3, settings, uri)
    bucketRead.catch(() => undefined) // awaited below; a failed hash may come first
    const local = await hashFiles(selected)
    const bucket = await bucketRead

    let plan = planSync({
      local,
      remote: bucket.remote,
      manifest: bucket.manifest,
      prefix: settings.prefix,
      force: settings.force,
      deleteExtraneous: settings.deleteExtraneous
    })
    const drift = settings.verify ? await verifyUnchanged(s3, settings, plan, local, uri) : []
    plan = withDrift(plan, drift)
    logPlan(plan, uri)

    const refusal = settings.deleteExtraneous
      ? deleteRefusal(plan, settings.maxDeletePercent, uri)
      : undefined
    const report = { uri, plan, drift, verified: settings.verify }
    if (refusal !== undefined) {
      await writeReport({
        ...report,
        outcome: 'refused',
        durationMs: Date.now() - started,
        refusal
      })
      throw new SafetyError(refusal)
    }
    if (settings.dryRun) {
      await writeReport({ ...report, outcome: 'planned', durationMs: Date.now() - started })
      return
    }

    await applyPlan(s3, settings, plan, bucket.manifest)
    await writeReport({ ...report, outcome: 'deployed', durationMs: Date.now() - started })
  } finally {
    // Kept-alive sockets would otherwise hold the process open after the step is done.
    s3.destroy()
  }
}

async function selectFiles(settings: DeploySettings): Promise<LocalFile[]> {
  const files = await scanSource(settings.sourcePath, settings.filter, {
    followLinksOutside: settings.followSymlinksOutsideSource,
    folderExcluded: settings.folderExcluded
  })
  const bytes = files.reduce((sum, f) => sum + f.size, 0)
  core.info(
    `${files.length} file(s), ${formatBytes(bytes)} selected in ${escapeText(settings.sourcePath)}`
  )
  return files
}

/** Hashing is I/O-bound on small files; a few in flight keep the disk busy. */
const HASHES_IN_FLIGHT = 16

async function hashFiles(files: readonly LocalFile[]): Promise<HashedFile[]> {
  const hashed: HashedFile[] = new Array(files.length)
  // One read buffer per file in flight, passed from file to file.
  const buffers = Array.from({ length: HASHES_IN_FLIGHT }, () => Buffer.allocUnsafe(HASH_READ_SIZE))
  const { failures } = await forEachBounded(
    files.map((file, index) => ({ file, index })),
    HASHES_IN_FLIGHT,
    async ({ file, index }) => {
      const buffer = buffers.pop() as Buffer<ArrayBuffer>
      try {
        hashed[index] = await hashFile(file, buffer)
      } finally {
        buffers.push(buffer)
      }
    }
  )
  if (failures.length > 0) throw failures[0]?.error
  return hashed
}

function checkSelection(settings: DeploySettings, local: readonly LocalFile[], uri: string): void {
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
    listPrefix(s3, bucket, prefix, settings.concurrency).catch((error: unknown) => {
      throw describeAwsFailure(error, `Listing ${uri}`, {
        NoSuchBucket: `bucket '${bucket}' does not exist (or not in this account/region); check the bucket input`,
        AccessDenied: `access denied; the job role needs s3:ListBucket on arn:aws:s3:::${bucket}`
      })
    }),
    readManifest(s3, bucket, key)
  ])
  if (problem !== undefined) {
    // The problem may quote the manifest's text, which anyone with write access to it chose.
    core.warning(
      `Ignoring the deploy manifest ${key} (${escapeText(problem)}); objects it described will be re-verified`
    )
  }
  return { remote, manifest }
}

/** verify: confirm what the plan leaves unchanged against the checksums S3 stored. */
async function verifyUnchanged(
  s3: S3Client,
  settings: DeploySettings,
  plan: SyncPlan,
  local: readonly HashedFile[],
  uri: string
): Promise<Drift[]> {
  const byKey = new Map(local.map((file) => [objectKey(settings.prefix, file.path), file]))
  const unchanged = plan.unchanged.flatMap((key) => {
    const file = byKey.get(key)
    return file === undefined ? [] : [{ key, file }]
  })
  const drift = await core.group(`Verify ${unchanged.length} unchanged object(s)`, async () => {
    const found = await findDrift(s3, settings.bucket, unchanged, settings.concurrency)
    core.info(`${unchanged.length - found.length} confirmed, ${found.length} drifted`)
    return found
  })
  for (const { key, found } of drift) {
    core.warning(
      `Drift in s3://${settings.bucket}/${escapeText(key)}: ${found}; ` +
        (settings.dryRun ? 'a run without dry-run uploads it again' : 'uploading it again')
    )
  }
  if (drift.length === 0) core.info(`Every unchanged object under ${uri} holds the file's bytes`)
  return drift
}

function logPlan(plan: SyncPlan, uri: string): void {
  core.startGroup(`Compare with ${uri}`)
  core.info(`${plan.remoteCount} object(s) already there`)
  // Keys are names from the repository or the bucket: escaped, so none can be a workflow command.
  for (const upload of plan.uploads) core.info(`+ ${escapeText(upload.key)} (${upload.reason})`)
  for (const remove of plan.deletes) core.info(`- ${escapeText(remove.key)}`)
  core.endGroup()
  core.info(
    `plan: ${plan.uploads.length} to upload, ${plan.deletes.length} to delete, ${plan.unchanged.length} unchanged`
  )
}
