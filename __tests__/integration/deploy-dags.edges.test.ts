// Behaviour that needs a real S3 server with something in between: ETags that are not MD5s (as
// under SSE-KMS), failures part way, throttling, request counts. The proxy forwards to moto_server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client
} from '@aws-sdk/client-s3'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import type { ProxyHooks } from '../../test-support/proxy.mjs'
import { nodeRuntimes, runAction } from '../../test-support/runner.mjs'
import {
  bucketContents,
  createBucket,
  credentials,
  freshCheckout,
  proxyFor,
  removeWorkspaces,
  stopProxies,
  s3For,
  withoutManifest,
  workspaceWith
} from './helpers.js'

let moto: Moto
let s3: S3Client
const [node24] = nodeRuntimes()

beforeAll(async () => {
  moto = await startMoto()
  s3 = s3For(moto.endpoint)
})
afterAll(async () => {
  removeWorkspaces()
  s3?.destroy()
  await stopProxies()
  await moto?.stop()
})

const proxy = (hooks: ProxyHooks = {}) => proxyFor(moto.endpoint, hooks)

const deploy = (
  workspace: string,
  bucket: string,
  endpoint: string,
  inputs: Record<string, string> = {}
) =>
  runAction({
    action: 'deploy-dags',
    node: node24!.path,
    workspace,
    env: credentials,
    inputs: { bucket, 'endpoint-url': endpoint, ...inputs }
  })

const md5 = (text: string) => createHash('md5').update(text).digest('hex')

