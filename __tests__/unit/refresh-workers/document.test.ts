import { describe, expect, it } from '@jest/globals'
import {
  REPORT_OUTPUT_BUDGET,
  REPORT_PATHS_LIMIT,
  encode,
  reportPathsFitting
} from '../../../src/refresh-workers/document.js'

/** The worker's report line for `paths`, as infra/worker/sync-dags.sh prints it (json.dumps). */
function reportLine(paths: string[]): string {
  const hashes = Object.fromEntries(paths.map((path) => [path, 'a'.repeat(64)]))
  const failedKeys = Array.from({ length: 20 }, () => 'k'.repeat(200))
  const result = {
    deleted: 0,
    downloaded: 0,
    failed: 20,
    failedKeys,
    hashes,
    tree: { files: 99999, sha256: 'b'.repeat(64) },
    unchanged: 0
  }
  // Python's json.dumps puts a blank after every colon and comma.
  return `SYNC-RESULT ${JSON.stringify(result).replace(/":/g, '": ').replace(/,"/g, ', "')}`
}

describe('reportPathsFitting', () => {
  it('asks about as many paths as keep the report line, behind 8,000 characters of detail, within the 24,000 SSM keeps', () => {
    const paths = Array.from({ length: 400 }, (_, n) => `dags_${String(n).padStart(4, '0')}.py`)
    const chosen = reportPathsFitting(paths)
    expect(chosen.length).toBeGreaterThan(100)
    expect(chosen.length).toBeLessThan(400)
    expect(chosen).toEqual(paths.slice(0, chosen.length))
    const output = 8000 + 200 + reportLine(chosen).length
    expect(output).toBeLessThan(24_000)
    // The same paths asked in another order give the same choice: the first in path order.
    expect(reportPathsFitting([...paths].reverse())).toEqual(chosen)
  })

  it('keeps long paths within both the command and the output budget', () => {
    const long = Array.from({ length: 200 }, (_, n) => `${'deep/'.repeat(40)}file_${n}.py`)
    const chosen = reportPathsFitting(long)
    expect(encode(chosen.join('\n')).length).toBeLessThanOrEqual(REPORT_PATHS_LIMIT)
    expect(
      chosen.reduce((sum, path) => sum + JSON.stringify(path).length + 70, 0)
    ).toBeLessThanOrEqual(REPORT_OUTPUT_BUDGET)
  })

  it('sorts, drops repeats and paths with line breaks', () => {
    expect(reportPathsFitting(['b.py', 'a.py', 'b.py', 'x\ny.py', 'c\r.py'])).toEqual([
      'a.py',
      'b.py'
    ])
  })
})
