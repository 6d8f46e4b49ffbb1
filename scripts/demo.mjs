// Runs the pack locally end to end, without an AWS account: starts moto_server, creates the DAG
// bucket and a group of two Airflow workers, and runs the bundled actions on examples/ exactly as
// the GitHub runner would, printing each step's outputs and job summary. The worker-refresh
// function is the real one (dist/refresh-workers), run in-process; SSM Run Command, which moto
// cannot run, is played locally with two folders standing in for the two workers; GitHub's REST
// API, where the deploy report looks for the merged pull request, is a local stand-in too. Leaves nothing
// behind: no server, no key, no temporary folder, also when a step fails or is interrupted.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { CreateSecurityGroupCommand, CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2'
import { createEchoFunction, useLambdaWithoutDocker } from '../test-support/lambda.mjs'
import { createWorkerGroup, startRefreshStandIn } from '../test-support/refresh-stand-in.mjs'
import { startGitHubApi } from '../test-support/github-api.mjs'
import { startMoto } from '../test-support/moto.mjs'
import { defuse } from '../test-support/output-guard.mjs'
import { packResolver } from '../test-support/pack-uses.mjs'
import { nodeRuntimes, runAction } from '../test-support/runner.mjs'
import { runWorkflow } from '../test-support/workflow.mjs'
import { makeClientKey, startSshd } from '../test-support/sshd.mjs'

const root = resolve(import.meta.dirname, '..')
const [node24] = nodeRuntimes()
const credentials = {
  AWS_ACCESS_KEY_ID: 'demo',
  AWS_SECRET_ACCESS_KEY: 'demo',
  AWS_REGION: 'us-east-1'
}
const bucket = 'airflow-dags-demo'

// Everything the demo starts or creates is undone here, newest first, whatever happens.
const undo = []
const cleanUp = async () => {
  for (const step of undo.splice(0).reverse()) {
    try {
      await step()
    } catch (error) {
      console.error(`demo: cleaning up: ${error.message}`)
    }
  }
}
const temporaryFolder = (prefix) => {
  const folder = mkdtempSync(join(tmpdir(), prefix))
  undo.push(() => rmSync(folder, { recursive: true, force: true }))
  return folder
}

// Interrupted (Ctrl-C, or SIGTERM): the running step is cancelled as the runner cancels one, and
// the demo cleans up once it has ended; a second signal cleans up at once.
let interrupted
const interruption = new Promise((resolve) => {
  const onSignal = (signal) => {
    if (interrupted !== undefined) {
      console.error(`demo: ${signal} again; cleaning up now`)
      cleanUp().finally(() => process.exit(130))
      return
    }
    interrupted = signal
    console.error(`demo: ${signal} received; stopping after the current step`)
    resolve()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
})
const stopIfInterrupted = () => {
  if (interrupted) throw new Error(`interrupted by ${interrupted}`)
}

/** Output that came from the actions and the servers, shown but never obeyed as a command. */
const show = (text) => console.log(defuse(text))

/** What each stand-in worker's DAG folder holds now. */
function showWorkers(folders) {
  for (const [id, folder] of Object.entries(folders)) {
    const files = []
    const walk = (dir) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name))
        else files.push(relative(folder, join(dir, entry.name)))
      }
    }
    try {
      walk(folder)
    } catch {
      // not synced yet
    }
    show(`  worker ${id} holds ${files.length} files: ${files.sort().join(', ')}`)
  }
}

