import { decodeListedKey } from '../../src/common/s3-location.js'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand
} from '@aws-sdk/client-s3'
import { mockClient } from 'aws-sdk-client-mock'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import {
  deleteKeys,
  listPrefix,
  objectSha256,
  readManifest,
  storedSha256,
  uploadFile,
  writeManifest
} from '../../src/deploy-dags/bucket.js'
import { manifestText, newManifest } from '../../src/deploy-dags/plan.js'
import { MULTIPART_PART_SIZE, MULTIPART_THRESHOLD } from '../../src/deploy-dags/constants.js'
import { hashFile } from '../../src/deploy-dags/selection.js'

const s3Mock = mockClient(S3Client)
const s3 = new S3Client({ region: 'us-east-1' })
// The part of the SDK's stream mixin that readManifest uses.
const body = (content: string | Buffer) => ({
  transformToByteArray: async () => new Uint8Array(Buffer.from(content))
})
let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bucket-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))
beforeEach(() => {
  s3Mock.reset()
})

describe('listPrefix', () => {
  it('pages through the folder, one request per page, and strips ETag quotes', async () => {
    s3Mock
      .on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'dags/a.py', Size: 3, ETag: '"abc"' }],
        IsTruncated: true,
        NextContinuationToken: 't1'
      })
      .resolvesOnce({
        Contents: [{ Key: 'dags/b.py', Size: 4, ETag: '"def-2"' }],
        IsTruncated: false
      })
    const objects = await listPrefix(s3, 'b', 'dags', 1)
    expect(objects).toEqual([
      { key: 'dags/a.py', size: 3, etag: 'abc' },
      { key: 'dags/b.py', size: 4, etag: 'def-2' }
    ])
    const calls = s3Mock.commandCalls(ListObjectsV2Command)
    expect(calls.map((c) => c.args[0].input.Prefix)).toEqual(['dags/', 'dags/'])
    expect(calls[1]?.args[0].input.ContinuationToken).toBe('t1')
  })
})

describe('listed keys', () => {
  it('asks for URL-encoded keys and decodes them, control characters included', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({
      EncodingType: 'url',
      Contents: [
        { Key: 'dags/x.py%0D%3A%3Aadd-mask%3A%3Adags', Size: 1, ETag: '"e"' },
        { Key: 'dags/a+b%2Bc%20d.py', Size: 1, ETag: '"f"' },
        { Key: 'dags/caf%C3%A9.py', Size: 1, ETag: '"g"' }
      ]
    })
    const keys = (await listPrefix(s3, 'b', 'dags', 1)).map((o) => o.key)
    expect(keys).toEqual(['dags/x.py\r::add-mask::dags', 'dags/a b+c d.py', 'dags/café.py'])
    expect(s3Mock.commandCalls(ListObjectsV2Command)[0]?.args[0].input.EncodingType).toBe('url')
  })

  it('takes keys as they are from a store that ignores the encoding', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'dags/a+b%20.py', Size: 1 }] })
    expect((await listPrefix(s3, 'b', 'dags', 1))[0]?.key).toBe('dags/a+b%20.py')
    expect(decodeListedKey('a%0Ab')).toBe('a\nb')
  })
})

