import { describe, expect, it } from '@jest/globals'
import { parseAddress } from '../../../src/ephemeral-sg-ssh/ip.js'
import { summaryMarkdown, sweepSummaryMarkdown } from '../../../src/ephemeral-sg-ssh/report.js'

const address = parseAddress('203.0.113.7')!
const deployed = {
  address,
  rules: [{ groupId: 'sg-aaaaaaaa', ruleId: 'sgr-1' }],
  unclosed: [],
  results: [{ host: 'web-1', status: 'succeeded' as const, exitCode: 0, durationMs: 1200 }],
  exposureSeconds: 4.2,
  swept: []
}

describe('summaryMarkdown', () => {
  it('names the port the rule opened, not the port input', () => {
    const text = summaryMarkdown({ ...deployed, ports: [39745] })
    expect(text).toContain(
      'Runner address `203.0.113.7/32` was allowed on port 39745 through 1 rule(s) for 4.2 s.'
    )
    expect(text).not.toContain('port 22')
  })

  it('names every port opened', () => {
    expect(summaryMarkdown({ ...deployed, ports: [22, 2222] })).toContain(
      'was allowed on ports 22, 2222 through 1 rule(s)'
    )
  })

  it('lists the expired rules the deploy swept first', () => {
    const text = summaryMarkdown({ ...deployed, ports: [22], swept: ['sgr-old1', 'sgr-old2'] })
    expect(text).toContain('Closed 2 expired rule(s) left by earlier runs: sgr-old1, sgr-old2.')
    expect(summaryMarkdown({ ...deployed, ports: [22] })).not.toContain('expired rule')
  })
})

describe('sweepSummaryMarkdown', () => {
  const swept = {
    groupId: 'sg-aaaaaaaa',
    ruleId: 'sgr-old',
    tags: { 'expires-at': '2026-01-01T06:00:00.000Z', 'run-id': '77', repository: 'acme/web' }
  }

  it('says nothing had expired', () => {
    expect(sweepSummaryMarkdown(['sg-aaaaaaaa', 'sg-bbbbbbbb'], { swept: [], failed: [] })).toBe(
      '### Expired deploy rules swept\n\nNo rule of this action had expired in `sg-aaaaaaaa`, `sg-bbbbbbbb`; nothing was closed.\n'
    )
  })

  it('lists each rule closed, with its expiry and the run that left it', () => {
    const text = sweepSummaryMarkdown(['sg-aaaaaaaa'], { swept: [swept], failed: [] })
    expect(text).toContain('Closed 1 rule(s) of this action past their expiry in `sg-aaaaaaaa`:')
    expect(text).toContain(
      '| `sgr-old` | `sg-aaaaaaaa` | expired `2026-01-01T06:00:00.000Z` | `acme/web` run `77` |'
    )
  })

  it('falls back to the creation time, and flags what would not close', () => {
    const old = { groupId: 'sg-aaaaaaaa', ruleId: 'sgr-older', tags: { 'created-at': '2025' } }
    const text = sweepSummaryMarkdown(['sg-aaaaaaaa'], {
      swept: [old],
      failed: [{ rule: { ...swept, ruleId: 'sgr-stuck' }, reason: 'denied | no' }]
    })
    expect(text).toContain('| `sgr-older` | `sg-aaaaaaaa` | created `2025` |  |')
    expect(text).toContain('> **Still open:** `sgr-stuck` in `sg-aaaaaaaa` (`denied \\| no`).')
  })
})
