// The refresh function's EFS mode (convergeFolder) against a real moto_server, into temporary
// folders standing in for the mounted DAG folder. The bucket is filled by the bundled deploy-dags
// action, as a deploy would; the worker sync script (infra/worker/sync-dags.sh) run on the same
// prefix is the reference the function's folder must equal, byte for byte and digest for digest.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { convergeFolder, type ConvergeOptions } from '../../src/refresh-workers/efs.js'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import {
  createBucket,
  deployDagFiles,
  deployedTree,
  manifestOfNothing,
  removeWorkspaces,
  requireAwsCli,
  s3For,
  stopProxies,
  workerEnv
} from './helpers.js'

const script = join(process.cwd(), 'infra/worker/sync-dags.sh')

let moto: Moto
let s3: S3Client
const roots: string[] = []
beforeAll(async () => {
  // The parity checks run the worker sync script.
  requireAwsCli()
  moto = await startMoto()
  s3 = s3For(moto.endpoint)
})
afterAll(async () => {
  removeWorkspaces()
  for (const root of roots) rmSync(root, { recursive: true, force: true })
  await stopProxies()
  s3?.destroy()
  await moto?.stop()
})

/** A mount point with its DAG folder (not created: the sync makes it) and a sibling outside it. */
function efsMount(): { folder: string; outside: string } {
  const root = mkdtempSync(join(tmpdir(), 'efs-'))
  roots.push(root)
  return { folder: join(root, 'dags'), outside: join(root, 'outside') }
}

const converge = (
  bucket: string,
  folder: string,
  extra: Partial<ConvergeOptions> = {}
): ReturnType<typeof convergeFolder> =>
  convergeFolder({ s3, bucket, prefix: 'dags', folder, reportPaths: [], ...extra })

interface Entry {
  kind: 'file' | 'link'
  /** A file's SHA-256, a link's target. */
  content: string
  mode?: number
}

/** Every entry under `root` but folders: files with SHA-256 and mode, links with their target. */
function entries(root: string): Record<string, Entry> {
  const found: Record<string, Entry> = {}
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.isSymbolicLink())
        found[relative(root, full)] = { kind: 'link', content: readlinkSync(full) }
      else
        found[relative(root, full)] = {
          kind: 'file',
          content: createHash('sha256').update(readFileSync(full)).digest('hex'),
          mode: statSync(full).mode
        }
    }
  }
  walk(root)
  return found
}

/** Every entry under `root` but folders, path -> content (a link's target). */
function tree(root: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(entries(root)).map(([path, entry]) => [
      path,
      entry.kind === 'link' ? `-> ${entry.content}` : readFileSync(join(root, path), 'utf8')
    ])
  )
}

const folders = (root: string): string[] =>
  readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort()

const temporaries = (root: string) =>
  Object.keys(entries(root)).filter((path) => /(^|\/)\.sync-dags\.[^/]*\.tmp$/.test(path))

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

const dagTree = {
  'etl_daily.py': 'from airflow import DAG\n# daily v1\n',
  '.airflowignore': 'helpers/\n',
  'helpers/common.py': 'def helper():\n    return 1\n',
  'sql/deep/load.sql': 'insert into t select 1;\n',
  'reports/q1 summary+draft.sql': 'select 2;\n',
  'reports/ünïcode_dag.py': '# ünïcode\n'
}

const deploy = (
  bucket: string,
  files: Record<string, string>,
  inputs: Record<string, string> = {}
) => deployDagFiles(moto.endpoint, bucket, files, inputs)

function scriptEnv(bucket: string, folder: string, endpoint: string, reportPaths = '') {
  return workerEnv(endpoint, {
    SYNC_BUCKET: bucket,
    SYNC_PREFIX: 'dags',
    SYNC_DAG_FOLDER: folder,
    SYNC_REPORT_PATHS: reportPaths
  })
}