/** What S3 does under SSE-KMS: the ETag of an object is not the MD5 of its content. */
const kmsStyleEtag = (etag: string) => md5(`kms:${etag}`)
const kmsEtags: ProxyHooks = {
  rewrite: (req, res) => {
    if (req.method === 'PUT' && typeof res.headers.etag === 'string') {
      const etag = res.headers.etag.replace(/"/g, '')
      return { headers: { ...res.headers, etag: `"${kmsStyleEtag(etag)}"` } }
    }
    if (req.method === 'GET' && req.url.includes('list-type=2')) {
      const body = res.body
        .toString('utf8')
        .replace(
          /<ETag>(&quot;|&#34;|")?([0-9a-f-]+)(&quot;|&#34;|")?<\/ETag>/g,
          (_m, _a, etag: string) => `<ETag>"${kmsStyleEtag(etag)}"</ETag>`
        )
      return { body: Buffer.from(body) }
    }
    return undefined
  }
}

const tree = {
  'dags/a.py': 'print("a")\n',
  'dags/b.py': 'print("b")\n',
  'dags/.airflowignore': 'helpers/\n'
}

describe('deploy-dags against S3 edge cases', () => {
  it('decides by content when ETags are not MD5s (SSE-KMS), thanks to its manifest', async () => {
    const bucket = await createBucket(s3)
    const kms = await proxy(kmsEtags)
    const workspace = workspaceWith(tree)

    const first = await deploy(workspace, bucket, kms.url)
    expect(first.outputs).toMatchObject({ uploaded: '3' })
    expect(kms.requests.filter((r) => 'x-amz-acl' in r.headers)).toEqual([])
    const listed = await s3For(kms.url).send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'dags/a.py' })
    )
    expect(listed.Contents?.[0]?.ETag?.replace(/"/g, '')).not.toBe(md5(tree['dags/a.py']))

    const checkout = freshCheckout(workspace)
    expect((await deploy(checkout, bucket, kms.url)).outputs).toMatchObject({
      uploaded: '0',
      unchanged: '3'
    })

    writeFileSync(join(checkout, 'dags/a.py'), 'print("A")\n')
    const edited = await deploy(checkout, bucket, kms.url)
    expect(JSON.parse(edited.outputs.changes!)).toEqual({ uploaded: ['dags/a.py'], deleted: [] })

    // Without the manifest nothing proves the objects equal the files: everything goes up once,
    // and the run after that is quiet again.
    await s3.send(
      new DeleteObjectCommand({ Bucket: bucket, Key: 'dags/.deploy-dags-manifest.json' })
    )
    const lost = await deploy(checkout, bucket, kms.url)
    expect(lost.outputs).toMatchObject({ uploaded: '3' })
    expect(lost.stdout).toContain('dags/b.py (unverified)')
    expect((await deploy(checkout, bucket, kms.url)).outputs).toMatchObject({ uploaded: '0' })
  })

  it('recognises large objects aws s3 sync uploaded in 8 MiB parts', async () => {
    const bucket = await createBucket(s3)
    const content = Buffer.alloc(9 * 1024 * 1024, 'x')
    const key = 'dags/data/model.bin'
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key })
    )
    const eight = 8 * 1024 * 1024
    const parts = []
    for (const [n, chunk] of [content.subarray(0, eight), content.subarray(eight)].entries()) {
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          PartNumber: n + 1,
          Body: chunk
        })
      )
      parts.push({ ETag: part.ETag, PartNumber: n + 1 })
    }
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: parts }
      })
    )
    expect(done.ETag).toMatch(/-2"$/)

    const workspace = workspaceWith({ 'dags/data/model.bin': content })
    const result = await deploy(workspace, bucket, moto.endpoint)
    expect(result.exitCode).toBe(0)
    expect(result.outputs).toMatchObject({ uploaded: '0', unchanged: '1' })
  })

  it('deletes nothing when an upload fails, and the next run converges', async () => {
    const bucket = await createBucket(s3)
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'dags/a.py', Body: tree['dags/a.py'] })
    )
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/stale.py', Body: 'old' }))
    const broken = await proxy({
      intercept: ({ method, url }) =>
        method === 'PUT' && url.startsWith(`/${bucket}/dags/b.py`)
          ? {
              status: 500,
              body: '<Error><Code>InternalError</Code><Message>boom</Message></Error>'
            }
          : undefined
    })
    const workspace = workspaceWith(tree)

    const failed = await deploy(workspace, bucket, broken.url)
    expect(failed.exitCode).toBe(1)
    expect(failed.errors).toHaveLength(1)
    expect(failed.errors[0]).toContain('1 upload(s) failed')
    expect(failed.errors[0]).toContain('nothing was deleted')
    expect(failed.errors[0]).toContain('dags/b.py')
    // The SDK retried the 5xx before giving up.
    expect(
      broken.requests.filter((r) => r.method === 'PUT' && r.url.startsWith(`/${bucket}/dags/b.py`))
        .length
    ).toBeGreaterThan(1)
    expect(Object.keys(await bucketContents(s3, bucket))).toContain('dags/stale.py')

    const healthy = await proxy()
    const converged = await deploy(freshCheckout(workspace), bucket, healthy.url)
    expect(converged.exitCode).toBe(0)
    expect(converged.outputs).toMatchObject({ uploaded: '1', deleted: '1', unchanged: '2' })
    expect(withoutManifest(await bucketContents(s3, bucket))).toEqual(tree)
    // Uploads (and the manifest) strictly before the delete request.
    const order = healthy.requests.map((r) =>
      r.method === 'POST' && r.url.includes('delete') ? 'delete' : r.method
    )
    expect(order.lastIndexOf('PUT')).toBeLessThan(order.indexOf('delete'))
  })

  it('retries throttling and 5xx with backoff and still syncs everything', async () => {
    const bucket = await createBucket(s3)
    const throttled = await proxy({
      intercept: ({ index }) =>
        index < 30 && index % 3 === 1
          ? {
              status: 503,
              body: '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>'
            }
          : undefined
    })
    const result = await deploy(workspaceWith(tree), bucket, throttled.url)
    expect(result.errors).toEqual([])
    expect(result.exitCode).toBe(0)
    expect(throttled.requests.filter((r) => r.status === 503).length).toBeGreaterThan(0)
    expect(withoutManifest(await bucketContents(s3, bucket))).toEqual(tree)
  })

  it('costs a few listing requests plus requests for the changed files only', async () => {
    const bucket = await createBucket(s3)
    const files: Record<string, string> = {}
    for (let i = 0; i < 1100; i++) files[`dags/team_${i % 10}/dag_${i}.py`] = `# dag ${i}\n`
    const workspace = workspaceWith(files)
    expect(
      (await deploy(workspace, bucket, moto.endpoint, { concurrency: '32' })).outputs.uploaded
    ).toBe('1100')

    const checkout = freshCheckout(workspace)
    writeFileSync(join(checkout, 'dags/team_3/dag_3.py'), '# DAG 3\n')
    const counted = await proxy()
    const result = await deploy(checkout, bucket, counted.url)
    expect(result.outputs).toMatchObject({ uploaded: '1', unchanged: '1099' })
    const calls = counted.requests.map(
      (r) => `${r.method} ${r.url.includes('list-type=2') ? 'list' : r.url.split('?')[0]}`
    )
    // The listing: a first page of 1,000 (teams 0-8 and part of team 9), a delimiter listing
    // after its last key (nothing else at that level), and the rest of team_9/.
    expect(calls.sort()).toEqual([
      'GET /' + bucket + '/dags/.deploy-dags-manifest.json',
      'GET list',
      'GET list',
      'GET list',
      'PUT /' + bucket + '/dags/.deploy-dags-manifest.json',
      'PUT /' + bucket + '/dags/team_3/dag_3.py'
    ])
  })

  it('reports access denied with the permission the role needs', async () => {
    const denied = await proxy({
      intercept: () => ({
        status: 403,
        body: '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
      })
    })
    const result = await deploy(workspaceWith(tree), 'locked-bucket', denied.url)
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      expect.stringContaining('Listing s3://locked-bucket/dags/ failed: access denied')
    ])
    expect(result.errors[0]).toContain('s3:ListBucket')
  })
})

