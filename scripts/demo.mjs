// Runs the pack locally end to end, without an AWS account: starts moto_server, creates the DAG
// bucket, and runs the bundled actions on examples/ exactly as the GitHub runner would, printing
// each step's outputs and job summary. Leaves nothing running.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
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

  const step = async (title, inputs) => {
    console.log(`━━ ${title}`)
    const result = await runAction({
      action: 'deploy-dags',
      node: node24.path,
      workspace,
      env: credentials,
      inputs: { bucket, 'endpoint-url': moto.endpoint, ...inputs }
    })
    for (const [name, value] of Object.entries(result.outputs)) console.log(`  ${name} = ${value}`)
    console.log(`\n${result.summary.replace(/^/gm, '  │ ')}`)
    if (result.exitCode !== 0) {
      failed = true
      console.error(`  step failed: ${result.errors.join('; ')}`)
    }
    return result
  }

  await step('deploy-dags: first deploy (uploads the DAGs, removes the retired one)', {
    'max-delete-percent': '100'
  })
  await step('deploy-dags: the same commit again (nothing to do)', {})
  const dag = join(workspace, 'dags', 'orders_daily.py')
  writeFileSync(dag, readFileSync(dag, 'utf8').replace('"@daily"', '"@hourly"'))
  await step('deploy-dags: dry run of an edited DAG (the plan a pull request would show)', {
    'dry-run': 'true'
  })
} finally {
  await moto.stop()
  rmSync(workspace, { recursive: true, force: true })
}
console.log(failed ? 'demo: a step failed' : 'demo: every step succeeded; moto_server stopped')
process.exit(failed ? 1 : 0)
