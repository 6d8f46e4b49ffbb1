// Runs the pack locally end to end, without an AWS account: starts moto_server, creates the DAG
// bucket and the worker-refresh function, and runs the bundled actions on examples/ exactly as
// the GitHub runner would, printing each step's outputs and job summary. Leaves nothing running.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { CreateSecurityGroupCommand, CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2'
import { createEchoFunction, useLambdaWithoutDocker } from '../test-support/lambda.mjs'
import { startMoto } from '../test-support/moto.mjs'
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

const moto = await startMoto()
const workspace = mkdtempSync(join(tmpdir(), 'demo-workspace-'))
const serverRoot = mkdtempSync(join(tmpdir(), 'demo-server-'))
// The app server: a real sshd on loopback, reached with a deploy key.
const deployKey = makeClientKey(mkdtempSync(join(tmpdir(), 'demo-keys-')))
const appServer = await startSshd({ authorizedKeys: [deployKey.publicKey] })
let failed = false
try {
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
  // The worker-refresh function; moto's stands in by answering with the event it was sent.
  await useLambdaWithoutDocker(moto.endpoint)
  await createEchoFunction(moto.endpoint, 'airflow-refresh-workers')

  const step = async (action, title, inputs) => {
    console.log(`━━ ${action}: ${title}`)
    const result = await runAction({
      action,
      node: node24.path,
      workspace,
      env: credentials,
      inputs: { 'endpoint-url': moto.endpoint, ...inputs }
    })
    const log = result.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('::'))
    for (const line of log.slice(0, 12)) console.log(`  > ${line}`)
    if (log.length > 12) console.log(`  > … ${log.length - 12} more log lines`)
    for (const [name, value] of Object.entries(result.outputs)) console.log(`  ${name} = ${value}`)
    console.log(`\n${result.summary.replace(/^/gm, '  │ ')}`)
    if (result.exitCode !== 0) {
      failed = true
      console.error(`  step failed: ${result.errors.join('; ')}`)
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
    payload: JSON.stringify({
      repository: 'octo-org/airflow',
      sha: 'ffac537e6cbbf934b08745a378932722df287a53',
      bucket,
      prefix: 'dags',
      changes: JSON.parse(deployed.outputs.changes ?? '{}')
    })
  })
  await step('deploy-dags', 'the same commit again (nothing to do)', { bucket })
  const dag = join(workspace, 'dags', 'orders_daily.py')
  writeFileSync(dag, readFileSync(dag, 'utf8').replace('"@daily"', '"@hourly"'))
  await step('deploy-dags', 'dry run of an edited DAG (the plan a pull request would show)', {
    bucket,
    'dry-run': 'true'
  })

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
  const checkout = mkdtempSync(join(tmpdir(), 'demo-checkout-'))
  cpSync(join(root, 'examples', 'dags'), join(checkout, 'dags'), { recursive: true })
  try {
    const run = await runWorkflow({
      file: join(root, 'examples', 'workflows', 'deploy-dags.yml'),
      event: 'push',
      workspace: checkout,
      node: node24.path,
      resolveUses: packResolver({ endpoint: moto.endpoint, packSha: 'local' }),
      github: {
        repository: 'octo-org/airflow',
        sha: 'ffac537e6cbbf934b08745a378932722df287a53',
        ref: 'refs/heads/main',
        run_id: '1',
        run_attempt: '1'
      }
    })
    const called = run.jobs.deploy?.workflow
    for (const [id, job] of Object.entries(called?.jobs ?? {})) {
      console.log(`  job ${id}: ${job.result}`)
    }
    for (const [name, value] of Object.entries(called?.outputs ?? {})) {
      console.log(`  ${name} = ${value.length > 160 ? `${value.slice(0, 160)}…` : value}`)
    }
    console.log(`\n${(called?.summary ?? '').trim().replace(/^/gm, '  │ ')}`)
    if (run.result !== 'success') {
      failed = true
      console.error(`  step failed: the workflow ended in ${run.result}\n${run.log}`)
    }
  } finally {
    rmSync(checkout, { recursive: true, force: true })
  }
} finally {
  await appServer.stop()
  await moto.stop()
  rmSync(workspace, { recursive: true, force: true })
  rmSync(serverRoot, { recursive: true, force: true })
}
console.log(
  failed ? 'demo: a step failed' : 'demo: every step succeeded; moto_server and sshd stopped'
)
process.exit(failed ? 1 : 0)
