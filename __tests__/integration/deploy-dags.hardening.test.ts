// What a repository or a bucket holds must not leak from the runner or steer the job: links out of
// the DAG folder, names and keys that would be workflow commands, a forged manifest. The bundled
// action runs as the GitHub runner runs it, against moto_server behind a recording proxy.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client
} from '@aws-sdk/client-s3'
import { createHash } from 'node:crypto'
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { issuedCommands } from '../../test-support/output-guard.mjs'
import type { ProxyHooks } from '../../test-support/proxy.mjs'
import { nodeRuntimes, runAction, type ActionRun } from '../../test-support/runner.mjs'
import {
  createBucket,
  credentials,
  freshCheckout,
  proxyFor,
  removeWorkspaces,
  s3For,
  stopProxies,
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

const path = (url: string) => url.split('?')[0]
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

const tree = {
  'dags/a.py': 'print("a")\n',
  'dags/b.py': 'print("b")\n',
  'dags/.airflowignore': 'helpers/\n'
}

/** Commands other than the ones deploy-dags itself issues (groups, debug, its error, warnings). */
function foreignCommands(run: ActionRun, ownWarnings: RegExp[] = []) {
  return issuedCommands(run.stdout).filter(({ command, message }) => {
    if (['group', 'endgroup', 'debug', 'error'].includes(command)) return false
    if (command === 'warning') return !ownWarnings.some((own) => own.test(message))
    return true
  })
}

/** The keys under the bucket, exactly (the listing is URL-encoded so a CR survives the XML). */
async function liveKeys(bucket: string): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, EncodingType: 'url' }))
  return (page.Contents ?? []).map((item) => decodeURIComponent(item.Key!.replace(/\+/g, ' ')))
}

async function objectText(bucket: string, key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return object.Body!.transformToString('utf-8')
}

