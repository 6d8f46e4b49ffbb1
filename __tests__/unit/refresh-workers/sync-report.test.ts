import { describe, expect, it } from '@jest/globals'
import { parseSyncReport } from '../../../src/refresh-workers/sync-report.js'

const SHA_A = 'a'.repeat(64)
const report = (fields: Record<string, unknown>) =>
  `SYNC-RESULT ${JSON.stringify({
    downloaded: 1,
    deleted: 0,
    unchanged: 2,
    failed: 0,
    failedKeys: [],
    hashes: {},
    tree: { files: 3, sha256: SHA_A },
    ...fields
  })}`

describe('parseSyncReport', () => {
  it('reads the counts and the hashes, null for an absent file', () => {
    const output = [
      'downloaded "a.py"',
      '1 downloaded, 0 deleted, 2 unchanged, 0 failed',
      report({ hashes: { 'a.py': SHA_A, 'gone.py': null } })
    ].join('\n')
    const parsed = parseSyncReport(output)
    expect(parsed).toEqual({
      downloaded: 1,
      deleted: 0,
      unchanged: 2,
      failed: 0,
      failedKeys: [],
      hashes: new Map([
        ['a.py', SHA_A],
        ['gone.py', null]
      ]),
      tree: { files: 3, sha256: SHA_A }
    })
  })

  it('takes the last result line, after any line that only mentions the marker', () => {
    const output = `echo SYNC-RESULT in a DAG name\n${report({ downloaded: 9 })}\n${report({ downloaded: 3 })}\n`
    const parsed = parseSyncReport(output)
    expect('problem' in parsed ? parsed.problem : parsed.downloaded).toBe(3)
  })

  it('names a run that printed no result: killed, or its output cut short by SSM', () => {
    expect(parseSyncReport('downloaded "a.py"\n')).toEqual({
      problem: expect.stringContaining('no SYNC-RESULT line')
    })
  })

  it.each([
    ['SYNC-RESULT {not json', 'not JSON'],
    ['SYNC-RESULT [1]', 'not a JSON object'],
    [report({ downloaded: -1 }), 'downloaded is not a count'],
    [report({ failed: 1.5 }), 'failed is not a count'],
    [report({ failedKeys: [3] }), 'failedKeys is not a list'],
    [report({ hashes: [] }), 'hashes is not an object'],
    [report({ hashes: { 'a.py': 'abc' } }), "hash for 'a.py' is not a SHA-256"],
    [report({ hashes: { 'x\n::warning::y': 'abc' } }), "hash for 'x\\n:\\x3awarning:\\x3ay'"],
    [report({ tree: undefined }), 'tree is not a file count'],
    [report({ tree: { files: -1, sha256: SHA_A } }), 'tree is not a file count'],
    [report({ tree: { files: 2, sha256: 'A'.repeat(64) } }), 'tree is not a file count']
  ])('refuses %j: %s', (output, problem) => {
    const parsed = parseSyncReport(output)
    expect('problem' in parsed ? parsed.problem : 'parsed').toContain(problem)
  })
})
