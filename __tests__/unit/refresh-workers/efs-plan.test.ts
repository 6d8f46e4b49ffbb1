import { describe, expect, it } from '@jest/globals'
import { gzipSync } from 'node:zlib'
import { newManifest } from '../../../src/deploy-dags/plan.js'
import {
  NO_MANIFEST,
  SyncLog,
  UNKNOWN_MANIFEST,
  byCodePoint,
  downloadVerdict,
  failureReason,
  isExtraneous,
  isInside,
  isTemporaryName,
  needsDownload,
  planDownloads,
  readManifest,
  selectObjects,
  unsafePathReason
} from '../../../src/refresh-workers/efs-plan.js'

const SHA_A = 'a'.repeat(64)
const SHA_B = 'b'.repeat(64)
const bytes = (text: string) => new TextEncoder().encode(text)

describe('unsafePathReason', () => {
  it.each([
    ['etl_daily.py'],
    ['reports/q1 summary+draft.sql'],
    ['reports/ünïcode_dag.py'],
    ['.airflowignore'],
    ['a..b/c.py'],
    ['.sync-dags.tmp.py'],
    ['next\u0085line.py']
  ])('accepts %j', (path) => {
    expect(unsafePathReason(path)).toBeUndefined()
  })

  it.each([
    ['bad\tname.py', 'it holds a control character'],
    ['cr\r.py', 'it holds a control character'],
    ['del\u007f.py', 'it holds a control character'],
    ['/etc/passwd', 'it is absolute'],
    ['a//b.py', "it has an empty, '.' or '..' segment"],
    ['../up.py', "it has an empty, '.' or '..' segment"],
    ['a/./b.py', "it has an empty, '.' or '..' segment"],
    ['dir/', "it has an empty, '.' or '..' segment"],
    ['', "it has an empty, '.' or '..' segment"],
    ['.sync-dags.x1.tmp', "it has the name of this sync's temporary files"],
    ['a/.sync-dags..tmp/b.py', "it has the name of this sync's temporary files"]
  ])('refuses %j: %s', (path, reason) => {
    expect(unsafePathReason(path)).toBe(reason)
  })

  it('knows the temporary names by prefix and suffix only, as the script does', () => {
    expect(isTemporaryName('.sync-dags.abc123.tmp')).toBe(true)
    // Python's startswith and endswith may share the dot between them.
    expect(isTemporaryName('.sync-dags.tmp')).toBe(true)
    expect(isTemporaryName('.sync-dags.abc.tmp.py')).toBe(false)
    expect(isTemporaryName('sync-dags.abc.tmp')).toBe(false)
  })
})

describe('selectObjects', () => {
  it('keeps the files below the prefix and refuses unsafe keys in listing order', () => {
    const selection = selectObjects(
      [
        'dags/',
        'dags/.deploy-dags-manifest.json',
        'dags/a.py',
        'dags/bad\tname.py',
        'dags/sub/',
        'dags/sub/.deploy-dags-manifest.json',
        'dags/../up.py',
        'dagsother/x.py'
      ],
      'dags'
    )
    expect([...selection.objects]).toEqual([
      ['a.py', 'dags/a.py'],
      ['sub/.deploy-dags-manifest.json', 'dags/sub/.deploy-dags-manifest.json']
    ])
    expect(selection.refused).toEqual([
      { key: 'dags/bad\tname.py', reason: 'it holds a control character' },
      { key: 'dags/../up.py', reason: "it has an empty, '.' or '..' segment" }
    ])
  })

  it('takes every key at the bucket root', () => {
    const selection = selectObjects(['.deploy-dags-manifest.json', 'root.py', 'sub/n.py'], '')
    expect([...selection.objects.keys()]).toEqual(['root.py', 'sub/n.py'])
    expect(selection.refused).toEqual([])
  })
})

