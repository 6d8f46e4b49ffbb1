import * as core from '@actions/core'
import type { S3Client } from '@aws-sdk/client-s3'
import { describeAwsFailure } from '../common/aws.js'
import { forEachBounded } from '../common/concurrency.js'
import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { deleteKeys, uploadFile, writeManifest } from './bucket.js'
import {
  manifestKey,
  nextManifest,
  sameManifest,
  type Manifest,
  type ManifestEntry,
  type SyncPlan
} from './plan.js'
import type { DeploySettings } from './settings.js'

export type Uploaded = ManifestEntry & { path: string; key: string }

/**
 * Carries out a plan: every upload first, then the manifest, then the deletes. A failed upload
 * stops the run before any delete, so a partial run never removes what the workers still use;
 * the manifest still records what did go up, so the next run converges without redoing it.
 */
export async function applyPlan(
  s3: S3Client,
  settings: DeploySettings,
  plan: SyncPlan,
  previousManifest: Manifest
): Promise<Uploaded[]> {
  const { bucket, prefix, encryption } = settings
  const uploaded: Uploaded[] = []
  const uploadAll = () =>
    forEachBounded(plan.uploads, settings.concurrency, async ({ file, key, reason }) => {
      try {
        const etag = await uploadFile(s3, bucket, key, file, encryption)
        uploaded.push({ path: file.path, key, sha256: file.sha256, size: file.size, etag })
        core.info(`uploaded ${escapeText(key)} (${reason})`)
      } catch (error) {
        throw describeAwsFailure(error, `Uploading s3://${bucket}/${escapeText(key)}`, {
          AccessDenied:
            'access denied; the job role needs s3:PutObject on the prefix (and kms:GenerateDataKey for SSE-KMS)'
        })
      }
    })
  const { failures } =
    plan.uploads.length === 0
      ? { failures: [] }
      : await core.group(`Upload ${plan.uploads.length} file(s)`, uploadAll)

  const manifest = nextManifest(plan, uploaded)
  if (!sameManifest(manifest, previousManifest)) {
    try {
      await writeManifest(s3, bucket, manifestKey(prefix), manifest, encryption)
    } catch (error) {
      // The manifest only saves work on the next run; the deploy itself is intact.
      core.warning(
        `Could not update the deploy manifest ${manifestKey(prefix)}: ${escapeText(errorMessage(error))}`
      )
    }
  }

  if (failures.length > 0) {
    const details = failures
      .slice(0, 3)
      .map(({ error }) => errorMessage(error))
      .join('\n')
    throw new Error(
      `${failures.length} upload(s) failed, ${uploaded.length} of ${plan.uploads.length} done; nothing was deleted.\n${details}`
    )
  }

  if (plan.deletes.length > 0) {
    await core.group(`Delete ${plan.deletes.length} object(s)`, async () => {
      try {
        await deleteKeys(
          s3,
          bucket,
          plan.deletes.map((d) => d.key)
        )
      } catch (error) {
        throw describeAwsFailure(error, `Deleting from s3://${bucket}/${prefix}`, {
          AccessDenied:
            'access denied; the job role needs s3:DeleteObject on the prefix, or set delete: false'
        })
      }
      for (const { key } of plan.deletes) core.info(`deleted ${escapeText(key)}`)
    })
  }
  return uploaded
}
