import { describe, expect, it } from '@jest/globals'
import {
  deleteRefusal,
  manifestKey,
  newManifest,
  nextManifest,
  planSync,
  sameManifest,
  sortManifest,
  withDrift,
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

  it('tells manifests apart by any field of any entry, and by the paths they hold', () => {
    const entry = { sha256: 'a'.repeat(64), size: 3, etag: 'etag-a' }
    const base = { 'a.py': entry, 'b.py': { ...entry, etag: 'etag-b' } }
    expect(sameManifest(base, { ...base })).toBe(true)
    for (const change of [{ sha256: 'b'.repeat(64) }, { size: 4 }, { etag: 'etag-c' }]) {
      expect(sameManifest(base, { ...base, 'b.py': { ...base['b.py'], ...change } })).toBe(false)
    }
    expect(sameManifest(base, { 'a.py': entry, 'c.py': base['b.py'] })).toBe(false)
    expect(sameManifest({}, {})).toBe(true)
  })
})

describe('manifest keys are file names, never object properties', () => {
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty']
  const entry = (name: string) => ({
    sha256: `sha-${name}`,
    size: name.length,
    etag: `md5-${name}`
  })

  it('plans, records and sorts files named like Object.prototype members', () => {
    const local = names.map((name) => file(name, name))
    const first = plan({ local })
    expect(first.uploads.map((u) => u.key)).toEqual(names.map((name) => `dags/${name}`))
    const written = nextManifest(
      first,
      names.map((name) => ({ path: name, ...entry(name) }))
    )
    expect(Object.getPrototypeOf(written)).toBeNull()
    expect(Object.keys(written)).toEqual([...names].sort())
    for (const name of names) expect(written[name]).toEqual(entry(name))
    // The manifest as JSON, read back as readManifest gets it, vouches for every one of them.
    const document = JSON.parse(JSON.stringify({ format: 1, objects: written })) as {
      objects: Manifest
    }
    const reread = newManifest()
    for (const [path, value] of Object.entries(document.objects)) reread[path] = value
    const second = plan({
      local,
      remote: names.map((name) => ({
        key: `dags/${name}`,
        size: name.length,
        etag: `etag-${name}`
      })),
      manifest: Object.fromEntries(
        names.map((name) => [name, { ...entry(name), etag: `etag-${name}` }])
      )
    })
    expect(second.uploads).toEqual([])
    expect(second.unchanged).toHaveLength(names.length)
    expect(Object.keys(nextManifest(second, []))).toEqual([...names].sort())
    expect(sameManifest(sortManifest(reread), written)).toBe(true)
  })

  it('finds no entry for a name the manifest does not hold', () => {
    // A plain object inherits `constructor`; it must not count as a recorded entry.
    const result = plan({
      local: [file('constructor', 'c')],
      remote: [{ key: 'dags/constructor', size: 1, etag: 'kms' }],
      manifest: {}
    })
    expect(result.uploads.map((u) => u.reason)).toEqual(['unverified'])
  })
})

describe('withDrift', () => {
  it('uploads drifted objects again and stops vouching for them', () => {
    const base = plan({
      local: [file('a.py', 'aaa'), file('b.py', 'bbb')],
      remote: [
        { key: 'dags/a.py', size: 3, etag: 'md5-aaa' },
        { key: 'dags/b.py', size: 3, etag: 'md5-bbb' }
      ]
    })
    expect(withDrift(base, [])).toBe(base)
    const drifted = withDrift(base, [{ key: 'dags/b.py', file: file('b.py', 'bbb'), found: 'x' }])
    expect(drifted.uploads.map((u) => [u.key, u.reason])).toEqual([['dags/b.py', 'drift']])
    expect(drifted.unchanged).toEqual(['dags/a.py'])
    expect(Object.keys(drifted.verified)).toEqual(['a.py'])
    expect(Object.keys(nextManifest(drifted, []))).toEqual(['a.py'])
  })
})
