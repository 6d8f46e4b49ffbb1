// Benchmark at scale: the deploy-dags bundle (run as the GitHub runner runs it, under Node 24)
// against `aws s3 sync` on generated DAG trees of growing size. For each size, each tool syncs
// into its own bucket through its own counting proxy in front of one moto_server (a new server
// per size), one run of each scenario:
//   a. full upload into an empty bucket;
//   b. nothing changed, mtimes intact (the same checkout deployed again);
//   c. fresh checkout, nothing changed (the tree copied to a new folder: every mtime is newer);
//   d. fresh checkout with one same-size edit (a new copy, one digit of one DAG bumped).
// After the uploads, a bare sequential listing of each bucket (the SDK from this script, one
// ListObjectsV2 page after another) is the reference the no-op times are held against.
//
//   node bench/deploy-dags-scale.mjs                       print the tables
//   node bench/deploy-dags-scale.mjs --write               also rewrite its section of
//                                                          BENCHMARKS.md and the chart
//   options: --sizes 2000,20000,100000 (files per tree, the default)
//            --latency-ms N (default 0: each proxy holds every request N ms before forwarding it,
//            a round trip to S3 for both tools alike)
//
// Peak memory is GNU time's maximum RSS (`/usr/bin/time -f %M`) of the tool's own process: the
// action's node process (runner.mjs starts it through a generated bash script that execs
// `timeout` and `time`, so `time` is its parent) and the aws CLI's Python process.
// Exits non-zero only on errors (a tool failing, a correctness check failing); a missed
// performance target is printed as "target missed" but is not an error.
import { createHash } from 'node:crypto'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { join, relative } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3'
import { startMoto } from '../test-support/moto.mjs'
import { startProxy } from '../test-support/proxy.mjs'
import { nodeRuntimes, runAction } from '../test-support/runner.mjs'
import { toolEnv } from './aws-env.mjs'
import { writeSection } from './benchmarks-md.mjs'
import { DOMAINS, FILES_PER_GROUP, TEAMS, generateTree, sameSizeEdit } from './dag-tree.mjs'
import {
  benchHome,
  bundleDigest,
  checkBundleUnchanged,
  finishRun,
  loadAverage,
  logMachine,
  machineInfo,
  machineTable,
  positiveInteger,
  repoRoot,
  seconds,
  tail,
  textTable,
  timedSpawn
} from './common.mjs'
import { forEachPage, objectText, s3Client } from './s3.mjs'

const SECTION = 'deploy-dags-scale'
const CHART_NAME = 'BENCHMARKS-deploy-dags-scale.svg'
const CHART_FILE = join(repoRoot, CHART_NAME)
const BUNDLE = join(repoRoot, 'dist', 'deploy-dags', 'index.js')
const PREFIX = 'dags'
/** The fixed part of a tree (.airflowignore, common/, __init__.py files) needs room. */
const MIN_FILES = 100
/** Up to this size every object's ETag is checked against its file's MD5; above, key and size. */
const FULL_CHECK_MAX_FILES = 20_000
/** The deploy manifest the action keeps under the prefix, whatever its format's file name. */
const MANIFEST_KEY = new RegExp(`^${PREFIX}/\\.deploy-dags-manifest`)

const args = scaleOptions()

/**
 * A per-process ceiling that grows with the tree: a full aws upload of 100,000 files takes about
 * 8 minutes on moto; with latency, every request waits longer (at 10 or 16 in flight).
 */
const toolTimeoutMs = (files) => 120_000 + files * (15 + args.latencyMs / 4)

const SCENARIOS = [
  { id: 'a', label: 'full upload into an empty bucket', short: 'full upload', dash: '' },
  {
    id: 'b',
    label: 'nothing changed, mtimes intact',
    short: 'no-op, mtimes intact',
    dash: '7 4'
  },
  {
    id: 'c',
    label: 'fresh checkout, nothing changed',
    short: 'fresh checkout no-op',
    dash: '2 3'
  },
  {
    id: 'd',
    label: 'fresh checkout, one same-size edit',
    short: 'fresh checkout, 1 edit',
    dash: '10 3 2 3'
  }
]
const TOOLS = [
  { id: 'action', label: 'deploy-dags', colour: '#1f6fb4' },
  { id: 'cli', label: 'aws s3 sync', colour: '#d4500f' }
]

const TARGETS = {
  noChange: 'at 20,000 files, nothing changed (mtimes intact): action ≥ 3x faster than aws s3 sync',
  oneEdit:
    'at 20,000 files, fresh checkout with one same-size edit: action ≥ 25x faster than aws s3 sync',
  memory: 'at 100,000 files: action peak RSS < 512 MiB in every scenario',
  listing:
    'no-op time grows no faster than the listing: (action no-op ÷ sequential listing) at the largest size ≤ that ratio at 20,000 files + 10 % (an allowance for noise between single runs)'
}

