// The bundled action, run as the GitHub runner runs it, against a real moto_server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client
} from '@aws-sdk/client-s3'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { nodeRuntimes, runAction } from '../../test-support/runner.mjs'
import {
  bucketContents,
  createBucket,
  credentials,
  freshCheckout,
  removeWorkspaces,
  s3For,
  withoutManifest,
  workspaceWith
} from './helpers.js'

let moto: Moto
let s3: S3Client
beforeAll(async () => {
  moto = await startMoto()
  s3 = s3For(moto.endpoint)
})
afterAll(async () => {
  removeWorkspaces()
  s3?.destroy()
  await moto?.stop()
})

const dagTree = {
  'dags/etl_daily.py': 'from airflow import DAG\n# daily\n',
  'dags/.airflowignore': 'helpers/\n',
  'dags/helpers/common.py': 'def helper():\n    return 1\n',
  'dags/sql/load.sql': 'insert into t select 1;\n',
  'dags/reports/q1 summary+draft.sql': 'select 2;\n',
  'dags/reports/ünïcode_dag.py': '# ünïcode\n',
  'dags/__pycache__/etl_daily.cpython-312.pyc': 'bytecode',
  'dags/helpers/stale.pyc': 'bytecode',
  'README.md': 'not a DAG'
}
const deployedKeys = {
  'dags/.airflowignore': dagTree['dags/.airflowignore'],
  'dags/etl_daily.py': dagTree['dags/etl_daily.py'],
  'dags/helpers/common.py': dagTree['dags/helpers/common.py'],
  'dags/reports/q1 summary+draft.sql': dagTree['dags/reports/q1 summary+draft.sql'],
  'dags/reports/ünïcode_dag.py': dagTree['dags/reports/ünïcode_dag.py'],
  'dags/sql/load.sql': dagTree['dags/sql/load.sql']
}

describe.each(nodeRuntimes())('deploy-dags under $label', ({ path: node }) => {
  const deploy = (workspace: string, bucket: string, inputs: Record<string, string> = {}) =>
    runAction({
      action: 'deploy-dags',
      node,
      workspace,
      env: credentials,
      inputs: { bucket, 'endpoint-url': moto.endpoint, ...inputs }
    })

  it('syncs the tree byte for byte with the action.yml defaults, and converges by content', async () => {
    const bucket = await createBucket(s3)
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags-old/legacy.py', Body: 'old' }))
    const workspace = workspaceWith(dagTree)

    const first = await deploy(workspace, bucket)
    expect(first.errors).toEqual([])
    expect(first.exitCode).toBe(0)
    expect(first.outputs).toMatchObject({
      changed: 'true',
      uploaded: '6',
      deleted: '0',
      unchanged: '0',
      's3-uri': `s3://${bucket}/dags/`
    })
    expect(JSON.parse(first.outputs.changes!).uploaded.sort()).toEqual(Object.keys(deployedKeys))
    expect(first.outputs['changes-file']!.startsWith(first.runnerTemp)).toBe(true)
    expect(withoutManifest(await bucketContents(s3, bucket))).toEqual({
      ...deployedKeys,
      'dags-old/legacy.py': 'old'
    })
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dags/etl_daily.py' }))
    expect(head.ContentType).toBe('text/x-python; charset=utf-8')
    expect(first.summary).toContain('### DAGs deployed')
    expect(first.summary).toContain('| Uploaded | 6 |')

    // A new job's checkout: every mtime is new, no byte changed.
    const checkout = freshCheckout(workspace)
    const second = await deploy(checkout, bucket)
    expect(second.exitCode).toBe(0)
    expect(second.outputs).toMatchObject({
      changed: 'false',
      uploaded: '0',
      deleted: '0',
      unchanged: '6'
    })

    // A same-size edit is still an edit.
    writeFileSync(
      join(checkout, 'dags/etl_daily.py'),
      dagTree['dags/etl_daily.py'].replace('daily', 'DAILY')
    )
    const third = await deploy(checkout, bucket)
    expect(third.outputs).toMatchObject({ changed: 'true', uploaded: '1', unchanged: '5' })
    expect(JSON.parse(third.outputs.changes!)).toEqual({
      uploaded: ['dags/etl_daily.py'],
      deleted: []
    })
    expect((await bucketContents(s3, bucket, 'dags/etl_daily.py'))['dags/etl_daily.py']).toContain(
      'DAILY'
    )
  })

  it('repairs objects changed or removed in the bucket by hand, and deletes only inside the prefix', async () => {
    const bucket = await createBucket(s3)
    const workspace = workspaceWith(dagTree)
    expect((await deploy(workspace, bucket)).exitCode).toBe(0)

    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'dags/etl_daily.py', Body: 'tampered' })
    )
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'dags/sql/load.sql' }))
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/removed_dag.py', Body: 'x' }))
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags-old/keep.py', Body: 'keep' }))

    const kept = await deploy(freshCheckout(workspace), bucket, { delete: 'false' })
    expect(kept.outputs).toMatchObject({ uploaded: '2', deleted: '0' })
    expect(Object.keys(await bucketContents(s3, bucket))).toContain('dags/removed_dag.py')

    const repaired = await deploy(freshCheckout(workspace), bucket)
    expect(repaired.exitCode).toBe(0)
    expect(repaired.outputs).toMatchObject({ uploaded: '0', deleted: '1', unchanged: '6' })
    expect(withoutManifest(await bucketContents(s3, bucket))).toEqual({
      ...deployedKeys,
      'dags-old/keep.py': 'keep'
    })
  })

  it('dry-run reports the plan and changes nothing', async () => {
    const bucket = await createBucket(s3)
    const workspace = workspaceWith(dagTree)
    await deploy(workspace, bucket)
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/removed_dag.py', Body: 'x' }))
    writeFileSync(join(workspace, 'dags/new_dag.py'), 'new')
    const before = await bucketContents(s3, bucket)

    const planned = await deploy(workspace, bucket, { 'dry-run': 'true' })
    expect(planned.exitCode).toBe(0)
    expect(planned.outputs).toMatchObject({ changed: 'true', uploaded: '1', deleted: '1' })
    expect(planned.summary).toContain('dry run, nothing changed')
    expect(planned.summary).toContain('`dags/new_dag.py` (new)')
    expect(planned.summary).toContain('dags/removed_dag.py')
    expect(await bucketContents(s3, bucket)).toEqual(before)
  })
})

