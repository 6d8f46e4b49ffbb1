// Helpers shared by the benchmark scripts (bench/deploy-dags.mjs, bench/ephemeral-sg-ssh.mjs):
// command-line options, seeded generators, timed processes, formatting and the machine report.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

export const repoRoot = resolve(import.meta.dirname, '..')

export function positiveInteger(text, flag) {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${flag} must be a positive integer, got '${text}'`)
  return value
}

/**
 * The options every benchmark takes: --write, --files N (at least `minFiles`, default `files`)
 * and --repeats N (default 3).
 */
export function benchOptions({ files, minFiles }) {
  const { values } = parseArgs({
    options: {
      write: { type: 'boolean', default: false },
      files: { type: 'string', default: files },
      repeats: { type: 'string', default: '3' }
    }
  })
  const fileCount = positiveInteger(values.files, '--files')
  if (fileCount < minFiles)
    throw new Error(`--files must be at least ${minFiles}, got ${fileCount}`)
  return {
    write: values.write,
    files: fileCount,
    repeats: positiveInteger(values.repeats, '--repeats')
  }
}

// Two seeded generators, numbers in [0, 1): each script keeps the one it was written with, as
// another would generate a different tree and make its figures incomparable with earlier runs.

/** mulberry32 (bench/deploy-dags.mjs). */
export function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** splitmix32 (bench/ephemeral-sg-ssh.mjs). */
export function splitmix32(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0
    return ((z ^ (z >>> 15)) >>> 0) / 2 ** 32
  }
}

/**
 * Runs a command to its exit and resolves with its exit code, output and wall time, whatever the
 * code (the caller decides what a failure is); rejects after `timeoutMs`, killing it, so a hung
 * tool fails the benchmark instead of stalling it. `label` names it in that error.
 */
export function timedSpawn(
  command,
  argv,
  { env = process.env, timeoutMs, label = `${command} ${argv.join(' ')}` }
) {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now()
    const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${label} did not finish within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout, stderr, ms: performance.now() - started })
    })
  })
}

/** The last lines of a tool's output, for an error message. */
export const tail = (text) => text.split('\n').slice(-15).join('\n')

/** The median, ignoring undefined values (a measure a run could not take); undefined if none. */
export function median(values) {
  const sorted = values.filter((value) => value !== undefined).sort((a, b) => a - b)
  if (sorted.length === 0) return undefined
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

export const seconds = (ms) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`)

/**
 * What a command prints (stdout then stderr: some tools, like `ssh -V` or aws CLI v1, print their
 * version on stderr), trimmed, or only its first line; 'unknown' if it cannot run.
 */
export function commandOutput(command, argv, { firstLine = false } = {}) {
  try {
    const result = spawnSync(command, argv, { encoding: 'utf8', timeout: 30_000 })
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim()
    return (firstLine ? output.split('\n')[0] : output) || 'unknown'
  } catch {
    return 'unknown'
  }
}

/** 1-minute load average: other work on the machine during the run skews every figure. */
export const loadAverage = () => loadavg()[0].toFixed(2)

/** A short SHA-256 of the bundle files, in order: a rebuild during a run must not go unseen. */
export function bundleDigest(files) {
  const digest = createHash('sha256')
  for (const file of files) digest.update(readFileSync(file))
  return digest.digest('hex').slice(0, 16)
}

/** Throws when the bundles no longer have `digest`: a rebuild during the run would mix two. */
export function checkBundleUnchanged(files, digest) {
  if (bundleDigest(files) !== digest)
    throw new Error(`${files.join(', ')} changed during the benchmark; run it again`)
}

/**
 * The end every benchmark shares: prints the tables, the verdicts and any failed check; with
 * --write, `write` rewrites the script's part of BENCHMARKS.md and returns what it wrote. A failed
 * check fails the run; a missed target is only printed.
 */
export async function finishRun({ tables, verdicts, problems, write }) {
  console.log(`\n${tables}\n`)
  for (const line of verdicts) console.log(line)
  if (problems.length > 0) {
    console.log(`\n${problems.length} check(s) failed:`)
    for (const problem of problems) console.log(`  - ${problem}`)
  }
  if (write !== undefined) console.log(`\nwrote ${await write()}`)
  if (problems.length > 0) process.exitCode = 1
}

/**
 * The machine and runtimes the figures were taken on. `tools` maps a field to the command that
 * prints the version of a tool under test, e.g. `{ aws: ['aws', ['--version']] }`; with
 * `firstLine`, every command's output is cut to its first line.
 */
export function machineInfo(node24, tools, { firstLine = false } = {}) {
  const output = (command, argv) => commandOutput(command, argv, { firstLine })
  return {
    // First, before this function's own processes add to it.
    loadBefore: loadAverage(),
    nproc: output('nproc', []),
    cpu: cpus()[0]?.model?.trim() ?? 'unknown',
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    kernel: release(),
    node24: execFileSync(node24, ['--version'], { encoding: 'utf8' }).trim(),
    benchNode: process.version,
    moto: output('python3', ['-c', 'import moto;print(moto.__version__)']),
    ...Object.fromEntries(
      Object.entries(tools).map(([field, [command, argv]]) => [field, output(command, argv)])
    )
  }
}

/** Prints the machine and the versions under test (`fields` of `machine`), and warns if busy. */
export function logMachine(machine, fields) {
  console.log(
    `machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memory}, Linux ${machine.kernel}, load average ${machine.loadBefore}`
  )
  const versions = fields.map((field) => machine[field]).join(', ')
  console.log(`node ${machine.node24} (action), moto ${machine.moto}, ${versions}`)
  if (Number(machine.loadBefore) >= Number(machine.nproc)) {
    console.log('warning: the machine is already busy; the figures will be noisy')
  }
}

/**
 * A new temporary folder `bench-NAME-…` for the run, and `cleanups` to undo its setup (servers,
 * clients) that `cleanup()` runs last first, the folder last of all. Ctrl-C runs them too, so
 * no server or temporary tree outlives an interrupted run.
 */
export function benchHome(name) {
  const home = mkdtempSync(join(tmpdir(), `bench-${name}-`))
  const cleanups = [() => rmSync(home, { recursive: true, force: true })]
  const cleanup = async () => {
    while (cleanups.length > 0) await cleanups.pop()()
  }
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      console.error(`\n${signal}: cleaning up`)
      cleanup().finally(() => process.exit(130))
    })
  }
  return { home, cleanups, cleanup }
}

/** `rows` (the first one the header) as a markdown table, its columns padded to line up. */
export function textTable(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
  const line = (row) => `| ${row.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`
  return [
    line(rows[0]),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line)
  ].join('\n')
}

/**
 * The report's machine table: `loadNote` follows the load average's label, and `tools` lists
 * the rows for the versions under test as [label, field of `machine`].
 */
export function machineTable(machine, { loadNote = '', tools }) {
  return [
    '| | |',
    '|-|-|',
    `| CPUs (\`nproc\`) | ${machine.nproc} (${machine.cpu}) |`,
    `| Memory | ${machine.memory} |`,
    `| Kernel (\`uname -r\`) | ${machine.kernel} |`,
    `| Node (action) | ${machine.node24} |`,
    `| Node (benchmark script) | ${machine.benchNode} |`,
    `| Load average (1 min) before the run / at its end${loadNote} | ${machine.loadBefore} / ${machine.loadAfter} |`,
    `| moto | ${machine.moto} |`,
    ...tools.map(([label, field]) => `| ${label} | ${machine[field]} |`)
  ].join('\n')
}