function scaleOptions() {
  const { values } = parseArgs({
    options: {
      write: { type: 'boolean', default: false },
      sizes: { type: 'string', default: '2000,20000,100000' },
      'latency-ms': { type: 'string', default: '0' }
    }
  })
  const sizes = [
    ...new Set(values.sizes.split(',').map((text) => positiveInteger(text.trim(), '--sizes')))
  ].sort((a, b) => a - b)
  if (sizes[0] < MIN_FILES)
    throw new Error(`--sizes: every size must be at least ${MIN_FILES} files, got ${sizes[0]}`)
  const latencyText = values['latency-ms']
  const latencyMs = Number(latencyText)
  if (!Number.isInteger(latencyMs) || latencyMs < 0 || latencyMs > 1000)
    throw new Error(`--latency-ms must be a whole number from 0 to 1000, got '${latencyText}'`)
  return { write: values.write, sizes, latencyMs }
}

// ---------------------------------------------------------------------------------------------
// Requests, counted per run at each tool's proxy.

/** A proxy in front of moto that holds each request `latencyMs` before forwarding it. */
function startToolProxy(target) {
  const latencyMs = args.latencyMs
  return startProxy(target, latencyMs > 0 ? { hold: () => delay(latencyMs) } : {})
}

/** ListObjectsV2 is a GET with list-type=2; told apart from GetObject (the manifest). */
const requestKind = ({ method, url }) =>
  method === 'GET' && /[?&]list-type=2(&|$)/.test(url) ? 'LIST' : method

/**
 * Runs `fn` and returns its result with the requests `proxy` saw meanwhile, by kind. The proxy's
 * record is emptied after each run: at 100,000 files it would otherwise hold every PUT's headers.
 */
async function counted(proxy, fn) {
  proxy.requests.length = 0
  const result = await fn()
  const byKind = {}
  for (const request of proxy.requests) {
    const kind = requestKind(request)
    byKind[kind] = (byKind[kind] ?? 0) + 1
  }
  // A GET answered 404 is the action finding no manifest yet (the first deploy): not a failure.
  const failedRequests = proxy.requests.filter(
    (request) =>
      request.status >= 400 && !(request.status === 404 && requestKind(request) === 'GET')
  ).length
  const requests = proxy.requests.length
  proxy.requests.length = 0
  return { ...result, requests, byKind, failedRequests }
}

// ---------------------------------------------------------------------------------------------
// The two tools, each under `timeout` and GNU time.

const shellQuote = (text) => `'${text.replace(/'/g, `'\\''`)}'`

let runNumber = 0
/** The pid file of the tool running now, for Ctrl-C to end its process group. */
let runningPidFile

/**
 * A bash script that runs `command`, with the arguments it is given, as `timeout -s KILL <limit>
 * /usr/bin/time -f %M -o <rssFile> command …`, each exec'd in turn. `timeout` puts itself and the
 * tool in a process group of their own and kills the whole group, so a hung tool leaves nothing
 * behind; `time` is the tool's parent and writes its maximum RSS (KiB), which Linux takes as the
 * larger of the tool's own and that of any child the tool waited for. bash, not sh: dash drops
 * variables whose names are not shell names, such as the runner's INPUT_ENDPOINT-URL.
 */
function measuredCommand(ctx, tool, timeoutMs, command) {
  const name = `${tool}-${++runNumber}`
  const script = join(ctx.measureDir, `${name}.sh`)
  const rssFile = join(ctx.measureDir, `${name}.rss`)
  const pidFile = join(ctx.measureDir, `${name}.pid`)
  const argv = [
    '/usr/bin/timeout',
    '-s',
    'KILL',
    `${Math.ceil(timeoutMs / 1000)}s`,
    '/usr/bin/time',
    '-f',
    '%M',
    '-o',
    rssFile,
    command
  ]
  writeFileSync(
    script,
    `#!/bin/bash\necho $$ > ${shellQuote(pidFile)}\nexec ${argv.map(shellQuote).join(' ')} "$@"\n`
  )
  chmodSync(script, 0o755)
  return { script, rssFile, pidFile }
}

/** Ends the tool running now, if any, with its process group (which `timeout` leads). */
function endRunningTool() {
  if (runningPidFile === undefined || !existsSync(runningPidFile)) return
  try {
    process.kill(-Number(readFileSync(runningPidFile, 'utf8')), 'SIGKILL')
  } catch {
    // Already gone.
  }
}

/** Runs `fn` with `pidFile` as the running tool's, so that Ctrl-C meanwhile ends that tool. */
async function whileRunning(pidFile, fn) {
  runningPidFile = pidFile
  try {
    return await fn()
  } finally {
    runningPidFile = undefined
  }
}

/** The maximum RSS in bytes GNU time wrote (its last line: a note on a failed exit goes first). */
function readMaxRss(rssFile, label) {
  const lines = existsSync(rssFile) ? readFileSync(rssFile, 'utf8').trim().split('\n') : []
  const kib = Number(lines.at(-1))
  if (lines.length === 0 || !Number.isInteger(kib) || kib <= 0)
    throw new Error(`${label}: GNU time left no maximum RSS in ${rssFile}`)
  return kib * 1024
}

