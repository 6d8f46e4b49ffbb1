// The MWAA artifacts against moto's S3: versioning required before any write, an upload's version
// taken from S3's answer, the stored content known by SHA-256 whoever uploaded it, and the plan
// judged by the version the environment names rather than the latest one.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client
} from '@aws-sdk/client-s3'
import { createHash } from 'node:crypto'
import type { MwaaEnvironment } from '../../src/common/mwaa.js'
import {
  latestVersion,
  readStored,
  readStoredStates,
  requireVersioning,
  uploadArtifact
} from '../../src/deploy-mwaa/artifacts.js'
import { planEnvironment, type LocalArtifact } from '../../src/deploy-mwaa/plan.js'
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

async function versionedBucket(): Promise<string> {
  const bucket = await createBucket(s3, 'mwaa')
  await s3.send(
    new PutBucketVersioningCommand({
      Bucket: bucket,
      VersioningConfiguration: { Status: 'Enabled' }
    })
  )
  return bucket
}

const requirements = (text: string): LocalArtifact => ({
  role: 'requirements',
  input: 'requirements',
  given: 'requirements.txt',
  bytes: Buffer.from(text),
  sha256: createHash('sha256').update(text).digest('hex')
})

const environmentNaming = (versionId?: string): MwaaEnvironment => ({
  name: 'airflow',
  status: 'AVAILABLE',
  files: versionId === undefined ? {} : { requirements: { key: 'requirements.txt', versionId } }
})

describe('MWAA artifacts in S3', () => {
  it('refuses a bucket without versioning, naming it and how to enable it', async () => {
    const bucket = await createBucket(s3, 'mwaa')
    await expect(requireVersioning(s3, bucket)).rejects.toThrow(
      `bucket: versioning of s3://${bucket} is not enabled; MWAA names requirements, plugins and startup script by object version`
    )
    await s3.send(
      new PutBucketVersioningCommand({
        Bucket: bucket,
        VersioningConfiguration: { Status: 'Suspended' }
      })
    )
    await expect(requireVersioning(s3, bucket)).rejects.toThrow('is Suspended')
  })

  it('uploads a changed file as a new version, and keeps one the environment already runs', async () => {
    const bucket = await versionedBucket()
    await requireVersioning(s3, bucket)
    const first = requirements('apache-airflow-providers-amazon==9.2.0\n')
    const none = environmentNaming()
    expect(await readStored(s3, bucket, 'requirements.txt')).toBeUndefined()
    const fresh = planEnvironment([first], none, await readStoredStates(s3, bucket, [first], none))
    expect(fresh.files[0]).toMatchObject({
      action: 'upload',
      why: 'new (the environment has none)'
    })
    const v1 = await uploadArtifact(s3, bucket, 'requirements.txt', first)
    expect(await readStored(s3, bucket, 'requirements.txt')).toEqual({
      versionId: v1,
      sha256: first.sha256
    })

    const runsV1 = environmentNaming(v1)
    const same = planEnvironment(
      [first],
      runsV1,
      await readStoredStates(s3, bucket, [first], runsV1)
    )
    expect(same).toEqual({
      update: false,
      files: [expect.objectContaining({ action: 'keep', versionId: v1, key: 'requirements.txt' })]
    })

    const second = requirements('apache-airflow-providers-amazon==9.3.0\n')
    const changed = planEnvironment(
      [second],
      runsV1,
      await readStoredStates(s3, bucket, [second], runsV1)
    )
    expect(changed).toMatchObject({ update: true, files: [{ action: 'upload' }] })
    const v2 = await uploadArtifact(s3, bucket, 'requirements.txt', second)
    expect(v2).not.toBe(v1)

    // Uploaded, but the update never ran: the environment still names v1, so the next run applies
    // v2 instead of taking the file as deployed.
    const again = planEnvironment(
      [second],
      runsV1,
      await readStoredStates(s3, bucket, [second], runsV1)
    )
    expect(again).toMatchObject({ update: true, files: [{ action: 'apply', versionId: v2 }] })

    // The environment runs v1 while a later upload of other bytes is the latest: v1's own content
    // decides, so the repository's v1 bytes need nothing.
    const back = planEnvironment(
      [first],
      runsV1,
      await readStoredStates(s3, bucket, [first], runsV1)
    )
    expect(back).toMatchObject({ update: false, files: [{ action: 'keep', versionId: v1 }] })
  })

  it('knows the content of an object another tool uploaded without a checksum', async () => {
    const bucket = await versionedBucket()
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'requirements.txt', Body: 'boto3\n' })
    )
    const stored = await readStored(s3, bucket, 'requirements.txt')
    expect(stored?.sha256).toBe(requirements('boto3\n').sha256)
    expect(stored?.versionId).toEqual(expect.any(String))
  })

  it('finds the latest version of exactly the key, and none behind a delete marker', async () => {
    const bucket = await versionedBucket()
    expect(await latestVersion(s3, bucket, 'requirements.txt')).toBeUndefined()
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'requirements.txt.bak', Body: 'old\n' })
    )
    expect(await latestVersion(s3, bucket, 'requirements.txt')).toBeUndefined()
    const first = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'requirements.txt', Body: 'a\n' })
    )
    const second = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'requirements.txt', Body: 'b\n' })
    )
    expect(second.VersionId).not.toBe(first.VersionId)
    expect(await latestVersion(s3, bucket, 'requirements.txt')).toBe(second.VersionId)
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'requirements.txt' }))
    expect(await latestVersion(s3, bucket, 'requirements.txt')).toBeUndefined()
  })
})
