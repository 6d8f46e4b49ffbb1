// Passes the test run's output through (stdin to stdout) and fails when it held a line a GitHub
// runner would obey as a workflow command, or key material. .ci/run pipes `npm test` through it:
// the lines are shown defused, so the runner running CI never obeys them, and the run fails, so
// the test or helper that printed them gets fixed.
import { createInterface } from 'node:readline'
import { defuseLine, redactKeys, unsafeLine } from '../test-support/output-guard.mjs'

const found = []
const KEY_END = /-----END [A-Z0-9 ]+-----/
let number = 0
let inKey = false
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  number++
  if (inKey) {
    // The rest of a key block that began on an earlier line: left out up to its END line.
    found.push({ number, why: 'key material' })
    if (KEY_END.test(line)) {
      inKey = false
      process.stdout.write('[the rest of the key block left out]\n')
    }
    continue
  }
  const why = unsafeLine(line)
  if (why !== undefined) found.push({ number, why })
  if (why === 'key material') {
    process.stdout.write(`${defuseLine(redactKeys(line))}\n`)
    inKey = !KEY_END.test(line.slice(line.indexOf('-----BEGIN ') + 11))
  } else {
    process.stdout.write(`${defuseLine(line)}\n`)
  }
}
if (found.length > 0) {
  const kinds = [...new Set(found.map((entry) => entry.why))].join(' and ')
  const where = found
    .slice(0, 10)
    .map((entry) => `${entry.number} (${entry.why})`)
    .join(', ')
  console.log(
    `test output check: ${found.length} line(s) held ${kinds}, shown defused above; lines ${where}${found.length > 10 ? ', …' : ''}`
  )
  process.exitCode = 1
} else {
  console.log('test output check: no workflow command and no key material')
}