async function runDeployDags(ctx, { workspace, source, bucket, files }) {
  const timeoutMs = toolTimeoutMs(files)
  // runner.mjs spawns `<node> <entry>`: given the script as its node, the action's node process
  // is the child of GNU time, and the RSS figure is the action's, not the runner's.
  const { script, rssFile, pidFile } = measuredCommand(ctx, 'action', timeoutMs, ctx.node24)
  return counted(ctx.actionProxy, async () => {
    const result = await whileRunning(pidFile, () =>
      runAction({
        action: 'deploy-dags',
        node: script,
        workspace,
        inputs: { source, bucket, prefix: PREFIX, 'endpoint-url': ctx.actionProxy.url },
        env: toolEnv(ctx.home),
        // The runner's own ceiling only backs up timeout(1)'s, which also ends the action.
        timeoutMs: timeoutMs + 30_000
      })
    )
    if (result.exitCode !== 0) {
      const why =
        result.signal === 'SIGKILL' || result.exitCode === 137
          ? `did not finish within ${seconds(timeoutMs)}`
          : `failed (exit ${result.exitCode})`
      throw new Error(`deploy-dags ${why}:\n${tail(result.stdout)}\n${tail(result.stderr)}`)
    }
    return {
      ms: result.durationMs,
      uploaded: Number(result.outputs.uploaded),
      outputs: result.outputs,
      maxRss: readMaxRss(rssFile, 'deploy-dags')
    }
  })
}

async function runAwsSync(ctx, { dir, bucket, files }) {
  const timeoutMs = toolTimeoutMs(files)
  const { script, rssFile, pidFile } = measuredCommand(ctx, 'aws', timeoutMs, 'aws')
  const sync = ['s3', 'sync', dir, `s3://${bucket}/${PREFIX}`, '--endpoint-url', ctx.cliProxy.url]
  return counted(ctx.cliProxy, async () => {
    const { code, stdout, stderr, ms } = await whileRunning(pidFile, () =>
      timedSpawn(script, sync, {
        env: { ...process.env, ...toolEnv(ctx.home) },
        timeoutMs: timeoutMs + 30_000,
        label: `aws ${sync.join(' ')}`
      })
    )
    if (code !== 0) {
      // timeout(1) kills its own process group, itself included: no exit code.
      const why =
        code === null || code === 137
          ? `did not finish within ${seconds(timeoutMs)}`
          : `failed (exit ${code})`
      throw new Error(`aws s3 sync ${why}:\n${tail(stdout)}\n${tail(stderr)}`)
    }
    // One "upload: <file> to s3://..." line per object; progress lines are separated by \r.
    const uploaded = stdout.split(/[\r\n]+/).filter((line) => line.startsWith('upload: ')).length
    return { ms, uploaded, maxRss: readMaxRss(rssFile, 'aws s3 sync') }
  })
}

/**
 * The reference for the no-op runs: every ListObjectsV2 page of `bucket`'s prefix, one after
 * another, as a tool listing sequentially would, through the tool's proxy (so with its latency).
 * One HeadBucket first opens the connection and loads the signer, so only the pages are timed.
 */
async function sequentialListing(proxy, bucket) {
  const s3 = s3Client(proxy.url)
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }))
    return await counted(proxy, async () => {
      const started = performance.now()
      let objects = 0
      const pages = await forEachPage(
        s3,
        { Bucket: bucket, Prefix: `${PREFIX}/`, EncodingType: 'url' },
        (page) => {
          objects += page.Contents?.length ?? 0
        }
      )
      return { ms: performance.now() - started, pages, objects }
    })
  } finally {
    s3.destroy()
  }
}

// ---------------------------------------------------------------------------------------------
// Checks on what landed in the buckets (read straight from moto, so the proxies don't count them).

/**
 * Every object under the prefix: key → { size, etag }. The tree's keys need no URL encoding.
 * moto sorts every key under the prefix for each page it serves and, unlike S3, does not cap
 * MaxKeys at 1,000: one page for the whole bucket keeps the checks cheap at 100,000 files.
 */
async function bucketObjects(s3, bucket) {
  const objects = new Map()
  await forEachPage(s3, { Bucket: bucket, Prefix: `${PREFIX}/`, MaxKeys: 1_000_000 }, (page) => {
    for (const item of page.Contents ?? [])
      objects.set(item.Key, { size: item.Size, etag: item.ETag })
  })
  return objects
}

/**
 * Problems with `bucket` against the checkout in `dir`: keys missing or extra (the action's bucket
 * also holds its manifest), sizes, and up to FULL_CHECK_MAX_FILES files every object's content by
 * its ETag (the MD5 of a single-part upload, which both tools make for files this small).
 */