describe('symbolic links in the DAG folder', () => {
  it('refuses a link to /proc/self/environ before any request, even with the opt-in', async () => {
    const bucket = await createBucket(s3)
    const workspace = workspaceWith(tree)
    mkdirSync(join(workspace, 'dags', 'conf'))
    symlinkSync('/proc/self/environ', join(workspace, 'dags', 'conf', 'env.txt'))
    for (const inputs of [
      {} as Record<string, string>,
      { 'follow-symlinks-outside-source': 'true' },
      { 'dry-run': 'true' }
    ]) {
      const watched = await proxy()
      const result = await deploy(workspace, bucket, watched.url, inputs)
      expect(result.exitCode).toBe(1)
      expect(result.errors).toEqual([
        expect.stringContaining(
          "source: the symbolic link 'conf/env.txt' points to '/proc/self/environ', which is under /proc"
        )
      ])
      expect(watched.requests).toEqual([])
    }
    expect(await liveKeys(bucket)).toEqual([])
  })

  it('refuses a link out of source unless asked, then deploys what it links in', async () => {
    const bucket = await createBucket(s3)
    const workspace = workspaceWith({ ...tree, 'shared/util.py': 'def util(): ...\n' })
    symlinkSync(join('..', 'shared'), join(workspace, 'dags', 'shared'))
    const watched = await proxy()
    const refused = await deploy(workspace, bucket, watched.url)
    expect(refused.exitCode).toBe(1)
    expect(refused.errors).toEqual([
      expect.stringContaining(
        `symbolic link 'shared' points to '../shared', outside the source folder`
      )
    ])
    expect(refused.errors[0]).toContain('follow-symlinks-outside-source: true')
    expect(watched.requests).toEqual([])

    const allowed = await deploy(workspace, bucket, moto.endpoint, {
      'follow-symlinks-outside-source': 'true'
    })
    expect(allowed.errors).toEqual([])
    expect(allowed.outputs.uploaded).toBe('4')
    expect(await objectText(bucket, 'dags/shared/util.py')).toBe('def util(): ...\n')
  })

  it('refuses a dangling link instead of deploying without the file', async () => {
    const workspace = workspaceWith(tree)
    symlinkSync('moved_away.py', join(workspace, 'dags', 'etl.py'))
    const watched = await proxy()
    const result = await deploy(workspace, 'some-bucket', watched.url)
    expect(result.errors).toEqual([
      expect.stringContaining(
        "symbolic link 'etl.py' points to 'moved_away.py', which does not exist"
      )
    ])
    expect(watched.requests).toEqual([])
  })

  it('skips what exclude keeps out: a virtualenv link, stale bytecode, an odd name', async () => {
    const bucket = await createBucket(s3)
    const workspace = workspaceWith(tree)
    mkdirSync(join(workspace, 'dags', '.venv', 'bin'), { recursive: true })
    symlinkSync('/usr/bin/env', join(workspace, 'dags', '.venv', 'bin', 'python'))
    mkdirSync(join(workspace, 'dags', '__pycache__'))
    symlinkSync('gone.pyc', join(workspace, 'dags', '__pycache__', 'gone.pyc'))
    writeFileSync(join(workspace, 'dags', 'Icon\r'), '')
    const result = await deploy(workspace, bucket, moto.endpoint, {
      exclude: '__pycache__/\n*.pyc\n.venv/\nIcon?'
    })
    expect(result.errors).toEqual([])
    expect(await liveKeys(bucket)).toEqual([
      'dags/.airflowignore',
      'dags/.deploy-dags-manifest.json',
      'dags/a.py',
      'dags/b.py'
    ])
  })

  it('refuses a source folder that is a link out of the workspace unless asked', async () => {
    const bucket = await createBucket(s3)
    const elsewhere = workspaceWith(tree)
    const workspace = workspaceWith({})
    symlinkSync(join(elsewhere, 'dags'), join(workspace, 'dags'))
    const watched = await proxy()
    const refused = await deploy(workspace, bucket, watched.url)
    expect(refused.exitCode).toBe(1)
    expect(refused.errors).toEqual([
      expect.stringContaining(
        `source: 'dags' is really ${realpathSync(join(elsewhere, 'dags'))}, outside the workspace`
      )
    ])
    expect(watched.requests).toEqual([])

    const allowed = await deploy(workspace, bucket, moto.endpoint, {
      'follow-symlinks-outside-source': 'true'
    })
    expect(allowed.errors).toEqual([])
    expect(allowed.outputs.uploaded).toBe('3')
  })

  it('refuses a source folder under /proc even with the opt-in', async () => {
    const workspace = workspaceWith({})
    symlinkSync('/proc/self', join(workspace, 'dags'))
    const watched = await proxy()
    const result = await deploy(workspace, 'some-bucket', watched.url, {
      'follow-symlinks-outside-source': 'true'
    })
    expect(result.errors).toEqual([
      expect.stringMatching(/^source: 'dags' is really \/proc\/\d+, under \/proc/)
    ])
    expect(watched.requests).toEqual([])
  })
})

