// Benchmark: the deploy-dags bundle (run as the GitHub runner runs it, under Node 24) against
// `aws s3 sync`, side by side on a generated 2,000-file DAG tree. Both tools talk to the same
// moto_server, each through its own counting proxy and into its own bucket.
//
//   node bench/deploy-dags.mjs            print the table
//   node bench/deploy-dags.mjs --write    also rewrite its section of BENCHMARKS.md
//   options: --files N (default 2000), --repeats N (rounds of each scenario, default 3)
//
// Scenarios:
//   1. first full upload into an empty bucket;
//   2. a fresh checkout (every mtime is "now") with one same-size edit;
//   3. nothing changed since the last deploy.
// Exits non-zero only on errors (a tool failing, a correctness check failing); a missed
// performance target is printed as "target missed" but is not an error.
import { spawnSync } from 'node:child_process'
import { cpSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { CreateBucketCommand } from '@aws-sdk/client-s3'
import { startMoto } from '../test-support/moto.mjs'
import { startProxy } from '../test-support/proxy.mjs'
import { nodeRuntimes, runAction } from '../test-support/runner.mjs'
import { toolEnv } from './aws-env.mjs'
import { writeSection } from './benchmarks-md.mjs'
import { DOMAINS, TEAMS, generateTree, sameSizeEdit } from './dag-tree.mjs'
import { forEachPage, objectText, s3Client } from './s3.mjs'
import {
  benchHome,
  benchOptions,
  bundleDigest,
  checkBundleUnchanged,
  finishRun,
  loadAverage,
  logMachine,
  machineInfo,
  machineTable,
  median,
  repoRoot,
  seconds,
  tail,
  textTable,
  timedSpawn
} from './common.mjs'

// The fixed part of the tree (.airflowignore, common/, one __init__.py per folder) is 56 files.
const args = benchOptions({ files: '2000', minFiles: 100 })
const PREFIX = 'dags'
/** Per-process ceiling: a hung tool fails the benchmark instead of stalling it. */
const TOOL_TIMEOUT_MS = 300_000

const TARGETS = {
  firstUpload: 'action no slower than aws s3 sync',
  oneChange: 'action ≥ 10x faster than aws s3 sync',
  noChange: 'action process < 1 s'
}

// ---------------------------------------------------------------------------------------------
// Running the two tools.

/**
 * A counting proxy that also notes, for each request, when it had fully arrived and when moto had
 * answered it, so a run's wall time can be split into "waiting on S3" and the tool's own work.
 */
async function startTimedProxy(target) {
  const pending = new Map()
  const spans = []
  const proxy = await startProxy(target, {
    intercept: ({ method, url }) => {
      const key = `${method} ${url}`
      if (!pending.has(key)) pending.set(key, [])
      pending.get(key).push(performance.now())
      return undefined
    },
    rewrite: ({ method, url }) => {
      const start = pending.get(`${method} ${url}`)?.shift()
      if (start !== undefined) spans.push({ start, end: performance.now() })
      return undefined
    }
  })
  return Object.assign(proxy, { spans })
}

/** Total time at least one request was in flight: concurrent requests count once. */
function busyMs(spans) {
  let total = 0
  let reach = -Infinity
  for (const { start, end } of [...spans].sort((a, b) => a.start - b.start)) {
    if (end <= reach) continue
    total += end - Math.max(start, reach)
    reach = end
  }
  return total
}

/** Runs `fn` and returns its result with the requests `proxy` saw meanwhile, and their timing. */
async function counted(proxy, fn) {
  const first = proxy.requests.length
  const firstSpan = proxy.spans.length
  const started = performance.now()
  const result = await fn()
  const requests = proxy.requests.slice(first)
  const spans = proxy.spans.slice(firstSpan)
  const byMethod = {}
  for (const { method } of requests) byMethod[method] = (byMethod[method] ?? 0) + 1
  const failed = requests.filter(({ status }) => status >= 400).length
  return {
    ...result,
    requests: requests.length,
    byMethod,
    failedRequests: failed,
    // From the call to the first request: process start and loading (the action lists the
    // bucket while it hashes; the CLI scans first).
    beforeFirstRequestMs:
      spans.length === 0 ? undefined : Math.min(...spans.map((s) => s.start)) - started,
    s3Ms: busyMs(spans)
  }
}

async function runDeployDags(ctx, { workspace, source, bucket }) {
  return counted(ctx.actionProxy, async () => {
    const result = await runAction({
      action: 'deploy-dags',
      node: ctx.node24,
      workspace,
      inputs: { source, bucket, prefix: PREFIX, 'endpoint-url': ctx.actionProxy.url },
      env: toolEnv(ctx.home),
      timeoutMs: TOOL_TIMEOUT_MS
    })
    if (result.exitCode !== 0) {
      throw new Error(
        `deploy-dags failed (exit ${result.exitCode}):\n${tail(result.stdout)}\n${tail(result.stderr)}`
      )
    }
    return {
      ms: result.durationMs,
      uploaded: Number(result.outputs.uploaded),
      outputs: result.outputs
    }
  })
}

async function runAwsSync(ctx, { dir, bucket }) {
  return counted(ctx.cliProxy, async () => {
    const argv = ['s3', 'sync', dir, `s3://${bucket}/${PREFIX}`, '--endpoint-url', ctx.cliProxy.url]
    const { code, stdout, stderr, ms } = await timedSpawn('aws', argv, {
      env: { ...process.env, ...toolEnv(ctx.home) },
      timeoutMs: TOOL_TIMEOUT_MS
    })
    if (code !== 0)
      throw new Error(`aws s3 sync failed (exit ${code}):\n${tail(stdout)}\n${tail(stderr)}`)
    // One "upload: <file> to s3://..." line per object; progress lines are separated by \r.
    const uploaded = stdout.split(/[\r\n]+/).filter((line) => line.startsWith('upload: ')).length
    return { ms, uploaded }
  })
}

/** Median wall time of a bare process start, for reference. */
function bareStartMs(command, argv, runs = 5) {
  const times = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    const result = spawnSync(command, argv, { stdio: 'ignore', timeout: 30_000 })
    if (result.status !== 0)
      throw new Error(`${command} ${argv.join(' ')} exited with ${result.status}`)
    times.push(performance.now() - started)
  }
  return median(times)
}