describe('readManifest', () => {
  it('keeps entries named like Object.prototype members, in a map without a prototype', async () => {
    const entry = { sha256: 'a'.repeat(64), size: 1, etag: 'e' }
    s3Mock.on(GetObjectCommand).resolves({
      Body: body(
        `{"format":1,"objects":{"__proto__":${JSON.stringify(entry)},"constructor":${JSON.stringify(entry)},"toString":${JSON.stringify(entry)}}}`
      )
    } as never)
    const { manifest } = await readManifest(s3, 'b', 'dags/.m')
    expect(Object.getPrototypeOf(manifest)).toBeNull()
    expect(Object.keys(manifest)).toEqual(['__proto__', 'constructor', 'toString'])
    expect(manifest['__proto__']).toEqual(entry)
  })

  it('reads entries and drops malformed ones', async () => {
    s3Mock.on(GetObjectCommand).resolves({
      Body: body(
        JSON.stringify({
          format: 1,
          objects: { 'a.py': { sha256: 'a'.repeat(64), size: 1, etag: 'e' }, 'b.py': { sha256: 1 } }
        })
      )
    } as never)
    expect(await readManifest(s3, 'b', 'dags/.m')).toEqual({
      manifest: { 'a.py': { sha256: 'a'.repeat(64), size: 1, etag: 'e' } }
    })
  })

  it('reads the gzip-compressed manifest it writes, and the plain JSON earlier versions wrote', async () => {
    const entry = { sha256: 'b'.repeat(64), size: 2, etag: 'f' }
    const manifest = newManifest()
    manifest['x/y.py'] = entry
    s3Mock.on(PutObjectCommand).resolves({})
    await writeManifest(s3, 'b', 'dags/.m', manifest, {})
    const put = s3Mock.commandCalls(PutObjectCommand)[0]!.args[0].input
    expect(put).toMatchObject({ ContentType: 'application/json', ContentEncoding: 'gzip' })
    const stored = put.Body as Buffer
    expect(JSON.parse(gunzipSync(stored).toString('utf8'))).toEqual({
      format: 1,
      objects: { 'x/y.py': entry }
    })

    s3Mock.on(GetObjectCommand).resolves({ Body: body(stored) } as never)
    expect(await readManifest(s3, 'b', 'dags/.m')).toEqual({ manifest: { 'x/y.py': entry } })
    s3Mock.on(GetObjectCommand).resolves({ Body: body(gunzipSync(stored)) } as never)
    expect(await readManifest(s3, 'b', 'dags/.m')).toEqual({ manifest: { 'x/y.py': entry } })
  })

  it('treats a damaged compressed manifest as empty, with the reason', async () => {
    const stored = gzipSync('{"format":1,"objects":{}}')
    s3Mock.on(GetObjectCommand).resolves({ Body: body(stored.subarray(0, 12)) } as never)
    const result = await readManifest(s3, 'b', 'dags/.m')
    expect(result.manifest).toEqual({})
    expect(result.problem).toMatch(/^not gzip/)
  })

  it('refuses a compressed manifest that expands beyond its cap', () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024))
    expect(manifestText(bomb, 1024)).toEqual({ problem: expect.stringMatching(/^not gzip/) })
    expect(manifestText(bomb, 64 * 1024)).toEqual('\0'.repeat(64 * 1024))
  })

  it('treats an unreadable manifest as empty, with the reason', async () => {
    s3Mock.on(GetObjectCommand).resolves({ Body: body('not json') } as never)
    const result = await readManifest(s3, 'b', 'dags/.m')
    expect(result.manifest).toEqual({})
    expect(result.problem).toMatch(/JSON/)
  })

  it('treats a missing manifest (first deploy) as empty, without a warning', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejects(Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' }))
    expect(await readManifest(s3, 'b', 'dags/.m')).toEqual({ manifest: {} })
  })

  it('reports an unreadable manifest, e.g. access denied, as a problem to warn about', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }))
    expect(await readManifest(s3, 'b', 'dags/.m')).toEqual({
      manifest: {},
      problem: 'Access Denied'
    })
  })
})