describe('deploy-dags inputs and limits', () => {
  it.each([
    [{ bucket: '' }, 'bucket: is required'],
    [{ bucket: 's3://my-bucket/dags' }, 'bucket: give the bucket name only'],
    [{ concurrency: 'lots' }, "concurrency: must be a whole number from 1 to 64, got 'lots'"],
    [{ sse: 'kms' }, "sse: must be one of AES256, aws:kms, aws:kms:dsse; got 'kms'"],
    [{ 'kms-key-id': 'alias/dags' }, 'kms-key-id: needs sse: aws:kms'],
    [{ exclude: '*.pyc\n[oops' }, "exclude: pattern 2 '[oops' is not valid: unbalanced '['"],
    [{ delete: 'yes' }, "delete: must be true or false, got 'yes'"],
    [{ source: 'dag' }, "source: folder 'dag' does not exist"]
  ])('rejects %j with one clear error before any AWS request', async (inputs, message) => {
    const watched = await proxy()
    const result = await deploy(workspaceWith(tree), 'some-bucket', watched.url, inputs)
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([expect.stringContaining(message)])
    expect(watched.requests).toEqual([])
  })

  it('names a bucket that does not exist', async () => {
    const result = await deploy(workspaceWith(tree), 'no-such-bucket-here', moto.endpoint)
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      expect.stringContaining("bucket 'no-such-bucket-here' does not exist")
    ])
  })

  it('refuses a local file named like its manifest, having written nothing', async () => {
    const bucket = await createBucket(s3)
    const watched = await proxy()
    const workspace = workspaceWith({ ...tree, 'dags/.deploy-dags-manifest.json': '{}' })
    const result = await deploy(workspace, bucket, watched.url)
    expect(result.errors).toEqual([expect.stringContaining('source: ')])
    expect(result.errors[0]).toContain('.deploy-dags-manifest.json')
    // The local checks come before the first request.
    expect(watched.requests).toEqual([])
    expect(await bucketContents(s3, bucket)).toEqual({})
  })

  it('syncs to the bucket root only when prefix is /', async () => {
    const bucket = await createBucket(s3)
    const result = await deploy(workspaceWith(tree), bucket, moto.endpoint, { prefix: '/' })
    expect(result.exitCode).toBe(0)
    expect(result.outputs['s3-uri']).toBe(`s3://${bucket}/`)
    expect(withoutManifest(await bucketContents(s3, bucket))).toEqual({
      'a.py': tree['dags/a.py'],
      'b.py': tree['dags/b.py'],
      '.airflowignore': tree['dags/.airflowignore']
    })
    const unset = await deploy(workspaceWith(tree), bucket, moto.endpoint, { prefix: '' })
    expect(unset.outputs['s3-uri']).toBe(`s3://${bucket}/dags/`)
  })

  it('encrypts with the KMS key it is given', async () => {
    const bucket = await createBucket(s3)
    const result = await deploy(workspaceWith(tree), bucket, moto.endpoint, {
      sse: 'aws:kms',
      'kms-key-id': 'alias/airflow-dags'
    })
    expect(result.errors).toEqual([])
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dags/a.py' }))
    expect(head.ServerSideEncryption).toBe('aws:kms')
    expect(head.SSEKMSKeyId).toContain('alias/airflow-dags')
  })

  it('uploads large files in parts with one checksum type, and recognises them next time', async () => {
    const bucket = await createBucket(s3)
    const watched = await proxy()
    const big = Buffer.alloc(65 * 1024 * 1024 + 3, 'd')
    const workspace = workspaceWith({ 'dags/data/features.parquet': big })
    const result = await deploy(workspace, bucket, watched.url)
    expect(result.errors).toEqual([])
    const create = watched.requests.find((r) => r.method === 'POST' && r.url.includes('?uploads'))
    expect(create?.headers['x-amz-checksum-algorithm']).toBe('CRC32')
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'dags/data/features.parquet' })
    )
    expect(head.ContentLength).toBe(big.length)
    expect(head.ETag).toMatch(/-5"$/)
    const again = await deploy(freshCheckout(workspace), bucket, moto.endpoint)
    expect(again.outputs).toMatchObject({ uploaded: '0', unchanged: '1' })
  })

  it('keeps at most `concurrency` uploads in flight', async () => {
    const bucket = await createBucket(s3)
    // DAG uploads are held in batches of four, each released once all four have arrived: the
    // action fills its four slots, and a fifth upload would be seen while the four are held.
    let batch: (() => void)[] = []
    const slow = await proxy({
      hold: ({ method, url }) => {
        if (method !== 'PUT' || !url.includes('/dags/dag_')) return undefined
        return new Promise<void>((release) => {
          batch.push(release)
          if (batch.length === 4) for (const go of batch.splice(0)) go()
        })
      }
    })
    const files = Object.fromEntries(
      Array.from({ length: 24 }, (_, i) => [`dags/dag_${i}.py`, `# ${i}\n`])
    )
    const result = await runAction({
      action: 'deploy-dags',
      node: node24!.path,
      workspace: workspaceWith(files),
      env: credentials,
      inputs: { bucket, 'endpoint-url': slow.url, concurrency: '4' },
      // Fewer than four uploads at once would leave a batch held: fail with the log, not a hang.
      timeoutMs: 40_000
    })
    expect(result.outputs.uploaded).toBe('24')
    expect(slow.load.maxInFlight).toBe(4)
    batch = []
  })

  it('converges after a run cancelled in the middle of its uploads, having deleted nothing', async () => {
    const bucket = await createBucket(s3)
    for (let i = 0; i < 10; i++) {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: `dags/dag_${i}.py`, Body: `# ${i}\n` })
      )
    }
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/retired.py', Body: 'old' }))
    const files = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`dags/dag_${i}.py`, `# ${i}\n`])
    )
    // Four uploads go through; the fifth is held, and its arrival is the moment to cancel: with
    // two uploads at a time, at least three have finished by then, and the rest never will.
    let puts = 0
    let fifthSeen: () => void = () => undefined
    const midway = new Promise<void>((resolve) => (fifthSeen = resolve))
    const slow = await proxy({
      hold: ({ method }) => {
        if (method !== 'PUT' || ++puts < 5) return undefined
        fifthSeen()
        return new Promise(() => {})
      }
    })
    const cancelled = await runAction({
      action: 'deploy-dags',
      node: node24!.path,
      workspace: workspaceWith(files),
      env: credentials,
      inputs: { bucket, 'endpoint-url': slow.url, concurrency: '2' },
      cancelWhen: midway
    })
    expect(cancelled.status).toBe('cancelled')
    expect(cancelled.exitCode).not.toBe(0)
    const partial = await bucketContents(s3, bucket)
    expect(partial['dags/retired.py']).toBe('old')
    const present = Object.keys(withoutManifest(partial)).length
    expect(present).toBeGreaterThanOrEqual(10 + 1 + 3)
    expect(present).toBeLessThan(31)

    const next = await deploy(workspaceWith(files), bucket, moto.endpoint)
    expect(next.exitCode).toBe(0)
    expect(withoutManifest(await bucketContents(s3, bucket))).toEqual(files)
  })
})