// ---------------------------------------------------------------------------------------------
// Checks on what landed in the buckets (read straight from moto, so the proxies don't count them).

async function listKeys(s3, bucket) {
  const keys = []
  await forEachPage(s3, { Bucket: bucket, Prefix: `${PREFIX}/` }, (page) => {
    for (const item of page.Contents ?? []) keys.push(item.Key)
  })
  return keys
}

// ---------------------------------------------------------------------------------------------

const thousands = (n) => n.toLocaleString('en-US')
const methods = (byMethod) =>
  Object.entries(byMethod)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([method, n]) => `${thousands(n)} ${method}`)
    .join(', ')

const BUNDLE = join(repoRoot, 'dist', 'deploy-dags', 'index.js')

async function main() {
  const node24 = nodeRuntimes()[0].path
  const { home, cleanups, cleanup } = benchHome('deploy-dags')

  try {
    const machine = machineInfo(node24, { aws: ['aws', ['--version']] })
    const bundle = bundleDigest([BUNDLE])
    logMachine(machine, ['aws'])

    const moto = await startMoto()
    cleanups.push(() => moto.stop())
    const actionProxy = await startTimedProxy(moto.endpoint)
    cleanups.push(() => actionProxy.stop())
    const cliProxy = await startTimedProxy(moto.endpoint)
    cleanups.push(() => cliProxy.stop())
    // This client only sets up and checks the buckets; the SDK's notice about the Node running
    // the benchmark script (the action itself runs under Node 24) is noise here.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
    const s3 = s3Client(moto.endpoint)
    cleanups.push(() => s3.destroy())
    const ctx = { home, node24, actionProxy, cliProxy }

    // Every checkout lives in its own workspace folder, as actions/checkout would create it.
    const checkout = (name) => ({
      workspace: join(home, name),
      source: 'dags',
      dir: join(home, name, 'dags')
    })
    let current = checkout('checkout-0')
    const { files, dagModules } = generateTree(current.dir, args.files)
    const treeBytes = files.reduce((sum, path) => sum + statSync(join(current.dir, path)).size, 0)
    console.log(
      `tree: ${thousands(files.length)} files, ${(treeBytes / 1024 ** 2).toFixed(1)} MiB in ${current.dir}`
    )

    const problems = []
    const check = (ok, message) => {
      if (!ok) {
        problems.push(message)
        console.log(`  CHECK FAILED: ${message}`)
      }
    }

    // 1. First full upload, repeated into a new pair of empty buckets each round. The order of
    // the two tools alternates, so neither always runs against the emptier (or warmer) moto.
    const firsts = []
    let buckets
    for (let round = 1; round <= args.repeats; round++) {
      buckets = { action: `bench-deploy-dags-${round}`, cli: `bench-aws-s3-sync-${round}` }
      for (const bucket of Object.values(buckets)) {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }))
      }
      console.log(`\n1. first full upload, round ${round}/${args.repeats}`)
      const runFirst = {
        action: () => runDeployDags(ctx, { ...current, bucket: buckets.action }),
        cli: () => runAwsSync(ctx, { ...current, bucket: buckets.cli })
      }
      const order = round % 2 === 1 ? ['action', 'cli'] : ['cli', 'action']
      const first = {}
      for (const tool of order) first[tool] = await runFirst[tool]()
      logRun('deploy-dags', first.action)
      logRun('aws s3 sync', first.cli)
      check(
        first.action.uploaded === files.length,
        `first upload: deploy-dags uploaded ${first.action.uploaded}, expected ${files.length}`
      )
      check(
        first.cli.uploaded === files.length,
        `first upload: aws s3 sync uploaded ${first.cli.uploaded}, expected ${files.length}`
      )
      const actionKeys = await listKeys(s3, buckets.action)
      // The action also keeps its manifest object under the prefix.
      check(
        actionKeys.length === files.length + 1,
        `first upload: ${actionKeys.length} objects in the action's bucket, expected ${files.length + 1}`
      )
      const cliKeys = await listKeys(s3, buckets.cli)
      check(
        cliKeys.length === files.length,
        `first upload: ${cliKeys.length} objects in the CLI's bucket, expected ${files.length}`
      )
      firsts.push(first)
    }

    // 2 and 3, repeated on the last pair of buckets: each round is the next commit checked out
    // afresh, deployed, then deployed again with nothing changed.
    const rounds = []
    for (let round = 1; round <= args.repeats; round++) {
      const next = checkout(`checkout-${round}`)
      // cpSync does not preserve timestamps: every file gets a new mtime, as after actions/checkout.
      const copyStarted = Date.now()
      cpSync(current.dir, next.dir, { recursive: true })
      const anyFile = statSync(join(next.dir, files[files.length - 1]))
      check(
        anyFile.mtimeMs >= copyStarted - 1000,
        `round ${round}: the copied tree kept old mtimes`
      )
      const edited = dagModules[(round * 97) % dagModules.length]
      sameSizeEdit(next.dir, edited)
      rmSync(current.workspace, { recursive: true, force: true })
      current = next

      console.log(
        `\n2. fresh checkout, one same-size edit (${edited}), round ${round}/${args.repeats}`
      )
      const action = await runDeployDags(ctx, { ...current, bucket: buckets.action })
      const cli = await runAwsSync(ctx, { ...current, bucket: buckets.cli })
      logRun('deploy-dags', action)
      logRun('aws s3 sync', cli)
      console.log(
        `  deploy-dags output uploaded=${action.outputs.uploaded}, changes=${action.outputs.changes}`
      )
      check(
        action.uploaded === 1,
        `round ${round}: deploy-dags uploaded ${action.outputs.uploaded} files after a one-file edit, expected 1 (changes: ${action.outputs.changes})`
      )
      const changes = JSON.parse(action.outputs.changes ?? '{}')
      check(
        JSON.stringify(changes.uploaded) === JSON.stringify([`${PREFIX}/${edited}`]),
        `round ${round}: deploy-dags reported uploading ${JSON.stringify(changes.uploaded)}, expected ["${PREFIX}/${edited}"]`
      )
      const expected = readFileSync(join(current.dir, edited), 'utf8')
      for (const bucket of Object.values(buckets)) {
        const stored = await objectText(s3, bucket, `${PREFIX}/${edited}`)
        check(
          stored === expected,
          `round ${round}: s3://${bucket}/${PREFIX}/${edited} does not hold the edited file`
        )
      }

      console.log(`3. nothing changed, round ${round}/${args.repeats}`)
      const actionIdle = await runDeployDags(ctx, { ...current, bucket: buckets.action })
      const cliIdle = await runAwsSync(ctx, { ...current, bucket: buckets.cli })
      logRun('deploy-dags', actionIdle)
      logRun('aws s3 sync', cliIdle)
      check(
        actionIdle.uploaded === 0,
        `round ${round}: deploy-dags uploaded ${actionIdle.uploaded} files with nothing changed, expected 0`
      )
      check(
        actionIdle.outputs.changed === 'false',
        `round ${round}: deploy-dags reported changed=${actionIdle.outputs.changed} with nothing changed`
      )
      rounds.push({ edited, action, cli, actionIdle, cliIdle })
    }

    const nodeStartMs = bareStartMs(node24, ['-e', ''])
    const awsStartMs = bareStartMs('aws', ['--version'])
    machine.loadAfter = loadAverage()
    checkBundleUnchanged([BUNDLE], bundle)
    const results = summarize({ firsts, rounds, nodeStartMs, awsStartMs })
    const table = renderTable(results)
    const write = async () => {
      const report = renderReport({
        results,
        table,
        machine,
        bundle,
        files: files.length,
        treeBytes,
        problems
      })
      // Only this script's section: the other benchmarks' sections stay as they are.
      await writeSection('deploy-dags', report)
      return 'the deploy-dags section of BENCHMARKS.md'
    }
    await finishRun({
      tables: table,
      verdicts: results.verdicts,
      problems,
      write: args.write ? write : undefined
    })
  } finally {
    await cleanup()
  }
}

