// What the ephemeral-sg-ssh benchmarks share (bench/ephemeral-sg-ssh.mjs, one host, and
// bench/ephemeral-sg-ssh-fleet.mjs, a fleet): the generated application tree, the action run as
// the runner runs it with its log lines timestamped, the checks of what landed on the hosts and
// of the security group, and formatting.
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { DescribeSecurityGroupRulesCommand } from '@aws-sdk/client-ec2'
import { runAction } from '../test-support/runner.mjs'
import { repoRoot, splitmix32, tail } from './common.mjs'

/** Per-process ceiling: a hung tool fails the benchmark instead of stalling it. */
export const TOOL_TIMEOUT_MS = 120_000
export const RUNNER_IP = '203.0.113.10'
export const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1'
}

// ---------------------------------------------------------------------------------------------
// The application tree: a built front end and its Node server, deterministic (seeded), so every
// run uploads the same bytes.

const FEATURES = ['checkout', 'account', 'search', 'catalog', 'orders', 'admin', 'billing', 'help']
const WORDS = ['alpha', 'bravo', 'delta', 'echo', 'kilo', 'lima', 'nova', 'oscar', 'sierra', 'zulu']
const LOCALES = ['en', 'de', 'fr', 'es', 'it', 'nl', 'pt', 'ja']

/**
 * Writes `count` files under `root`: dotfiles (`.env.example`, `.well-known/`, `.htaccess`, an
 * empty `.gitkeep`), executable scripts, HTML/JS/CSS/JSON/SVG between 200 B and 30 KB in nested
 * folders, and five ~200 KB binary assets. Returns the relative paths and the total size.
 */
export function generateAppTree(root, count) {
  const rng = splitmix32(20250301)
  const pick = (list) => list[Math.floor(rng() * list.length)]
  const hash = () =>
    Math.floor(rng() * 2 ** 32)
      .toString(16)
      .padStart(8, '0')
  // Log-uniform: most files are small, a few approach the upper bound.
  const size = (min, max) =>
    Math.round(Math.exp(Math.log(min) + rng() * (Math.log(max) - Math.log(min))))
  const files = []
  let bytes = 0
  const write = (path, content, mode = 0o644) => {
    const file = join(root, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, content)
    chmodSync(file, mode)
    files.push(path)
    bytes += Buffer.byteLength(content)
  }

  // Fixed part: configuration, dotfiles and the few large assets.
  write('.env.example', 'NODE_ENV=production\nPORT=3000\nDATABASE_URL=postgres://app@db/app\n')
  write('.nvmrc', '24\n')
  write('.well-known/security.txt', 'Contact: mailto:security@example.com\nExpires: 2030-01-01\n')
  write('.well-known/assetlinks.json', text('json', 600, rng))
  write('.well-known/apple-app-site-association', text('json', 400, rng))
  write('package.json', text('json', 1500, rng))
  write('bin/start.sh', '#!/bin/sh\nexec node server/index.js\n', 0o755)
  write('bin/migrate.sh', '#!/bin/sh\nset -e\nnode server/db/migrate.js "$@"\n', 0o755)
  write('server/.eslintrc.json', '{ "root": true, "env": { "node": true } }\n')
  write('public/.htaccess', 'Options -Indexes\nHeader set Cache-Control "max-age=31536000"\n')
  write('public/index.html', text('html', 4000, rng))
  write('public/robots.txt', 'User-agent: *\nDisallow: /admin/\n')
  write('locales/.gitkeep', '')
  for (const [path, kb] of [
    ['public/assets/img/hero.jpg', 215],
    ['public/assets/img/team.webp', 180],
    ['public/assets/fonts/inter-var.woff2', 205],
    ['public/assets/video/poster.png', 190],
    ['public/assets/js/vendor.js', 230]
  ]) {
    write(path, path.endsWith('.js') ? text('js', kb * 1024, rng) : binary(kb * 1024, rng))
  }

  // The rest: many small files, several levels deep.
  for (let n = 0; files.length < count; n++) {
    const feature = pick(FEATURES)
    const name = `${pick(WORDS)}-${n}`
    const kind = rng()
    const bytesWanted = size(200, 30_000)
    if (kind < 0.3) {
      write(`public/assets/js/${feature}/${name}.${hash()}.js`, text('js', bytesWanted, rng))
    } else if (kind < 0.45) {
      write(`public/assets/css/${feature}/${name}.${hash()}.css`, text('css', bytesWanted, rng))
    } else if (kind < 0.6) {
      write(`public/${feature}/${pick(WORDS)}/${name}.html`, text('html', bytesWanted, rng))
    } else if (kind < 0.75) {
      const folder = pick(['routes', 'services', 'middleware', 'db/models'])
      write(`server/${folder}/${feature}/${name}.js`, text('js', bytesWanted, rng))
    } else if (kind < 0.85) {
      write(`locales/${pick(LOCALES)}/${feature}/${name}.json`, text('json', bytesWanted, rng))
    } else if (kind < 0.95) {
      write(`public/assets/icons/${feature}/${name}.svg`, text('svg', bytesWanted, rng))
    } else {
      write(`views/partials/${feature}/${name}.html`, text('html', bytesWanted, rng))
    }
  }
  return { files, bytes }
}

