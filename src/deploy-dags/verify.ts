import type { S3Client } from '@aws-sdk/client-s3'
import { awsErrorCode, describeAwsFailure } from '../common/aws.js'
import { forEachBounded } from '../common/concurrency.js'
import { byText } from '../common/compare.js'
import { escapeText } from '../common/untrusted.js'
import { objectSha256, sha256Base64, storedSha256 } from './bucket.js'
import type { Drift } from './plan.js'
import type { HashedFile } from './selection.js'

/**
 * Confirms that each object the plan would leave unchanged still holds the file's bytes, by the
 * SHA-256 checksum S3 computed when the object was written, not by anything a bucket writer can
 * set (the manifest, an ETag, the `sha256` metadata). One HeadObject per object; an object with
 * no full-object SHA-256 (a multipart upload, an upload by another tool) is read whole and hashed
 * instead. Returns the objects whose bytes differ, sorted by key.
 */
export async function findDrift(
  s3: S3Client,
  bucket: string,
  unchanged: readonly { key: string; file: HashedFile }[],
  concurrency: number
): Promise<Drift[]> {
  const drift: Drift[] = []
  const { failures } = await forEachBounded(unchanged, concurrency, async ({ key, file }) => {
    try {
      const found = await differenceFrom(s3, bucket, key, file)
      if (found !== undefined) drift.push({ key, file, found })
    } catch (error) {
      throw describeAwsFailure(error, `Verifying s3://${bucket}/${escapeText(key)}`, {
        AccessDenied: 'access denied; the job role needs s3:GetObject on the prefix to verify',
        Forbidden: 'access denied; the job role needs s3:GetObject on the prefix to verify'
      })
    }
  })
  if (failures.length > 0) throw failures[0]?.error
  return drift.sort((a, b) => byText(a.key, b.key))
}

/** Why the object is not the file, or undefined when it is. */
async function differenceFrom(
  s3: S3Client,
  bucket: string,
  key: string,
  file: HashedFile
): Promise<string | undefined> {
  let stored: string | undefined
  try {
    stored = await storedSha256(s3, bucket, key)
  } catch (error) {
    const code = awsErrorCode(error)
    if (code === 'NotFound' || code === 'NoSuchKey') return 'the object is gone'
    throw error
  }
  if (stored !== undefined) {
    return stored === sha256Base64(file.sha256)
      ? undefined
      : "the SHA-256 checksum S3 stored for it is not the file's"
  }
  return (await objectSha256(s3, bucket, key)) === file.sha256
    ? undefined
    : "its bytes are not the file's (read and hashed: it has no full-object SHA-256 checksum)"
}
