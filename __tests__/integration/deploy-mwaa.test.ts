// The bundled deploy-mwaa, run as the GitHub runner runs it: S3 in moto (versioned buckets), MWAA
// in the local stand-in, which checks every signature and every object version against moto and
// moves an update along one GetEnvironment at a time, and a scripted Airflow behind InvokeRestApi.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  CreateBucketCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client
} from '@aws-sdk/client-s3'
import { utimesSync } from 'node:fs'
import { join } from 'node:path'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import {
  ScriptedAirflow,
  startMwaaStandIn,
  type EnvironmentSpec,
  type MwaaStandIn,
  type StandInEnvironment
} from '../../test-support/mwaa.mjs'
import { runAction } from '../../test-support/runner.mjs'
import { createBucket, credentials, removeWorkspaces, s3For, workspaceWith } from './helpers.js'

let moto: Moto
let mwaa: MwaaStandIn
let s3: S3Client
beforeAll(async () => {
  moto = await startMoto()
  s3 = s3For(moto.endpoint)
  mwaa = await startMwaaStandIn({ s3Endpoint: moto.endpoint })
})
afterAll(async () => {
  removeWorkspaces()
  s3?.destroy()
  await mwaa?.stop()
  await moto?.stop()
})

let environments = 0
async function environment(
  spec: Partial<EnvironmentSpec> = {},
  options: { versioned?: boolean } = {}
): Promise<StandInEnvironment> {
  const bucket = await createBucket(s3, 'mwaa')
  if (options.versioned !== false) {
    await s3.send(
      new PutBucketVersioningCommand({
        Bucket: bucket,
        VersioningConfiguration: { Status: 'Enabled' }
      })
    )
  }
  return mwaa.addEnvironment({ name: `airflow-${++environments}`, bucket, ...spec })
}

const REPOSITORY = {
  'requirements.txt': 'apache-airflow-providers-amazon==9.2.0\n',
  'plugins/lineage/__init__.py': 'from .listener import LineageListener\n',
  'plugins/lineage/listener.py': 'class LineageListener:\n    pass\n',
  'plugins/lineage/__pycache__/listener.cpython-311.pyc': 'bytecode',
  'startup.sh': '#!/bin/sh\nexport LINEAGE=on\n'
}

const DAG_REPOSITORY = {
  'dags/sales.py': 'from airflow import DAG\n',
  'dags/marketing/report.py':
    'from airflow import DAG\nfrom airflow.providers.snowflake import hooks\n',
  'dags/lib/util.py': 'def table(entity):\n    return entity\n'
}

const ALL_FILES = {
  requirements: 'requirements.txt',
  plugins: 'plugins',
  'startup-script': 'startup.sh'
}

function deploy(
  env: { name: string },
  workspace: string,
  inputs: Record<string, string> = ALL_FILES
) {
  return runAction({
    action: 'deploy-mwaa',
    workspace,
    env: {
      ...credentials,
      // S3 calls go to moto, MWAA calls to the stand-in, as the SDK's endpoint variables say.
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ENDPOINT_URL_MWAA: mwaa.endpoint
    },
    inputs: { environment: env.name, 'poll-interval': '0.1', 'sync-wait': '0', ...inputs }
  })
}

async function versionsIn(bucket: string): Promise<Array<{ key: string; versionId: string }>> {
  const answer = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }))
  return (answer.Versions ?? []).map((v) => ({ key: v.Key ?? '', versionId: v.VersionId ?? '' }))
}

const updateCalls = (env: StandInEnvironment) =>
  mwaa.calls.filter((call) => call.operation === 'UpdateEnvironment' && call.name === env.name)