describe('uploadFile', () => {
  it('sends content type, checksum, metadata and encryption, and no ACL', async () => {
    writeFileSync(join(dir, 'a.py'), 'print(1)\n')
    const file = await hashFile({ path: 'a.py', absolutePath: join(dir, 'a.py'), size: 9 })
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"kms-etag"' })
    const etag = await uploadFile(s3, 'b', 'dags/a.py', file, {
      sse: 'aws:kms',
      kmsKeyId: 'alias/k'
    })
    expect(etag).toBe('kms-etag')
    const input = s3Mock.commandCalls(PutObjectCommand)[0]!.args[0].input
    expect(input).toMatchObject({
      Bucket: 'b',
      Key: 'dags/a.py',
      ContentType: 'text/x-python; charset=utf-8',
      Metadata: { sha256: file.sha256 },
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'alias/k',
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: Buffer.from(file.sha256, 'hex').toString('base64')
    })
    expect(input).not.toHaveProperty('ACL')
  })

  it('uploads large files in parts and aborts the upload when a part fails', async () => {
    const size = MULTIPART_THRESHOLD + 1
    const path = join(dir, 'big.bin')
    writeFileSync(path, Buffer.alloc(size, 1))
    const file = { path: 'big.bin', absolutePath: path, size, sha256: 'aa', md5: 'bb' }
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' })
    s3Mock
      .on(UploadPartCommand)
      .resolvesOnce({ ETag: '"p1"' })
      .rejects(new Error('connection reset'))
    s3Mock.on(AbortMultipartUploadCommand).resolves({})
    await expect(uploadFile(s3, 'b', 'dags/big.bin', file, {})).rejects.toThrow('connection reset')
    expect(s3Mock.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input.UploadId).toBe('u1')
    expect(s3Mock.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0)
  })

  it('completes a multipart upload with every part in order', async () => {
    const size = MULTIPART_THRESHOLD + 1
    const path = join(dir, 'big.bin')
    const file = { path: 'big.bin', absolutePath: path, size, sha256: 'aa', md5: 'bb' }
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u2' })
    s3Mock.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({
      ETag: `"p${input.PartNumber}"`,
      ChecksumCRC32: `crc${input.PartNumber}`
    }))
    s3Mock.on(CompleteMultipartUploadCommand).resolves({ ETag: '"whole-5"' })
    expect(await uploadFile(s3, 'b', 'dags/big.bin', file, {})).toBe('whole-5')
    const parts = s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input
      .MultipartUpload!.Parts!
    expect(parts.map((p) => p.PartNumber)).toEqual([1, 2, 3, 4, 5])
    expect(parts.map((p) => p.ChecksumCRC32)).toEqual(['crc1', 'crc2', 'crc3', 'crc4', 'crc5'])
    expect(
      s3Mock.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input.ChecksumAlgorithm
    ).toBe('CRC32')
    expect(Math.ceil(size / MULTIPART_PART_SIZE)).toBe(5)
  })
})

describe('what verify reads', () => {
  it('takes only a full-object SHA-256 checksum, asked for with checksum mode', async () => {
    s3Mock
      .on(HeadObjectCommand)
      .resolvesOnce({ ChecksumSHA256: 'abc=', ChecksumType: 'FULL_OBJECT' })
      // A multipart upload's SHA-256 is a checksum of its parts' checksums, not of the content.
      .resolvesOnce({ ChecksumSHA256: 'abc=-3', ChecksumType: 'COMPOSITE' })
      .resolvesOnce({ ChecksumCRC32: 'AAAAAA==' })
    expect(await storedSha256(s3, 'b', 'dags/a.py')).toBe('abc=')
    expect(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input.ChecksumMode).toBe('ENABLED')
    expect(await storedSha256(s3, 'b', 'dags/big.bin')).toBeUndefined()
    expect(await storedSha256(s3, 'b', 'dags/other.py')).toBeUndefined()
  })

  it('hashes an object it reads whole', async () => {
    async function* chunks() {
      yield Buffer.from('print(')
      yield Buffer.from('1)\n')
    }
    s3Mock.on(GetObjectCommand).resolves({ Body: chunks() } as never)
    expect(await objectSha256(s3, 'b', 'dags/a.py')).toBe(
      createHash('sha256').update('print(1)\n').digest('hex')
    )
  })
})

describe('deleteKeys', () => {
  it('batches by 1,000 keys', async () => {
    s3Mock.on(DeleteObjectsCommand).resolves({})
    await deleteKeys(
      s3,
      'b',
      Array.from({ length: 2500 }, (_, i) => `dags/${i}.py`)
    )
    const sizes = s3Mock
      .commandCalls(DeleteObjectsCommand)
      .map((c) => c.args[0].input.Delete!.Objects!.length)
    expect(sizes).toEqual([1000, 1000, 500])
  })

  it('fails when S3 reports per-key errors', async () => {
    s3Mock
      .on(DeleteObjectsCommand)
      .resolves({ Errors: [{ Key: 'dags/a.py', Code: 'AccessDenied', Message: 'Access Denied' }] })
    await expect(deleteKeys(s3, 'b', ['dags/a.py'])).rejects.toThrow(
      'S3 refused to delete 1 object(s): dags/a.py: AccessDenied Access Denied'
    )
  })

  it('quotes refused keys escaped, so a key cannot start a log line', async () => {
    s3Mock.on(DeleteObjectsCommand).resolves({
      Errors: [{ Key: 'dags/x.py\n::add-mask::dags', Code: 'AccessDenied', Message: 'no' }]
    })
    await expect(deleteKeys(s3, 'b', ['dags/x.py\n::add-mask::dags'])).rejects.toThrow(
      'dags/x.py\\n:\\x3aadd-mask:\\x3adags: AccessDenied no'
    )
  })
})
