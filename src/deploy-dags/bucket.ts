import { createHash } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type ServerSideEncryption as SdkSse
} from '@aws-sdk/client-s3'
import { awsErrorCode, clientConfig, type AwsTarget } from '../common/aws.js'
import { listUnderPrefix } from '../common/s3-listing.js'
import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { MULTIPART_PART_SIZE, MULTIPART_THRESHOLD, type ServerSideEncryption } from './constants.js'
import { contentTypeFor } from './content-type.js'
import {
  encodeManifest,
  newManifest,
  parseManifestBytes,
  type Manifest,
  type RemoteObject
} from './plan.js'
import type { HashedFile } from './selection.js'

export function createS3Client(target: AwsTarget, concurrency: number): S3Client {
  return new S3Client({
    ...clientConfig(target, { maxSockets: concurrency }),
    // S3-compatible stores and local test servers do not have virtual-host DNS names.
    forcePathStyle: target.endpointUrl !== undefined,
    // A bucket in another region than configured still works instead of failing with a 301.
    followRegionRedirects: true
  })
}

/** The form S3 gives SHA-256 checksums in. */
export const sha256Base64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64')

const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '')

/**
 * Every object under `prefix/`; `dags` never lists `dags-old/`. A large prefix is split at its
 * folders and read `concurrency` requests at a time.
 */
export async function listPrefix(
  s3: S3Client,
  bucket: string,
  prefix: string,
  concurrency: number
): Promise<RemoteObject[]> {
  const listed = await listUnderPrefix(s3, bucket, prefix, { concurrency })
  return listed.map(({ key, size, etag }) => ({ key, size, etag: unquote(etag) }))
}

/**
 * The full-object SHA-256 checksum S3 keeps for an object (base64), or undefined when it has
 * none: objects uploaded without one, and multipart uploads, whose SHA-256 is only per part.
 */
export async function storedSha256(
  s3: S3Client,
  bucket: string,
  key: string
): Promise<string | undefined> {
  const head = await s3.send(
    new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' })
  )
  return fullObjectSha256(head)
}

/** The full-object SHA-256 (base64) in a HeadObject answer asked with ChecksumMode ENABLED. */
export function fullObjectSha256(head: {
  ChecksumSHA256?: string
  ChecksumType?: string
}): string | undefined {
  const checksum = head.ChecksumSHA256
  // A composite (per-part) checksum reads `<base64>-<parts>` and is not the content's SHA-256.
  if (checksum === undefined || checksum.includes('-') || head.ChecksumType === 'COMPOSITE') {
    return undefined
  }
  return checksum
}

/** Reads an object (the latest, or the given version) whole and returns its SHA-256 (hex). */
export async function objectSha256(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId?: string
): Promise<string> {
  const response = await s3.send(
    new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ...(versionId !== undefined ? { VersionId: versionId } : {})
    })
  )
  const hash = createHash('sha256')
  const body = response.Body as AsyncIterable<Uint8Array> | undefined
  if (body !== undefined) for await (const chunk of body) hash.update(chunk)
  return hash.digest('hex')
}

/** Reads the manifest; a missing or unreadable one is an empty cache, not an error. */
export async function readManifest(
  s3: S3Client,
  bucket: string,
  key: string
): Promise<{ manifest: Manifest; problem?: string }> {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    const read = parseManifestBytes(
      (await response.Body?.transformToByteArray()) ?? new Uint8Array()
    )
    return 'problem' in read ? { manifest: newManifest(), problem: read.problem } : read
  } catch (error) {
    // The first deploy to a prefix, or one that listing will report (a missing bucket) anyway.
    const code = awsErrorCode(error)
    if (code === 'NoSuchKey' || code === 'NoSuchBucket' || code === 'NotFound')
      return { manifest: newManifest() }
    return { manifest: newManifest(), problem: errorMessage(error) }
  }
}

export interface Encryption {
  sse?: ServerSideEncryption
  kmsKeyId?: string
}

function encryptionParams(encryption: Encryption) {
  return {
    ...(encryption.sse !== undefined ? { ServerSideEncryption: encryption.sse as SdkSse } : {}),
    ...(encryption.kmsKeyId !== undefined ? { SSEKMSKeyId: encryption.kmsKeyId } : {})
  }
}