describe('deploy-mwaa', () => {
  it('uploads the three files, applies them in one update and follows it to AVAILABLE', async () => {
    const env = await environment()
    const result = await deploy(env, workspaceWith(REPOSITORY))
    expect(result.errors).toEqual([])
    expect(result.status).toBe('success')
    const stored = await versionsIn(env.bucket)
    expect(stored.map((v) => v.key).sort()).toEqual([
      'plugins.zip',
      'requirements.txt',
      'startup.sh'
    ])
    const version = (key: string) => stored.find((v) => v.key === key)?.versionId
    expect(result.outputs).toMatchObject({
      updated: 'true',
      status: 'AVAILABLE',
      'requirements-version': version('requirements.txt'),
      'plugins-version': version('plugins.zip'),
      'startup-script-version': version('startup.sh')
    })
    expect(result.outputs['duration-seconds']).toMatch(/^\d+$/)
    expect(updateCalls(env)).toHaveLength(1)
    expect(updateCalls(env)[0]?.body).toEqual({
      RequirementsS3Path: 'requirements.txt',
      RequirementsS3ObjectVersion: version('requirements.txt'),
      PluginsS3Path: 'plugins.zip',
      PluginsS3ObjectVersion: version('plugins.zip'),
      StartupScriptS3Path: 'startup.sh',
      StartupScriptS3ObjectVersion: version('startup.sh')
    })
    expect(env.files.plugins?.versionId).toBe(version('plugins.zip'))
    expect(mwaa.refused).toEqual([])
    expect(result.stdout).toMatch(/Environment airflow-\d+: UPDATING/)
    expect(result.summary).toContain('updated (requirements, plugins.zip, startup script) in')
  })

  it('starts no update for a fresh checkout of the same files, whatever their times', async () => {
    const env = await environment()
    expect((await deploy(env, workspaceWith(REPOSITORY))).status).toBe('success')
    const before = await versionsIn(env.bucket)

    // Another checkout: same contents, other modification times.
    const checkout = workspaceWith(REPOSITORY)
    const lastYear = new Date(Date.now() - 365 * 24 * 3600 * 1000)
    for (const path of Object.keys(REPOSITORY)) utimesSync(join(checkout, path), lastYear, lastYear)
    const again = await deploy(env, checkout)
    expect(again.errors).toEqual([])
    expect(again.outputs.updated).toBe('false')
    expect(again.outputs['plugins-version']).toBe(env.files.plugins?.versionId)
    expect(await versionsIn(env.bucket)).toEqual(before)
    expect(updateCalls(env)).toHaveLength(1)
    expect(again.summary).toContain('no update; every file is already in effect')
  })

  it('gives one changed file its new version and keeps every other file at its version', async () => {
    const env = await environment()
    await deploy(env, workspaceWith(REPOSITORY))
    const kept = { ...env.files }
    const changed = await deploy(
      env,
      workspaceWith({
        ...REPOSITORY,
        'requirements.txt': 'apache-airflow-providers-amazon==9.3.0\n'
      }),
      { requirements: 'requirements.txt' }
    )
    expect(changed.errors).toEqual([])
    const body = updateCalls(env)[1]?.body
    expect(body).toMatchObject({
      RequirementsS3Path: 'requirements.txt',
      PluginsS3Path: 'plugins.zip',
      PluginsS3ObjectVersion: kept.plugins?.versionId,
      StartupScriptS3Path: 'startup.sh',
      StartupScriptS3ObjectVersion: kept['startup-script']?.versionId
    })
    expect(body?.RequirementsS3ObjectVersion).not.toBe(kept.requirements?.versionId)
    expect(changed.outputs['requirements-version']).toBe(body?.RequirementsS3ObjectVersion)
    // Only the file of this deploy has a version output.
    expect(changed.outputs['plugins-version']).toBe('')
  })

  it('waits for an update already running, then applies its own on what that update left', async () => {
    const env = await environment()
    await deploy(env, workspaceWith(REPOSITORY))
    // Someone else's update, giving the environment another startup script, runs for 5 polls.
    await s3.send(
      new PutObjectCommand({ Bucket: env.bucket, Key: 'startup.sh', Body: '#!/bin/sh\n' })
    )
    const otherStartup = (await versionsIn(env.bucket)).find(
      (v) => v.key === 'startup.sh' && v.versionId !== env.files['startup-script']?.versionId
    )?.versionId
    env.startUpdate({
      polls: 5,
      files: { 'startup-script': { key: 'startup.sh', versionId: otherStartup as string } }
    })
    const result = await deploy(
      env,
      workspaceWith({ ...REPOSITORY, 'requirements.txt': 'pandas==2.2.3\n' }),
      { requirements: 'requirements.txt' }
    )
    expect(result.errors).toEqual([])
    expect(result.stdout).toContain('is UPDATING: waiting for that to end before updating')
    expect(env.updates.map((update) => update.by)).toEqual([
      'UpdateEnvironment',
      'test',
      'UpdateEnvironment'
    ])
    // The other update's startup script is kept, not the one from before it.
    expect(updateCalls(env).at(-1)?.body).toMatchObject({
      StartupScriptS3ObjectVersion: otherStartup
    })
    expect(result.outputs.status).toBe('AVAILABLE')
    expect(result.summary).toMatch(/waited .* for an update already running/)
  })

  it("fails with MWAA's reason when the update fails and the environment rolls back", async () => {
    const env = await environment()
    env.scriptUpdates({
      polls: 1,
      error: { code: 'INCORRECT_CONFIGURATION', message: 'pip could not install lineage==9.9' }
    })
    const result = await deploy(env, workspaceWith(REPOSITORY), {
      requirements: 'requirements.txt'
    })
    expect(result.status).toBe('failure')
    expect(result.errors).toEqual([
      expect.stringMatching(
        /^MWAA could not apply the update to environment airflow-\d+ and rolled it back \(status UPDATE_FAILED\): INCORRECT_CONFIGURATION: pip could not install lineage==9\.9$/
      )
    ])
    expect(result.outputs).toMatchObject({ updated: 'true', status: 'UPDATE_FAILED' })
    expect(result.summary).toContain('the update failed and MWAA rolled the environment back')
  })

  it('applies again, without uploading again, what a failed update left unapplied', async () => {
    const env = await environment()
    await deploy(env, workspaceWith(REPOSITORY), { requirements: 'requirements.txt' })
    const running = env.files.requirements?.versionId
    env.scriptUpdates({ polls: 0, error: { code: 'INCORRECT_CONFIGURATION', message: 'no' } })
    const checkout = workspaceWith({ ...REPOSITORY, 'requirements.txt': 'pandas==2.2.3\n' })
    const failed = await deploy(env, checkout, { requirements: 'requirements.txt' })
    expect(failed.outputs.status).toBe('UPDATE_FAILED')
    const uploaded = await versionsIn(env.bucket)
    const latest = failed.outputs['requirements-version']
    expect(latest).not.toBe(running)
    // Rolled back: the environment still runs the version from before, though S3's latest is new.
    expect(env.files.requirements?.versionId).toBe(running)

    const retried = await deploy(env, checkout, { requirements: 'requirements.txt' })
    expect(retried.errors).toEqual([])
    expect(await versionsIn(env.bucket)).toEqual(uploaded)
    expect(retried.outputs).toMatchObject({
      updated: 'true',
      status: 'AVAILABLE',
      'requirements-version': latest
    })
    expect(env.files.requirements?.versionId).toBe(latest)
    expect(retried.summary).toContain('applied: `uploaded before, not applied')
  })

  it('leaves a long update running at the timeout, and says so', async () => {
    const env = await environment()
    env.scriptUpdates({ polls: 1_000_000 })
    const result = await deploy(env, workspaceWith(REPOSITORY), {
      requirements: 'requirements.txt',
      timeout: '0.05'
    })
    expect(result.status).toBe('failure')
    expect(result.errors[0]).toContain(
      'was still UPDATING when the timeout passed; the update was left running'
    )
    expect(result.outputs).toMatchObject({ updated: 'true', status: 'UPDATING' })
    expect(env.status).toBe('UPDATING')
  })

  it('returns once MWAA has accepted the update with wait: false', async () => {
    const env = await environment()
    const result = await deploy(env, workspaceWith(REPOSITORY), {
      requirements: 'requirements.txt',
      wait: 'false'
    })
    expect(result.errors).toEqual([])
    expect(result.outputs).toMatchObject({
      updated: 'true',
      status: 'UPDATING',
      'duration-seconds': ''
    })
  })

  it('reports in a dry run what would change and that an update would start, writing nothing', async () => {
    const env = await environment()
    const result = await deploy(env, workspaceWith(REPOSITORY), { ...ALL_FILES, 'dry-run': 'true' })
    expect(result.errors).toEqual([])
    expect(result.outputs.updated).toBe('true')
    expect(await versionsIn(env.bucket)).toEqual([])
    expect(updateCalls(env)).toEqual([])
    expect(result.summary).toContain(
      'merging would start an environment update (requirements, plugins.zip, startup script)'
    )
    expect(result.summary).toContain('would be uploaded')
  })

  const OTHER_BUCKET = 'someone-elses-mwaa-bucket'
  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: OTHER_BUCKET }))
    await s3.send(
      new PutBucketVersioningCommand({
        Bucket: OTHER_BUCKET,
        VersioningConfiguration: { Status: 'Enabled' }
      })
    )
  })
  const target = async (options: { versioned?: boolean; name?: string } = {}) => {
    const env = await environment({}, { versioned: options.versioned ?? true })
    return { name: options.name ?? env.name, bucket: env.bucket }
  }
  it.each([
    [
      'a bucket without versioning',
      () => target({ versioned: false }),
      ALL_FILES,
      /^bucket: versioning of s3:\/\/mwaa-\S+ is not enabled/
    ],
    [
      'a missing file',
      () => target(),
      { ...ALL_FILES, requirements: 'requirements/prod.txt' },
      /^requirements: file 'requirements\/prod\.txt' does not exist/
    ],
    [
      'an unknown environment',
      () => target({ name: 'no-such-airflow' }),
      ALL_FILES,
      /^environment: there is no MWAA environment named 'no-such-airflow'/
    ],
    [
      'another bucket than the environment reads',
      () => target(),
      { ...ALL_FILES, bucket: OTHER_BUCKET },
      /^bucket: is someone-elses-mwaa-bucket, but environment airflow-\d+ reads s3:\/\/mwaa-/
    ]
  ])('refuses %s before anything is written', async (_, make, inputs, message) => {
    const { name, bucket } = await make()
    const calls = mwaa.calls.length
    const result = await deploy({ name }, workspaceWith(REPOSITORY), inputs)
    expect(result.status).toBe('failure')
    expect(result.errors).toEqual([expect.stringMatching(message)])
    // Neither the environment's bucket nor the one named instead got anything.
    expect(await versionsIn(bucket)).toEqual([])
    expect(await versionsIn(OTHER_BUCKET)).toEqual([])
    // MWAA was only asked about the environment.
    expect(
      mwaa.calls
        .slice(calls)
        .filter((call) => call.operation !== 'GetEnvironment' || call.name !== name)
    ).toEqual([])
  })
})