describe('names that would be workflow commands', () => {
  it.each([
    ['a line feed and ::add-mask::', 'x.py\n::add-mask::dags', 'x.py\\n:\\x3aadd-mask:\\x3adags'],
    ['a carriage return and ::warning::', 'y.py\r::warning::x', 'y.py\\r:\\x3awarning:\\x3ax']
  ])('refuses a file named with %s, naming it escaped', async (_what, name, shown) => {
    const workspace = workspaceWith(tree)
    writeFileSync(join(workspace, 'dags', name), 'print("x")\n')
    for (const inputs of [{}, { 'dry-run': 'true' }] as Record<string, string>[]) {
      const watched = await proxy()
      const result = await deploy(workspace, 'some-bucket', watched.url, inputs)
      expect(result.exitCode).toBe(1)
      expect(result.errors).toEqual([expect.stringContaining(`source: the name of '${shown}'`)])
      expect(foreignCommands(result)).toEqual([])
      expect(result.masks).toEqual([])
      expect(watched.requests).toEqual([])
    }
  })

  it('refuses a name that is not UTF-8, on a file and on a link, before any request', async () => {
    const workspace = workspaceWith(tree)
    const stray = Buffer.concat([
      Buffer.from(join(workspace, 'dags', 'r')),
      Buffer.from([0xe9, 0x73, 0x75, 0x6d, 0xe9, 0x2e, 0x70, 0x79]) // résumé.py in Latin-1
    ])
    writeFileSync(stray, 'x')
    const watched = await proxy()
    const onFile = await deploy(workspace, 'some-bucket', watched.url)
    expect(onFile.errors).toEqual([
      expect.stringContaining("the name of 'r\\xe9sum\\xe9.py' is not valid UTF-8")
    ])

    const linked = workspaceWith(tree)
    symlinkSync(
      join(linked, 'dags', 'a.py'),
      Buffer.concat([Buffer.from(join(linked, 'dags', 'r')), Buffer.from([0xe9, 0x2e, 0x70, 0x79])])
    )
    const onLink = await deploy(linked, 'some-bucket', watched.url)
    expect(onLink.exitCode).toBe(1)
    expect(onLink.errors).toEqual([
      expect.stringContaining("the name of 'r\\xe9.py' is not valid UTF-8")
    ])
    expect(watched.requests).toEqual([])
  })

  it('refuses a prefix holding a line break', async () => {
    const watched = await proxy()
    const result = await deploy(workspaceWith(tree), 'some-bucket', watched.url, {
      prefix: 'dags\n::add-mask::dags'
    })
    expect(result.errors).toEqual([
      expect.stringContaining(
        "prefix: 'dags\\n:\\x3aadd-mask:\\x3adags' (shown escaped) holds a control"
      )
    ])
    expect(foreignCommands(result)).toEqual([])
    expect(watched.requests).toEqual([])
  })
})

