// The worker-refresh document's script (infra/worker/sync-dags.sh), run with bash and the AWS CLI
// against a real moto_server, into a temporary folder standing in for a worker's DAG folder. The
// bucket is filled by the bundled deploy-dags action, as a deploy would.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { parseSyncReport } from '../../src/refresh-workers/sync-report.js'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import {
  createBucket,
  deployDagFiles,
  deployedTree,
  manifestOfNothing,
  proxyFor,
  removeWorkspaces,
  requireAwsCli,
  s3For,
  stopProxies,
  workerEnv,
  filesUnder
} from './helpers.js'

const script = join(process.cwd(), 'infra/worker/sync-dags.sh')

interface SyncRun {
  code: number | null
  stdout: string
  stderr: string
  result?: {
    downloaded: number
    deleted: number
    unchanged: number
    failed: number
    failedKeys: string[]
    hashes: Record<string, string | null>
    tree: { files: number; sha256: string }
  }
}

let moto: Moto
let s3: S3Client
const folders: string[] = []
beforeAll(async () => {
  requireAwsCli()
  moto = await startMoto()
  s3 = s3For(moto.endpoint)
})
afterAll(async () => {
  removeWorkspaces()
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
  await stopProxies()
  s3?.destroy()
  await moto?.stop()
})

function workerFolder(): string {
  const root = mkdtempSync(join(tmpdir(), 'worker-'))
  folders.push(root)
  return join(root, 'dags')
}

function syncEnv(bucket: string, folder: string, extra: Record<string, string> = {}) {
  return workerEnv(moto.endpoint, {
    SYNC_BUCKET: bucket,
    SYNC_PREFIX: 'dags',
    SYNC_DAG_FOLDER: folder,
    ...extra
  })
}

function parse(stdout: string, stderr: string, code: number | null): SyncRun {
  const line = stdout.split('\n').find((text) => text.startsWith('SYNC-RESULT '))
  return {
    code,
    stdout,
    stderr,
    result: line === undefined ? undefined : JSON.parse(line.slice('SYNC-RESULT '.length))
  }
}