describe.each(['2.10.3', '3.0.6'])(
  'deploy-mwaa asks Airflow %s about the changed DAG files',
  (version) => {
    it('fails on an import error of a changed file, on that file, and warns of older ones elsewhere', async () => {
      const airflow = new ScriptedAirflow({ version })
      airflow.setFile('old_broken.py', {
        importError:
          'Traceback (most recent call last):\n  File "old_broken.py", line 1\nModuleNotFoundError: No module named \'legacy\''
      })
      airflow.setFile('sales.py', { dags: ['sales'] })
      airflow.parse()
      airflow.setFile('sales.py', { dags: ['sales'] })
      airflow.setFile('marketing/report.py', {
        importError:
          'Traceback (most recent call last):\n  File "/usr/local/airflow/dags/marketing/report.py", line 3, in <module>\n    from airflow.providers.snowflake import hooks\nModuleNotFoundError: No module named \'airflow.providers.snowflake\''
      })
      airflow.parseAfterDagsRequests(1)
      const env = await environment({ airflow })
      const changes = JSON.stringify({
        uploaded: ['dags/sales.py', 'dags/marketing/report.py', 'dags/sql/q.sql'],
        deleted: []
      })
      const result = await deploy(env, workspaceWith(DAG_REPOSITORY), {
        'dag-changes': changes
      })
      expect(result.status).toBe('failure')
      expect(result.errors).toEqual([
        "Airflow failed to import this DAG file: ModuleNotFoundError: No module named 'airflow.providers.snowflake'",
        expect.stringMatching(
          /^Airflow in environment airflow-\d+ failed to import 1 DAG file\(s\) after this deploy: dags\/marketing\/report\.py$/
        )
      ])
      const annotation = result.commands.find(
        (c) => c.command === 'error' && c.properties.includes('file=dags/marketing/report.py')
      )
      expect(annotation).toBeDefined()
      const older = result.commands.find(
        (c) => c.command === 'warning' && c.properties.includes('file=dags/old_broken.py')
      )
      expect(older?.message).toContain("No module named 'legacy'")
      expect(result.outputs).toMatchObject({
        'import-errors': '1',
        unconfirmed: '0',
        updated: 'false'
      })
      expect(result.summary).toContain('Airflow import check')
    })

    it('passes when every changed DAG file was parsed cleanly after the deploy', async () => {
      const airflow = new ScriptedAirflow({ version })
      airflow.setFile('sales.py', { dags: ['sales', 'sales_daily'] })
      airflow.parseAfterDagsRequests(2)
      const env = await environment({ airflow })
      const result = await deploy(env, workspaceWith(DAG_REPOSITORY), {
        'dag-changes': JSON.stringify({
          uploaded: ['dags/sales.py', 'dags/lib/util.py'],
          deleted: []
        })
      })
      expect(result.errors).toEqual([])
      expect(result.warnings).toEqual([])
      expect(result.outputs).toMatchObject({ 'import-errors': '0', unconfirmed: '0' })
      expect(airflow.parses.length).toBeGreaterThan(0)
      // A helper module the scheduler never parses is not waited for.
      expect(result.stdout).toContain('Not waited for: lib/util.py (it lacks "airflow" or "dag"')
    })
  }
)