export async function writeManifest(
  s3: S3Client,
  bucket: string,
  key: string,
  manifest: Manifest,
  encryption: Encryption
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: encodeManifest(manifest),
      ContentType: 'application/json',
      ContentEncoding: 'gzip',
      ...encryptionParams(encryption)
    })
  )
}

/**
 * Uploads one file and returns the ETag S3 gave it. No ACL is sent: buckets with ACLs disabled
 * (the default since 2023) reject any. The SHA-256 goes along as a checksum S3 verifies and as
 * metadata for people inspecting the object.
 */
export async function uploadFile(
  s3: S3Client,
  bucket: string,
  key: string,
  file: HashedFile,
  encryption: Encryption
): Promise<string> {
  const common = {
    Bucket: bucket,
    Key: key,
    ContentType: contentTypeFor(file.path),
    Metadata: { sha256: file.sha256 },
    ...encryptionParams(encryption)
  }
  if (file.size <= MULTIPART_THRESHOLD) {
    // A Buffer body (not a stream) lets the SDK retry the request after throttling or a 5xx.
    const body = await readFile(file.absolutePath)
    if (body.length !== file.size) throw new Error(`${file.path} changed while being deployed`)
    const response = await s3.send(
      new PutObjectCommand({
        ...common,
        Body: body,
        // S3 refuses the body if it does not hash to this, and keeps it as the object's checksum,
        // which verify later compares. The algorithm is named too: S3 does not need it, but
        // S3-compatible stores (moto 5.2.1 among them) keep the checksum only when it is named.
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: sha256Base64(file.sha256)
      })
    )
    return unquote(response.ETag)
  }
  return uploadMultipart(s3, file, common)
}

async function uploadMultipart(
  s3: S3Client,
  file: HashedFile,
  common: { Bucket: string; Key: string } & Record<string, unknown>
): Promise<string> {
  // One checksum algorithm across create, parts and complete: S3 rejects a completion whose parts
  // carry checksums of a type the upload was not created with.
  const created = await s3.send(
    new CreateMultipartUploadCommand({ ...common, ChecksumAlgorithm: 'CRC32' })
  )
  const uploadId = created.UploadId
  if (uploadId === undefined) throw new Error(`S3 returned no upload id for ${common.Key}`)
  const handle = await open(file.absolutePath, 'r')
  try {
    const parts: CompletedPart[] = []
    for (
      let offset = 0, partNumber = 1;
      offset < file.size;
      offset += MULTIPART_PART_SIZE, partNumber++
    ) {
      const length = Math.min(MULTIPART_PART_SIZE, file.size - offset)
      const buffer = Buffer.alloc(length)
      const { bytesRead } = await handle.read(buffer, 0, length, offset)
      if (bytesRead !== length) throw new Error(`${file.path} changed while being deployed`)
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: common.Bucket,
          Key: common.Key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: buffer,
          ChecksumAlgorithm: 'CRC32'
        })
      )
      parts.push({ ETag: part.ETag, PartNumber: partNumber, ChecksumCRC32: part.ChecksumCRC32 })
    }
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: common.Bucket,
        Key: common.Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts }
      })
    )
    return unquote(done.ETag)
  } catch (error) {
    // An abandoned multipart upload is billed storage until aborted.
    await s3
      .send(
        new AbortMultipartUploadCommand({
          Bucket: common.Bucket,
          Key: common.Key,
          UploadId: uploadId
        })
      )
      .catch(() => undefined)
    throw error
  } finally {
    await handle.close()
  }
}

/** Deletes keys in batches of 1,000 (one request each); per-key failures are errors too. */
export async function deleteKeys(
  s3: S3Client,
  bucket: string,
  keys: readonly string[]
): Promise<void> {
  for (let start = 0; start < keys.length; start += 1000) {
    const batch = keys.slice(start, start + 1000)
    const response = await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true }
      })
    )
    const errors = response.Errors ?? []
    if (errors.length > 0) {
      const first = errors
        .slice(0, 5)
        .map((e) => escapeText(`${e.Key ?? '?'}: ${e.Code ?? 'error'} ${e.Message ?? ''}`.trim()))
        .join('; ')
      throw new Error(`S3 refused to delete ${errors.length} object(s): ${first}`)
    }
  }
}