function sync(bucket: string, folder: string, extra: Record<string, string> = {}): SyncRun {
  const run = spawnSync('bash', [script], {
    env: syncEnv(bucket, folder, extra),
    encoding: 'utf8',
    timeout: 120_000
  })
  return parse(run.stdout, run.stderr, run.status)
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

const dagTree = {
  'etl_daily.py': 'from airflow import DAG\n# daily v1\n',
  '.airflowignore': 'helpers/\n',
  'helpers/common.py': 'def helper():\n    return 1\n',
  'sql/deep/load.sql': 'insert into t select 1;\n',
  'reports/q1 summary+draft.sql': 'select 2;\n',
  'reports/ünïcode_dag.py': '# ünïcode\n'
}

const deploy = (bucket: string, files: Record<string, string>, prefix = 'dags') =>
  deployDagFiles(moto.endpoint, bucket, files, { prefix })

const staleTemporaries = (folder: string) =>
  Object.keys(filesUnder(folder)).filter((path) => /(^|\/)\.sync-dags\.[^/]*\.tmp$/.test(path))

describe('the worker sync script', () => {
  it('converges adds, nested folders, same-size edits and deletes by content, and reports hashes', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    await deploy(bucket, dagTree)

    const first = sync(bucket, folder, {
      SYNC_REPORT_PATHS: 'etl_daily.py\nsql/deep/load.sql\nmissing.py'
    })
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(filesUnder(folder)).toEqual(dagTree)
    expect(first.result).toEqual({
      downloaded: 6,
      deleted: 0,
      unchanged: 0,
      failed: 0,
      failedKeys: [],
      hashes: {
        'etl_daily.py': sha256(dagTree['etl_daily.py']),
        'sql/deep/load.sql': sha256(dagTree['sql/deep/load.sql']),
        'missing.py': null
      },
      // The worker's digest of its folder is the one the function computes from the manifest.
      tree: await deployedTree(s3, bucket)
    })

    // A same-size edit, with the worker's copy made newer than the object: content decides.
    const edited = { ...dagTree, 'etl_daily.py': 'from airflow import DAG\n# daily v2\n' }
    expect(edited['etl_daily.py'].length).toBe(dagTree['etl_daily.py'].length)
    await deploy(bucket, edited)
    const future = new Date(Date.now() + 3_600_000)
    utimesSync(join(folder, 'etl_daily.py'), future, future)
    const before = statSync(join(folder, 'helpers/common.py'))
    const second = sync(bucket, folder, { SYNC_REPORT_PATHS: 'etl_daily.py' })
    expect(second.code).toBe(0)
    expect(filesUnder(folder)).toEqual(edited)
    expect(second.result).toMatchObject({ downloaded: 1, deleted: 0, unchanged: 5 })
    expect(second.result?.hashes).toEqual({ 'etl_daily.py': sha256(edited['etl_daily.py']) })
    expect(second.result?.tree).toEqual(await deployedTree(s3, bucket))
    expect(second.result?.tree).not.toEqual(first.result?.tree)
    const after = statSync(join(folder, 'helpers/common.py'))
    expect({ ino: after.ino, mtime: after.mtimeMs }).toEqual({
      ino: before.ino,
      mtime: before.mtimeMs
    })

    // A delete; the folder it empties goes too.
    const smaller: Record<string, string> = { ...edited }
    delete smaller['sql/deep/load.sql']
    await deploy(bucket, smaller)
    const third = sync(bucket, folder, { SYNC_REPORT_PATHS: 'sql/deep/load.sql\netl_daily.py' })
    expect(third.code).toBe(0)
    expect(filesUnder(folder)).toEqual(smaller)
    expect(readdirSync(folder)).not.toContain('sql')
    expect(third.result).toMatchObject({ downloaded: 0, deleted: 1, unchanged: 5 })
    expect(third.result?.hashes).toEqual({
      'sql/deep/load.sql': null,
      'etl_daily.py': sha256(edited['etl_daily.py'])
    })
    // The refresh function reads the same line into what it verifies against the manifest.
    expect(parseSyncReport(third.stdout)).toMatchObject({
      deleted: 1,
      hashes: new Map([
        ['etl_daily.py', sha256(edited['etl_daily.py'])],
        ['sql/deep/load.sql', null]
      ])
    })

    expect(third.result?.tree).toEqual(await deployedTree(s3, bucket))

    // Files the deploy never wrote are removed; a rerun changes nothing.
    writeFileSync(join(folder, 'stray.py'), 'print(1)\n')
    expect(sync(bucket, folder).result).toMatchObject({ downloaded: 0, deleted: 1 })
    expect(sync(bucket, folder).result).toMatchObject({ downloaded: 0, deleted: 0, unchanged: 5 })
    expect(filesUnder(folder)).toEqual(smaller)
  })

  it('changes nothing where the prefix has no manifest: a wrong prefix must not empty the folder', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    mkdirSync(folder, { recursive: true })
    writeFileSync(join(folder, 'running_dag.py'), 'x = 1\n')
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/a.py', Body: 'a = 1\n' }))
    const run = sync(bucket, folder)
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split('\n')).toEqual([
      `sync-dags: no manifest at s3://${bucket}/dags/.deploy-dags-manifest.json (there is none); nothing was changed: deploy the DAGs with deploy-dags first`
    ])
    expect(run.result).toBeUndefined()
    expect(filesUnder(folder)).toEqual({ 'running_dag.py': 'x = 1\n' })
  })

  it('reads a manifest stored as plain JSON, and changes nothing over a damaged compressed one', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    await deploy(bucket, { 'a.py': 'a = 1\n' })
    const key = 'dags/.deploy-dags-manifest.json'
    const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    const compressed = Buffer.from(await stored.Body!.transformToByteArray())
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: gunzipSync(compressed) }))
    expect(sync(bucket, folder).result).toMatchObject({ downloaded: 1 })

    writeFileSync(join(folder, 'a.py'), 'changed = 1\n')
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: compressed.subarray(0, 30) })
    )
    const run = sync(bucket, folder)
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('(it is not a manifest); nothing was changed')
    expect(filesUnder(folder)).toEqual({ 'a.py': 'changed = 1\n' })
  })

  it('takes an object the manifest does not know, compared by content, but then fails: the folder is not the deployed tree', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    await deploy(bucket, { 'a.py': 'a = 1\n' })
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/extra.py', Body: 'e = 1\n' }))
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/sub/', Body: '' }))
    const first = sync(bucket, folder)
    expect(first.code).toBe(1)
    expect(first.stderr.trim()).toBe(
      'sync-dags: the DAG folder is not the deployed tree: 2 files, the manifest 1, and their digest differs (an object in the prefix that deploy-dags did not write, or one recorded but gone)'
    )
    expect(filesUnder(folder)).toEqual({ 'a.py': 'a = 1\n', 'extra.py': 'e = 1\n' })
    const before = statSync(join(folder, 'extra.py'))
    const second = sync(bucket, folder)
    expect(second.result).toMatchObject({ downloaded: 0, unchanged: 2 })
    expect(statSync(join(folder, 'extra.py')).ino).toBe(before.ino)
  })

  it('syncs the bucket root, and fails in one line on bad settings or a missing bucket', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    await deploy(bucket, { 'root.py': 'r\n', 'sub/nested.py': 'n\n' }, '/')
    const root = sync(bucket, folder, { SYNC_PREFIX: '' })
    expect(root.code).toBe(0)
    expect(filesUnder(folder)).toEqual({ 'root.py': 'r\n', 'sub/nested.py': 'n\n' })

    const oneLine = (run: SyncRun) => run.stderr.trim().split('\n')
    expect(oneLine(sync(bucket, 'relative/dags'))).toEqual([
      'sync-dags: SYNC_DAG_FOLDER must be an absolute path'
    ])
    expect(oneLine(sync(bucket, folder, { SYNC_PREFIX: 'dags/' }))).toEqual([
      "sync-dags: SYNC_PREFIX must be '' for the bucket root, or a folder without leading or trailing /"
    ])
    const missing = sync(`${bucket}-missing`, folder, { SYNC_PREFIX: '' })
    expect(missing.code).toBe(1)
    expect(oneLine(missing)).toHaveLength(1)
    expect(missing.stderr).toMatch(
      /^sync-dags: cannot list s3:\/\/worker-.*-missing\/: .*NoSuchBucket/
    )
    // Nothing was removed because the listing failed.
    expect(filesUnder(folder)).toEqual({ 'root.py': 'r\n', 'sub/nested.py': 'n\n' })
  })

  it('caps the lines per file so that the result line stays within what SSM returns', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    await deploy(
      bucket,
      Object.fromEntries(Array.from({ length: 130 }, (_, n) => [`many/dag_${n}.py`, `${n}\n`]))
    )
    const run = sync(bucket, folder)
    expect(run.code).toBe(0)
    const lines = run.stdout.trim().split('\n')
    expect(lines.filter((line) => line.startsWith('downloaded '))).toHaveLength(100)
    expect(lines.slice(-3)).toEqual([
      '... and 30 more lines like these',
      '130 downloaded, 0 deleted, 0 unchanged, 0 failed',
      expect.stringMatching(/^SYNC-RESULT \{"deleted": 0, "downloaded": 130, /)
    ])
    expect(Object.keys(filesUnder(folder))).toHaveLength(130)
  })

  it('caps the lines per file by characters too: long names cannot push the result line out', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    const long = (n: number) => `${'long_dag_name_'.repeat(17)}${n}.py`
    await deploy(
      bucket,
      Object.fromEntries(Array.from({ length: 40 }, (_, n) => [long(n), `${n}\n`]))
    )
    const run = sync(bucket, folder)
    expect(run.code).toBe(0)
    const lines = run.stdout.trim().split('\n')
    const shown = lines.filter((line) => line.startsWith('downloaded '))
    expect(shown.length).toBeLessThan(40)
    expect(shown.join('\n').length).toBeLessThanOrEqual(8000)
    expect(lines.slice(-3, -1)).toEqual([
      `... and ${40 - shown.length} more lines like these`,
      '40 downloaded, 0 deleted, 0 unchanged, 0 failed'
    ])
  })

  it('fails naming a tampered object and leaves the old file in place', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    await deploy(bucket, dagTree)
    expect(sync(bucket, folder).code).toBe(0)
    // The next deploy's manifest names new bytes; the object then holds others.
    await deploy(bucket, { ...dagTree, 'etl_daily.py': '# v2\n' })
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'dags/etl_daily.py', Body: 'import evil\n' })
    )
    const run = sync(bucket, folder)
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split('\n')).toEqual([
      'sync-dags: 1 key(s) not synced, the first "dags/etl_daily.py"'
    ])
    expect(run.stdout).toContain('failed "dags/etl_daily.py": its bytes differ from the SHA-256')
    expect(run.result).toMatchObject({ failed: 1, failedKeys: ['dags/etl_daily.py'] })
    expect(filesUnder(folder)).toEqual(dagTree)
  })

  it('refuses keys that are unsafe as paths, naming them escaped, and syncs the rest', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    await manifestOfNothing(s3, bucket)
    for (const key of ['dags/ok.py', 'dags/bad\tname.py', 'dags/a//b.py', 'dags/../up.py'])
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x = 1\n' }))
    const run = sync(bucket, folder)
    expect(run.code).toBe(1)
    expect(run.stdout).toContain(
      'refused the key "dags/bad\\tname.py": it holds a control character'
    )
    expect(run.stdout).toContain('refused the key "dags/a//b.py"')
    expect(run.stdout).toContain('refused the key "dags/../up.py"')
    expect(run.stderr).toContain('3 key(s) not synced')
    expect(filesUnder(folder)).toEqual({ 'ok.py': 'x = 1\n' })
  })

  it('never writes through a link in the DAG folder that leads outside it', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    const outside = join(dirname(folder), 'outside')
    mkdirSync(outside)
    mkdirSync(folder)
    symlinkSync(outside, join(folder, 'linked'))
    await manifestOfNothing(s3, bucket)
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/linked/x.py', Body: 'x\n' }))
    const run = sync(bucket, folder)
    expect(run.code).toBe(1)
    expect(run.stdout).toContain(
      'failed "dags/linked/x.py": its folder leads outside the DAG folder'
    )
    expect(readdirSync(outside)).toEqual([])
  })

  it('converges after a run killed mid-download, leaving no temporary file', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    await deploy(bucket, dagTree)
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    let seen = () => {}
    const held = new Promise<void>((resolve) => (seen = resolve))
    const proxy = await proxyFor(moto.endpoint, {
      hold: ({ method, url }) => {
        if (method !== 'GET' || !url.includes('reports/')) return undefined
        seen()
        return released
      }
    })
    const child = spawn('bash', [script], {
      env: syncEnv(bucket, folder, { SYNC_ENDPOINT_URL: proxy.url }),
      detached: true,
      stdio: 'ignore'
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    await held
    process.kill(-(child.pid as number), 'SIGKILL')
    await exited
    release()
    // Downloads land in the scratch folder beside the DAG folder: nothing of them is in it yet.
    const scratch = join(dirname(folder), '.dags.sync-dags.scratch')
    expect(existsSync(scratch)).toBe(true)
    expect(filesUnder(folder)).toEqual({})
    // A run killed while moving files in leaves a temporary file in the folder.
    mkdirSync(join(folder, 'sql'), { recursive: true })
    writeFileSync(join(folder, 'sql', '.sync-dags.k1ll3d.tmp'), 'insert into')

    const rerun = sync(bucket, folder)
    expect(rerun.code).toBe(0)
    expect(rerun.stdout).toContain('removed the stale temporary file "sql/.sync-dags.k1ll3d.tmp"')
    expect(existsSync(scratch)).toBe(false)
    // Left-overs are cleared, not counted as deletes of DAG files.
    expect(rerun.result).toMatchObject({ deleted: 0, failed: 0 })
    expect(staleTemporaries(folder)).toEqual([])
    expect(filesUnder(folder)).toEqual(dagTree)
  })

  it('lets two runs on one worker take turns, both converging', async () => {
    const bucket = await createBucket(s3, 'worker')
    const folder = workerFolder()
    await deploy(bucket, dagTree)
    const runOne = () =>
      new Promise<SyncRun>((resolve) => {
        const child = spawn('bash', [script], { env: syncEnv(bucket, folder) })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
        child.once('close', (code) => resolve(parse(stdout, stderr, code)))
      })
    const [one, two] = await Promise.all([runOne(), runOne()])
    expect([one.code, two.code]).toEqual([0, 0])
    expect((one.result?.downloaded ?? 0) + (two.result?.downloaded ?? 0)).toBe(6)
    expect(filesUnder(folder)).toEqual(dagTree)
    expect(staleTemporaries(folder)).toEqual([])
  })
})