describe('deploy-mwaa, when things go wrong around it', () => {
  const BROKEN =
    "Traceback (most recent call last):\nModuleNotFoundError: No module named 'lineage'"

  it('counts only a parse after sync-wait, when MWAA has copied the new file', async () => {
    const airflow = new ScriptedAirflow()
    airflow.setFile('sales.py', { dags: ['sales'] })
    const uploaded = Date.now()
    // Until MWAA's copy arrives the scheduler parses the old, clean file; then the new one.
    mwaa.beforeAnswer = (call) => {
      if (call.operation !== 'InvokeRestApi') return
      if (Date.now() - uploaded > 1_500) airflow.setFile('sales.py', { importError: BROKEN })
      airflow.parse()
    }
    try {
      const env = await environment({ airflow })
      const result = await deploy(env, workspaceWith(DAG_REPOSITORY), {
        'dag-changes': JSON.stringify({ uploaded: ['dags/sales.py'], deleted: [] }),
        'sync-wait': '2'
      })
      expect(result.status).toBe('failure')
      expect(result.outputs['import-errors']).toBe('1')
      expect(result.errors[0]).toContain("No module named 'lineage'")
    } finally {
      mwaa.beforeAnswer = undefined
    }
  })

  it('blames the update for an unchanged DAG that stops importing after it', async () => {
    const airflow = new ScriptedAirflow()
    airflow.setFile('legacy.py', { importError: 'ModuleNotFoundError: old trouble' })
    airflow.setFile('billing.py', { dags: ['billing'] })
    airflow.setFile('sales.py', { dags: ['sales'] })
    airflow.parse()
    const env = await environment({ airflow })
    // The new requirements break billing.py, which this deploy did not change.
    env.scriptUpdates({ polls: 1 })
    mwaa.beforeAnswer = (call) => {
      if (call.operation === 'UpdateEnvironment' && call.name === env.name) {
        airflow.setFile('billing.py', { importError: BROKEN })
        airflow.parseAfterDagsRequests(0)
      }
    }
    try {
      const result = await deploy(env, workspaceWith({ ...REPOSITORY, ...DAG_REPOSITORY }), {
        requirements: 'requirements.txt',
        'dag-changes': JSON.stringify({ uploaded: ['dags/sales.py'], deleted: [] })
      })
      expect(result.status).toBe('failure')
      expect(result.outputs).toMatchObject({
        updated: 'true',
        status: 'AVAILABLE',
        'import-errors': '1'
      })
      expect(
        result.commands.some(
          (c) => c.command === 'error' && c.properties.includes('file=dags/billing.py')
        )
      ).toBe(true)
      // The error from before the deploy stays a warning.
      expect(
        result.commands.some(
          (c) => c.command === 'warning' && c.properties.includes('file=dags/legacy.py')
        )
      ).toBe(true)
    } finally {
      mwaa.beforeAnswer = undefined
    }
  })

  it('checks the whole DAG folder on a re-run, whose sync uploaded nothing', async () => {
    const airflow = new ScriptedAirflow()
    airflow.setFile('sales.py', { importError: BROKEN })
    airflow.parse()
    const env = await environment({ airflow })
    const changes = JSON.stringify({ uploaded: [], deleted: [] })
    const first = await deploy(env, workspaceWith(DAG_REPOSITORY), { 'dag-changes': changes })
    expect(first.errors).toEqual([])
    const rerun = await runAction({
      action: 'deploy-mwaa',
      workspace: workspaceWith(DAG_REPOSITORY),
      env: {
        ...credentials,
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ENDPOINT_URL_MWAA: mwaa.endpoint,
        GITHUB_RUN_ATTEMPT: '2'
      },
      inputs: { environment: env.name, 'poll-interval': '0.1', 'dag-changes': changes }
    })
    expect(rerun.status).toBe('failure')
    expect(rerun.stdout).toContain('(a re-run: the whole folder)')
    expect(
      rerun.commands.some(
        (c) => c.command === 'error' && c.properties.includes('file=dags/sales.py')
      )
    ).toBe(true)
  })

  it('reports nothing updated when the wait for someone else runs out, and changes nothing', async () => {
    const env = await environment({ runningUpdate: { polls: 1_000_000 } })
    const result = await deploy(env, workspaceWith(REPOSITORY), {
      requirements: 'requirements.txt',
      timeout: '0.05'
    })
    expect(result.status).toBe('failure')
    expect(result.errors[0]).toContain('nothing was updated, and that work goes on')
    expect(result.outputs).toMatchObject({ updated: 'false', status: 'UPDATING' })
    expect(result.summary).toContain('nothing was updated')
    expect(updateCalls(env)).toEqual([])
    expect(await versionsIn(env.bucket)).toEqual([])
  })

  it('waits and applies again when an update starts between its look and its call', async () => {
    const env = await environment()
    let raced = false
    mwaa.beforeAnswer = (call) => {
      if (call.operation === 'UpdateEnvironment' && call.name === env.name && !raced) {
        raced = true
        env.startUpdate({ polls: 2 })
      }
    }
    try {
      const result = await deploy(env, workspaceWith(REPOSITORY), {
        requirements: 'requirements.txt'
      })
      expect(result.errors).toEqual([])
      expect(updateCalls(env).map((call) => call.status)).toEqual([400, 200])
      expect(env.updates.map((update) => update.by)).toEqual(['test', 'UpdateEnvironment'])
      expect(result.outputs).toMatchObject({ updated: 'true', status: 'AVAILABLE' })
    } finally {
      mwaa.beforeAnswer = undefined
    }
  })

  it('updates an environment whose last update failed', async () => {
    const env = await environment({
      status: 'UPDATE_FAILED',
      lastUpdate: { status: 'FAILED', error: { code: 'X', message: 'earlier' } }
    })
    const result = await deploy(env, workspaceWith(REPOSITORY), {
      requirements: 'requirements.txt'
    })
    expect(result.errors).toEqual([])
    expect(result.outputs).toMatchObject({ updated: 'true', status: 'AVAILABLE' })
  })

  it('shows a failure reason that holds a workflow command as text', async () => {
    const env = await environment()
    env.scriptUpdates({
      polls: 0,
      error: { code: 'INCORRECT_CONFIGURATION', message: 'bad\n::error::injected\n::add-mask::x' }
    })
    const result = await deploy(env, workspaceWith(REPOSITORY), {
      requirements: 'requirements.txt'
    })
    expect(result.status).toBe('failure')
    expect(result.errors).toHaveLength(1)
    expect(result.errors[0]).toContain('INCORRECT_CONFIGURATION: bad\\n:\\x3aerror:\\x3ainjected')
    expect(result.masks).toEqual([])
  })
})
