// The self-test jobs of ci.yml: the real actions (`uses: ./actions/<name>`) against moto_server
// and an OpenSSH sshd started inside the job. `start` launches both as daemons that outlive this
// process (later steps talk to them) and exports where they are through GITHUB_ENV; `check-dags`
// and `check-app` verify what the action steps did, from the services' side; `stop` ends them.
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client
} from '@aws-sdk/client-s3'
import {
  CreateSecurityGroupCommand,
  CreateVpcCommand,
  DescribeSecurityGroupRulesCommand,
  EC2Client
} from '@aws-sdk/client-ec2'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { createEchoFunction, useLambdaWithoutDocker } from '../test-support/lambda.mjs'
import { freePort, waitFor } from '../test-support/net.mjs'
import { makeClientKey, prepareSshd } from '../test-support/sshd.mjs'

const root = resolve(import.meta.dirname, '..')
const home = join(process.env.RUNNER_TEMP ?? tmpdir(), 'self-test')
const stateFile = join(home, 'state.json')
const REGION = 'us-east-1'
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }

const BUCKET = 'airflow-dags-self-test'
const FUNCTION = 'airflow-refresh-workers'

function exportToJob(values) {
  const envFile = process.env.GITHUB_ENV
  const lines = Object.entries(values).map(([name, value]) => {
    const delimiter = `EOF_${createHash('sha256').update(String(value)).digest('hex').slice(0, 16)}`
    return `${name}<<${delimiter}\n${value}\n${delimiter}\n`
  })
  if (envFile) {
    appendFileSync(envFile, lines.join(''))
    return
  }
  // Outside a runner the values go to a file, not the terminal: one of them is a private key.
  const file = join(home, 'job.env')
  writeFileSync(file, lines.join(''), { mode: 0o600 })
  console.log(`Exported ${Object.keys(values).join(', ')} to ${file}`)
}

async function start() {
  rmSync(home, { recursive: true, force: true })
  mkdirSync(home, { recursive: true })
  const log = openSync(join(home, 'moto.log'), 'a')
  const port = await freePort()
  const moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    detached: true,
    stdio: ['ignore', log, log]
  })
  moto.unref()
  const endpoint = `http://127.0.0.1:${port}`
  const state = { motoPid: moto.pid, dirs: [home] }
  writeFileSync(stateFile, JSON.stringify(state))
  await waitFor(`${endpoint}/moto-api/`, 60_000)

  const s3 = new S3Client({ endpoint, region: REGION, forcePathStyle: true, credentials })
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }))
  s3.destroy()
  await useLambdaWithoutDocker(endpoint)
  await createEchoFunction(endpoint, FUNCTION)
  const ec2 = new EC2Client({ endpoint, region: REGION, credentials })
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))
  const group = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: 'app-servers',
      Description: 'self-test app servers',
      VpcId: vpc.Vpc.VpcId
    })
  )
  ec2.destroy()

  const key = makeClientKey(home)
  const sshd = await prepareSshd({ authorizedKeys: [key.publicKey] })
  state.dirs.push(sshd.dir)
  state.sshdPidFile = sshd.pidFile
  writeFileSync(stateFile, JSON.stringify(state))
  // Without -D sshd detaches itself once it listens, and writes its pid file.
  const daemon = spawnSync(sshd.sshd, ['-f', sshd.configPath, '-E', join(home, 'sshd.log')], {
    encoding: 'utf8'
  })
  if (daemon.status !== 0) throw new Error(`sshd did not start: ${daemon.stderr}`)

  const appRoot = join(home, 'server')
  mkdirSync(appRoot, { recursive: true })
  exportToJob({
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_REGION: REGION,
    SELF_TEST_ENDPOINT: endpoint,
    SELF_TEST_BUCKET: BUCKET,
    SELF_TEST_FUNCTION: FUNCTION,
    SELF_TEST_GROUP: group.GroupId,
    SELF_TEST_HOST: `${sshd.user}@127.0.0.1:${sshd.port}`,
    SELF_TEST_KNOWN_HOSTS: sshd.knownHosts,
    SELF_TEST_KEY: key.privateKey,
    SELF_TEST_APP_ROOT: appRoot
  })
  console.log(`moto_server on ${endpoint}, sshd on 127.0.0.1:${sshd.port}, group ${group.GroupId}`)
}