/** Source-like text of about `target` bytes. */
function text(kind, target, rng) {
  const word = () => WORDS[Math.floor(rng() * WORDS.length)]
  const num = () => Math.floor(rng() * 10_000)
  const unit = {
    js: (i) => `export function ${word()}_${i}(value) {\n  return value * ${num()} + ${i}\n}\n`,
    css: (i) => `.${word()}-${i} { margin: ${num() % 64}px; color: #${num().toString(16)}; }\n`,
    html: (i) =>
      `<section class="${word()}"><h2>${word()} ${i}</h2><p>${word()} ${num()}</p></section>\n`,
    json: (i) => `  "${word()}_${i}": "${word()} ${word()} ${num()}",\n`,
    svg: (i) => `<path id="p${i}" d="M${num()} ${num()}L${num()} ${num()}Z"/>\n`
  }[kind]
  const head = { json: '{\n', svg: '<svg xmlns="http://www.w3.org/2000/svg">\n' }[kind] ?? ''
  const tail = { json: '  "end": true\n}\n', svg: '</svg>\n' }[kind] ?? ''
  let body = ''
  for (let i = 0; head.length + body.length + tail.length < target; i++) body += unit(i)
  return head + body + tail
}

/** Incompressible bytes, like an image or a font. */
function binary(length, rng) {
  const buffer = Buffer.alloc(length)
  for (let i = 0; i < length; i++) buffer[i] = Math.floor(rng() * 256)
  return buffer
}

// ---------------------------------------------------------------------------------------------
// Running the action.

/**
 * Runs the bundle through test-support/runner.mjs and timestamps each stdout line as it arrives.
 * `ctx`: node24, workspace, groupId, moto, hosts (the input), knownHosts, user, key; `node` runs
 * the bundle instead of node24 (a wrapper that measures it). runAction's `onStdout` is called with the output so far every time a chunk arrives.
 */