function logRun(label, run) {
  console.log(
    `  ${label.padEnd(12)} ${seconds(run.ms).padStart(8)}  ${thousands(run.requests).padStart(6)} requests (${methods(run.byMethod)})` +
      `${run.failedRequests > 0 ? `, ${run.failedRequests} answered >= 400` : ''}  uploaded ${run.uploaded}` +
      `  [${split(run)}]`
  )
}

/** Where a run's wall time went, as seen from the proxy. */
const split = (run) =>
  `${run.beforeFirstRequestMs === undefined ? 'no request' : `1st request at ${seconds(run.beforeFirstRequestMs)}`}, ` +
  `waiting on S3 ${seconds(run.s3Ms)}`

function summarize({ firsts, rounds, nodeStartMs, awsStartMs }) {
  const med = (pick) => median(rounds.map(pick))
  const s1 = {
    actionMs: median(firsts.map((f) => f.action.ms)),
    cliMs: median(firsts.map((f) => f.cli.ms)),
    actionRequests: median(firsts.map((f) => f.action.requests)),
    cliRequests: median(firsts.map((f) => f.cli.requests)),
    actionUploaded: firsts.map((f) => f.action.uploaded),
    cliUploaded: firsts.map((f) => f.cli.uploaded)
  }
  const s2 = {
    actionMs: med((r) => r.action.ms),
    cliMs: med((r) => r.cli.ms),
    actionRequests: med((r) => r.action.requests),
    cliRequests: med((r) => r.cli.requests),
    actionUploaded: rounds.map((r) => r.action.uploaded),
    cliUploaded: rounds.map((r) => r.cli.uploaded)
  }
  s2.speedup = s2.cliMs / s2.actionMs
  const s3 = {
    actionMs: med((r) => r.actionIdle.ms),
    cliMs: med((r) => r.cliIdle.ms),
    actionRequests: med((r) => r.actionIdle.requests),
    cliRequests: med((r) => r.cliIdle.requests),
    actionUploaded: rounds.map((r) => r.actionIdle.uploaded),
    cliUploaded: rounds.map((r) => r.cliIdle.uploaded),
    actionBeforeFirstRequestMs: med((r) => r.actionIdle.beforeFirstRequestMs ?? 0),
    actionS3Ms: med((r) => r.actionIdle.s3Ms)
  }
  const met = {
    firstUpload: s1.actionMs <= s1.cliMs,
    oneChange: s2.speedup >= 10,
    noChange: s3.actionMs < 1000
  }
  const verdict = (key, detail) =>
    `${met[key] ? 'target met' : 'TARGET MISSED'}: ${TARGETS[key]} (${detail})`
  const verdicts = [
    verdict(
      'firstUpload',
      `${seconds(s1.actionMs)} vs ${seconds(s1.cliMs)}, ${(s1.cliMs / s1.actionMs).toFixed(2)}x, median of ${firsts.length}`
    ),
    verdict('oneChange', `${s2.speedup.toFixed(1)}x, median of ${rounds.length}`),
    verdict(
      'noChange',
      `${seconds(s3.actionMs)}, median of ${rounds.length}: first request after ` +
        `${seconds(s3.actionBeforeFirstRequestMs)} (Node start, bundle load; the listing then runs alongside hashing), ` +
        `${seconds(s3.actionS3Ms)} waiting on moto; bare node -e '' ${seconds(nodeStartMs)}`
    )
  ]
  return { firsts, rounds, s1, s2, s3, met, verdicts, nodeStartMs, awsStartMs }
}