async function bucketProblems(s3, { bucket, tool, dir, tree }) {
  const objects = await bucketObjects(s3, bucket)
  const problems = []
  const say = (text) => problems.length < 5 && problems.push(`s3://${bucket}: ${text}`)
  const manifests = [...objects.keys()].filter((key) => MANIFEST_KEY.test(key))
  if (tool === 'action' && manifests.length !== 1)
    say(`${manifests.length} deploy manifests, expected 1`)
  if (tool === 'cli' && manifests.length !== 0) say(`a deploy manifest in the CLI's bucket`)
  const fullCheck = tree.files.length <= FULL_CHECK_MAX_FILES
  for (const path of tree.files) {
    const key = `${PREFIX}/${path}`
    const object = objects.get(key)
    if (object === undefined) {
      say(`${key} is missing`)
      continue
    }
    const size = tree.sizes.get(path)
    if (object.size !== size) say(`${key} holds ${object.size} bytes, the file ${size}`)
    else if (fullCheck) {
      const md5 = createHash('md5')
        .update(readFileSync(join(dir, path)))
        .digest('hex')
      if (object.etag !== `"${md5}"`)
        say(`${key} has ETag ${object.etag}, the file's MD5 is ${md5}`)
    }
  }
  const extra = objects.size - manifests.length - tree.files.length
  if (extra > 0) say(`${extra} objects that are not in the tree`)
  return problems
}

// ---------------------------------------------------------------------------------------------
// One tree size: a new moto_server and a pair of proxies, the four scenarios, the checks.

async function measureSize(ctx, files) {
  const sizeHome = join(ctx.home, `tree-${files}`)
  const moto = await startMoto()
  const actionProxy = await startToolProxy(moto.endpoint)
  const cliProxy = await startToolProxy(moto.endpoint)
  const direct = s3Client(moto.endpoint)
  // Stopped when the size is done, or by Ctrl-C (benchHome's cleanups) in the middle of it, once.
  let stopped
  const stopServers = () =>
    (stopped ??= (async () => {
      endRunningTool()
      direct.destroy()
      await actionProxy.stop()
      await cliProxy.stop()
      await moto.stop()
      rmSync(sizeHome, { recursive: true, force: true })
    })())
  ctx.cleanups.push(stopServers)
  const run = { ...ctx, actionProxy, cliProxy }
  const problems = []
  const check = (list) => {
    for (const problem of list) {
      problems.push(`${thousands(files)} files: ${problem}`)
      console.log(`  CHECK FAILED: ${problem}`)
    }
  }
  try {
    // Every checkout lives in its own workspace folder, as actions/checkout would create it.
    const checkout = (name) => ({
      workspace: join(sizeHome, name),
      source: 'dags',
      dir: join(sizeHome, name, 'dags'),
      files
    })
    let current = checkout('checkout-0')
    const generated = performance.now()
    const tree = generateTree(current.dir, files, { layout: 'nested' })
    tree.sizes = new Map(tree.files.map((path) => [path, statSync(join(current.dir, path)).size]))
    const bytes = [...tree.sizes.values()].reduce((sum, size) => sum + size, 0)
    console.log(
      `\n${thousands(files)} files: ${tree.folders} DAG folders, ${mebibytes(bytes)} ` +
        `(generated in ${seconds(performance.now() - generated)}); per-process timeout ${seconds(toolTimeoutMs(files))}`
    )

    const buckets = { action: `scale-${files}-deploy-dags`, cli: `scale-${files}-aws-s3-sync` }
    for (const bucket of Object.values(buckets))
      await direct.send(new CreateBucketCommand({ Bucket: bucket }))
    const deploy = {
      action: (from) => runDeployDags(run, { ...from, bucket: buckets.action }),
      cli: (from) => runAwsSync(run, { ...from, bucket: buckets.cli })
    }
    const runs = {}
    const checkBuckets = async (from) => {
      for (const tool of ['action', 'cli'])
        check(await bucketProblems(direct, { bucket: buckets[tool], tool, dir: from.dir, tree }))
    }
    const expectUploads = (scenario, expected) => {
      const { uploaded } = runs[scenario].action
      if (uploaded !== expected)
        check([`${scenario}. deploy-dags uploaded ${uploaded} files, expected ${expected}`])
    }
    const runScenario = async (scenario, from) => {
      runs[scenario] = {}
      for (const tool of TOOLS) {
        runs[scenario][tool.id] = await deploy[tool.id](from)
        logRun(files, scenario, tool.label, runs[scenario][tool.id])
      }
    }
    // A new checkout of the same commit: cpSync gives every file a new mtime, as actions/checkout.
    const freshCheckout = (name) => {
      const next = checkout(name)
      const copied = Date.now()
      cpSync(current.dir, next.dir, { recursive: true })
      const anyFile = statSync(join(next.dir, tree.files.at(-1)))
      if (anyFile.mtimeMs < copied - 1000) throw new Error(`${next.dir}: the copy kept old mtimes`)
      rmSync(current.workspace, { recursive: true, force: true })
      current = next
    }

    await runScenario('a', current)
    expectUploads('a', tree.files.length)
    await checkBuckets(current)

    const listing = {}
    for (const tool of TOOLS) {
      const proxy = tool.id === 'action' ? actionProxy : cliProxy
      listing[tool.id] = await sequentialListing(proxy, buckets[tool.id])
      const { ms, pages, objects } = listing[tool.id]
      console.log(
        `  ${thousands(files)} files  sequential listing of ${tool.label}'s bucket: ${seconds(ms)}, ${pages} pages, ${thousands(objects)} objects`
      )
    }

    await runScenario('b', current)
    expectUploads('b', 0)
    await checkBuckets(current)

    freshCheckout('checkout-1')
    await runScenario('c', current)
    expectUploads('c', 0)
    await checkBuckets(current)

    freshCheckout('checkout-2')
    const edited = tree.dagModules[Math.floor(tree.dagModules.length / 2)]
    sameSizeEdit(current.dir, edited)
    await runScenario('d', current)
    expectUploads('d', 1)
    const changes = JSON.parse(runs.d.action.outputs.changes ?? '{}')
    if (JSON.stringify(changes.uploaded) !== JSON.stringify([`${PREFIX}/${edited}`]))
      check([`d. deploy-dags reported uploading ${JSON.stringify(changes.uploaded)}`])
    await checkBuckets(current)
    const expected = readFileSync(join(current.dir, edited), 'utf8')
    for (const bucket of Object.values(buckets)) {
      if ((await objectText(direct, bucket, `${PREFIX}/${edited}`)) !== expected)
        check([`s3://${bucket}/${PREFIX}/${edited} does not hold the edited file`])
    }
    const ratio = (tool, scenario) => runs[scenario][tool].ms / listing[tool].ms
    console.log(
      `  ${thousands(files)} files  no-op ÷ sequential listing: deploy-dags ${ratio('action', 'b').toFixed(2)} ` +
        `(fresh checkout ${ratio('action', 'c').toFixed(2)}), aws s3 sync ${ratio('cli', 'b').toFixed(2)}`
    )
    return {
      files,
      bytes,
      folders: tree.folders,
      edited,
      runs,
      listing,
      noOpRatio: ratio('action', 'b'),
      freshNoOpRatio: ratio('action', 'c'),
      cliNoOpRatio: ratio('cli', 'b'),
      problems
    }
  } finally {
    const registered = ctx.cleanups.indexOf(stopServers)
    if (registered >= 0) ctx.cleanups.splice(registered, 1)
    await stopServers()
  }
}