describe('object keys that would be workflow commands', () => {
  // moto 5.2.1 routes no key holding a LF (its URL patterns stop at a line break), but stores a
  // CR, which the runner also takes for the end of a line. The LF case is made by rewriting the
  // listing on its way back.
  const hostileKeys = ['dags/x.py\r::add-mask::dags', 'dags/y.py\r::warning::x']
  const shownKeys = ['dags/x.py\\r:\\x3aadd-mask:\\x3adags', 'dags/y.py\\r:\\x3awarning:\\x3ax']

  async function bucketWithHostileKeys(): Promise<string> {
    const bucket = await createBucket(s3)
    for (const key of hostileKeys) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'stale' }))
    }
    return bucket
  }

  it('plans their deletion in a dry run, printed escaped, changing nothing', async () => {
    const bucket = await bucketWithHostileKeys()
    const result = await deploy(workspaceWith(tree), bucket, moto.endpoint, {
      'dry-run': 'true',
      'max-delete-percent': '100'
    })
    expect(result.errors).toEqual([])
    expect(result.outputs.deleted).toBe('2')
    const lines = result.stdout.split(/\r\n|\r|\n/)
    for (const shown of shownKeys) expect(lines).toContain(`- ${shown}`)
    expect(foreignCommands(result)).toEqual([])
    expect(result.masks).toEqual([])
    for (const shown of shownKeys) expect(result.summary).toContain(`- \`${shown}\``)
    expect((await liveKeys(bucket)).filter((key) => hostileKeys.includes(key))).toHaveLength(2)
  })

  it('deletes them, printed escaped, obeying nothing', async () => {
    const bucket = await bucketWithHostileKeys()
    const result = await deploy(workspaceWith(tree), bucket, moto.endpoint, {
      'max-delete-percent': '100'
    })
    expect(result.errors).toEqual([])
    const lines = result.stdout.split(/\r\n|\r|\n/)
    for (const shown of shownKeys) {
      expect(lines).toContain(`- ${shown}`)
      expect(lines).toContain(`deleted ${shown}`)
    }
    expect(foreignCommands(result)).toEqual([])
    expect(result.masks).toEqual([])
    expect(await liveKeys(bucket)).toEqual([
      'dags/.airflowignore',
      'dags/.deploy-dags-manifest.json',
      'dags/a.py',
      'dags/b.py'
    ])
  })

  it('prints a listed key holding a line feed escaped', async () => {
    const bucket = await bucketWithHostileKeys()
    const lineFeeds = await proxy({
      rewrite: (req, res) =>
        req.method === 'GET' && req.url.includes('list-type=2')
          ? { body: Buffer.from(res.body.toString('utf8').replace(/%0D/g, '%0A')) }
          : undefined
    })
    const result = await deploy(workspaceWith(tree), bucket, lineFeeds.url, {
      'dry-run': 'true',
      'max-delete-percent': '100'
    })
    expect(result.errors).toEqual([])
    const lines = result.stdout.split(/\r\n|\r|\n/)
    expect(lines).toContain('- dags/x.py\\n:\\x3aadd-mask:\\x3adags')
    expect(foreignCommands(result)).toEqual([])
    expect(result.masks).toEqual([])
  })

  it('quotes an unreadable manifest escaped in its warning', async () => {
    const bucket = await createBucket(s3)
    // JSON.parse quotes the start of what it could not parse, which a bucket writer chose.
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'dags/.deploy-dags-manifest.json',
        Body: 'oops\n::add-mask::dags'
      })
    )
    const result = await deploy(workspaceWith(tree), bucket, moto.endpoint, { 'dry-run': 'true' })
    expect(result.errors).toEqual([])
    expect(result.warnings).toEqual([expect.stringContaining('"oops\\n:\\x3aadd')])
    expect(result.warnings[0]).toContain(
      'Ignoring the deploy manifest dags/.deploy-dags-manifest.json'
    )
    expect(foreignCommands(result, [/^Ignoring the deploy manifest/])).toEqual([])
    expect(result.masks).toEqual([])
  })

  it('quotes a key S3 refused to delete escaped in the error', async () => {
    const bucket = await bucketWithHostileKeys()
    const refusing = await proxy({
      intercept: ({ method, url }) =>
        method === 'POST' && url.includes('delete')
          ? {
              status: 200,
              body:
                '<?xml version="1.0" encoding="UTF-8"?><DeleteResult><Error>' +
                '<Key>dags/x.py&#13;::add-mask::dags</Key><Code>AccessDenied</Code>' +
                '<Message>Access Denied</Message></Error></DeleteResult>'
            }
          : undefined
    })
    const result = await deploy(workspaceWith(tree), bucket, refusing.url, {
      'max-delete-percent': '100'
    })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      expect.stringContaining('dags/x.py\\r:\\x3aadd-mask:\\x3adags: AccessDenied Access Denied')
    ])
    expect(foreignCommands(result)).toEqual([])
    expect(result.masks).toEqual([])
  })
})

