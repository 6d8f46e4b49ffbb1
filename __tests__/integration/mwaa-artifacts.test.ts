// The MWAA artifacts against moto's S3: versioning required before any write, an upload's version
// taken from S3's answer, and the stored content known by SHA-256 whoever uploaded it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { PutBucketVersioningCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { createHash } from 'node:crypto'
import {
  planArtifacts,
  readStored,
  requireVersioning,
  uploadArtifact,
  type LocalArtifact
} from '../../src/deploy-mwaa/artifacts.js'
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
  kind: 'requirements',
  key: 'requirements.txt',
  bytes: Buffer.from(text),
  sha256: createHash('sha256').update(text).digest('hex')
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

  it('uploads a changed file as a new version, and keeps an unchanged one with its version', async () => {
    const bucket = await versionedBucket()
    await requireVersioning(s3, bucket)
    const first = requirements('apache-airflow-providers-amazon==9.2.0\n')
    expect(await readStored(s3, bucket, first.key)).toBeUndefined()
    const v1 = await uploadArtifact(s3, bucket, first)
    expect(await readStored(s3, bucket, first.key)).toEqual({ versionId: v1, sha256: first.sha256 })

    const same = planArtifacts(
      [first],
      new Map([[first.key, await readStored(s3, bucket, first.key)]])
    )
    expect(same).toEqual([
      {
        kind: 'requirements',
        key: 'requirements.txt',
        action: 'keep',
        why: 'unchanged',
        versionId: v1
      }
    ])

    const second = requirements('apache-airflow-providers-amazon==9.3.0\n')
    const plan = planArtifacts(
      [second],
      new Map([[second.key, await readStored(s3, bucket, second.key)]])
    )
    expect(plan[0]).toMatchObject({ action: 'upload', why: 'changed' })
    const v2 = await uploadArtifact(s3, bucket, second)
    expect(v2).not.toBe(v1)
    expect(await readStored(s3, bucket, second.key)).toEqual({
      versionId: v2,
      sha256: second.sha256
    })
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
})
