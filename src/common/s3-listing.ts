import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import { decodeListedKey } from './s3-location.js'

/** One object of a listing, its key decoded. */
export interface ListedObject {
  key: string
  size: number
  /** As S3 gives it, quotes included. */
  etag?: string
}

/**
 * Every object under the prefix ('' for the whole bucket), page after page. XML 1.0 cannot carry
 * every character a key may hold (a CR comes back as a LF), so the keys are asked for URL-encoded
 * and decoded here; the SDK leaves them encoded. A store that ignores the encoding gives them as
 * they are, and says so by leaving EncodingType out.
 */
export async function listUnderPrefix(
  s3: S3Client,
  bucket: string,
  prefix: string
): Promise<ListedObject[]> {
  const objects: ListedObject[] = []
  let token: string | undefined
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix === '' ? undefined : `${prefix}/`,
        ContinuationToken: token,
        EncodingType: 'url'
      })
    )
    const encoded = page.EncodingType === 'url'
    for (const item of page.Contents ?? []) {
      if (item.Key === undefined) continue
      objects.push({
        key: encoded ? decodeListedKey(item.Key) : item.Key,
        size: item.Size ?? 0,
        ...(item.ETag !== undefined ? { etag: item.ETag } : {})
      })
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  return objects
}