describe('convergeFolder (EFS mode)', () => {
  it('converges adds, nested folders, same-size edits, deletes and strays by content, and reports hashes', async () => {
    const bucket = await createBucket(s3, 'efs')
    const { folder } = efsMount()
    await deploy(bucket, dagTree)

    const first = await converge(bucket, folder, {
      // A path that is not one below the folder is never looked up.
      reportPaths: ['etl_daily.py', 'sql/deep/load.sql', 'missing.py', '../dags/etl_daily.py']
    })
    expect(first.ok).toBe(true)
    expect(first.reason).toBeUndefined()
    expect(tree(folder)).toEqual(dagTree)
    expect(first.report).toEqual({
      downloaded: 6,
      deleted: 0,
      unchanged: 0,
      failed: 0,
      failedKeys: [],
      hashes: new Map([
        ['etl_daily.py', sha256(dagTree['etl_daily.py'])],
        ['sql/deep/load.sql', sha256(dagTree['sql/deep/load.sql'])],
        ['missing.py', null],
        ['../dags/etl_daily.py', null]
      ]),
      tree: await deployedTree(s3, bucket)
    })
    expect(first.output).toContain('downloaded "reports/ünïcode_dag.py"')
    expect(first.output.split('\n').at(-1)).toBe('6 downloaded, 0 deleted, 0 unchanged, 0 failed')

    // A same-size edit, with the local copy made newer than the object: content decides.
    const edited = { ...dagTree, 'etl_daily.py': 'from airflow import DAG\n# daily v2\n' }
    expect(edited['etl_daily.py'].length).toBe(dagTree['etl_daily.py'].length)
    await deploy(bucket, edited)
    const future = new Date(Date.now() + 3_600_000)
    utimesSync(join(folder, 'etl_daily.py'), future, future)
    const before = statSync(join(folder, 'helpers/common.py'))
    const second = await converge(bucket, folder, { reportPaths: ['etl_daily.py'] })
    expect(second.ok).toBe(true)
    expect(tree(folder)).toEqual(edited)
    expect(second.report).toMatchObject({ downloaded: 1, deleted: 0, unchanged: 5 })
    expect(second.report.hashes).toEqual(
      new Map([['etl_daily.py', sha256(edited['etl_daily.py'])]])
    )
    expect(second.report.tree).toEqual(await deployedTree(s3, bucket))
    expect(second.report.tree).not.toEqual(first.report.tree)
    const after = statSync(join(folder, 'helpers/common.py'))
    expect({ ino: after.ino, mtime: after.mtimeMs }).toEqual({
      ino: before.ino,
      mtime: before.mtimeMs
    })

    // A delete; the folders it empties go too.
    const smaller: Record<string, string> = { ...edited }
    delete smaller['sql/deep/load.sql']
    await deploy(bucket, smaller)
    const third = await converge(bucket, folder, {
      reportPaths: ['sql/deep/load.sql', 'etl_daily.py']
    })
    expect(third.ok).toBe(true)
    expect(tree(folder)).toEqual(smaller)
    expect(folders(folder)).toEqual(['helpers', 'reports'])
    expect(third.report).toMatchObject({ downloaded: 0, deleted: 1, unchanged: 5 })
    expect(third.report.hashes).toEqual(
      new Map([
        ['sql/deep/load.sql', null],
        ['etl_daily.py', sha256(edited['etl_daily.py'])]
      ])
    )
    expect(third.report.tree).toEqual(await deployedTree(s3, bucket))

    // Files the deploy never wrote are removed with their folders; a rerun changes nothing.
    writeFileSync(join(folder, 'stray.py'), 'print(1)\n')
    mkdirSync(join(folder, 'old/empty'), { recursive: true })
    writeFileSync(join(folder, 'old/gone.py'), 'print(2)\n')
    const strays = await converge(bucket, folder)
    expect(strays.report).toMatchObject({ downloaded: 0, deleted: 2, unchanged: 5 })
    expect(strays.output).toContain('deleted "old/gone.py"')
    expect(folders(folder)).toEqual(['helpers', 'reports'])
    const rerun = await converge(bucket, folder)
    expect(rerun.report).toMatchObject({ downloaded: 0, deleted: 0, unchanged: 5, failed: 0 })
    expect(tree(folder)).toEqual(smaller)
  })

  it('leaves the same folder, digest and report as the worker sync script, from the same mess', async () => {
    const bucket = await createBucket(s3, 'efs')
    await deploy(bucket, { ...dagTree, 'etl_daily.py': '# v0\n', 'old.py': 'old\n' })
    await deploy(bucket, dagTree)
    const reportPaths = ['etl_daily.py', 'old.py', 'reports/q1 summary+draft.sql']
    const mess = (folder: string) => {
      mkdirSync(join(folder, 'helpers'), { recursive: true })
      writeFileSync(join(folder, 'etl_daily.py'), '# v0\n')
      writeFileSync(join(folder, 'old.py'), 'old\n')
      writeFileSync(join(folder, 'helpers/common.py'), dagTree['helpers/common.py'])
      writeFileSync(join(folder, 'helpers/.sync-dags.k1ll3d.tmp'), 'half')
      mkdirSync(join(folder, 'stray/deeper'), { recursive: true })
      writeFileSync(join(folder, 'stray/deeper/s.py'), 's\n')
      // A name that is not UTF-8, and a link: both are strays like any other.
      writeFileSync(Buffer.from(`${folder}/f\xff.py`, 'latin1'), 'f\n')
      symlinkSync(join(folder, 'old.py'), join(folder, 'stray-link.py'))
    }
    const ours = efsMount().folder
    const theirs = efsMount().folder
    mess(ours)
    mess(theirs)

    // Two keys a page, so the function reads its listing over several pages.
    const paged = s3For(moto.endpoint)
    paged.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { EncodingType?: string; MaxKeys?: number }
        if (input.EncodingType === 'url') input.MaxKeys = 2
        return next(args)
      },
      { step: 'initialize' }
    )
    const outcome = await convergeFolder({
      s3: paged,
      bucket,
      prefix: 'dags',
      folder: ours,
      reportPaths
    })
    paged.destroy()
    const run = spawnSync('bash', [script], {
      env: scriptEnv(bucket, theirs, moto.endpoint, reportPaths.join('\n')),
      encoding: 'utf8',
      timeout: 30_000
    })
    expect(run.stderr).toBe('')
    const line = run.stdout.split('\n').find((text) => text.startsWith('SYNC-RESULT '))
    const result = JSON.parse(line?.slice('SYNC-RESULT '.length) ?? 'null')

    expect(outcome.ok).toBe(true)
    const deployed = await deployedTree(s3, bucket)
    expect(outcome.report.tree).toEqual(deployed)
    expect(result.tree).toEqual(deployed)
    expect(tree(ours)).toEqual(dagTree)
    expect(entries(ours)).toEqual(entries(theirs))
    expect(folders(ours)).toEqual(folders(theirs))
    expect({ ...outcome.report, hashes: Object.fromEntries(outcome.report.hashes) }).toEqual(result)
    expect(outcome.report).toMatchObject({ downloaded: 5, deleted: 4, unchanged: 1 })
    expect(outcome.output).toContain('deleted "f\\xff.py"')
    expect(outcome.output).toContain(
      'removed the stale temporary file "helpers/.sync-dags.k1ll3d.tmp"'
    )
  })

  it('converges after an interrupted run, clearing its temporary files', async () => {
    const bucket = await createBucket(s3, 'efs')
    const { folder } = efsMount()
    await deploy(bucket, dagTree)
    // What a run killed while moving files in leaves: some files in place, temporary files
    // beside others.
    mkdirSync(join(folder, 'reports'), { recursive: true })
    for (const path of ['etl_daily.py', '.airflowignore', 'helpers/common.py']) {
      mkdirSync(dirname(join(folder, path)), { recursive: true })
      writeFileSync(join(folder, path), dagTree[path as keyof typeof dagTree])
    }
    writeFileSync(join(folder, 'reports', '.sync-dags.h4lf.tmp'), 'select')
    mkdirSync(join(folder, 'sql/deep'), { recursive: true })
    writeFileSync(join(folder, 'sql/deep/.sync-dags.0ld.tmp'), 'insert')
    const half = tree(folder)
    expect(temporaries(folder).length).toBeGreaterThan(1)
    expect(half['etl_daily.py']).toBe(dagTree['etl_daily.py'])
    expect(half['reports/ünïcode_dag.py']).toBeUndefined()

    const rerun = await converge(bucket, folder)
    expect(rerun.ok).toBe(true)
    expect(rerun.output).toContain('removed the stale temporary file "sql/deep/.sync-dags.0ld.tmp"')
    // Left-overs are cleared, not counted as deletes of DAG files.
    expect(rerun.report).toMatchObject({ deleted: 0, failed: 0, unchanged: 3, downloaded: 3 })
    expect(temporaries(folder)).toEqual([])
    expect(tree(folder)).toEqual(dagTree)
    expect(rerun.report.tree).toEqual(await deployedTree(s3, bucket))
  })

  it('refuses a tampered object, keeping the old file, and names it in one line', async () => {
    const bucket = await createBucket(s3, 'efs')
    const { folder } = efsMount()
    await deploy(bucket, dagTree)
    expect((await converge(bucket, folder)).ok).toBe(true)
    // The next deploy's manifest names new bytes; the object then holds others.
    await deploy(bucket, { ...dagTree, 'etl_daily.py': '# v2\n' })
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'dags/etl_daily.py', Body: 'import evil\n' })
    )
    const run = await converge(bucket, folder, { reportPaths: ['etl_daily.py'] })
    expect(run.ok).toBe(false)
    expect(run.reason).toBe('1 key(s) not synced, the first "dags/etl_daily.py"')
    expect(run.output).toContain(
      'failed "dags/etl_daily.py": its bytes differ from the SHA-256 the manifest recorded'
    )
    expect(run.report).toMatchObject({ failed: 1, failedKeys: ['dags/etl_daily.py'] })
    expect(run.report.hashes.get('etl_daily.py')).toBe(sha256(dagTree['etl_daily.py']))
    expect(tree(folder)).toEqual(dagTree)
    expect(run.report.tree).not.toEqual(await deployedTree(s3, bucket))
  })

  it('changes nothing without a manifest; downloads and compares objects the manifest does not know', async () => {
    const bucket = await createBucket(s3, 'efs')
    const { folder } = efsMount()
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/a.py', Body: 'a = 1\n' }))
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'dags/sub/', Body: new Uint8Array(0) })
    )
    // Without a manifest, nothing is changed: a wrong prefix must not empty the folder.
    mkdirSync(folder, { recursive: true })
    writeFileSync(join(folder, 'a.py'), 'a = 1\n')
    writeFileSync(join(folder, 'running_dag.py'), 'x = 1\n')
    const first = await converge(bucket, folder)
    expect(first.ok).toBe(false)
    expect(first.reason).toBe(
      `no manifest at s3://${bucket}/dags/.deploy-dags-manifest.json (there is none, or it is not readable); nothing was changed: deploy the DAGs with deploy-dags first`
    )
    expect(tree(folder)).toEqual({ 'a.py': 'a = 1\n', 'running_dag.py': 'x = 1\n' })
    rmSync(join(folder, 'running_dag.py'))

    // With a manifest that does not list it, the same: downloaded, compared, left as it is.
    await deploy(bucket, { 'b.py': 'b = 2\n' }, { 'max-delete-percent': '100' })
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/a.py', Body: 'a = 1\n' }))
    const before = statSync(join(folder, 'a.py'))
    const second = await converge(bucket, folder)
    expect(second.ok).toBe(true)
    expect(second.output).not.toContain('manifest')
    expect(second.report).toMatchObject({ downloaded: 1, unchanged: 1, deleted: 0 })
    expect(tree(folder)).toEqual({ 'a.py': 'a = 1\n', 'b.py': 'b = 2\n' })
    const after = statSync(join(folder, 'a.py'))
    expect({ ino: after.ino, mtime: after.mtimeMs }).toEqual({
      ino: before.ino,
      mtime: before.mtimeMs
    })
  })

  it('never writes through a link that leads outside, refuses unsafe keys and gets past a folder in the way', async () => {
    const bucket = await createBucket(s3, 'efs')
    const { folder, outside } = efsMount()
    mkdirSync(join(outside, 'sub'), { recursive: true })
    writeFileSync(join(outside, 'target.py'), 'outside\n')
    mkdirSync(folder)
    symlinkSync(outside, join(folder, 'linked'))
    symlinkSync(join(outside, 'target.py'), join(folder, 'file-link.py'))
    mkdirSync(join(folder, 'in-the-way.py'))
    writeFileSync(join(folder, 'in-the-way.py/old.py'), 'old\n')
    const keys = [
      'dags/linked/x.py',
      'dags/linked/sub/deeper/y.py',
      'dags/file-link.py',
      'dags/in-the-way.py',
      'dags/bad\tname.py',
      // A CR comes back as a LF unless the listing is URL-encoded.
      'dags/cr\r.py',
      'dags/a//b.py',
      'dags/.sync-dags.x.tmp'
    ]
    await manifestOfNothing(s3, bucket)
    for (const key of keys)
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x = 1\n' }))

    const first = await converge(bucket, folder)
    expect(first.ok).toBe(false)
    expect(first.report.failedKeys).toEqual([
      'dags/.sync-dags.x.tmp',
      'dags/a//b.py',
      'dags/bad\tname.py',
      'dags/cr\r.py',
      'dags/in-the-way.py',
      'dags/linked/sub/deeper/y.py',
      'dags/linked/x.py'
    ])
    expect(first.reason).toBe('7 key(s) not synced, the first "dags/.sync-dags.x.tmp"')
    for (const line of [
      'refused the key "dags/cr\\r.py": it holds a control character',
      'refused the key "dags/bad\\tname.py": it holds a control character',
      'refused the key "dags/a//b.py": it has an empty',
      'refused the key "dags/.sync-dags.x.tmp": it has the name of',
      'failed "dags/linked/x.py": its folder leads outside the DAG folder',
      'failed "dags/linked/sub/deeper/y.py": its folder leads outside the DAG folder',
      'failed "dags/in-the-way.py": a folder of that name is in the way',
      'downloaded "file-link.py"',
      'deleted "in-the-way.py/old.py"',
      'deleted "linked"'
    ])
      expect(first.output).toContain(line)
    // Nothing outside changed; the links in the folder are gone or replaced by files.
    expect(entries(outside)).toEqual({
      'target.py': { kind: 'file', content: sha256('outside\n'), mode: expect.any(Number) }
    })
    expect(readdirSync(join(outside, 'sub'))).toEqual([])
    expect(lstatSync(join(folder, 'file-link.py')).isFile()).toBe(true)
    expect(existsSync(join(folder, 'linked'))).toBe(false)
    expect(temporaries(folder)).toEqual([])

    // With the link and the folder gone, the next run writes those files; the unsafe keys stay refused.
    const second = await converge(bucket, folder)
    expect(second.report).toMatchObject({ downloaded: 3, failed: 4 })
    expect(tree(folder)).toEqual({
      'file-link.py': 'x = 1\n',
      'in-the-way.py': 'x = 1\n',
      'linked/x.py': 'x = 1\n',
      'linked/sub/deeper/y.py': 'x = 1\n'
    })
    expect(readdirSync(outside)).toEqual(['sub', 'target.py'])
  })

  it('settles a key that is also a folder of other keys as the script does: the file first', async () => {
    const bucket = await createBucket(s3, 'efs')
    const keys = ['a', 'a/x.py', 'a/y/z.py', 'b', 'b/c/d.py', 'b-c.py']
    await manifestOfNothing(s3, bucket)
    for (const key of keys)
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `dags/${key}`, Body: `${key}\n` }))
    const ours = efsMount().folder
    const theirs = efsMount().folder
    const outcome = await converge(bucket, ours)
    const run = spawnSync('bash', [script], {
      env: scriptEnv(bucket, theirs, moto.endpoint),
      encoding: 'utf8',
      timeout: 30_000
    })
    const line = run.stdout.split('\n').find((text) => text.startsWith('SYNC-RESULT '))
    const result = JSON.parse(line?.slice('SYNC-RESULT '.length) ?? 'null')
    expect(outcome.report.failedKeys).toEqual(['dags/a/x.py', 'dags/a/y/z.py', 'dags/b/c/d.py'])
    expect({ ...outcome.report, hashes: {} }).toEqual(result)
    expect(tree(ours)).toEqual({ a: 'a\n', b: 'b\n', 'b-c.py': 'b-c.py\n' })
    expect(entries(ours)).toEqual(entries(theirs))
  })

  it('starts no download once the deadline has passed, and says so', async () => {
    const bucket = await createBucket(s3, 'efs')
    const { folder } = efsMount()
    await deploy(bucket, dagTree)
    const deadlineMs = Date.now() - 1000
    const run = await converge(bucket, folder, { deadlineMs })
    expect(run.ok).toBe(false)
    expect(run.report).toMatchObject({ downloaded: 0, failed: 6 })
    expect(run.reason).toContain(
      `6 download(s) had not started when the deadline (${new Date(deadlineMs).toISOString()}) passed`
    )
    expect(run.output).toContain('failed "dags/etl_daily.py": its download had not started')
    expect(tree(folder)).toEqual({})
  })

  it('fails in one line when the bucket cannot be listed, removing nothing', async () => {
    const { folder } = efsMount()
    mkdirSync(folder)
    writeFileSync(join(folder, 'kept.py'), 'k\n')
    const run = await converge('efs-missing-bucket', folder)
    expect(run.ok).toBe(false)
    expect(run.reason).toMatch(/^cannot list s3:\/\/efs-missing-bucket\/dags\/: NoSuchBucket/)
    expect(run.reason).not.toContain('\n')
    expect(tree(folder)).toEqual({ 'kept.py': 'k\n' })
  })
})
