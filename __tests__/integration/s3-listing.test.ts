// The folder-by-folder listing against a real moto_server: on the same buckets, key by key, it
// must equal one sequential listing (the SDK's paginator, page after page), sizes and ETags
// included. Small pages make the splits happen at every level without thousands of objects; one
// bucket is large enough to split at S3's own page size.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  ListObjectsV2Command,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client
} from '@aws-sdk/client-s3'
import { createLimiter } from '../../src/common/concurrency.js'
import { decodeListedKey } from '../../src/common/s3-location.js'
import { listUnderPrefix, type ListedObject } from '../../src/common/s3-listing.js'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { createBucket, s3For } from './helpers.js'

let moto: Moto
let s3: S3Client
beforeAll(async () => {
  moto = await startMoto()
  s3 = s3For(moto.endpoint)
})
afterAll(async () => {
  s3?.destroy()
  await moto?.stop()
})

async function bucketWith(keys: readonly string[]): Promise<string> {
  const bucket = await createBucket(s3, 'listing')
  const put = createLimiter(16)
  await Promise.all(
    keys.map((Key, i) =>
      put(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x'.repeat(i % 97) })))
    )
  )
  return bucket
}

/** The reference: the SDK's own paginator, one page after another. */
async function sequentialListing(bucket: string, prefix: string): Promise<ListedObject[]> {
  const objects: ListedObject[] = []
  const pages = paginateListObjectsV2(
    { client: s3 },
    { Bucket: bucket, Prefix: prefix === '' ? undefined : `${prefix}/`, EncodingType: 'url' }
  )
  for await (const page of pages) {
    for (const item of page.Contents ?? []) {
      objects.push({ key: decodeListedKey(item.Key!), size: item.Size!, etag: item.ETag! })
    }
  }
  return objects
}

async function expectSameListing(
  bucket: string,
  prefix: string,
  options: { pageSize?: number; concurrency: number }
): Promise<ListedObject[]> {
  const reference = await sequentialListing(bucket, prefix)
  const listed = await listUnderPrefix(s3, bucket, prefix, options)
  expect(listed.map((o) => o.key)).toEqual(reference.map((o) => o.key))
  expect(listed).toEqual(reference)
  return listed
}

// Keys whose order surprises: characters on both sides of '/', a space and a plus (which the
// URL encoding turns into each other's spelling), '%', a CR (which XML turns into a LF), folder
// markers, empty segments, characters whose UTF-16 and UTF-8 orders differ, and neighbours of the
// prefix that a listing of `dags/` must never include.
const SURPRISING = [
  'dags/a',
  'dags/a/',
  'dags/a/b.py',
  'dags/a-b.py',
  'dags/a.b/c.py',
  'dags/a0/d.py',
  'dags/a!/e.py',
  'dags/a b/f.py',
  'dags/a+b/g.py',
  'dags/a%2Fb/h.py',
  'dags/a\rb/i.py',
  'dags//j.py',
  'dags/a//k.py',
  'dags/caf\u00e9/l.py',
  'dags/\uE000/m.py',
  'dags/\uFFFD/n.py',
  'dags/\uFFFD.py',
  'dags/\u{1F600}/o.py',
  'dags/z/',
  'dags/~/p.py',
  'dags-old/q.py',
  'dags0/r.py',
  'dagsx.py'
]

describe('listUnderPrefix on moto, against the sequential listing', () => {
  it('keeps the order of keys that sort surprisingly, at every page size', async () => {
    const keys = [...SURPRISING]
    // Enough in a few of the folders that they split again.
    for (let i = 0; i < 12; i++) keys.push(`dags/a/n${i}.py`, `dags/\u{1F600}/e${i}.py`)
    const bucket = await bucketWith(keys)
    for (const pageSize of [1, 2, 3, 5, 8]) {
      await expectSameListing(bucket, 'dags', { pageSize, concurrency: 4 })
      await expectSameListing(bucket, '', { pageSize, concurrency: 4 })
    }
    const listed = await listUnderPrefix(s3, bucket, 'dags', { pageSize: 2, concurrency: 4 })
    expect(listed.map((o) => o.key)).toContain('dags/a\rb/i.py')
    expect(listed.map((o) => o.key).filter((key) => !key.startsWith('dags/'))).toEqual([])
  })

  it('lists a flat folder page after page, every key once', async () => {
    const keys = Array.from({ length: 150 }, (_, i) => `dags/dag_${String(i).padStart(3, '0')}.py`)
    const bucket = await bucketWith(keys)
    const listed = await expectSameListing(bucket, 'dags', { pageSize: 7, concurrency: 8 })
    expect(listed).toHaveLength(150)
  })

  it('follows deep nesting with files at every level', async () => {
    const keys: string[] = []
    let folder = 'dags'
    for (let depth = 0; depth < 10; depth++) {
      folder += `/d${depth}`
      for (let i = 0; i < 4; i++) keys.push(`${folder}/f${i}.py`, `${folder}-x/g${i}.py`)
    }
    const bucket = await bucketWith(keys)
    for (const pageSize of [3, 6])
      await expectSameListing(bucket, 'dags', { pageSize, concurrency: 4 })
  })

  it('splits a tree of 2,100 objects at S3 page size, in more but concurrent requests', async () => {
    const keys: string[] = []
    for (let team = 0; team < 7; team++) {
      for (let domain = 0; domain < 3; domain++) {
        for (let i = 0; i < 100; i++) keys.push(`dags/team${team}/d${domain}/dag_${i}.py`)
      }
    }
    const bucket = await bucketWith(keys)
    let requests = 0
    const counting = s3For(moto.endpoint)
    counting.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === ListObjectsV2Command.name) requests++
        return next(args)
      },
      { step: 'initialize' }
    )
    try {
      const reference = await sequentialListing(bucket, 'dags')
      const listed = await listUnderPrefix(counting, bucket, 'dags', { concurrency: 16 })
      expect(listed).toEqual(reference)
      expect(listed).toHaveLength(2100)
      // The first page ends in team3 (teams of 300), having touched 4 teams. The delimiter
      // listing after it names team3 to team6: about 1,000 keys, so two ranges of a page each.
      expect(requests).toBe(4)
    } finally {
      counting.destroy()
    }
  })
})
