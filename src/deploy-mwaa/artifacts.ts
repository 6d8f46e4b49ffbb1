import {
  GetBucketVersioningCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client
} from '@aws-sdk/client-s3'
import { awsErrorCode } from '../common/aws.js'
import { InputError } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { fullObjectSha256, objectSha256, sha256Base64 } from '../deploy-dags/bucket.js'

// The files MWAA takes only through UpdateEnvironment, each named by its S3 object version. An
// upload is made only when the content differs from the object there now, by SHA-256 (an ETag
// proves nothing under SSE-KMS), so an unchanged file never starts a 10 to 30 minute update.

export type ArtifactKind = 'requirements' | 'plugins' | 'startup-script'

export interface LocalArtifact {
  kind: ArtifactKind
  /** The object key in the environment's bucket. */
  key: string
  bytes: Buffer
  /** Hex SHA-256 of the bytes. */
  sha256: string
}

/** The object at an artifact's key now; undefined when there is none. */
export interface StoredArtifact {
  versionId?: string
  /** Hex SHA-256 of its content. */
  sha256: string
}

export interface ArtifactPlan {
  kind: ArtifactKind
  key: string
  action: 'upload' | 'keep'
  why: 'new' | 'changed' | 'unchanged'
  /** For `keep`: the version the environment should go on using. */
  versionId?: string
}

/** Which artifacts to upload: those with no object yet, or whose object holds other bytes. */
export function planArtifacts(
  local: readonly LocalArtifact[],
  stored: ReadonlyMap<string, StoredArtifact | undefined>
): ArtifactPlan[] {
  return local.map(({ kind, key, sha256 }) => {
    const current = stored.get(key)
    if (current === undefined) return { kind, key, action: 'upload', why: 'new' }
    if (current.sha256 !== sha256) return { kind, key, action: 'upload', why: 'changed' }
    return {
      kind,
      key,
      action: 'keep',
      why: 'unchanged',
      ...(current.versionId !== undefined ? { versionId: current.versionId } : {})
    }
  })
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

/** The current object at `key`, its version and content hash; undefined when there is none. */
export async function readStored(
  s3: S3Client,
  bucket: string,
  key: string
): Promise<StoredArtifact | undefined> {
  let head
  try {
    head = await s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' })
    )
  } catch (error) {
    const code = awsErrorCode(error)
    if (code === 'NotFound' || code === 'NoSuchKey') return undefined
    throw error
  }
  // Uploaded by this action, the object carries its full-object SHA-256; uploaded by another
  // tool or in parts, it is read whole and hashed.
  const checksum = fullObjectSha256(head)
  const sha256 =
    checksum !== undefined
      ? Buffer.from(checksum, 'base64').toString('hex')
      : await objectSha256(s3, bucket, key)
  return { ...(head.VersionId !== undefined ? { versionId: head.VersionId } : {}), sha256 }
}

/** Uploads the artifact with its SHA-256 for S3 to check and keep; resolves to the new version. */
export async function uploadArtifact(
  s3: S3Client,
  bucket: string,
  artifact: LocalArtifact
): Promise<string> {
  const answer = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: artifact.key,
      Body: artifact.bytes,
      ChecksumSHA256: sha256Base64(artifact.sha256)
    })
  )
  if (answer.VersionId === undefined) {
    throw new Error(
      `S3 gave no version id for s3://${escapeText(bucket)}/${escapeText(artifact.key)}: is versioning suspended?`
    )
  }
  return answer.VersionId
}