function stop() {
  if (!existsSync(stateFile)) return
  const state = JSON.parse(readFileSync(stateFile, 'utf8'))
  const pids = [state.motoPid]
  if (state.sshdPidFile && existsSync(state.sshdPidFile)) {
    pids.push(Number(readFileSync(state.sshdPidFile, 'utf8').trim()))
  }
  for (const pid of pids.filter(Boolean)) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  for (const dir of state.dirs) rmSync(dir, { recursive: true, force: true })
  console.log('moto_server and sshd stopped')
}

const failures = []
function expectThat(ok, message) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`)
  if (!ok) failures.push(message)
}

function localFiles(dir) {
  const files = []
  const walk = (current) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name)
      if (entry.isDirectory()) {
        if (entry.name !== '__pycache__') walk(path)
      } else if (!entry.name.endsWith('.pyc')) files.push(relative(dir, path))
    }
  }
  walk(dir)
  return files.sort()
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex')

/** The DAG pipeline: every file in S3 byte for byte, the function told, the re-run a no-op. */
async function checkDags() {
  const env = process.env
  const source = join(root, 'examples', 'dags')
  const files = localFiles(source)
  const s3 = new S3Client({
    endpoint: env.SELF_TEST_ENDPOINT,
    region: REGION,
    forcePathStyle: true,
    credentials
  })
  try {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'dags/' }))
    const keys = (listed.Contents ?? [])
      .map((o) => o.Key.slice('dags/'.length))
      .filter((k) => k !== '.deploy-dags-manifest.json')
      .sort()
    expectThat(JSON.stringify(keys) === JSON.stringify(files), `bucket holds ${files.join(', ')}`)
    for (const file of files) {
      const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `dags/${file}` }))
      const body = Buffer.from(await object.Body.transformToByteArray())
      expectThat(sha256(body) === sha256(readFileSync(join(source, file))), `${file} is identical`)
    }
  } finally {
    s3.destroy()
  }
  expectThat(env.FIRST_CHANGED === 'true', `first deploy changed (${env.FIRST_CHANGED})`)
  expectThat(
    Number(env.FIRST_UPLOADED) === files.length,
    `first deploy uploaded ${files.length} (${env.FIRST_UPLOADED})`
  )
  expectThat(
    env.SECOND_CHANGED === 'false',
    `second deploy changed nothing (${env.SECOND_CHANGED})`
  )
  let event
  try {
    event = JSON.parse(env.REFRESH_RESPONSE ?? '')
  } catch {
    event = undefined
  }
  expectThat(
    event?.sha === env.GITHUB_SHA && event?.changes?.uploaded?.length === files.length,
    'the function received the commit and the uploaded keys'
  )
}

/** The app pipeline: files and script arrived on the server, and the rule is gone again. */
async function checkApp() {
  const env = process.env
  const current = join(env.SELF_TEST_APP_ROOT, 'current')
  for (const file of localFiles(join(root, 'examples', 'app', 'www'))) {
    const deployed = join(current, file)
    expectThat(
      existsSync(deployed) &&
        sha256(readFileSync(deployed)) ===
          sha256(readFileSync(join(root, 'examples', 'app', 'www', file))),
      `${file} served from the new release`
    )
  }
  let results = []
  try {
    results = JSON.parse(env.DEPLOY_RESULTS ?? '[]')
  } catch {
    results = []
  }
  expectThat(
    results.length === 1 && results.every((r) => r.status === 'succeeded' && r.exitCode === 0),
    `every host reported success (${env.DEPLOY_RESULTS})`
  )
  const ec2 = new EC2Client({ endpoint: env.SELF_TEST_ENDPOINT, region: REGION, credentials })
  try {
    const rules = await ec2.send(
      new DescribeSecurityGroupRulesCommand({
        Filters: [{ Name: 'group-id', Values: [env.SELF_TEST_GROUP] }]
      })
    )
    const ingress = (rules.SecurityGroupRules ?? []).filter((r) => !r.IsEgress)
    expectThat(ingress.length === 0, `no ingress rule left open (${ingress.length})`)
  } finally {
    ec2.destroy()
  }
}

const commands = { start, stop, 'check-dags': checkDags, 'check-app': checkApp }
const command = commands[process.argv[2]]
if (command === undefined) {
  console.error(`usage: node scripts/self-test.mjs ${Object.keys(commands).join('|')}`)
  process.exit(2)
}
await command()
if (failures.length > 0) {
  console.error(`${failures.length} check(s) failed`)
  process.exit(1)
}
