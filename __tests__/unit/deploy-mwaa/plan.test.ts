import { describe, expect, it } from '@jest/globals'
import type { MwaaEnvironment } from '../../../src/common/mwaa.js'
import {
  artifactKey,
  planEnvironment,
  updateRequest,
  type LocalArtifact,
  type StoredState
} from '../../../src/deploy-mwaa/plan.js'

const artifact = (role: LocalArtifact['role'], sha256: string, key?: string): LocalArtifact => ({
  role,
  input: role,
  given: `${role}.file`,
  bytes: Buffer.from(sha256),
  sha256,
  ...(key !== undefined ? { key } : {})
})

const environment = (files: MwaaEnvironment['files']): MwaaEnvironment => ({
  name: 'airflow',
  status: 'AVAILABLE',
  files
})

const states = (entries: Array<[LocalArtifact['role'], StoredState]>) => new Map(entries)

describe('artifactKey', () => {
  it('takes the key input, else the key the environment names, else the usual name', () => {
    const named = environment({ requirements: { key: 'config/requirements.txt', versionId: 'v1' } })
    expect(artifactKey(artifact('requirements', 'a', 'reqs.txt'), named)).toBe('reqs.txt')
    expect(artifactKey(artifact('requirements', 'a'), named)).toBe('config/requirements.txt')
    expect(artifactKey(artifact('plugins', 'a'), named)).toBe('plugins.zip')
    expect(artifactKey(artifact('startup-script', 'a'), named)).toBe('startup.sh')
  })
})

describe('planEnvironment', () => {
  const runs = environment({
    requirements: { key: 'requirements.txt', versionId: 'r1' },
    plugins: { key: 'plugins.zip', versionId: 'p1' },
    'startup-script': { key: 'startup.sh', versionId: 's1' }
  })

  it('starts no update when the version the environment names holds the same bytes', () => {
    const plan = planEnvironment(
      [artifact('requirements', 'aaa'), artifact('plugins', 'bbb')],
      runs,
      states([
        ['requirements', { latest: { versionId: 'r1', sha256: 'aaa' }, inEffectSha256: 'aaa' }],
        ['plugins', { latest: { versionId: 'p1', sha256: 'bbb' }, inEffectSha256: 'bbb' }]
      ])
    )
    expect(plan.update).toBe(false)
    expect(plan.files.map((file) => [file.action, file.versionId])).toEqual([
      ['keep', 'r1'],
      ['keep', 'p1']
    ])
  })

  it('uploads changed bytes and keeps the others', () => {
    const plan = planEnvironment(
      [artifact('requirements', 'new'), artifact('plugins', 'bbb')],
      runs,
      states([
        ['requirements', { latest: { versionId: 'r1', sha256: 'old' }, inEffectSha256: 'old' }],
        ['plugins', { latest: { versionId: 'p1', sha256: 'bbb' }, inEffectSha256: 'bbb' }]
      ])
    )
    expect(plan.update).toBe(true)
    expect(plan.files[0]).toMatchObject({
      action: 'upload',
      why: 'changed (the environment runs other bytes)'
    })
    expect(plan.files[1]).toMatchObject({ action: 'keep', versionId: 'p1' })
  })

  it('applies bytes uploaded earlier whose update never took effect, without uploading again', () => {
    const plan = planEnvironment(
      [artifact('requirements', 'new')],
      runs,
      states([
        ['requirements', { latest: { versionId: 'r2', sha256: 'new' }, inEffectSha256: 'old' }]
      ])
    )
    expect(plan).toMatchObject({ update: true, files: [{ action: 'apply', versionId: 'r2' }] })
  })

  it('moves the environment to another key when the key input names one', () => {
    const plan = planEnvironment(
      [artifact('requirements', 'aaa', 'v2/requirements.txt')],
      runs,
      states([['requirements', {}]])
    )
    expect(plan.files[0]).toMatchObject({
      key: 'v2/requirements.txt',
      action: 'upload',
      why: 'new (the environment names requirements.txt)'
    })
  })

  it('gives a file the environment has never had', () => {
    const plan = planEnvironment([artifact('startup-script', 'sh')], environment({}), states([]))
    expect(plan.files[0]).toMatchObject({ action: 'upload', why: 'new (the environment has none)' })
  })
})

describe('updateRequest', () => {
  const runs = environment({
    requirements: { key: 'requirements.txt', versionId: 'r1' },
    plugins: { key: 'plugins.zip', versionId: 'p1' },
    'startup-script': { key: 'startup.sh', versionId: 's1' }
  })

  it('names the new version of the changed file and every other file at its current version', () => {
    const plan = planEnvironment(
      [artifact('requirements', 'new')],
      runs,
      states([
        ['requirements', { latest: { versionId: 'r1', sha256: 'old' }, inEffectSha256: 'old' }]
      ])
    )
    expect(updateRequest(runs, plan, new Map([['requirements', 'r2']]))).toEqual({
      requirements: { key: 'requirements.txt', versionId: 'r2' },
      plugins: { key: 'plugins.zip', versionId: 'p1' },
      'startup-script': { key: 'startup.sh', versionId: 's1' }
    })
  })

  it('leaves out a file the environment names without a version, and refuses a missing upload', () => {
    const partial = environment({ plugins: { key: 'plugins.zip' } })
    const plan = planEnvironment([artifact('requirements', 'new')], partial, states([]))
    expect(updateRequest(partial, plan, new Map([['requirements', 'r9']]))).toEqual({
      requirements: { key: 'requirements.txt', versionId: 'r9' }
    })
    expect(() => updateRequest(partial, plan, new Map())).toThrow(
      'requirements.txt was to be uploaded before the update'
    )
  })
})
