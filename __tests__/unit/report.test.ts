import { describe, expect, it } from '@jest/globals'
import type { SyncPlan } from '../../src/deploy-dags/plan.js'
import { changesJson, summaryMarkdown } from '../../src/deploy-dags/report.js'
import { markdownCode } from '../../src/common/summary.js'

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

describe('summary with keys from the bucket or the repository', () => {
  const hostile = [
    'dags/x.py\n::add-mask::dags',
    'dags/y.py\r\r</details><img src=x onerror=alert(1)>',
    'dags/z.py`</details>`|',
    'dags/w.py\u2028# heading'
  ]
  const plan = (): SyncPlan => ({
    uploads: hostile.map((key) => ({
      key,
      reason: 'new' as const,
      file: { path: key.slice(5), absolutePath: '', size: 1, sha256: '', md5: '' }
    })),
    deletes: hostile.map((key) => ({ key: `${key}.old`, size: 1 })),
    unchanged: [],
    remoteCount: hostile.length,
    verified: {}
  })

  it('keeps each key on one line inside one code span, shown as the log shows it', () => {
    const text = summaryMarkdown({
      outcome: 'planned',
      uri: 's3://b/dags/',
      plan: plan(),
      durationMs: 1
    })
    const lines = text.split(/\r\n|\r|\n|\u2028|\u2029/)
    // Two sections, each closed once; a key's `</details>` stays inside its code span, where
    // Markdown shows HTML as text, and never starts a line, where it would be an HTML block.
    expect(lines.filter((line) => line.includes('</details>') && !line.startsWith('- `'))).toEqual([
      '</details>',
      '</details>'
    ])
    const keyLines = lines.filter((line) => line.startsWith('- '))
    expect(keyLines).toHaveLength(hostile.length * 2)
    for (const line of keyLines) expect(line).toMatch(/^- `[^`]*`( \([a-z]+\))?$/)
    expect(text).toContain('- `dags/x.py\\n:\\x3aadd-mask:\\x3adags` (new)')
    expect(text).toContain("- `dags/z.py'</details>'\\|` (new)")
  })

  it('lists drift found by verify, and says how much it checked', () => {
    const base = planWith(1, 0)
    const drift = [{ key: 'dags/a\n.py', file: base.uploads[0]!.file, found: 'checksum differs' }]
    const text = summaryMarkdown({
      outcome: 'deployed',
      uri: 's3://b/dags/',
      plan: base,
      durationMs: 1,
      verified: true,
      drift
    })
    expect(text).toContain('| Drifted (verify) | 1 | |')
    expect(text).toContain(
      "<details><summary>Drifted: the bucket did not hold the file's bytes (1)"
    )
    expect(text).toContain('- `dags/a\\n.py` (checksum differs)')
    const quiet = summaryMarkdown({
      outcome: 'deployed',
      uri: 's3://b/dags/',
      plan: base,
      durationMs: 1
    })
    expect(quiet).not.toContain('Drifted')
  })
})

describe('markdownCode', () => {
  it('puts any text on one line in one code span', () => {
    expect(markdownCode('a\r\rb\n\nc\u2028d')).toBe('`a  b  c d`')
    expect(markdownCode('x\u0007y\u009bz')).toBe('`x\\x07y\\x9bz`')
    expect(markdownCode('`a|b`')).toBe("`'a\\|b'`")
  })
})