describe('deploy-dags options (node24)', () => {
  const [node24] = nodeRuntimes()
  const deploy = (workspace: string, bucket: string, inputs: Record<string, string> = {}) =>
    runAction({
      action: 'deploy-dags',
      node: node24!.path,
      workspace,
      env: credentials,
      inputs: { bucket, 'endpoint-url': moto.endpoint, ...inputs }
    })

  it('force re-uploads unchanged files; include, prefix and source select what and where', async () => {
    const bucket = await createBucket(s3)
    const workspace = workspaceWith({
      ...dagTree,
      'airflow/dags/only.py': 'only',
      'airflow/dags/skip.txt': 'no'
    })
    await deploy(workspace, bucket)
    const forced = await deploy(workspace, bucket, { force: 'true' })
    expect(forced.outputs).toMatchObject({ uploaded: '6', unchanged: '0' })

    const custom = await deploy(workspace, bucket, {
      source: 'airflow/dags',
      prefix: 'team-a/dags/',
      include: '*.py'
    })
    expect(custom.exitCode).toBe(0)
    expect(custom.outputs['s3-uri']).toBe(`s3://${bucket}/team-a/dags/`)
    expect(withoutManifest(await bucketContents(s3, bucket, 'team-a/'))).toEqual({
      'team-a/dags/only.py': 'only'
    })
  })

  it('encrypts with the requested SSE and sends no ACL', async () => {
    const bucket = await createBucket(s3)
    const workspace = workspaceWith({ 'dags/a.py': 'a' })
    const result = await deploy(workspace, bucket, { sse: 'AES256' })
    expect(result.exitCode).toBe(0)
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dags/a.py' }))
    expect(head.ServerSideEncryption).toBe('AES256')
  })

  it('refuses to delete more than max-delete-percent of the prefix, changing nothing', async () => {
    const bucket = await createBucket(s3)
    for (let i = 0; i < 10; i++) {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: `dags/dag_${i}.py`, Body: `dag ${i}` })
      )
    }
    const workspace = workspaceWith({
      'dags/dag_0.py': 'dag 0',
      'dags/dag_1.py': 'dag 1',
      'dags/brand_new.py': 'new'
    })
    const before = await bucketContents(s3, bucket)

    const refused = await deploy(workspace, bucket)
    expect(refused.exitCode).toBe(1)
    expect(refused.errors).toHaveLength(1)
    expect(refused.errors[0]).toContain('Refusing to delete 8 of 10 objects')
    expect(refused.errors[0]).toContain('max-delete-percent')
    expect(refused.summary).toContain('DAG deploy refused (nothing changed)')
    expect(refused.outputs).toMatchObject({ changed: 'false', uploaded: '0', deleted: '0' })
    expect(refused.outputs.refusal).toContain('Refusing to delete 8 of 10 objects')
    expect(await bucketContents(s3, bucket)).toEqual(before)

    const allowed = await deploy(workspace, bucket, { 'max-delete-percent': '100' })
    expect(allowed.exitCode).toBe(0)
    expect(allowed.outputs.refusal).toBe('')
    expect(Object.keys(withoutManifest(await bucketContents(s3, bucket))).sort()).toEqual([
      'dags/brand_new.py',
      'dags/dag_0.py',
      'dags/dag_1.py'
    ])
  })

  it('refuses an empty or missing source before touching the bucket', async () => {
    const bucket = await createBucket(s3)
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dags/a.py', Body: 'a' }))
    const onlyBytecode = workspaceWith({ 'dags/__pycache__/a.pyc': 'x' })
    const empty = await deploy(onlyBytecode, bucket)
    expect(empty.exitCode).toBe(1)
    expect(empty.errors).toEqual([expect.stringContaining("source 'dags' selects no files")])
    expect(empty.errors[0]).toContain('delete: true')

    const missing = await deploy(onlyBytecode, bucket, { source: 'dag' })
    expect(missing.errors).toEqual([expect.stringContaining("source: folder 'dag' does not exist")])
    expect(await bucketContents(s3, bucket)).toEqual({ 'dags/a.py': 'a' })
  })
})
