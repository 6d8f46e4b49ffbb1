import { describe, expect, it } from '@jest/globals'
import { newManifest, type Manifest } from '../../../src/deploy-dags/plan.js'
import {
  FAILURE_LINE_LIMIT,
  failureLine,
  outputTail,
  RefreshFailed,
  refreshResult,
  verificationProblem,
  verifyWorkerFiles,
  type WorkerResult
} from '../../../src/refresh-workers/result.js'

const hash = (char: string) => char.repeat(64)

function manifest(entries: Record<string, string>): Manifest {
  const result = newManifest()
  for (const [path, sha256] of Object.entries(entries))
    result[path] = { sha256, size: 1, etag: 'e' }
  return result
}

function worker(instanceId: string, status: WorkerResult['status'], reason?: string): WorkerResult {
  return {
    instanceId,
    status,
    durationMs: 1200,
    filesVerified: status === 'refreshed' ? 3 : 0,
    outputTail: '',
    ...(reason !== undefined ? { reason } : {})
  }
}

describe('verifyWorkerFiles', () => {
  const recorded = manifest({ 'a.py': hash('a'), 'sub/b.py': hash('b'), 'c.py': hash('c') })

  it('decides each path against the manifest', () => {
    const reported = new Map<string, string | null>([
      ['a.py', hash('a')],
      ['sub/b.py', hash('f')],
      ['c.py', null],
      ['gone.py', hash('d')],
      ['deleted.py', null]
    ])
    const paths = ['sub/b.py', 'a.py', 'c.py', 'gone.py', 'deleted.py', 'unreported.py', 'a.py']
    expect(verifyWorkerFiles(paths, reported, recorded)).toEqual({
      verified: 3,
      problems: [
        { path: 'c.py', verdict: 'missing' },
        { path: 'gone.py', verdict: 'unexpected' },
        { path: 'sub/b.py', verdict: 'mismatched' }
      ]
    })
  })

  it('counts a deleted path the worker does not report as gone', () => {
    expect(verifyWorkerFiles(['old.py'], new Map(), recorded)).toEqual({
      verified: 1,
      problems: []
    })
  })

  it('takes an upper-case or padded hash, and no hash of the wrong shape', () => {
    const reported = new Map([
      ['a.py', ` ${hash('A')}\n`],
      ['sub/b.py', hash('b').slice(1)],
      ['c.py', 'c'.repeat(64) + 'c']
    ])
    expect(verifyWorkerFiles(['a.py', 'sub/b.py', 'c.py'], reported, recorded)).toEqual({
      verified: 1,
      problems: [
        { path: 'c.py', verdict: 'mismatched' },
        { path: 'sub/b.py', verdict: 'mismatched' }
      ]
    })
  })

  it('verifies nothing against a manifest entry that holds no SHA-256', () => {
    const odd = manifest({ 'a.py': '', 'b.py': 'not-a-hash' })
    const reported = new Map([
      ['a.py', ''],
      ['b.py', 'not-a-hash']
    ])
    expect(verifyWorkerFiles(['a.py', 'b.py'], reported, odd).verified).toBe(0)
  })

  it('never takes an inherited property for a manifest entry', () => {
    const reported = new Map([['constructor', hash('a')]])
    expect(verifyWorkerFiles(['constructor'], reported, recorded).problems).toEqual([
      { path: 'constructor', verdict: 'unexpected' }
    ])
  })

  it('verifies nothing for no paths', () => {
    expect(verifyWorkerFiles([], new Map(), recorded)).toEqual({ verified: 0, problems: [] })
  })
})

describe('verificationProblem', () => {
  it('is undefined when every file verified', () => {
    expect(verificationProblem({ verified: 4, problems: [] })).toBeUndefined()
  })

  it('names the first files, escaped, and counts the rest', () => {
    const problems = ['a\n::x.py', 'b.py', 'c.py', 'd.py', 'e.py', 'f.py', 'g.py'].map((path) => ({
      path,
      verdict: 'mismatched' as const
    }))
    expect(verificationProblem({ verified: 0, problems })).toBe(
      '7 files not as deployed: a\\n:\\x3ax.py mismatched, b.py mismatched, c.py mismatched, d.py mismatched, e.py mismatched and 2 more'
    )
    expect(
      verificationProblem({ verified: 0, problems: [{ path: 'a.py', verdict: 'missing' }] })
    ).toBe('1 file not as deployed: a.py missing')
  })
})

describe('outputTail', () => {
  it('keeps the end of a long output', () => {
    expect(outputTail('short')).toBe('short')
    expect(outputTail('0123456789', 4)).toBe('…6789')
    expect(outputTail('x'.repeat(2000))).toHaveLength(2000)
    expect(outputTail('ab😀', 1)).toBe('…😀')
  })
})