let failed = false
try {
  const moto = await startMoto()
  undo.push(() => moto.stop())
  const workspace = temporaryFolder('demo-workspace-')
  const serverRoot = temporaryFolder('demo-server-')
  // The app server: a real sshd on loopback, reached with a deploy key made for this run only.
  const deployKey = makeClientKey(temporaryFolder('demo-keys-'))
  const appServer = await startSshd({ authorizedKeys: [deployKey.publicKey] })
  undo.push(() => appServer.stop())
  stopIfInterrupted()
  console.log(`moto_server on ${moto.endpoint}; workspace ${workspace}\n`)
  cpSync(join(root, 'examples', 'dags'), join(workspace, 'dags'), { recursive: true })
  cpSync(join(root, 'examples', 'app'), join(workspace, 'app'), { recursive: true })
  const s3 = new S3Client({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' }
  })
  await s3.send(new CreateBucketCommand({ Bucket: bucket }))
  // A DAG that was removed from the repository but still sits in the bucket.
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'dags/retired_dag.py', Body: '# retired\n' })
  )
  s3.destroy()
  // The worker-refresh function: moto keeps its configuration, the bundled function runs here.
  await useLambdaWithoutDocker(moto.endpoint)
  await createEchoFunction(moto.endpoint, 'airflow-refresh-workers')
  const workers = await standInWorkers('us-east-1', bucket)
  console.log(
    [
      'Stand-ins: moto_server plays S3, EC2, Auto Scaling and Lambda; the worker-refresh function is',
      'the bundled dist/refresh-workers, run in this process; SSM Run Command is played locally, where',
      `two folders stand in for the group's two workers and the stack's SSM document runs on each:`,
      ...Object.entries(workers.folders).map(([id, folder]) => `  ${id}  ${folder}`),
      ''
    ].join('\n')
  )

  const step = async (action, title, inputs) => {
    stopIfInterrupted()
    console.log(`━━ ${action}: ${title}`)
    const result = await runAction({
      action,
      node: node24.path,
      workspace,
      env: credentials,
      inputs: { 'endpoint-url': moto.endpoint, ...inputs },
      cancelWhen: interruption
    })
    stopIfInterrupted()
    const log = result.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('::'))
    for (const line of log.slice(0, 12)) show(`  > ${line}`)
    if (log.length > 12) console.log(`  > … ${log.length - 12} more log lines`)
    for (const [name, value] of Object.entries(result.outputs)) show(`  ${name} = ${value}`)
    show(`\n${result.summary.replace(/^/gm, '  │ ')}`)
    if (result.exitCode !== 0) {
      failed = true
      show(`  step failed: ${result.errors.join('; ')}`)
    }
    return result
  }

  const deployed = await step(
    'deploy-dags',
    'first deploy (uploads the DAGs, removes the retired one)',
    {
      bucket,
      'max-delete-percent': '100'
    }
  )
  await step('invoke-lambda', 'have the workers pull the new DAGs', {
    'function-name': 'airflow-refresh-workers',
    qualifier: 'live',
    // The stand-in's endpoint: the invocation runs the real function, the rest goes to moto.
    'endpoint-url': workers.endpoint,
    payload: JSON.stringify({
      repository: 'octo-org/airflow',
      sha: 'ffac537e6cbbf934b08745a378932722df287a53',
      ref: 'refs/heads/main',
      bucket,
      prefix: 'dags',
      runId: 1,
      runAttempt: 1,
      changes: JSON.parse(deployed.outputs.changes ?? '{}')
    })
  })
  showWorkers(workers.folders)
  await step('deploy-dags', 'the same commit again (nothing to do)', { bucket })
  const dag = join(workspace, 'dags', 'orders_daily.py')
  writeFileSync(dag, readFileSync(dag, 'utf8').replace('"@daily"', '"@hourly"'))
  await step('deploy-dags', 'dry run of an edited DAG (the plan a pull request would show)', {
    bucket,
    'dry-run': 'true'
  })

  /**
   * A group of two workers in moto, and the local SSM that syncs a folder for each; its endpoint
   * forwards everything else to moto.
   */
  async function standInWorkers(region, dagBucket) {
    const ids = await createWorkerGroup(moto.endpoint, {
      name: `airflow-workers-${region}`,
      size: 2,
      region,
      credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' }
    })
    const standIn = await startRefreshStandIn({
      moto: moto.endpoint,
      functionName: 'airflow-refresh-workers',
      region,
      credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
      functionEnv: {
        REFRESH_MODE: 'ssm',
        DAG_BUCKET: dagBucket,
        DAG_PREFIX: 'dags',
        WORKER_GROUPS: `airflow-workers-${region}`,
        WORKER_DAG_FOLDER: '/opt/airflow/dags',
        SSM_DOCUMENT_NAME: 'airflow-sync-dags'
      }
    })
    undo.push(() => standIn.stop())
    const folders = {}
    for (const id of ids) {
      folders[id] = join(temporaryFolder('demo-worker-'), 'dags')
      standIn.addWorker(id, folders[id])
    }
    return { endpoint: standIn.endpoint, folders }
  }

  const ec2 = new EC2Client({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' }
  })
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))
  const group = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: 'app-servers',
      Description: 'front-end and API',
      VpcId: vpc.Vpc.VpcId
    })
  )
  ec2.destroy()
  await step('ephemeral-sg-ssh', 'open the group to this runner, deploy the front-end, close it', {
    'security-group-ids': group.GroupId,
    ip: '203.0.113.10',
    hosts: `127.0.0.1:${appServer.port}`,
    username: appServer.user,
    'private-key': deployKey.privateKey,
    'known-hosts': appServer.knownHosts,
    upload: `app/www:${serverRoot}/incoming`,
    script: readFileSync(join(root, 'examples', 'app', 'deploy.sh'), 'utf8'),
    env: `APP_ROOT=${serverRoot}\nRELEASE=ffac537e`
  })

  // The same pipeline as a user runs it: the example caller workflow, calling the reusable
  // deploy-dags.yml, whose jobs validate the DAGs, deploy them and refresh the workers.
  console.log('━━ examples/workflows/deploy-dags.yml: the caller a user copies, on a push to main')
  const region = 'eu-west-1'
  const callerS3 = new S3Client({
    endpoint: moto.endpoint,
    region,
    credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' }
  })
  await callerS3.send(
    new CreateBucketCommand({
      Bucket: 'my-airflow-dags',
      CreateBucketConfiguration: { LocationConstraint: region }
    })
  )
  callerS3.destroy()
  await createEchoFunction(moto.endpoint, 'airflow-refresh-workers', { region })
  const fleet = await standInWorkers(region, 'my-airflow-dags')
  const github = await startGitHubApi()
  undo.push(() => github.stop())
  // The commit is the merge of pull request 12, which gets the deploy note.
  const commit = 'ffac537e6cbbf934b08745a378932722df287a53'
  github.addPullRequest('octo-org/airflow', 12)
  github.setCommitPulls(commit, [
    { number: 12, merged_at: '2026-11-30T12:00:00Z', merge_commit_sha: commit }
  ])
  const checkout = temporaryFolder('demo-checkout-')
  cpSync(join(root, 'examples', 'dags'), join(checkout, 'dags'), { recursive: true })
  stopIfInterrupted()
  {
    const run = await runWorkflow({
      file: join(root, 'examples', 'workflows', 'deploy-dags.yml'),
      event: 'push',
      workspace: checkout,
      node: node24.path,
      resolveUses: packResolver({ endpoint: fleet.endpoint, packSha: 'local' }),
      github: {
        repository: 'octo-org/airflow',
        sha: commit,
        ref: 'refs/heads/main',
        run_id: '1',
        run_attempt: '1',
        api_url: github.url
      }
    })
    const called = run.jobs.deploy?.workflow
    stopIfInterrupted()
    for (const [id, job] of Object.entries(called?.jobs ?? {})) {
      console.log(`  job ${id}: ${job.result}`)
    }
    for (const [name, value] of Object.entries(called?.outputs ?? {})) {
      show(`  ${name} = ${value.length > 160 ? `${value.slice(0, 160)}…` : value}`)
    }
    show(`\n${(called?.summary ?? '').trim().replace(/^/gm, '  │ ')}`)
    showWorkers(fleet.folders)
    const [note] = github.commentsOn('octo-org/airflow', 12)
    show(`  the note on pull request #12 (local GitHub API stand-in):`)
    show((note?.body ?? '(none)').trim().replace(/^/gm, '  │ '))
    if (run.result !== 'success') {
      failed = true
      show(`  step failed: the workflow ended in ${run.result}\n${run.log}`)
    }
  }
} catch (error) {
  failed = true
  console.error(`demo: ${interrupted ? error.message : defuse(error.stack ?? String(error))}`)
} finally {
  await cleanUp()
}
if (interrupted)
  console.log('demo: interrupted; moto_server and sshd stopped, temporary files removed')
else if (failed)
  console.log('demo: a step failed; moto_server and sshd stopped, temporary files removed')
else
  console.log('demo: every step succeeded; moto_server and sshd stopped, temporary files removed')
process.exit(interrupted ? 130 : failed ? 1 : 0)
