// Runs the whole test suite several times in a row (default 3) while two CPU-bound processes keep
// both cores of a small machine busy, as a shared CI runner may be. A test that orders events by
// a fixed delay instead of waiting for the event fails here. Usage:
//   npm run test:load [-- --runs N --burners N --run-timeout-minutes N [jest arguments]]
// Each run is `npm test` (given Jest arguments, such as test paths, narrow it) with its own JSON
// result. The burners are always stopped, also on Ctrl-C, and stop by themselves if this script is
// killed; a run that does not end within --run-timeout-minutes (default 30) is stopped and failed.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const { values, positionals: jestArguments } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '3' },
    burners: { type: 'string', default: '2' },
    'run-timeout-minutes': { type: 'string', default: '30' }
  }
})
const count = (name) => {
  const value = Number(values[name])
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name}: '${values[name]}' is not a whole number of at least 1`)
    process.exit(2)
  }
  return value
}
const runs = count('runs')
const burnerCount = count('burners')
const runTimeoutMs = count('run-timeout-minutes') * 60_000
const root = resolve(import.meta.dirname, '..')
const resultsDir = mkdtempSync(join(tmpdir(), 'test-under-load-'))

// Plain busy loops, one core each. Now and then each checks that this script still runs and that
// the longest the runs may take has not passed, so that none outlives it even when it is killed.
const burnerLimitMs = runs * runTimeoutMs + 60_000
const burnerCode = `
  const parent = process.ppid
  const end = Date.now() + ${burnerLimitMs}
  for (let i = 1; ; i++) {
    if (i % 50_000_000 === 0 && (process.ppid !== parent || Date.now() > end)) process.exit(0)
  }`
const burners = Array.from({ length: burnerCount }, () =>
  spawn(process.execPath, ['-e', burnerCode], { stdio: 'ignore' })
)
let current
const stopAll = () => {
  for (const burner of burners) burner.kill('SIGKILL')
  // The test run is its own process group: its jest workers, servers and bundles go with it.
  if (current?.exitCode === null) killGroup(current.pid, 'SIGKILL')
  rmSync(resultsDir, { recursive: true, force: true })
}
const killGroup = (pid, signal) => {
  try {
    process.kill(-pid, signal)
  } catch {
    // already gone
  }
}
process.on('exit', stopAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`test-under-load: ${signal}; stopping the test run and the burners`)
    process.exit(130)
  })
}

function runSuite(number) {
  const resultFile = join(resultsDir, `run-${number}.json`)
  return new Promise((resolvePromise) => {
    const args = ['test', '--', '--json', `--outputFile=${resultFile}`, ...jestArguments]
    const child = spawn('npm', args, {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true
    })
    current = child
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child.pid, 'SIGKILL')
    }, runTimeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      let passed = 0
      let failed = 0
      try {
        const result = JSON.parse(readFileSync(resultFile, 'utf8'))
        passed = result.numPassedTests
        failed = result.numFailedTests + (result.numRuntimeErrorTestSuites ?? 0)
      } catch {
        // no result file: the run did not get as far as Jest's report
      }
      const ok = code === 0 && !timedOut && failed === 0 && passed > 0
      const why = timedOut ? `, stopped after ${runTimeoutMs / 60_000} min` : `, exit ${code}`
      resolvePromise({ ok, line: `run ${number}: ${passed} tests passed, ${failed} failed${why}` })
    })
  })
}

console.log(
  `test-under-load: ${runs} run(s) of npm test beside ${burnerCount} busy-loop process(es)`
)
const lines = []
let passedRuns = 0
for (let number = 1; number <= runs; number++) {
  const { ok, line } = await runSuite(number)
  lines.push(`${line} → ${ok ? 'passed' : 'FAILED'}`)
  console.log(`test-under-load: ${lines.at(-1)}`)
  if (ok) passedRuns++
}
console.log(`test-under-load: ${lines.length} run(s) beside ${burnerCount} burner(s)`)
for (const line of lines) console.log(`  ${line}`)
console.log(`${passedRuns} passed, ${runs - passedRuns} failed`)
process.exit(passedRuns === runs ? 0 : 1)
