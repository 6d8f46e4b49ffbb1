import { describe, expect, it } from '@jest/globals'
import type { SyncPlan } from '../../src/deploy-dags/plan.js'
import { changesJson, summaryMarkdown } from '../../src/deploy-dags/report.js'

function planWith(uploads: number, deletes: number): SyncPlan {
  return {
    uploads: Array.from({ length: uploads }, (_, i) => ({
      key: `dags/file-${i}.py`,
      reason: 'new' as const,
      file: { path: `file-${i}.py`, absolutePath: '', size: 1000, sha256: '', md5: '' }
    })),
    deletes: Array.from({ length: deletes }, (_, i) => ({ key: `dags/old-${i}.py`, size: 10 })),
    unchanged: ['dags/same.py'],
    remoteCount: deletes + 1,
    verified: {}
  }
}

describe('changesJson', () => {
  it('lists every uploaded and deleted key', () => {
    expect(JSON.parse(changesJson(planWith(2, 1)))).toEqual({
      uploaded: ['dags/file-0.py', 'dags/file-1.py'],
      deleted: ['dags/old-0.py']
    })
  })

  it('caps a huge plan and says it is truncated', () => {
    const text = changesJson(planWith(5000, 3000), 10_000)
    expect(text.length).toBeLessThanOrEqual(10_000)
    const parsed = JSON.parse(text)
    expect(parsed.truncated).toBe(true)
    expect(parsed.uploadedCount).toBe(5000)
    expect(parsed.deletedCount).toBe(3000)
    expect(parsed.uploaded.length).toBeGreaterThan(0)
  })
})

describe('changesJson byte limit', () => {
  it('measures the limit in UTF-8 bytes, as the runner does', () => {
    const plan = planWith(300, 0)
    plan.uploads.forEach((u, i) => (u.key = `dags/日本語のダグ_${i}.py`))
    const text = changesJson(plan, 4000)
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(4000)
    expect(JSON.parse(text).truncated).toBe(true)
  })
})

describe('summaryMarkdown', () => {
  it('shows the plan in a dry run and caps the key lists', () => {
    const text = summaryMarkdown({
      outcome: 'planned',
      uri: 's3://b/dags/',
      plan: planWith(250, 1),
      durationMs: 1500
    })
    expect(text).toContain('dry run, nothing changed')
    expect(text).toContain('| To upload | 250 | 244.1 KiB |')
    expect(text).toContain('| To delete | 1 | 10 B |')
    expect(text).toContain('… and 50 more')
    expect(text).toContain('Duration: 1.5 s')
  })

  it('states a refusal', () => {
    const text = summaryMarkdown({
      outcome: 'refused',
      uri: 's3://b/dags/',
      plan: planWith(0, 3),
      durationMs: 10,
      refusal: 'Refusing to delete 3 of 4 objects'
    })
    expect(text).toContain('DAG deploy refused (nothing changed)')
    expect(text).toContain('> **Refused:** Refusing to delete 3 of 4 objects')
  })
})