describe('readManifest', () => {
  const document = JSON.stringify({
    format: 1,
    objects: {
      'a.py': { sha256: SHA_A, size: 3, etag: 'e' },
      'broken.py': { sha256: 'not-hex', size: 1, etag: 'e' }
    }
  })

  it('reads a format 1 manifest, leaving out entries of the wrong shape', () => {
    const reading = readManifest(bytes(document))
    expect(reading.manifest && Object.keys(reading.manifest)).toEqual(['a.py'])
  })

  it('reads the gzip-compressed manifest deploy-dags writes', () => {
    const reading = readManifest(new Uint8Array(gzipSync(document)))
    expect(reading.manifest && Object.keys(reading.manifest)).toEqual(['a.py'])
  })

  it.each([
    ['an object that could not be fetched', undefined, NO_MANIFEST],
    [
      'a cut-off compressed manifest',
      new Uint8Array(gzipSync(document).subarray(0, 20)),
      NO_MANIFEST
    ],
    ['text that is not JSON', bytes('{"format": 1,'), NO_MANIFEST],
    ['bytes that are not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), NO_MANIFEST],
    ['a JSON list', bytes('[1]'), NO_MANIFEST],
    ['another format', bytes('{"format": 2, "objects": {}}'), UNKNOWN_MANIFEST],
    ['objects that are a list', bytes('{"format": 1, "objects": []}'), UNKNOWN_MANIFEST]
  ])('notes %s', (_, input, note) => {
    expect(readManifest(input)).toEqual({ manifest: undefined, note })
  })
})

describe('planDownloads', () => {
  it('works in code point order and makes a path wait for the object paths that are its folders', () => {
    const manifest = newManifest()
    manifest['a'] = { sha256: SHA_A, size: 1, etag: 'e' }
    const objects = new Map(
      ['a/b/c.py', 'a-b.py', 'a', 'a/b', 'z.py', '\u{1F600}.py', '\uFFFD.py'].map(
        (path) => [path, `dags/${path}`] as const
      )
    )
    const plan = planDownloads(objects, manifest)
    expect(plan.map(({ path }) => path)).toEqual([
      'a',
      'a-b.py',
      'a/b',
      'a/b/c.py',
      'z.py',
      '\uFFFD.py',
      '\u{1F600}.py'
    ])
    expect(plan.map(({ after }) => after)).toEqual([[], [], ['a'], ['a', 'a/b'], [], [], []])
    expect(plan[0]).toEqual({ path: 'a', key: 'dags/a', expected: SHA_A, after: [] })
    expect(plan[1]?.expected).toBeUndefined()
  })

  it('expects nothing without a manifest, and finds no inherited entry', () => {
    const objects = new Map([
      ['__proto__', 'dags/__proto__'],
      ['constructor', 'dags/constructor']
    ])
    expect(planDownloads(objects, newManifest()).map(({ expected }) => expected)).toEqual([
      undefined,
      undefined
    ])
    expect(planDownloads(objects, undefined).map(({ expected }) => expected)).toEqual([
      undefined,
      undefined
    ])
  })

  it('orders like UTF-8 bytes, not like UTF-16 code units', () => {
    expect(byCodePoint('\uFFFD', '\u{1F600}')).toBeLessThan(0)
    expect('\uFFFD' < '\u{1F600}').toBe(false)
  })
})

describe('decisions per file', () => {
  it('spares a download only when the manifest vouches for the local bytes', () => {
    expect(needsDownload(SHA_A, SHA_A)).toBe(false)
    expect(needsDownload(SHA_A, SHA_B)).toBe(true)
    expect(needsDownload(SHA_A, undefined)).toBe(true)
    expect(needsDownload(undefined, SHA_A)).toBe(true)
  })

  it('refuses bytes the manifest does not name, and drops bytes equal to the file', () => {
    expect(downloadVerdict(SHA_A, SHA_B, undefined)).toBe('refuse')
    expect(downloadVerdict(SHA_A, SHA_B, SHA_B)).toBe('refuse')
    expect(downloadVerdict(SHA_A, SHA_A, SHA_B)).toBe('replace')
    expect(downloadVerdict(undefined, SHA_A, SHA_A)).toBe('unchanged')
    expect(downloadVerdict(undefined, SHA_A, SHA_B)).toBe('replace')
    expect(downloadVerdict(undefined, SHA_A, undefined)).toBe('replace')
  })

  it('deletes what no object stands for, and any name that is not UTF-8', () => {
    const objects = new Map([['a.py', 'dags/a.py']])
    expect(isExtraneous('a.py', objects)).toBe(false)
    expect(isExtraneous('b.py', objects)).toBe(true)
    expect(isExtraneous(undefined, objects)).toBe(true)
  })

  it('counts the folder and what is below it as inside, not a sibling sharing its name', () => {
    expect(isInside('/mnt/efs/dags', '/mnt/efs/dags')).toBe(true)
    expect(isInside('/mnt/efs/dags', '/mnt/efs/dags/sub')).toBe(true)
    expect(isInside('/mnt/efs/dags', '/mnt/efs/dags-old/sub')).toBe(false)
    expect(isInside('/mnt/efs/dags', '/mnt/efs')).toBe(false)
  })
})

describe('SyncLog', () => {
  it('caps the lines per file, keeps the notes and ends with the summary', () => {
    const log = new SyncLog()
    log.note('no readable manifest')
    for (let n = 0; n < 130; n++) log.detail(`downloaded "dag_${n}.py"`)
    log.note('a note after the cap')
    const lines = log.text({ downloaded: 130, deleted: 0, unchanged: 2, failed: 0 }).split('\n')
    expect(lines).toHaveLength(1 + 100 + 1 + 2)
    expect(lines[0]).toBe('no readable manifest')
    expect(lines[100]).toBe('downloaded "dag_99.py"')
    expect(lines.slice(-3)).toEqual([
      'a note after the cap',
      '... and 30 more lines like these',
      '130 downloaded, 0 deleted, 2 unchanged, 0 failed'
    ])
  })
})

describe('failureReason', () => {
  it('is absent when nothing failed', () => {
    expect(failureReason([], 0, undefined)).toBeUndefined()
  })

  it('names the count and the first key, escaped', () => {
    expect(failureReason(['dags/bad\tname.py', 'dags/x.py'], 0, undefined)).toBe(
      '2 key(s) not synced, the first "dags/bad\\tname.py"'
    )
  })

  it('names the deadline when downloads had not started', () => {
    expect(failureReason(['dags/a.py', 'dags/b.py'], 2, Date.UTC(2026, 0, 2, 3, 4, 5))).toBe(
      '2 key(s) not synced, the first "dags/a.py"; 2 download(s) had not started when the deadline (2026-01-02T03:04:05.000Z) passed'
    )
  })
})