describe('verify against a forged manifest', () => {
  const sha256 = (text: string) => createHash('sha256').update(text).digest('base64')

  it('a normal run trusts the manifest; verify finds the drift and restores the bytes', async () => {
    const bucket = await createBucket(s3)
    const workspace = workspaceWith(tree)
    expect((await deploy(workspace, bucket, moto.endpoint)).outputs.uploaded).toBe('3')

    // Someone with write access to the bucket swaps two DAGs for other bytes of the same size and
    // rewrites the manifest to vouch for the new ETags with the original SHA-256s. One object is
    // written with its true SHA-256 checksum (S3 refuses a wrong one; moto 5.2.1 would accept
    // it, so the test stays with what S3 allows), the other with no SHA-256 at all.
    const forgedA = 'print("X")\n'
    const forgedB = 'print("Y")\n'
    expect(forgedA.length).toBe(tree['dags/a.py'].length)
    const putA = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'dags/a.py',
        Body: forgedA,
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: sha256(forgedA)
      })
    )
    const putB = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'dags/b.py', Body: forgedB })
    )
    const manifestKey = 'dags/.deploy-dags-manifest.json'
    const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKey }))
    const manifest = JSON.parse(
      gunzipSync(await stored.Body!.transformToByteArray()).toString('utf8')
    ) as {
      objects: Record<string, { etag: string }>
    }
    manifest.objects['a.py']!.etag = putA.ETag!.replace(/"/g, '')
    manifest.objects['b.py']!.etag = putB.ETag!.replace(/"/g, '')
    // Written back uncompressed, as earlier versions stored it: still read.
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: manifestKey, Body: JSON.stringify(manifest) })
    )

    // The known limit: without verify, the manifest is believed.
    const checkout = freshCheckout(workspace)
    const normal = await deploy(checkout, bucket, moto.endpoint)
    expect(normal.outputs).toMatchObject({ uploaded: '0', unchanged: '3', drifted: '0' })
    expect(await objectText(bucket, 'dags/a.py')).toBe(forgedA)

    const dryRun = await deploy(checkout, bucket, moto.endpoint, {
      verify: 'true',
      'dry-run': 'true'
    })
    expect(dryRun.errors).toEqual([])
    expect(dryRun.outputs).toMatchObject({ drifted: '2', uploaded: '2', unchanged: '1' })
    expect(dryRun.warnings).toEqual([
      expect.stringContaining(`Drift in s3://${bucket}/dags/a.py: the SHA-256 checksum S3 stored`),
      expect.stringContaining(`Drift in s3://${bucket}/dags/b.py: its bytes are not the file's`)
    ])
    expect(dryRun.summary).toContain('| Drifted (verify) | 2 | |')
    expect(await objectText(bucket, 'dags/a.py')).toBe(forgedA)
    expect(await objectText(bucket, 'dags/b.py')).toBe(forgedB)

    const watched = await proxy()
    const verified = await deploy(checkout, bucket, watched.url, { verify: 'true' })
    expect(verified.errors).toEqual([])
    expect(verified.outputs).toMatchObject({ drifted: '2', uploaded: '2', unchanged: '1' })
    expect(verified.stdout.split('\n')).toContain('uploaded dags/a.py (drift)')
    expect(await objectText(bucket, 'dags/a.py')).toBe(tree['dags/a.py'])
    expect(await objectText(bucket, 'dags/b.py')).toBe(tree['dags/b.py'])
    // One HeadObject per object the plan left unchanged, and a read of the one with no SHA-256.
    const heads = watched.requests.filter((r) => r.method === 'HEAD').map((r) => path(r.url))
    expect(heads.sort()).toEqual([
      `/${bucket}/dags/.airflowignore`,
      `/${bucket}/dags/a.py`,
      `/${bucket}/dags/b.py`
    ])
    expect(
      watched.requests.filter((r) => r.method === 'GET' && path(r.url) === `/${bucket}/dags/b.py`)
    ).toHaveLength(1)

    // Restored: the next verify finds nothing and uploads nothing.
    const again = await deploy(freshCheckout(checkout), bucket, moto.endpoint, { verify: 'true' })
    expect(again.outputs).toMatchObject({ drifted: '0', uploaded: '0', unchanged: '3' })
    expect(again.warnings).toEqual([])
  })

  it('reads an object with no SHA-256 checksum instead of uploading it again when it is intact', async () => {
    const bucket = await createBucket(s3)
    // As another tool (aws s3 sync) leaves it: no SHA-256 stored, ETag the MD5 of the content.
    for (const [key, body] of Object.entries(tree)) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))
    }
    const watched = await proxy()
    const result = await deploy(workspaceWith(tree), bucket, watched.url, { verify: 'true' })
    expect(result.errors).toEqual([])
    expect(result.outputs).toMatchObject({ drifted: '0', uploaded: '0', unchanged: '3' })
    expect(watched.requests.filter((r) => r.method === 'PUT').map((r) => path(r.url))).toEqual([
      `/${bucket}/dags/.deploy-dags-manifest.json`
    ])
  })
})