export async function runActionTimed(ctx, inputs, { node = ctx.node24 } = {}) {
  const lines = []
  let seen = 0
  let partial = ''
  const started = performance.now()
  const run = await runAction({
    action: 'ephemeral-sg-ssh',
    node,
    workspace: ctx.workspace,
    env: AWS_ENV,
    inputs: {
      'security-group-ids': ctx.groupId,
      ip: RUNNER_IP,
      hosts: ctx.hosts,
      username: ctx.user,
      'private-key': ctx.key.privateKey,
      'known-hosts': ctx.knownHosts,
      'endpoint-url': ctx.moto.endpoint,
      'connect-timeout': '20',
      ...inputs
    },
    timeoutMs: ctx.timeoutMs ?? TOOL_TIMEOUT_MS,
    onStdout: (stdout) => {
      const at = performance.now() - started
      partial += stdout.slice(seen)
      seen = stdout.length
      const complete = partial.split('\n')
      partial = complete.pop()
      for (const line of complete) lines.push({ at, line })
    }
  })
  const processMs = performance.now() - started
  const failure = (why) =>
    new Error(`ephemeral-sg-ssh ${why}:\n${tail(run.stdout)}\n${tail(run.stderr)}`)
  if (run.exitCode !== 0) throw failure(`failed (exit ${run.exitCode})`)
  if (run.post?.exitCode !== 0) throw failure(`post step failed (exit ${run.post?.exitCode})`)

  const find = (pattern) => lines.find(({ line }) => pattern.test(line))
  const opened = find(/^Opened sg-\w+ to \S+ on port \d+ \(sgr-\w+\)$/)
  // Right after opening, the action switches workflow commands off for the hosts' output, and
  // back on (`::TOKEN::`) the moment the work on the hosts has ended.
  const token = find(/^::stop-commands::/)?.line.slice('::stop-commands::'.length)
  const hostsDone = token === undefined ? undefined : find(new RegExp(`^::${token}::$`))
  const closed = find(/^Closed sgr-/)
  const uploadLine = find(/^uploaded .+ → .+ in \d+ ms$/)
  const results = JSON.parse(run.outputs.results ?? '[]')
  return {
    run,
    lines,
    processMs,
    mainMs: run.durationMs,
    postMs: run.post.durationMs,
    results,
    exposureMs: Number(run.outputs['exposure-seconds']) * 1000,
    resultsMs: results.reduce((sum, result) => sum + result.durationMs, 0),
    uploadMs:
      uploadLine === undefined ? undefined : Number(/in (\d+) ms$/.exec(uploadLine.line)[1]),
    // From the "Opened" line to the "uploaded" line: connecting (handshake, authentication) and
    // uploading, as an rsync or scp process does from start to exit.
    connectUploadMs:
      opened === undefined || uploadLine === undefined ? undefined : uploadLine.at - opened.at,
    sshPhaseMs:
      opened === undefined || hostsDone === undefined ? undefined : hostsDone.at - opened.at,
    afterHostsMs:
      hostsDone === undefined || closed === undefined ? undefined : closed.at - hostsDone.at,
    // Main step: from launch to the rule being open (Node start, bundle load, DescribeSecurityGroups,
    // the sweep, AuthorizeSecurityGroupIngress), and from the rule being closed to the exit.
    launchToOpenedMs: opened?.at,
    closedToExitMs: closed === undefined ? undefined : run.durationMs - closed.at,
    openedToClosedMs:
      opened === undefined || closed === undefined ? undefined : closed.at - opened.at
  }
}

// ---------------------------------------------------------------------------------------------
// Checks on what landed on the "server" (the same machine, so the remote folders are local).

/** Problems with `copy` as a copy of `source`: `diff -r`, the file count, and (optionally) modes. */
export function checkCopy(source, copy, expectedFiles, { modes }) {
  const problems = []
  const diff = spawnSync('diff', ['-r', '-q', source, copy], { encoding: 'utf8', timeout: 60_000 })
  if (diff.status !== 0) {
    problems.push(
      `diff -r ${source} ${copy} exited with ${diff.status}: ${tail(`${diff.stdout}${diff.stderr}`).trim()}`
    )
  }
  const copied = walk(copy)
  const files = [...copied.values()].filter((entry) => entry.file).length
  if (files !== expectedFiles)
    problems.push(`${copy} holds ${files} files, expected ${expectedFiles}`)
  if (modes) {
    const original = walk(source)
    const changed = [...original].filter(([path, { mode }]) => copied.get(path)?.mode !== mode)
    if (changed.length > 0) {
      const [path, { mode }] = changed[0]
      problems.push(
        `${changed.length} entries of ${copy} lost their mode, e.g. ${path}: ${mode.toString(8)} → ${copied.get(path)?.mode.toString(8)}`
      )
    }
  }
  return problems
}

/** Every file and folder under `root` (not `root` itself), with its permission bits. */
export function walk(root, prefix = '', entries = new Map()) {
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    const mode = statSync(join(root, path)).mode & 0o7777
    entries.set(path, { mode, file: entry.isFile() })
    if (entry.isDirectory()) walk(root, path, entries)
  }
  return entries
}

/** Every rule of the group, as comparable text: each run must leave it as it found it. */
export async function rulesOf(ec2, groupId) {
  const { SecurityGroupRules = [] } = await ec2.send(
    new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] })
  )
  return SecurityGroupRules.map(
    (rule) =>
      `${rule.SecurityGroupRuleId} ${rule.IsEgress ? 'egress' : 'ingress'} ${rule.IpProtocol} ${rule.FromPort}-${rule.ToPort} ${rule.CidrIpv4 ?? rule.CidrIpv6}`
  )
    .sort()
    .join('\n')
}

// ---------------------------------------------------------------------------------------------
export const ratio = (a, b) =>
  a === undefined || b === undefined ? 'n/a' : `${(a / b).toFixed(2)}x`
export const mib = (bytes) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`

export const onPath = (command) =>
  spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0

export const BUNDLES = ['index.js', 'post/index.js'].map((file) =>
  join(repoRoot, 'dist', 'ephemeral-sg-ssh', file)
)