function renderTable({ firsts, rounds, s1, s2, s3, met, nodeStartMs, awsStartMs }) {
  const n = rounds.length
  const list = (values) => values.join('/')
  const rows = [
    ['Scenario', 'deploy-dags (Node 24)', 'aws s3 sync', 'Target'],
    [
      `1. first full upload (median of ${firsts.length})`,
      `${seconds(s1.actionMs)}, ${thousands(s1.actionRequests)} req, ${list(s1.actionUploaded)} uploaded`,
      `${seconds(s1.cliMs)}, ${thousands(s1.cliRequests)} req, ${list(s1.cliUploaded)} uploaded`,
      `action ≤ CLI: ${met.firstUpload ? 'met' : 'target missed'} (${(s1.cliMs / s1.actionMs).toFixed(2)}x)`
    ],
    [
      `2. fresh checkout, 1 edit (median of ${n})`,
      `${seconds(s2.actionMs)}, ${thousands(s2.actionRequests)} req, ${list(s2.actionUploaded)} uploaded`,
      `${seconds(s2.cliMs)}, ${thousands(s2.cliRequests)} req, ${list(s2.cliUploaded)} uploaded`,
      `≥ 10x: ${met.oneChange ? 'met' : 'target missed'} (${s2.speedup.toFixed(1)}x)`
    ],
    [
      `3. nothing changed (median of ${n})`,
      `${seconds(s3.actionMs)}, ${thousands(s3.actionRequests)} req, ${list(s3.actionUploaded)} uploaded`,
      `${seconds(s3.cliMs)}, ${thousands(s3.cliRequests)} req, ${list(s3.cliUploaded)} uploaded (reference)`,
      `< 1 s: ${met.noChange ? 'met' : 'target missed'}`
    ],
    [
      'bare process start (median of 5)',
      `${seconds(nodeStartMs)} (node -e '')`,
      `${seconds(awsStartMs)} (aws --version)`,
      ''
    ]
  ]
  return textTable(rows)
}

