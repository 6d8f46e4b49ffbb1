// S3 calls the deploy-dags benchmarks make themselves, to set up buckets, check what the tools
// left in them and time a bare listing: the SDK from the benchmark script, against moto.
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'

export function s3Client(endpoint) {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
  })
}

/**
 * Reads ListObjectsV2 pages for `params` (Bucket, Prefix, …) one after another, as a plain
 * sequential listing does, handing each to `onPage`; returns how many pages there were.
 */
export async function forEachPage(s3, params, onPage) {
  let pages = 0
  let token
  do {
    const page = await s3.send(new ListObjectsV2Command({ ...params, ContinuationToken: token }))
    pages++
    onPage(page)
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  return pages
}

export async function objectText(s3, bucket, key) {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return response.Body.transformToString('utf-8')
}
