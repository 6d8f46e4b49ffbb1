import { describe, expect, it } from '@jest/globals'
import {
  deleteRefusal,
  manifestKey,
  nextManifest,
  planSync,
  sameManifest,
  type Manifest,
  type RemoteObject
} from '../../src/deploy-dags/plan.js'
import type { HashedFile } from '../../src/deploy-dags/selection.js'

const file = (path: string, content: string): HashedFile => ({
  path,
  absolutePath: `/src/${path}`,
  size: content.length,
  sha256: `sha-${content}`,
  md5: `md5-${content}`
})

const plan = (over: Partial<Parameters<typeof planSync>[0]>) =>
  planSync({
    local: [],
    remote: [],
    manifest: {},
    prefix: 'dags',
    force: false,
    deleteExtraneous: true,
    ...over
  })

describe('planSync', () => {
  it('uploads files that are missing in the bucket', () => {
    const result = plan({ local: [file('a.py', 'aaa'), file('.airflowignore', 'x')] })
    expect(result.uploads.map((u) => [u.key, u.reason])).toEqual([
      ['dags/a.py', 'new'],
      ['dags/.airflowignore', 'new']
    ])
    expect(result.deletes).toEqual([])
    expect(result.remoteCount).toBe(0)
  })

  it('keeps an object whose ETag is the local MD5, whatever its age', () => {
    const result = plan({
      local: [file('a.py', 'aaa')],
      remote: [{ key: 'dags/a.py', size: 3, etag: 'md5-aaa' }]
    })
    expect(result.uploads).toEqual([])
    expect(result.unchanged).toEqual(['dags/a.py'])
    expect(result.verified['a.py']).toEqual({ sha256: 'sha-aaa', size: 3, etag: 'md5-aaa' })
  })

  it('uploads a same-size edit', () => {
    const result = plan({
      local: [file('a.py', 'bbb')],
      remote: [{ key: 'dags/a.py', size: 3, etag: 'md5-aaa' }]
    })
    expect(result.uploads.map((u) => u.reason)).toEqual(['unverified'])
  })

  it('trusts the manifest only while the live ETag and size match it (SSE-KMS ETags)', () => {
    const manifest: Manifest = { 'a.py': { sha256: 'sha-aaa', size: 3, etag: 'kms-1' } }
    const unchanged = plan({
      local: [file('a.py', 'aaa')],
      remote: [{ key: 'dags/a.py', size: 3, etag: 'kms-1' }],
      manifest
    })
    expect(unchanged.uploads).toEqual([])

    const editedLocally = plan({
      local: [file('a.py', 'ccc')],
      remote: [{ key: 'dags/a.py', size: 3, etag: 'kms-1' }],
      manifest
    })
    expect(editedLocally.uploads.map((u) => u.reason)).toEqual(['modified'])

    // Someone replaced the object by hand: new ETag, so the manifest says nothing about it.
    const replacedInBucket = plan({
      local: [file('a.py', 'aaa')],
      remote: [{ key: 'dags/a.py', size: 3, etag: 'kms-2' }],
      manifest
    })
    expect(replacedInBucket.uploads.map((u) => u.reason)).toEqual(['unverified'])
  })

  it('recognises the multipart ETag aws s3 sync produces', () => {
    const big = { ...file('model.bin', 'x'), cliMultipartEtag: 'abc-2' }
    const result = plan({
      local: [big],
      remote: [{ key: 'dags/model.bin', size: 1, etag: 'abc-2' }]
    })
    expect(result.uploads).toEqual([])
  })

  it('uploads on size difference and on force', () => {
    const remote: RemoteObject[] = [{ key: 'dags/a.py', size: 2, etag: 'md5-aaa' }]
    expect(plan({ local: [file('a.py', 'aaa')], remote }).uploads[0]?.reason).toBe('modified')
    const forced = plan({
      local: [file('a.py', 'aaa')],
      remote: [{ key: 'dags/a.py', size: 3, etag: 'md5-aaa' }],
      force: true
    })
    expect(forced.uploads.map((u) => u.reason)).toEqual(['forced'])
  })

  it('deletes only inside the prefix folder, never the manifest or folder markers', () => {
    const result = plan({
      local: [file('a.py', 'aaa')],
      remote: [
        { key: 'dags/a.py', size: 3, etag: 'md5-aaa' },
        { key: 'dags/old.py', size: 1, etag: 'e' },
        { key: 'dags/sub/', size: 0, etag: 'd' },
        { key: manifestKey('dags'), size: 10, etag: 'm' },
        { key: 'dags-old/a.py', size: 3, etag: 'x' }
      ]
    })
    expect(result.deletes).toEqual([{ key: 'dags/old.py', size: 1 }])
    expect(result.remoteCount).toBe(2)
  })

  it('keeps extraneous objects when delete is off', () => {
    const result = plan({
      local: [],
      remote: [{ key: 'dags/old.py', size: 1, etag: 'e' }],
      manifest: { 'old.py': { sha256: 's', size: 1, etag: 'e' } },
      deleteExtraneous: false
    })
    expect(result.deletes).toEqual([])
    expect(result.verified['old.py']).toBeDefined()
  })

  it('supports the bucket root as prefix', () => {
    const result = plan({
      prefix: '',
      local: [file('a.py', 'aaa')],
      remote: [
        { key: 'b.py', size: 1, etag: 'e' },
        { key: manifestKey(''), size: 1, etag: 'm' }
      ]
    })
    expect(result.uploads.map((u) => u.key)).toEqual(['a.py'])
    expect(result.deletes.map((d) => d.key)).toEqual(['b.py'])
  })
})