function renderReport({ results, table, machine, bundle, files, treeBytes, problems }) {
  const { firsts, rounds } = results
  const runRow = (label, run) =>
    `| ${label} | ${seconds(run.ms)} | ${run.beforeFirstRequestMs === undefined ? '-' : seconds(run.beforeFirstRequestMs)} | ` +
    `${seconds(run.s3Ms)} | ${thousands(run.requests)} (${methods(run.byMethod)}) | ${run.uploaded} |`
  const perRun = [
    '| Run | Wall time | First request at | Waiting on S3 | Requests | Uploaded |',
    '|-----|-----------|------------------|---------------|----------|----------|',
    ...firsts.flatMap((f, i) => [
      runRow(`1. round ${i + 1} deploy-dags`, f.action),
      runRow(`1. round ${i + 1} aws s3 sync`, f.cli)
    ]),
    ...rounds.flatMap((r, i) => [
      runRow(`2. round ${i + 1} deploy-dags (edit \`${r.edited}\`)`, r.action),
      runRow(`2. round ${i + 1} aws s3 sync`, r.cli),
      runRow(`3. round ${i + 1} deploy-dags`, r.actionIdle),
      runRow(`3. round ${i + 1} aws s3 sync`, r.cliIdle)
    ])
  ].join('\n')
  return `<!-- Generated by \`node bench/deploy-dags.mjs --write\`; edit the script, not this section. -->

## deploy-dags vs \`aws s3 sync\`

Measured ${new Date().toISOString()} with:

\`\`\`sh
node scripts/ensure-node24.mjs   # once: the Node 24 runtime action.yml declares
npm run build                    # dist/deploy-dags/index.js, the bundle under test
node bench/deploy-dags.mjs --write
\`\`\`

${table}

${results.verdicts.map((line) => `- ${line}`).join('\n')}
${
  problems.length === 0
    ? '- Correctness checks passed: each tool uploaded what the scenario expects, and both buckets hold the edited file.'
    : `- **${problems.length} correctness check(s) failed:**\n${problems.map((p) => `  - ${p}`).join('\n')}`
}

### Setup

- Tree: ${thousands(files)} generated files, ${(treeBytes / 1024 ** 2).toFixed(1)} MiB (seeded, the same on every run):
  \`.airflowignore\`, \`common/\` helpers, ${TEAMS.length}×${DOMAINS.length} team/domain folders with
  \`__init__.py\`, DAG modules (~70%, 300 B to ~20 KB), \`sql/*.sql\` (~20%) and \`config/*.yaml\` (~10%).
- One moto_server on loopback; each tool has its own bucket and its own recording proxy in front
  of that server, which counts its requests.
- deploy-dags: \`dist/deploy-dags/index.js\` run by \`test-support/runner.mjs\` as the GitHub runner
  runs it (inputs as \`INPUT_*\`, action.yml defaults, concurrency 16), under Node ${machine.node24};
  bundle SHA-256 \`${bundle}…\`.
  Wall time is the process's, start to exit.
- aws CLI: \`aws s3 sync <checkout>/dags s3://<bucket>/dags --endpoint-url <proxy>\`, default
  settings (no config file). Wall time is the process's, start to exit.
- Scenario 1 is repeated ${firsts.length} times, each into a new pair of empty buckets, the tool
  that goes first alternating between rounds.
- Scenario 2 copies the previous checkout to a new folder (so every mtime is newer than the
  objects, as after \`actions/checkout\`) and bumps one DAG's \`"retries": N\` digit: one file, same
  size, different content. Scenario 3 deploys that same checkout again. Both are repeated
  ${rounds.length} times, each round on the next "commit"; the table gives medians.
- Requests are counted at the proxies. The action's include ListObjectsV2 pages, the manifest GET
  and PUT, and the uploads; the CLI's include its ListObjectsV2 pages and uploads.
- "First request at" is the time from launching the tool to its first request reaching the proxy
  (process start, loading, scanning; the action lists the bucket while it hashes). "Waiting on S3" is
  the time at least one of the tool's requests was in flight at the proxy.
- moto is not S3: its cost per request differs from AWS's (listing is comparatively slow in moto,
  loopback has no network latency), so the S3-bound parts of these figures, and the ratios between
  the tools, would differ against AWS. Both tools share one machine with
  moto and the proxies (${machine.nproc} CPUs here): figures move between runs (by seconds for full
  uploads, by about 0.1 s for the action's short runs), more so when other work is running.

### Machine

${machineTable(machine, {
  loadNote: ' (the run itself keeps 2-3 processes busy)',
  tools: [['aws CLI', 'aws']]
})}

### Every run

${perRun}
`
}

main().catch((error) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error)
  process.exitCode = 1
})
