export const Input = {
  Source: 'source',
  Bucket: 'bucket',
  Prefix: 'prefix',
  Include: 'include',
  Exclude: 'exclude',
  Delete: 'delete',
  MaxDeletePercent: 'max-delete-percent',
  DryRun: 'dry-run',
  Force: 'force',
  Verify: 'verify',
  FollowSymlinksOutsideSource: 'follow-symlinks-outside-source',
  Concurrency: 'concurrency',
  Sse: 'sse',
  KmsKeyId: 'kms-key-id',
  Region: 'region',
  EndpointUrl: 'endpoint-url'
} as const

export const Output = {
  Changed: 'changed',
  Uploaded: 'uploaded',
  Deleted: 'deleted',
  Unchanged: 'unchanged',
  Drifted: 'drifted',
  UploadedBytes: 'uploaded-bytes',
  Changes: 'changes',
  ChangesFile: 'changes-file',
  S3Uri: 's3-uri',
  Refusal: 'refusal'
} as const

/**
 * Per-prefix record of what this action uploaded: key → SHA-256, size and the ETag S3 returned.
 * Listing a prefix gives ETags but no hashes, and an ETag is not an MD5 under SSE-KMS or for
 * multipart uploads; the manifest lets one listing decide "unchanged" by content for every object
 * whose ETag still matches what we recorded. It is a cache, never the truth: an entry whose ETag
 * or size no longer matches the live listing is ignored.
 */
export const MANIFEST_NAME = '.deploy-dags-manifest.json'

export const SSE_CHOICES = ['AES256', 'aws:kms', 'aws:kms:dsse'] as const
export type ServerSideEncryption = (typeof SSE_CHOICES)[number]

/** Objects above this size go up as multipart uploads with parts held in memory one at a time. */
export const MULTIPART_THRESHOLD = 64 * 1024 * 1024
export const MULTIPART_PART_SIZE = 16 * 1024 * 1024
/** `aws s3 sync` uploads files above 8 MiB in 8 MiB parts; we recognise objects it uploaded. */
export const AWS_CLI_PART_SIZE = 8 * 1024 * 1024
