// Runs the pack locally end to end, without an AWS account: starts moto_server, creates the DAG
// bucket and the worker-refresh function, and runs the bundled actions on examples/ exactly as
// the GitHub runner would, printing each step's outputs and job summary. Leaves nothing running.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createEchoFunction, useLambdaWithoutDocker } from '../test-support/lambda.mjs'
import { startMoto } from '../test-support/moto.mjs'
import { nodeRuntimes, runAction } from '../test-support/runner.mjs'

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
let failed = false
try {
  console.log(`moto_server on ${moto.endpoint}; workspace ${workspace}\n`)
  cpSync(join(root, 'examples', 'dags'), join(workspace, 'dags'), { recursive: true })
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
} finally {
  await moto.stop()
  rmSync(workspace, { recursive: true, force: true })
}
console.log(failed ? 'demo: a step failed' : 'demo: every step succeeded; moto_server stopped')
process.exit(failed ? 1 : 0)
