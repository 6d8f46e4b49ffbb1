import { describe, expect, it } from '@jest/globals'
import { planArtifacts, type LocalArtifact } from '../../../src/deploy-mwaa/artifacts.js'

const artifact = (kind: LocalArtifact['kind'], key: string, sha256: string): LocalArtifact => ({
  kind,
  key,
  bytes: Buffer.from(''),
  sha256
})

describe('planArtifacts', () => {
  it('uploads what is new or changed, and keeps the version of what is not', () => {
    const local = [
      artifact('requirements', 'requirements.txt', 'a'.repeat(64)),
      artifact('plugins', 'plugins.zip', 'b'.repeat(64)),
      artifact('startup-script', 'startup.sh', 'c'.repeat(64))
    ]
    const stored = new Map([
      ['requirements.txt', { versionId: 'v-req-3', sha256: 'a'.repeat(64) }],
      ['plugins.zip', { versionId: 'v-plug-7', sha256: 'f'.repeat(64) }],
      ['startup.sh', undefined]
    ])
    expect(planArtifacts(local, stored)).toEqual([
      {
        kind: 'requirements',
        key: 'requirements.txt',
        action: 'keep',
        why: 'unchanged',
        versionId: 'v-req-3'
      },
      { kind: 'plugins', key: 'plugins.zip', action: 'upload', why: 'changed' },
      { kind: 'startup-script', key: 'startup.sh', action: 'upload', why: 'new' }
    ])
  })
})