// ---------------------------------------------------------------------------------------------

const thousands = (n) => n.toLocaleString('en-US')
const mebibytes = (bytes) =>
  bytes === undefined ? 'n/a' : `${(bytes / 1024 ** 2).toFixed(bytes < 10 * 1024 ** 2 ? 1 : 0)} MiB`
const kinds = (byKind) =>
  Object.entries(byKind)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${thousands(n)} ${kind}`)
    .join(', ')
const times = (slow, fast) => `${(slow / fast).toFixed(slow / fast < 10 ? 2 : 1)}x`

function logRun(files, scenario, tool, run) {
  console.log(
    `  ${thousands(files)} files  ${scenario}. ${tool.padEnd(11)} ${seconds(run.ms).padStart(9)}  ` +
      `${thousands(run.requests)} requests (${kinds(run.byKind)})` +
      `${run.failedRequests > 0 ? `, ${run.failedRequests} answered >= 400` : ''}` +
      `  uploaded ${thousands(run.uploaded)}  peak RSS ${mebibytes(run.maxRss)}`
  )
}

/** Each target: met, missed, or not evaluated when --sizes leaves out the size it is about. */
function verdicts(results) {
  const at = (files) => results.find((result) => result.files === files)
  const line = (key, met, detail) =>
    met === undefined
      ? `target not evaluated: ${TARGETS[key]} (${detail})`
      : `${met ? 'target met' : 'target missed'}: ${TARGETS[key]} (${detail})`
  const lines = []
  const twenty = at(20_000)
  if (twenty === undefined) {
    lines.push(line('noChange', undefined, '--sizes does not include 20000'))
    lines.push(line('oneEdit', undefined, '--sizes does not include 20000'))
  } else {
    const { b, d } = twenty.runs
    const noChange = b.cli.ms / b.action.ms
    const oneEdit = d.cli.ms / d.action.ms
    lines.push(
      line(
        'noChange',
        noChange >= 3,
        `${seconds(b.action.ms)} vs ${seconds(b.cli.ms)}: ${times(b.cli.ms, b.action.ms)}`
      )
    )
    lines.push(
      line(
        'oneEdit',
        oneEdit >= 25,
        `${seconds(d.action.ms)} vs ${seconds(d.cli.ms)}: ${times(d.cli.ms, d.action.ms)}`
      )
    )
  }
  const hundred = at(100_000)
  if (hundred === undefined) {
    lines.push(line('memory', undefined, '--sizes does not include 100000'))
  } else {
    const peak = Math.max(...SCENARIOS.map(({ id }) => hundred.runs[id].action.maxRss))
    lines.push(line('memory', peak < 512 * 1024 ** 2, `peak ${mebibytes(peak)}`))
  }
  const largest = results.at(-1)
  if (twenty === undefined || largest.files <= 20_000) {
    lines.push(line('listing', undefined, 'needs 20000 and a larger size in --sizes'))
  } else {
    lines.push(
      line(
        'listing',
        largest.noOpRatio <= twenty.noOpRatio * 1.1,
        `${largest.noOpRatio.toFixed(2)} at ${thousands(largest.files)} files, ${twenty.noOpRatio.toFixed(2)} at 20,000`
      )
    )
  }
  return lines
}

// ---------------------------------------------------------------------------------------------
// The chart: wall time (log) against tree size (log), one line per tool and scenario.

const escapeXml = (text) =>
  String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]
  )

/** 1, 2, 5 × 10^k inside [low, high]; the decades alone when that gives too many. */
function logTicks(low, high) {
  const ticks = []
  for (let k = Math.floor(Math.log10(low)); k <= Math.ceil(Math.log10(high)); k++) {
    for (const m of [1, 2, 5]) {
      const value = m * 10 ** k
      if (value >= low && value <= high) ticks.push(value)
    }
  }
  return ticks.length > 12 ? ticks.filter((v) => Number.isInteger(Math.log10(v))) : ticks
}

const tickSeconds = (s) => `${s >= 1 ? thousands(s) : Number(s.toPrecision(1))} s`
const tickFiles = (n) => (n >= 1000 ? `${thousands(n / 1000)}k` : String(n))

function renderChart(results, { title, subtitle }) {
  const width = 960
  const height = 560
  const plot = { left: 80, top: 70, right: 660, bottom: 490 }
  const series = [
    ...TOOLS.flatMap((tool) =>
      SCENARIOS.map((scenario) => ({
        label: `${tool.label}: ${scenario.id}. ${scenario.short}`,
        colour: tool.colour,
        dash: scenario.dash,
        points: results.map((r) => [r.files, r.runs[scenario.id][tool.id].ms / 1000])
      }))
    ),
    {
      label: 'sequential listing (reference)',
      colour: '#777777',
      dash: '1 3',
      points: results.map((r) => [r.files, r.listing.action.ms / 1000])
    }
  ]
  const xs = results.map((r) => r.files)
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => y > 0)
  const domain = (values) => {
    const low = Math.min(...values)
    const high = Math.max(...values)
    return [low / 1.5, high * 1.5]
  }
  const [x0, x1] = domain(xs)
  const [y0, y1] = domain(ys)
  const scale = (value, [from, to], [a, b]) =>
    a + ((Math.log10(value) - Math.log10(from)) / (Math.log10(to) - Math.log10(from))) * (b - a)
  const px = (x) => scale(x, [x0, x1], [plot.left, plot.right]).toFixed(1)
  const py = (y) => scale(Math.max(y, y0), [y0, y1], [plot.bottom, plot.top]).toFixed(1)
  const text = (x, y, content, attributes = '') =>
    `<text x="${x}" y="${y}"${attributes}>${escapeXml(content)}</text>`
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    text(width / 2, 28, title, ' text-anchor="middle" font-size="16" font-weight="bold"'),
    text(width / 2, 48, subtitle, ' text-anchor="middle" fill="#444444"')
  ]
  for (const tick of logTicks(x0, x1)) {
    const x = px(tick)
    out.push(
      `<line x1="${x}" y1="${plot.top}" x2="${x}" y2="${plot.bottom}" stroke="#e4e4e4"/>`,
      text(x, plot.bottom + 18, tickFiles(tick), ' text-anchor="middle"')
    )
  }
  for (const tick of logTicks(y0, y1)) {
    const y = py(tick)
    out.push(
      `<line x1="${plot.left}" y1="${y}" x2="${plot.right}" y2="${y}" stroke="#e4e4e4"/>`,
      text(plot.left - 8, Number(y) + 4, tickSeconds(tick), ' text-anchor="end"')
    )
  }
  out.push(
    `<rect x="${plot.left}" y="${plot.top}" width="${plot.right - plot.left}" height="${plot.bottom - plot.top}" fill="none" stroke="#333333"/>`,
    text(
      (plot.left + plot.right) / 2,
      plot.bottom + 42,
      'files in the tree (log scale)',
      ' text-anchor="middle"'
    ),
    text(
      20,
      (plot.top + plot.bottom) / 2,
      'wall time, seconds (log scale)',
      ` text-anchor="middle" transform="rotate(-90 20 ${(plot.top + plot.bottom) / 2})"`
    )
  )
  for (const s of series) {
    const points = s.points.filter(([, y]) => y > 0)
    const dash = s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`
    out.push(
      `<polyline fill="none" stroke="${s.colour}" stroke-width="2"${dash} points="${points.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"/>`,
      ...points.map(([x, y]) => `<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${s.colour}"/>`)
    )
  }
  const legend = { x: plot.right + 20, y: plot.top + 4 }
  series.forEach((s, i) => {
    const y = legend.y + i * 22
    const dash = s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`
    out.push(
      `<line x1="${legend.x}" y1="${y}" x2="${legend.x + 36}" y2="${y}" stroke="${s.colour}" stroke-width="2"${dash}/>`,
      text(legend.x + 44, y + 4, s.label)
    )
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

// ---------------------------------------------------------------------------------------------
// The section of BENCHMARKS.md.

const commandLine = () => ['node bench/deploy-dags-scale.mjs', ...process.argv.slice(2)].join(' ')

const latencyNote = () =>
  args.latencyMs > 0
    ? `each proxy holds every request ${args.latencyMs} ms before forwarding it (a round trip to S3, both tools alike)`
    : 'no added latency (loopback)'

function sizeTable(result) {
  const rows = [
    ['Scenario', 'Tool', 'Wall time', 'Requests', 'Uploaded', 'Peak RSS', 'aws ÷ action']
  ]
  for (const scenario of SCENARIOS) {
    const { action, cli } = result.runs[scenario.id]
    for (const tool of TOOLS) {
      const run = result.runs[scenario.id][tool.id]
      rows.push([
        tool.id === 'action' ? `${scenario.id}. ${scenario.label}` : '',
        tool.label,
        seconds(run.ms),
        `${thousands(run.requests)} (${kinds(run.byKind)})`,
        thousands(run.uploaded),
        mebibytes(run.maxRss),
        tool.id === 'action' ? times(cli.ms, action.ms) : ''
      ])
    }
  }
  for (const tool of TOOLS) {
    const { ms, pages, objects } = result.listing[tool.id]
    rows.push([
      `sequential listing of ${tool.label}'s bucket`,
      'benchmark script (SDK)',
      seconds(ms),
      `${pages} LIST`,
      `(${thousands(objects)} objects)`,
      '',
      ''
    ])
  }
  return textTable(rows)
}

