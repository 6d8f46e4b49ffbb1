// Benchmark: the ephemeral-sg-ssh bundle (run as the GitHub runner runs it, under Node 24) against
// moto_server's EC2 and a real OpenSSH sshd on loopback.
//
//   node bench/ephemeral-sg-ssh.mjs            print the tables
//   node bench/ephemeral-sg-ssh.mjs --write    also rewrite its section of BENCHMARKS.md
//   options: --files N (default 1000), --repeats N (runs of each tool, default 3)
//
// 1. Upload of a generated application tree, side by side in one run, each copy into a fresh
//    remote folder: the action (upload only, `script: true`), `rsync -a` and `scp -r`, all over
//    the same sshd. Every copy is checked with `diff -r`. Targets: the action within 1.5x of
//    rsync, and faster than scp.
// 2. How long the security group rule stays open beyond the SSH phase: `exposure-seconds` minus
//    the time the action spent on the hosts, for an upload and a trivial script. Target: < 2 s.
// Exits non-zero only on errors (a tool failing, a check failing); a missed performance target
// is printed as "target missed" but is not an error.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateSecurityGroupCommand, CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2'
import { motoAvailable, startMoto } from '../test-support/moto.mjs'
import { nodeRuntimes } from '../test-support/runner.mjs'
import { makeClientKey, sshdAvailable, startSshd } from '../test-support/sshd.mjs'
import { writeSection } from './benchmarks-md.mjs'
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
  seconds,
  tail,
  textTable,
  timedSpawn
} from './common.mjs'
import {
  BUNDLES,
  RUNNER_IP,
  TOOL_TIMEOUT_MS,
  checkCopy,
  generateAppTree,
  mib,
  onPath,
  ratio,
  rulesOf,
  runActionTimed
} from './ssh-bench.mjs'

const args = benchOptions({ files: '1000', minFiles: 100 })

const TARGETS = {
  vsRsync: 'action upload within 1.5x of rsync -a',
  vsScp: 'action upload faster than scp -r',
  exposure: 'rule open < 2 s beyond the SSH phase'
}

// ---------------------------------------------------------------------------------------------
// Running the tools.

/** `ssh` options shared by rsync, scp and the bare connection; no user or system ssh_config. */
const sshOptions = (ctx) => [
  '-F',
  '/dev/null',
  '-i',
  ctx.key.path,
  '-o',
  `UserKnownHostsFile=${ctx.knownHostsFile}`,
  '-o',
  'BatchMode=yes'
]

function runRsync(ctx, source, destination) {
  // rsync splits -e on spaces; every path here is a temporary one without spaces.
  const rsh = ['ssh', '-p', String(ctx.server.port), ...sshOptions(ctx)].join(' ')
  return runTool('rsync', [
    '-a',
    '-e',
    rsh,
    `${source}/`,
    `${ctx.server.user}@127.0.0.1:${destination}/`
  ])
}

function runScp(ctx, source, destination) {
  // The destination does not exist yet, so scp -r creates it as the copy of the folder.
  return runTool('scp', [
    '-r',
    '-P',
    String(ctx.server.port),
    ...sshOptions(ctx),
    source,
    `${ctx.server.user}@127.0.0.1:${destination}`
  ])
}

function runSshTrue(ctx) {
  return runTool('ssh', [
    '-p',
    String(ctx.server.port),
    ...sshOptions(ctx),
    `${ctx.server.user}@127.0.0.1`,
    'true'
  ])
}

/** Runs a command to its exit; throws on a non-zero exit or after TOOL_TIMEOUT_MS. */
async function runTool(command, argv) {
  // No agent: every tool authenticates with the one key it is given, like the action.
  const env = { ...process.env }
  delete env.SSH_AUTH_SOCK
  const { code, stdout, stderr, ms } = await timedSpawn(command, argv, {
    env,
    timeoutMs: TOOL_TIMEOUT_MS,
    label: command
  })
  if (code !== 0) {
    throw new Error(
      `${command} ${argv.join(' ')} exited with ${code}:\n${tail(stdout)}\n${tail(stderr)}`
    )
  }
  return { ms }
}

