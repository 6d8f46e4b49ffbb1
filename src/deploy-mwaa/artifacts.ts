import {
  GetBucketVersioningCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client
} from '@aws-sdk/client-s3'
import { awsErrorCode } from '../common/aws.js'
import { InputError } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import type { FileRole, MwaaEnvironment } from '../common/mwaa.js'
import { fullObjectSha256, objectSha256, sha256Base64 } from '../deploy-dags/bucket.js'
import { artifactKey, type LocalArtifact, type StoredState } from './plan.js'

// The S3 side of the files MWAA takes only through UpdateEnvironment, each named by its object
// version. Contents are compared by SHA-256 (an ETag proves nothing under SSE-KMS), so an
// unchanged file is never uploaded again and never starts a 10 to 30 minute update.

/** One version of an object: its id and the SHA-256 of its content (hex). */
export interface StoredArtifact {
  versionId?: string
  sha256: string
}

/**
 * MWAA names each file by its object version, so a bucket without versioning cannot take an
 * update at all; said before anything is written.
 */
export async function requireVersioning(s3: S3Client, bucket: string): Promise<void> {
  const answer = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))
  if (answer.Status !== 'Enabled') {
    throw new InputError(
      'bucket',
      `versioning of s3://${escapeText(bucket)} is ${answer.Status === undefined ? 'not enabled' : escapeText(answer.Status)}; MWAA names requirements, plugins and startup script by object version, so enable it (aws s3api put-bucket-versioning --bucket ${escapeText(bucket)} --versioning-configuration Status=Enabled)`
    )
  }
}

/**
 * The latest version at `key`, or undefined when there is none (no object, or a delete marker).
 * Asked of the version listing rather than by a HeadObject of the key: without s3:ListBucket on
 * the bucket, S3 answers a missing key with 403, which would make every first deploy of a file an
 * access error. Listing versions can be granted for exactly these keys (s3:prefix).
 */
export async function latestVersion(
  s3: S3Client,
  bucket: string,
  key: string
): Promise<string | undefined> {
  // Versions come by key, newest first, and `key` sorts before every longer key it begins.
  const answer = await s3.send(
    new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key, MaxKeys: 1 })
  )
  const entries = [
    ...(answer.Versions ?? []).map((v) => ({ ...v, deleted: false })),
    ...(answer.DeleteMarkers ?? []).map((m) => ({ ...m, deleted: true }))
  ]
  const latest = entries.find((entry) => entry.Key === key && entry.IsLatest === true)
  return latest === undefined || latest.deleted ? undefined : latest.VersionId
}

/** One version of the object at `key` (the latest when none is given): its id and content hash. */
export async function readStored(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId?: string
): Promise<StoredArtifact | undefined> {
  let head
  try {
    head = await s3.send(
      new HeadObjectCommand({
        Bucket: bucket,
        Key: key,
        ChecksumMode: 'ENABLED',
        ...(versionId !== undefined ? { VersionId: versionId } : {})
      })
    )
  } catch (error) {
    const code = awsErrorCode(error)
    // A version that is gone is as good as none: the environment cannot be running it from here.
    if (code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchVersion') return undefined
    throw error
  }
  // Uploaded by this action, the object carries its full-object SHA-256; uploaded by another
  // tool or in parts, it is read whole and hashed.
  const checksum = fullObjectSha256(head)
  const sha256 =
    checksum !== undefined
      ? Buffer.from(checksum, 'base64').toString('hex')
      : await objectSha256(s3, bucket, key, versionId)
  return { ...(head.VersionId !== undefined ? { versionId: head.VersionId } : {}), sha256 }
}

/** Uploads the bytes with their SHA-256 for S3 to check and keep; resolves to the new version. */
export async function uploadArtifact(
  s3: S3Client,
  bucket: string,
  key: string,
  artifact: Pick<LocalArtifact, 'bytes' | 'sha256'>
): Promise<string> {
  const answer = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: artifact.bytes,
      ChecksumSHA256: sha256Base64(artifact.sha256)
    })
  )
  if (answer.VersionId === undefined) {
    throw new Error(
      `S3 gave no version id for s3://${escapeText(bucket)}/${escapeText(key)}: is versioning suspended?`
    )
  }
  return answer.VersionId
}

/**
 * What the bucket holds for each artifact: the latest version, and the content of the version
 * the environment names when that is another one. Only reads.
 */
export async function readStoredStates(
  s3: S3Client,
  bucket: string,
  local: readonly LocalArtifact[],
  environment: MwaaEnvironment
): Promise<Map<FileRole, StoredState>> {
  const states = new Map<FileRole, StoredState>()
  await Promise.all(
    local.map(async (artifact) => {
      const key = artifactKey(artifact, environment)
      const latestId = await latestVersion(s3, bucket, key)
      const latest =
        latestId === undefined ? undefined : await readStored(s3, bucket, key, latestId)
      const state: StoredState =
        latest?.versionId !== undefined
          ? { latest: { versionId: latest.versionId, sha256: latest.sha256 } }
          : {}
      const named = environment.files[artifact.role]
      if (named?.key === key && named.versionId !== undefined) {
        const inEffect =
          named.versionId === latest?.versionId
            ? latest
            : await readStored(s3, bucket, key, named.versionId)
        if (inEffect !== undefined) state.inEffectSha256 = inEffect.sha256
      }
      states.set(artifact.role, state)
    })
  )
  return states
}