function summaryTable(results) {
  const rows = [
    [
      'Files',
      ...SCENARIOS.flatMap(({ id }) => [`${id}. deploy-dags`, `${id}. aws`]),
      'Listing',
      'b ÷ listing (c)',
      'Action peak RSS'
    ]
  ]
  for (const result of results) {
    rows.push([
      thousands(result.files),
      ...SCENARIOS.flatMap(({ id }) => [
        seconds(result.runs[id].action.ms),
        seconds(result.runs[id].cli.ms)
      ]),
      seconds(result.listing.action.ms),
      `${result.noOpRatio.toFixed(2)} (${result.freshNoOpRatio.toFixed(2)})`,
      mebibytes(Math.max(...SCENARIOS.map(({ id }) => result.runs[id].action.maxRss)))
    ])
  }
  return textTable(rows)
}

function renderReport({ results, verdictLines, machine, bundle, problems }) {
  const perSize = results
    .map(
      (result) =>
        `### ${thousands(result.files)} files\n\n${result.folders} DAG folders, ${mebibytes(result.bytes)}; ` +
        `edited in d: \`${result.edited}\`. No-op ÷ sequential listing of its bucket: deploy-dags ` +
        `${result.noOpRatio.toFixed(2)} (b), ${result.freshNoOpRatio.toFixed(2)} (c); aws s3 sync ` +
        `${result.cliNoOpRatio.toFixed(2)} (b).\n\n${sizeTable(result)}`
    )
    .join('\n\n')
  return `<!-- Generated by \`node bench/deploy-dags-scale.mjs --write\`; edit the script, not this section. -->

## deploy-dags vs \`aws s3 sync\` at scale

Measured ${new Date().toISOString()}, one run of each scenario, ${latencyNote()}, with:

\`\`\`sh
node scripts/ensure-node24.mjs   # once: the Node 24 runtime action.yml declares
npm run build                    # dist/deploy-dags/index.js, the bundle under test
${commandLine()}
\`\`\`

![Wall time against tree size, both tools, four scenarios](${CHART_NAME})

${summaryTable(results)}

Scenarios: a. full upload into an empty bucket; b. nothing changed, mtimes intact; c. fresh
checkout, nothing changed; d. fresh checkout, one same-size edit. "b ÷ listing (c)": the action's
no-op wall time over the sequential listing of its bucket, for b (and c).

${verdictLines.map((line) => `- ${line}`).join('\n')}
${
  problems.length === 0
    ? '- Correctness checks passed: after every scenario both buckets held exactly the tree (keys and sizes' +
      `; up to ${thousands(FULL_CHECK_MAX_FILES)} files every object's ETag against its file's MD5), the action's bucket also its manifest, ` +
      'and both the edited file.'
    : `- **${problems.length} correctness check(s) failed:**\n${problems.map((p) => `  - ${p}`).join('\n')}`
}