// ---------------------------------------------------------------------------------------------
function requireTools() {
  const missing = []
  for (const [command, pkg] of [
    ['rsync', 'rsync'],
    ['ssh', 'openssh-client'],
    ['scp', 'openssh-client'],
    ['ssh-keygen', 'openssh-client'],
    ['diff', 'diffutils']
  ]) {
    if (!onPath(command)) missing.push(`${command} (Debian package ${pkg})`)
  }
  if (!sshdAvailable()) missing.push('sshd (Debian package openssh-server)')
  if (!motoAvailable()) missing.push('moto_server (pip install "moto[server]")')
  if (missing.length > 0) throw new Error(`missing: ${missing.join(', ')}`)
}

async function main() {
  requireTools()
  const node24 = nodeRuntimes()[0].path
  const { home, cleanups, cleanup } = benchHome('ephemeral-sg-ssh')

  try {
    const machine = machineInfo(
      node24,
      { openssh: ['ssh', ['-V']], rsync: ['rsync', ['--version']] },
      { firstLine: true }
    )
    const bundle = bundleDigest(BUNDLES)
    logMachine(machine, ['openssh', 'rsync'])

    const workspace = join(home, 'workspace')
    const source = join(workspace, 'app')
    const tree = generateAppTree(source, args.files)
    console.log(`tree: ${tree.files.length} files, ${mib(tree.bytes)} in ${source}`)
    const remoteRoot = join(home, 'remote')
    mkdirSync(remoteRoot)

    const key = makeClientKey(home)
    const moto = await startMoto()
    cleanups.push(() => moto.stop())
    const server = await startSshd({ authorizedKeys: [key.publicKey] })
    cleanups.push(() => server.stop())
    const knownHostsFile = join(home, 'known_hosts')
    writeFileSync(knownHostsFile, `${server.knownHosts}\n`)

    // This client only sets up and checks the group; the SDK's notice about the Node running the
    // benchmark script (the action itself runs under Node 24) is noise here.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
    const ec2 = new EC2Client({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
    })
    cleanups.push(() => ec2.destroy())
    const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc.VpcId
    const groupId = (
      await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: 'app-servers',
          Description: 'app servers',
          VpcId: vpcId
        })
      )
    ).GroupId
    const groupBefore = await rulesOf(ec2, groupId)
    const ctx = {
      node24,
      workspace,
      server,
      key,
      knownHostsFile,
      moto,
      groupId,
      hosts: `127.0.0.1:${server.port}`,
      knownHosts: server.knownHosts,
      user: server.user
    }

    const problems = []
    const check = (found) => {
      for (const problem of found) {
        problems.push(problem)
        console.log(`  CHECK FAILED: ${problem}`)
      }
    }
    const checkGroup = async (label) => {
      const now = await rulesOf(ec2, groupId)
      if (now !== groupBefore)
        check([`${label}: the security group was not left as found:\n${now}`])
    }
    let destinations = 0
    const destination = (tool) => join(remoteRoot, `${tool}-${++destinations}`)

    // Reference: what connecting alone costs an OpenSSH client (start, handshake, auth, exit).
    const sshTrue = []
    for (let i = 0; i < args.repeats; i++) sshTrue.push((await runSshTrue(ctx)).ms)
    console.log(`ssh … true: ${sshTrue.map(seconds).join(', ')}`)

    // 1. Uploads, the tool that goes first rotating between rounds.
    const uploads = []
    const tools = {
      action: async () => {
        const dest = destination('action')
        const result = await runActionTimed(ctx, { upload: `app:${dest}`, script: 'true' })
        check(checkCopy(source, dest, tree.files.length, { modes: true }))
        await checkGroup('upload run')
        if (result.uploadMs === undefined || result.connectUploadMs === undefined)
          check([`the action's log has no "Opened" or "uploaded … in N ms" line`])
        return result
      },
      rsync: async () => {
        const dest = destination('rsync')
        const result = await runRsync(ctx, source, dest)
        check(checkCopy(source, dest, tree.files.length, { modes: true }))
        return result
      },
      scp: async () => {
        const dest = destination('scp')
        const result = await runScp(ctx, source, dest)
        // scp -r without -p does not keep modes (the umask applies): content only.
        check(checkCopy(source, dest, tree.files.length, { modes: false }))
        return result
      }
    }
    const names = Object.keys(tools)
    for (let round = 1; round <= args.repeats; round++) {
      const order = names.map((_, i) => names[(i + round - 1) % names.length])
      console.log(`\n1. upload, round ${round}/${args.repeats} (${order.join(', ')})`)
      const results = {}
      for (const tool of order) results[tool] = await tools[tool]()
      const { action } = results
      console.log(
        `  action  connect+upload ${seconds(action.connectUploadMs)} (upload line ${seconds(action.uploadMs)}), ` +
          `main step ${seconds(action.mainMs)}, post step ${seconds(action.postMs)}`
      )
      console.log(`  rsync   ${seconds(results.rsync.ms)}`)
      console.log(`  scp     ${seconds(results.scp.ms)}`)
      uploads.push({ order, ...results })
    }

    // 2. Exposure beyond the SSH phase: an upload and a trivial script.
    const exposures = []
    for (let round = 1; round <= args.repeats; round++) {
      const dest = destination('exposure')
      const result = await runActionTimed(ctx, {
        upload: `app:${dest}`,
        script: 'echo deployed'
      })
      check(checkCopy(source, dest, tree.files.length, { modes: true }))
      await checkGroup('exposure run')
      if (result.sshPhaseMs === undefined)
        check(["the action's log does not show where the SSH phase starts and ends"])
      result.beyondMs = result.exposureMs - (result.sshPhaseMs ?? result.resultsMs)
      result.beyondByResultsMs = result.exposureMs - result.resultsMs
      console.log(
        `\n2. exposure, round ${round}/${args.repeats}: exposure-seconds ${seconds(result.exposureMs)}, ` +
          `SSH phase ${seconds(result.sshPhaseMs)} (results durationMs ${seconds(result.resultsMs)}), ` +
          `beyond ${seconds(result.beyondMs)}`
      )
      exposures.push(result)
    }

    machine.loadAfter = loadAverage()
    checkBundleUnchanged(BUNDLES, bundle)

    const results = summarize({ uploads, exposures, sshTrue })
    const table = renderTable(results, tree)
    const write = async () => {
      await writeSection(
        'ephemeral-sg-ssh',
        renderReport({ results, table, machine, bundle, tree, problems })
      )
      return 'the ephemeral-sg-ssh section of BENCHMARKS.md'
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

function summarize({ uploads, exposures, sshTrue }) {
  const med = (pick) => median(uploads.map(pick))
  const s1 = {
    connectUploadMs: med((u) => u.action.connectUploadMs),
    uploadMs: med((u) => u.action.uploadMs),
    mainMs: med((u) => u.action.mainMs),
    launchToOpenedMs: med((u) => u.action.launchToOpenedMs),
    closedToExitMs: med((u) => u.action.closedToExitMs),
    postMs: med((u) => u.action.postMs),
    rsyncMs: med((u) => u.rsync.ms),
    scpMs: med((u) => u.scp.ms),
    sshTrueMs: median(sshTrue)
  }
  const e = (pick) => median(exposures.map(pick))
  const s2 = {
    exposureMs: e((r) => r.exposureMs),
    sshPhaseMs: e((r) => r.sshPhaseMs),
    resultsMs: e((r) => r.resultsMs),
    beyondMs: e((r) => r.beyondMs),
    beyondByResultsMs: e((r) => r.beyondByResultsMs),
    afterHostsMs: e((r) => r.afterHostsMs),
    beforeHostsMs: e((r) =>
      r.openedToClosedMs === undefined ? undefined : r.exposureMs - r.openedToClosedMs
    ),
    mainMs: e((r) => r.mainMs)
  }
  const met = {
    vsRsync: s1.connectUploadMs <= 1.5 * s1.rsyncMs,
    vsScp: s1.connectUploadMs < s1.scpMs,
    exposure: s2.beyondMs < 2000
  }
  const verdict = (key, detail) =>
    `${met[key] ? 'target met' : 'target missed'}: ${TARGETS[key]} (${detail})`
  const n = uploads.length
  const verdicts = [
    verdict(
      'vsRsync',
      `connect + upload ${seconds(s1.connectUploadMs)} vs rsync ${seconds(s1.rsyncMs)}, ${ratio(s1.connectUploadMs, s1.rsyncMs)}; ` +
        `upload alone ${seconds(s1.uploadMs)}, ${ratio(s1.uploadMs, s1.rsyncMs)}; median of ${n}`
    ),
    verdict(
      'vsScp',
      `connect + upload ${seconds(s1.connectUploadMs)} vs scp ${seconds(s1.scpMs)}, ${ratio(s1.connectUploadMs, s1.scpMs)}; median of ${n}`
    ),
    verdict(
      'exposure',
      `${seconds(s2.beyondMs)} = exposure-seconds ${seconds(s2.exposureMs)} − SSH phase ${seconds(s2.sshPhaseMs)}; ` +
        `by the results' durationMs ${seconds(s2.beyondByResultsMs)}; median of ${exposures.length}`
    )
  ]
  return { uploads, exposures, sshTrue, s1, s2, met, verdicts }
}

function renderTable({ uploads, exposures, s1, s2, met }, tree) {
  const n = uploads.length
  const rows = [
    ['Measure', 'Median', 'vs rsync', 'Target'],
    [
      `ephemeral-sg-ssh: connect + upload (log lines "Opened" → "uploaded"), ${tree.files.length} files, ${mib(tree.bytes)}`,
      seconds(s1.connectUploadMs),
      ratio(s1.connectUploadMs, s1.rsyncMs),
      `≤ 1.5x rsync: ${met.vsRsync ? 'met' : 'missed'}; < scp: ${met.vsScp ? 'met' : 'missed'}`
    ],
    [
      'ephemeral-sg-ssh: upload alone (its "uploaded … in N ms" line)',
      seconds(s1.uploadMs),
      ratio(s1.uploadMs, s1.rsyncMs),
      ''
    ],
    [
      'ephemeral-sg-ssh: main step process (Node 24 start, EC2 on moto, SSH, revoke, exit)',
      seconds(s1.mainMs),
      ratio(s1.mainMs, s1.rsyncMs),
      ''
    ],
    [
      '… of which launch → `Opened` line / `Closed` line → process exit',
      `${seconds(s1.launchToOpenedMs)} / ${seconds(s1.closedToExitMs)}`,
      '',
      ''
    ],
    ['ephemeral-sg-ssh: post step process', seconds(s1.postMs), '', ''],
    ['`rsync -a` process', seconds(s1.rsyncMs), '1.00x', ''],
    ['`scp -r` process (SFTP)', seconds(s1.scpMs), ratio(s1.scpMs, s1.rsyncMs), ''],
    ['`ssh … true` process (connect only, reference)', seconds(s1.sshTrueMs), '', ''],
    [
      `Rule open beyond the SSH phase (exposure-seconds ${seconds(s2.exposureMs)} − SSH phase ${seconds(s2.sshPhaseMs)})`,
      seconds(s2.beyondMs),
      '',
      `< 2 s: ${met.exposure ? 'met' : 'missed'}`
    ],
    [
      `… of which before the SSH phase (authorize) / after it (revoke, confirm)`,
      `${seconds(s2.beforeHostsMs)} / ${seconds(s2.afterHostsMs)}`,
      '',
      ''
    ],
    [
      `… computed with the results' durationMs (${seconds(s2.resultsMs)}) as the SSH phase`,
      seconds(s2.beyondByResultsMs),
      '',
      ''
    ]
  ]
  const header = `Upload: median of ${n} runs of each tool. Exposure: median of ${exposures.length} runs.`
  return [header, '', textTable(rows)].join('\n')
}

function renderReport({ results, table, machine, bundle, tree, problems }) {
  const { uploads, exposures, sshTrue } = results
  const uploadRows = uploads.map(
    (u, i) =>
      `| ${i + 1} | ${u.order.join(', ')} | ${seconds(u.action.connectUploadMs)} | ${seconds(u.action.uploadMs)} | ` +
      `${seconds(u.action.mainMs)} | ${seconds(u.action.launchToOpenedMs)} | ${seconds(u.action.closedToExitMs)} | ` +
      `${seconds(u.action.postMs)} | ${seconds(u.rsync.ms)} | ${seconds(u.scp.ms)} |`
  )
  const exposureRows = exposures.map(
    (r, i) =>
      `| ${i + 1} | ${seconds(r.exposureMs)} | ${seconds(r.sshPhaseMs)} | ${seconds(r.resultsMs)} | ` +
      `${seconds(r.beyondMs)} | ${seconds(r.afterHostsMs)} | ${seconds(r.mainMs)} |`
  )
  return `<!-- Generated by \`node bench/ephemeral-sg-ssh.mjs --write\`; edit the script, not this section. -->

## ephemeral-sg-ssh upload and exposure

Measured ${new Date().toISOString()} with:

\`\`\`sh
node scripts/ensure-node24.mjs   # once: the Node 24 runtime action.yml declares
npm run build                    # dist/ephemeral-sg-ssh/, the bundle under test
node bench/ephemeral-sg-ssh.mjs --write
\`\`\`

${table}

${results.verdicts.map((line) => `- ${line}`).join('\n')}
${
  problems.length === 0
    ? '- Checks passed: every copy matches the tree (`diff -r`, file count; modes too for the action and rsync), and every action run left the security group exactly as it found it.'
    : `- **${problems.length} check(s) failed:**\n${problems.map((p) => `  - ${p.replace(/\n/g, ' ')}`).join('\n')}`
}

### Setup

- Tree: ${tree.files.length} generated files, ${mib(tree.bytes)} (seeded, the same on every run): a built
  front end and its Node server in nested folders, with \`.env.example\`, \`.well-known/\`,
  \`.htaccess\`, an empty \`.gitkeep\`, two executable scripts, HTML/JS/CSS/JSON/SVG files of
  200 B to 30 KB (log-uniform) and five binary or vendor assets of 180-230 KB.
- One OpenSSH sshd (\`test-support/sshd.mjs\`) on loopback with an ed25519 host key and client
  key, and one moto_server for EC2. Every copy goes into a new folder on the same machine.
- ephemeral-sg-ssh: \`dist/ephemeral-sg-ssh/\` run by \`test-support/runner.mjs\` as the GitHub
  runner runs it, main step then post step, under Node ${machine.node24}; bundle SHA-256
  \`${bundle}…\`. Inputs: \`security-group-ids\` (a group in moto), \`ip: ${RUNNER_IP}\`,
  \`hosts: 127.0.0.1:<port>\`, \`private-key\`, \`known-hosts\`, \`upload: app:<new folder>\`,
  \`script: true\`, \`endpoint-url\`. Its stdout lines are timestamped as they arrive:
  "connect + upload" runs from the \`Opened sg-…\` line to the \`uploaded … in N ms\` line (the
  SSH connection, handshake and authentication, then the upload: one tar stream over one
  channel), which is what an rsync or scp process does from start to exit; "upload alone" is the
  N of that line.
- \`rsync -a -e "ssh -F /dev/null -p PORT -i KEY -o UserKnownHostsFile=FILE -o BatchMode=yes" app/ user@127.0.0.1:DEST/\`
- \`scp -r -P PORT -F /dev/null -i KEY -o UserKnownHostsFile=FILE -o BatchMode=yes app user@127.0.0.1:DEST\`
  (DEST does not exist, so it becomes the copy of \`app\`; this OpenSSH's scp speaks SFTP).
- \`-F /dev/null\` keeps any ssh_config (compression, multiplexing) out of the figures, and no
  ssh-agent is reachable, as for the action. Process wall times are from spawn to exit.
- Each tool copies ${uploads.length} times, each into a new folder; the tool that goes first rotates
  between rounds. Each copy is compared with the tree by \`diff -r\` and its file count; for the
  action and rsync, which keep modes, every file's and folder's mode is compared too.
- Exposure: ${exposures.length} more action runs, each uploading the tree into a new folder and running
  a one-line \`echo\` script. \`exposure-seconds\` (rounded by the action to 0.1 s) runs from
  just before the AuthorizeSecurityGroupIngress call to the confirmed revocation. The SSH phase
  runs from the \`Opened sg-…\` line to the line that turns workflow commands back on after
  the hosts' output (the action prints it when the work on the hosts has ended). "Before" is
  exposure-seconds minus the time from \`Opened\` to \`Closed\` (the authorize call), "after" the
  time from the end of the SSH phase to the \`Closed sgr-…\` line (revoke, then
  DescribeSecurityGroupRules to confirm). As exposure-seconds is rounded to 0.1 s, so is the
  difference (± 0.05 s). moto answers faster than EC2 does, so against AWS both would be longer.
- Everything shares one machine (${machine.nproc} CPUs here): the client and server sides of
  each copy compete for the same CPUs, and figures move between runs.

### Machine

${machineTable(machine, {
  tools: [
    ['OpenSSH (`ssh -V`)', 'openssh'],
    ['rsync', 'rsync']
  ]
})}

### Every run

| Upload round | Order | Action connect + upload | Action upload line | Action main step | Launch → \`Opened\` | \`Closed\` → exit | Action post step | rsync -a | scp -r |
|-|-|-|-|-|-|-|-|-|-|
${uploadRows.join('\n')}

\`ssh … true\` (connect only): ${sshTrue.map(seconds).join(', ')}.

| Exposure run | exposure-seconds | SSH phase (log lines) | SSH phase (results durationMs) | Beyond the SSH phase | After the SSH phase | Main step |
|-|-|-|-|-|-|-|
${exposureRows.join('\n')}
`
}

main().catch((error) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error)
  process.exitCode = 1
})