describe('deleteRefusal', () => {
  const withCounts = (deletes: number, remoteCount: number) => ({
    uploads: [],
    unchanged: [],
    verified: {},
    remoteCount,
    deletes: Array.from({ length: deletes }, (_, i) => ({ key: `dags/${i}.py`, size: 1 }))
  })

  it('allows up to the share and refuses beyond it, naming the input', () => {
    expect(deleteRefusal(withCounts(5, 10), 50, 's3://b/dags/')).toBeUndefined()
    const refusal = deleteRefusal(withCounts(6, 10), 50, 's3://b/dags/')
    expect(refusal).toContain('Refusing to delete 6 of 10 objects under s3://b/dags/')
    expect(refusal).toContain('max-delete-percent')
    expect(deleteRefusal(withCounts(10, 10), 100, 's3://b/dags/')).toBeUndefined()
    expect(deleteRefusal(withCounts(1, 10), 0, 's3://b/dags/')).toContain('max-delete-percent: 0')
    // 7 / 100 * 100 is 7.000000000000001 in floating point; 7% of 100 must still be allowed.
    expect(deleteRefusal(withCounts(7, 100), 7, 's3://b/dags/')).toBeUndefined()
    expect(deleteRefusal(withCounts(8, 100), 7, 's3://b/dags/')).toContain('8 of 100')
  })
})

describe('manifest', () => {
  it('records verified and uploaded objects, sorted, and compares by content', () => {
    const result = plan({
      local: [file('b.py', 'bbb'), file('a.py', 'aaa')],
      remote: [{ key: 'dags/a.py', size: 3, etag: 'md5-aaa' }]
    })
    const next = nextManifest(result, [
      { path: 'b.py', sha256: 'sha-bbb', size: 3, etag: 'etag-b' }
    ])
    expect(Object.keys(next)).toEqual(['a.py', 'b.py'])
    expect(next['b.py']).toEqual({ sha256: 'sha-bbb', size: 3, etag: 'etag-b' })
    expect(sameManifest(next, { 'b.py': next['b.py']!, 'a.py': next['a.py']! })).toBe(true)
    expect(sameManifest(next, { 'a.py': next['a.py']! })).toBe(false)
  })
})