${perSize}

### Setup

- Trees: generated, seeded (the same for a given size on every run): \`.airflowignore\`, \`common/\`
  helpers, and team/domain/group folders (${TEAMS.length} teams × ${DOMAINS.length} domains, groups
  added as the tree grows) of about ${FILES_PER_GROUP} files each: \`__init__.py\`, DAG modules (~70%,
  300 B to ~20 KB), \`sql/*.sql\` (~20%) and \`config/*.yaml\` (~10%) — the mix of the deploy-dags
  section's tree.
- For each size: a new moto_server on loopback; each tool has its own bucket and its own proxy in
  front of that server, which counts its requests (LIST is ListObjectsV2, GET the action's
  manifest). ${
    args.latencyMs > 0
      ? `Latency: each proxy holds every request ${args.latencyMs} ms before forwarding it, a round trip to S3 for both tools alike; pages of a sequential listing pay it one after another, uploads once per request in flight (16 at a time for the action, 10 for the CLI), where moto's own queue hides much of it.`
      : 'No added latency: loopback has none. `--latency-ms N` holds every request N ms at both proxies, a round trip to S3 for both tools alike.'
  }
- Scenario c copies the checkout to a new folder (every mtime newer than the objects, as after
  \`actions/checkout\`); d copies that again and bumps one DAG's \`"retries": N\` digit (one
  file, same size, different content).
- deploy-dags: \`dist/deploy-dags/index.js\` run by \`test-support/runner.mjs\` as the GitHub runner
  runs it (inputs as \`INPUT_*\`, action.yml defaults, concurrency 16), under Node ${machine.node24};
  bundle SHA-256 \`${bundle}…\`.
- aws CLI: \`aws s3 sync <checkout>/dags s3://<bucket>/dags --endpoint-url <proxy>\`, default
  settings (no config file).
- Wall time is the tool process's, start to exit (\`timeout\` and \`time\` in front of it add
  a few milliseconds).
- Peak RSS: GNU time's maximum resident set size (\`/usr/bin/time -f %M\`) of the tool's own
  process, which \`time\` starts and waits for: for the action, \`runner.mjs\` is given a bash
  script as its node command that execs \`timeout\` and \`time\`, so the figure is the action's
  node process, not the runner's; for the CLI, its Python process.
- Sequential listing: the benchmark script (AWS SDK for JavaScript) lists each bucket after the
  full uploads, one ListObjectsV2 page (1,000 keys, \`EncodingType=url\`) after another, through
  that tool's proxy; one HeadBucket first, untimed, opens the connection. It is the reference for
  "no-op time grows no faster than the listing".
- moto is not S3. For every ListObjectsV2 page, moto 5 collects and sorts all the keys under the
  prefix, then writes 1,000 of them as XML, in Python threads that share one interpreter lock:
  a page costs more the larger the bucket, so a full listing grows faster than the bucket (S3's
  does not), and pages asked for in parallel from one moto come back little sooner. The listing
  reference shares that cost, which is why the no-op times are compared with it rather than with
  a fixed figure; per-request costs, and the ratios between the tools, would differ against AWS. Both tools
  share the machine with moto and the proxies (${machine.nproc} CPUs here): single runs move by
  seconds for full uploads, more so when other work is running.

### Machine

${machineTable(machine, {
  loadNote: ' (the run itself keeps 2-3 processes busy)',
  tools: [['aws CLI', 'aws']]
})}
`
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const node24 = nodeRuntimes()[0].path
  const { home, cleanups, cleanup } = benchHome('deploy-dags-scale')
  try {
    const machine = machineInfo(node24, { aws: ['aws', ['--version']] })
    const bundle = bundleDigest([BUNDLE])
    logMachine(machine, ['aws'])
    console.log(
      `sizes: ${args.sizes.map(thousands).join(', ')} files; ${latencyNote()}; one run of each scenario`
    )
    // The clients here only set up, list and check the buckets; the SDK's notice about the Node
    // running the benchmark script (the action itself runs under Node 24) is noise here.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
    const measureDir = join(home, 'measure')
    mkdirSync(measureDir)
    const ctx = { home, cleanups, node24, measureDir }

    const results = []
    for (const files of args.sizes) {
      const started = performance.now()
      results.push(await measureSize(ctx, files))
      console.log(`  ${thousands(files)} files: done in ${seconds(performance.now() - started)}`)
    }
    machine.loadAfter = loadAverage()
    checkBundleUnchanged([BUNDLE], bundle)

    const problems = results.flatMap((result) => result.problems)
    const verdictLines = verdicts(results)
    const write = async () => {
      const chart = renderChart(results, {
        title: 'deploy-dags vs aws s3 sync: wall time against tree size',
        subtitle: `moto_server on loopback, ${args.latencyMs > 0 ? `${args.latencyMs} ms added per request` : 'no added latency'}; one run each; ${new Date().toISOString().slice(0, 10)}`
      })
      writeFileSync(CHART_FILE, chart)
      await writeSection(
        SECTION,
        renderReport({ results, verdictLines, machine, bundle, problems })
      )
      return `the ${SECTION} section of BENCHMARKS.md and ${relative(process.cwd(), CHART_FILE)}`
    }
    await finishRun({
      tables: summaryTable(results),
      verdicts: verdictLines,
      problems,
      write: args.write ? write : undefined
    })
  } finally {
    await cleanup()
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error)
  process.exitCode = 1
})