describe('failureLine', () => {
  it('is undefined when every worker is refreshed, or there is none', () => {
    expect(
      failureLine([worker('i-1', 'refreshed'), worker('i-2', 'refreshed')], false)
    ).toBeUndefined()
    expect(failureLine([], false)).toBeUndefined()
  })

  it('names each failing worker and why, in instance order', () => {
    const workers = [
      worker('i-3', 'offline', 'SSM agent ConnectionLost'),
      worker('i-1', 'failed', '2 files not as deployed: a.py missing, b.py mismatched'),
      worker('i-2', 'timed-out', 'no answer before the deadline'),
      worker('i-4', 'refreshed')
    ]
    expect(failureLine(workers, false)).toBe(
      '3 of 4 workers not refreshed: i-1 failed (2 files not as deployed: a.py missing, b.py mismatched); ' +
        'i-2 timed out (no answer before the deadline); i-3 is not Online in SSM (SSM agent ConnectionLost)'
    )
    expect(failureLine(workers, true)).toBe(
      '2 of 4 workers not refreshed: i-1 failed (2 files not as deployed: a.py missing, b.py mismatched); ' +
        'i-2 timed out (no answer before the deadline)'
    )
  })

  it('tolerates offline workers only when configured to', () => {
    const workers = [worker('i-1', 'offline'), worker('i-2', 'refreshed')]
    expect(failureLine(workers, true)).toBeUndefined()
    expect(failureLine([worker('i-1', 'failed')], false)).toBe(
      '1 of 1 worker not refreshed: i-1 failed'
    )
  })

  it('stays one escaped line within the limit, counting the workers left out', () => {
    const workers = Array.from({ length: 300 }, (_, n) =>
      worker(
        `i-${String(n).padStart(17, '0')}`,
        'failed',
        `exit 1\n::error::${'\u2028'.repeat(300)}`
      )
    )
    const line = failureLine(workers, false) as string
    expect(line.length).toBeLessThanOrEqual(FAILURE_LINE_LIMIT)
    expect(line).toMatch(
      /^300 of 300 workers not refreshed: i-00000000000000000 failed \(exit 1\\n:\\x3aerror/
    )
    expect(line).toMatch(/; and \d+ more$/)
    expect(line).not.toMatch(/[\n\r\u2028]|::/)
    const named = line.match(/i-\d{17} failed/g)?.length ?? 0
    expect(named + Number(line.match(/and (\d+) more$/)?.[1])).toBe(300)
  })

  it('escapes and caps a hostile instance id', () => {
    const line = failureLine([worker(`i-\n::${'\u2028'.repeat(500)}`, 'failed')], false) as string
    expect(line.length).toBeLessThanOrEqual(FAILURE_LINE_LIMIT)
    expect(line).toContain('i-\\n:\\x3a\\u2028')
  })
})

describe('refreshResult', () => {
  it('sorts and counts the workers and sets no error when all are refreshed', () => {
    const result = refreshResult({
      kind: 'deploy',
      bucket: 'airflow-dags',
      prefix: 'dags',
      sha: 'a'.repeat(40),
      workers: [worker('i-2', 'refreshed'), worker('i-1', 'refreshed'), worker('i-3', 'offline')],
      tolerateOffline: true
    })
    expect(result).toEqual({
      ok: true,
      kind: 'deploy',
      source: 's3://airflow-dags/dags/',
      sha: 'a'.repeat(40),
      counts: { refreshed: 2, failed: 0, 'timed-out': 0, offline: 1 },
      workers: [worker('i-1', 'refreshed'), worker('i-2', 'refreshed'), worker('i-3', 'offline')]
    })
  })

  it('carries the failure line and is thrown with it', () => {
    const result = refreshResult({
      kind: 'resync',
      bucket: 'airflow-dags',
      prefix: '',
      workers: [worker('i-1', 'timed-out', 'no answer before the deadline')],
      tolerateOffline: false
    })
    expect(result).toMatchObject({
      ok: false,
      source: 's3://airflow-dags/',
      counts: { refreshed: 0, failed: 0, 'timed-out': 1, offline: 0 },
      error: '1 of 1 worker not refreshed: i-1 timed out (no answer before the deadline)'
    })
    expect(result).not.toHaveProperty('sha')
    const error = new RefreshFailed(result)
    expect(error.message).toBe(result.error)
    expect(error.result).toBe(result)
  })

  it('is ok with no workers', () => {
    const result = refreshResult({
      kind: 'deploy',
      bucket: 'b',
      prefix: 'dags',
      workers: [],
      tolerateOffline: false
    })
    expect(result).toMatchObject({ ok: true, workers: [] })
    expect(result).not.toHaveProperty('error')
  })
})
