import { describe, expect, it } from '@jest/globals'
import {
  BODY_LIMIT,
  deployedBody,
  hasMarker,
  planBody,
  planMarker,
  type PlanReport
} from '../../../src/deploy-report/body.js'
import { NO_CHANGES, parseChanges, type Changes } from '../../../src/deploy-report/changes.js'
import { rateLimitWait } from '../../../src/deploy-report/rate-limit.js'
import { parseRefreshResponse } from '../../../src/deploy-report/refresh.js'
import { plainText } from '../../../src/deploy-report/markdown.js'

const run = {
  serverUrl: 'https://github.com',
  repository: 'octo-org/airflow',
  runId: '4242',
  attempt: '2'
}
const changes = (uploaded: string[], deleted: string[]): Changes => ({
  uploaded,
  deleted,
  uploadedCount: uploaded.length,
  deletedCount: deleted.length,
  truncated: false
})
const report = (overrides: Partial<PlanReport> = {}): PlanReport => ({
  target: 's3://dags-bucket/dags/',
  changes: changes(['dags/a.py'], ['dags/old.py']),
  validation: 'success',
  planOutcome: 'success',
  run,
  ...overrides
})

describe('planBody', () => {
  it('starts with the marker naming the target and lists deletes before uploads', () => {
    const body = planBody(report())
    expect(body.split('\n')[0]).toBe(
      '<!-- airflow-aws-deploy-actions:plan s3://dags-bucket/dags/ -->'
    )
    expect(body).toContain('A merge would **delete 1 file** and upload 1 file.')
    expect(body.indexOf('🗑️ **delete** `dags/old.py`')).toBeGreaterThan(0)
    expect(body.indexOf('`dags/old.py`')).toBeLessThan(body.indexOf('`dags/a.py`'))
    expect(body).toContain('| DAG validation | ✅ passed |')
    expect(body).toContain('| Delete guard | ✅ would let the deletes through |')
    expect(body).toContain(
      '[Workflow run 4242, attempt 2](https://github.com/octo-org/airflow/actions/runs/4242/attempts/2)'
    )
    expect(body).not.toContain('<details>')
  })

  it('says no changes plainly', () => {
    const body = planBody(report({ changes: NO_CHANGES }))
    expect(body).toContain('**No changes.** A merge would upload nothing and delete nothing.')
    expect(body).not.toContain('To upload')
  })

  it('does not call a failed plan "no changes"', () => {
    const body = planBody(report({ changes: NO_CHANGES, planOutcome: 'failure' }))
    expect(body).not.toContain('No changes')
    expect(body).toContain('The plan did not complete (failure)')
  })

  it('does not call a plan that never ran "no changes", nor a failure before it passing', () => {
    const skipped = planBody(report({ changes: NO_CHANGES, planOutcome: 'skipped' }))
    expect(skipped).toContain('**No plan.**')
    expect(skipped).not.toContain('No changes')
    const failedEarly = planBody(report({ changes: NO_CHANGES, planOutcome: 'failure' }))
    const after = planBody(report({ changes: NO_CHANGES, planOutcome: 'failure' }), failedEarly)
    expect(after).not.toContain('pass again')
    expect(after).not.toContain('No changes')
  })

  it('folds long lists and counts what is left out', () => {
    const uploaded = Array.from({ length: 120 }, (_, i) => `dags/u${i}.py`)
    const body = planBody(report({ changes: changes(uploaded, []) }))
    expect(body).toContain('<details><summary>Show the 120 files to upload</summary>')
    expect(body).toContain('- … and 70 more')
    expect(body).toContain('`dags/u49.py`')
    expect(body).not.toContain('`dags/u50.py`')
  })

  it('uses the counts of a truncated changes document', () => {
    const body = planBody(
      report({
        changes: { ...changes(['a'], ['b']), uploadedCount: 900, deletedCount: 3, truncated: true }
      })
    )
    expect(body).toContain('**delete 3 files** and upload 900 files')
    expect(body).toContain('- … and 899 more')
    expect(body).toContain('the counts are complete')
  })

  it('stays far below GitHub’s limit for thousands of long keys', () => {
    const long = (i: number) => `dags/${'x'.repeat(1000)}${i}\u0001.py`
    const many = Array.from({ length: 5000 }, (_, i) => long(i))
    const body = planBody(report({ changes: changes(many, many), refusal: 'r'.repeat(100_000) }))
    expect(body.length).toBeLessThanOrEqual(BODY_LIMIT)
    expect(body).toContain('and 4950 more')
  })

  it('shows the refusal and MWAA line, and says when checks pass again', () => {
    const failing = planBody(
      report({
        refusal: 'would delete 9 of 10 objects (90%)',
        mwaa: { environment: 'prod', updated: true }
      })
    )
    expect(failing).toContain(
      '| Delete guard | ❌ would refuse: would delete 9 of 10 objects \\(90%\\) |'
    )
    expect(failing).toContain('MWAA environment `prod`: **a merge starts an environment update**.')
    expect(failing).not.toContain('pass again')
    const passing = planBody(report(), failing)
    expect(passing).toContain('✅ **The checks pass again.**')
    expect(planBody(report(), passing)).not.toContain('pass again')
    expect(planBody(report(), failing.replace(/\n/g, '\r\n'))).toContain('pass again')
    expect(planBody(report({ validation: 'failure' }), failing)).not.toContain('pass again')
  })

  it('keeps hostile keys inert: no HTML, no closing details, no mention, no marker', () => {
    const hostile = [
      '</details><img src=x onerror=alert(1)>',
      'a`b`</summary>\n\n<script>x</script>',
      '@octo-org/admins #1',
      planMarker('s3://other/'),
      'line\r\n</details>'
    ]
    const deleted = Array.from({ length: 12 }, (_, i) => hostile[i % hostile.length] as string)
    const body = planBody(
      report({ changes: changes(hostile, deleted), refusal: '<b>@boss</b> `x`' })
    )
    const lines = body.split('\n')
    // Every key is inside a code span on its own list line.
    for (const line of lines.filter((l) => l.includes('img') || l.includes('script'))) {
      expect(line).toMatch(/^- (🗑️ \*\*delete\*\* )?`[^`]*`$/)
    }
    expect(lines.filter((l) => l === '</details>')).toHaveLength(1)
    expect(lines.filter((l) => l.startsWith('<!--'))).toHaveLength(2)
    expect(body).toContain('❌ would refuse: &lt;b&gt;&#64;boss&lt;/b&gt; \\`x\\`')
    expect(hasMarker(body, planMarker('s3://other/'))).toBe(false)
    expect(hasMarker(body, planMarker('s3://dags-bucket/dags/'))).toBe(true)
  })

  it('percent-encodes a marker so a prefix cannot end the HTML comment', () => {
    expect(planMarker('s3://b/a-->x y/')).toBe(
      '<!-- airflow-aws-deploy-actions:plan s3://b/a--%3Ex%20y/ -->'
    )
  })
})

describe('deployedBody', () => {
  it('is a short note with the commit, counts, short lists and workers', () => {
    const body = deployedBody({
      target: 's3://dags-bucket/dags/',
      sha: 'ffac537e6cbbf934b08745a378932722df287a53',
      changes: changes(['a', 'b', 'c', 'd', 'e', 'f', 'g'], ['z']),
      refresh: parseRefreshResponse(
        JSON.stringify({
          ok: false,
          workers: [
            { instanceId: 'i-1', status: 'refreshed', durationMs: 1200, filesVerified: 8 },
            { instanceId: 'i-2', status: 'failed', durationMs: 'x', reason: '<b>disk full</b>' },
            'garbage'
          ]
        })
      ),
      run: { ...run, attempt: '1' }
    })
    expect(body.split('\n')[0]).toBe(
      '<!-- airflow-aws-deploy-actions:deployed s3://dags-bucket/dags/ ffac537e6cbbf934b08745a378932722df287a53 -->'
    )
    expect(body).toContain('Commit `ffac537e6cbb`: 7 uploaded, 1 deleted.')
    expect(body).toContain('Uploaded: `a`, `b`, `c`, `d`, `e` and 2 more')
    expect(body).toContain('Workers: 1 of 2 refreshed ❌.')
    expect(body).toContain('- ✅ `i-1` refreshed (1.2 s; 8 files verified)')
    expect(body).toContain('- ❌ `i-2` failed (&lt;b&gt;disk full&lt;/b&gt;)')
    expect(body).toContain('(https://github.com/octo-org/airflow/actions/runs/4242)')
  })
})

describe('parseChanges', () => {
  it('reads deploy-dags changes, empty as none, and refuses other shapes', () => {
    expect(parseChanges('')).toEqual(NO_CHANGES)
    expect(parseChanges('{"uploaded":["a"],"deleted":[]}')).toEqual(changes(['a'], []))
    expect(
      parseChanges(
        '{"uploaded":["a"],"deleted":[],"truncated":true,"uploadedCount":5,"deletedCount":2}'
      )
    ).toEqual({
      uploaded: ['a'],
      deleted: [],
      uploadedCount: 5,
      deletedCount: 2,
      truncated: true
    })
    expect(parseChanges('[1]')).toEqual({ problem: expect.stringContaining('JSON object') })
    expect(parseChanges('{"uploaded":[1]}')).toEqual({ problem: expect.stringContaining('lists') })
    expect(parseChanges('nope')).toEqual({ problem: expect.stringContaining('not JSON') })
  })
})

describe('rateLimitWait', () => {
  const now = 1_700_000_000_000
  it('honours retry-after, then the reset time, and tells a refusal from a limit', () => {
    expect(rateLimitWait(403, { 'retry-after': '3' }, now)).toBe(3000)
    expect(rateLimitWait(429, { 'retry-after': new Date(now + 5000).toUTCString() }, now)).toBe(
      5000
    )
    expect(
      rateLimitWait(
        403,
        { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 7) },
        now
      )
    ).toBe(7000)
    expect(rateLimitWait(429, {}, now)).toBe(60_000)
    expect(rateLimitWait(403, {}, now)).toBeUndefined()
    expect(rateLimitWait(403, { 'x-ratelimit-remaining': '12' }, now)).toBeUndefined()
    expect(rateLimitWait(500, { 'retry-after': '1' }, now)).toBeUndefined()
  })
})

describe('plainText', () => {
  it('shows markup as characters on one line', () => {
    expect(plainText('a\n*b* [l](u) <i> & @x #1')).toBe(
      'a \\*b\\* \\[l\\]\\(u\\) &lt;i&gt; &amp; &#64;x \\#1'
    )
  })
})
