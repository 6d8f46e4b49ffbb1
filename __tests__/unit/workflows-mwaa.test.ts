// deploy-dags.yml and dags-check.yml with an Amazon MWAA environment, read as GitHub reads them:
// each step's `if:` and `with:` evaluated for the inputs a caller can give. Without
// mwaa-environment the deploy job must run exactly what it ran before; with it, deploy-mwaa takes
// the place of the refresh. The runs themselves, against an MWAA stand-in, are not tested here.
import { afterAll, describe, expect, test } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { evaluateExpression, interpolate } from '../../test-support/workflow.mjs'

type Mapping = Record<string, unknown>
const root = resolve(import.meta.dirname, '..', '..')
const read = (path: string) => readFileSync(join(root, path), 'utf8')
const yamlOf = (path: string) => parseYaml(read(path)) as Mapping

const MWAA_ACTION = '$/actions/deploy-mwaa'
const contract = yamlOf('actions/deploy-mwaa/action.yml') as {
  inputs: Record<string, { required?: boolean; default?: string }>
  outputs: Record<string, unknown>
}

interface InputSpec {
  type: 'string' | 'boolean' | 'number'
  default?: unknown
}

function workflow(name: string) {
  const document = yamlOf(`.github/workflows/${name}.yml`)
  const call = (document.on as Mapping).workflow_call as Mapping
  return {
    inputs: call.inputs as Record<string, InputSpec>,
    outputs: call.outputs as Record<string, { value: string }>,
    jobs: document.jobs as Record<string, Mapping>
  }
}

const deployDags = workflow('deploy-dags')
const dagsCheck = workflow('dags-check')

/** The inputs context of a call: what the caller gives, the declared defaults for the rest. */
function inputsOf(spec: Record<string, InputSpec>, given: Mapping): Mapping {
  for (const name of Object.keys(given)) {
    if (!(name in spec)) throw new Error(`${name} is not an input`)
  }
  return Object.fromEntries(
    Object.entries(spec).map(([name, input]) => [
      name,
      name in given ? given[name] : (input.default ?? (input.type === 'boolean' ? false : ''))
    ])
  )
}

interface Situation {
  inputs: Mapping
  /** deploy-dags' `changed` output. */
  changed?: 'true' | 'false'
  runAttempt?: string
}

const CHANGES_FILE = '/home/runner/work/_temp/deploy-dags-changes.json'

/** Which steps of a job would run, in order, every earlier step having succeeded. */
function walkJob(job: Mapping, situation: Situation) {
  const steps: Record<string, Mapping> = {}
  const contexts = () => ({
    inputs: situation.inputs,
    github: { run_attempt: situation.runAttempt ?? '1', event_name: 'push' },
    steps,
    env: {},
    vars: {},
    secrets: {},
    runner: { temp: '/home/runner/work/_temp' }
  })
  const status = { success: () => true, failure: () => false, cancelled: () => false }
  const ran: { step: Mapping; with: Record<string, string> }[] = []
  for (const step of (job.steps ?? []) as Mapping[]) {
    const condition = typeof step.if === 'string' ? step.if.replace(/^\$\{\{|\}\}$/g, '') : 'true'
    const runs = Boolean(evaluateExpression(condition, contexts(), status))
    const given = (step.with ?? {}) as Mapping
    const evaluated = runs
      ? Object.fromEntries(
          Object.entries(given).map(([key, value]) => [key, interpolate(String(value), contexts())])
        )
      : {}
    if (typeof step.id === 'string') {
      steps[step.id] = {
        outcome: runs ? 'success' : 'skipped',
        outputs:
          runs && step.id === 'sync'
            ? { changed: situation.changed ?? 'false', 'changes-file': CHANGES_FILE }
            : {}
      }
    }
    if (runs) ran.push({ step, with: evaluated })
  }
  return ran
}

const nameOf = (step: Mapping) =>
  String(step.id ?? step.name ?? String(step.uses ?? '').replace(/@.*/, ''))

/** Every combination of the given choices. */
function grid(choices: Record<string, unknown[]>): Mapping[] {
  return Object.entries(choices).reduce<Mapping[]>(
    (combinations, [name, values]) =>
      combinations.flatMap((combination) =>
        values.map((value) => ({ ...combination, [name]: value }))
      ),
    [{}]
  )
}

const deploySituations = grid({
  'function-name': ['', 'airflow-refresh-workers'],
  'dry-run': [false, true],
  force: [false, true],
  changed: ['true', 'false'],
  runAttempt: ['1', '2']
})

const situationOf = (combination: Mapping, extra: Mapping = {}): Situation => {
  const { changed, runAttempt, ...given } = combination
  return {
    inputs: inputsOf(deployDags.inputs, {
      'aws-region': 'eu-west-1',
      bucket: 'airflow-analytics',
      ...given,
      ...extra
    }),
    changed: changed as 'true' | 'false',
    runAttempt: runAttempt as string
  }
}

// The deploy job as it was before MWAA: the condition of the refresh event, its outputs and
// what decides where and when it runs.
const REFRESH_CONDITION_BEFORE =
  "inputs.function-name != '' && !inputs.dry-run && (steps.sync.outputs.changed == 'true' || inputs.force || github.run_attempt != '1')"
const OUTPUTS_BEFORE = {
  changed: '${{ steps.sync.outputs.changed }}',
  uploaded: '${{ steps.sync.outputs.uploaded }}',
  deleted: '${{ steps.sync.outputs.deleted }}',
  unchanged: '${{ steps.sync.outputs.unchanged }}',
  drifted: '${{ steps.sync.outputs.drifted }}',
  's3-uri': '${{ steps.sync.outputs.s3-uri }}',
  changes: '${{ steps.sync.outputs.changes }}',
  refreshed: "${{ steps.refresh.outcome == 'success' }}",
  'refresh-response': '${{ steps.refresh.outputs.response }}',
  'refresh-function-error': '${{ steps.refresh.outputs.function-error }}'
}

const mentionsMwaa = (value: unknown) => /mwaa/i.test(JSON.stringify(value))

describe('deploy-dags.yml without mwaa-environment', () => {
  const deploy = deployDags.jobs.deploy as Mapping

  test('the deploy job runs the steps it ran before, under the same conditions', () => {
    for (const combination of deploySituations) {
      const situation = situationOf(combination)
      const ran = walkJob(deploy, situation)
      const refreshBefore = Boolean(
        evaluateExpression(REFRESH_CONDITION_BEFORE, {
          inputs: situation.inputs,
          github: { run_attempt: situation.runAttempt },
          steps: { sync: { outputs: { changed: situation.changed } } }
        })
      )
      expect({ combination, steps: ran.map(({ step }) => nameOf(step)) }).toEqual({
        combination,
        steps: [
          'actions/checkout',
          'aws-actions/configure-aws-credentials',
          'sync',
          ...(refreshBefore ? ['payload', 'refresh'] : [])
        ]
      })
      // Nothing that runs carries anything of MWAA, apart from the guard in the event's condition.
      expect(ran.map(({ step }) => mentionsMwaa({ ...step, if: undefined }))).toEqual(
        ran.map(() => false)
      )
    }
  })

  test('its timeout, environment, concurrency, rights and outputs are as before', () => {
    const contexts = { inputs: situationOf({}).inputs }
    expect(interpolate(String(deploy['timeout-minutes']), contexts)).toBe('30')
    expect(deploy.environment).toBe('${{ inputs.environment }}')
    expect(deploy.needs).toBe('validate')
    expect(deploy.concurrency).toEqual({
      group: 'airflow-aws-deploy-actions/deploy-dags/${{ inputs.bucket }}/${{ inputs.prefix }}',
      'cancel-in-progress': false
    })
    expect(deploy.permissions).toEqual({ contents: 'read', 'id-token': 'write' })
    expect(deploy.outputs).toMatchObject(OUTPUTS_BEFORE)
    const added = Object.keys(deploy.outputs as Mapping).filter((name) => !(name in OUTPUTS_BEFORE))
    expect(added).toEqual(['mwaa-updated', 'mwaa-status'])
  })

  test('the check catches a step that would run, or run differently, without MWAA', () => {
    const loose = structuredClone(deploy)
    const steps = loose.steps as Mapping[]
    const mwaa = steps.find((step) => step.id === 'mwaa') as Mapping
    mwaa.if = "inputs.mwaa-environment != '' || inputs.force"
    const payload = steps.find((step) => step.id === 'payload') as Mapping
    payload.if = "inputs.function-name != '' && !inputs.dry-run"
    const differences = deploySituations.filter((combination) => {
      const names = walkJob(loose, situationOf(combination)).map(({ step }) => nameOf(step))
      const before = walkJob(deploy, situationOf(combination)).map(({ step }) => nameOf(step))
      return JSON.stringify(names) !== JSON.stringify(before)
    })
    // force runs deploy-mwaa; a re-run or an unchanged bucket now builds the event as well.
    expect(differences.length).toBeGreaterThan(deploySituations.length / 2)
  })
})

describe('deploy-dags.yml with mwaa-environment', () => {
  const deploy = deployDags.jobs.deploy as Mapping
  const mwaaInputs = {
    'mwaa-environment': 'analytics',
    'mwaa-requirements': 'requirements.txt',
    'mwaa-plugins': 'plugins',
    'mwaa-startup-script': 'startup.sh'
  }

  test('runs deploy-mwaa after the sync and never the refresh', () => {
    for (const combination of deploySituations) {
      const ran = walkJob(deploy, situationOf(combination, mwaaInputs))
      // With a function named as well the first step fails the job; the refresh would not run
      // even if it did not.
      const guard = combination['function-name'] === '' ? [] : ['Check the MWAA inputs']
      expect({ combination, steps: ran.map(({ step }) => nameOf(step)) }).toEqual({
        combination,
        steps: [
          ...guard,
          'actions/checkout',
          'aws-actions/configure-aws-credentials',
          'sync',
          'mwaa'
        ]
      })
      expect(ran.at(-1)?.step.uses).toBe(MWAA_ACTION)
    }
  })

  test('a refresh function given as well stops the job before it reaches AWS, naming both inputs', () => {
    const situation = situationOf({ 'function-name': 'airflow-refresh-workers' }, mwaaInputs)
    const [first] = walkJob(deploy, situation)
    expect(first?.step.name).toBe('Check the MWAA inputs')
    expect(String(first?.step.run)).toMatch(/function-name and mwaa-environment are both set/)
    expect(String(first?.step.run)).toMatch(/exit 1/)
    const result = spawnSync('bash', ['-e', '-c', String(first?.step.run)], { encoding: 'utf8' })
    expect(result.status).toBe(1)
    expect(result.stdout).toMatch(/^::error::function-name and mwaa-environment/)
  })

  test('passes the environment, the files, the bucket, the region, the timeout and the sync wait on', () => {
    const situation = situationOf({}, { ...mwaaInputs, 'mwaa-timeout': 45, 'mwaa-sync-wait': 90 })
    const mwaa = walkJob(deploy, situation).find(({ step }) => step.id === 'mwaa')
    expect(mwaa?.with).toEqual({
      environment: 'analytics',
      bucket: 'airflow-analytics',
      requirements: 'requirements.txt',
      plugins: 'plugins',
      'plugins-zip': '',
      'startup-script': 'startup.sh',
      timeout: '45',
      'sync-wait': '90',
      'dry-run': 'false',
      'dag-changes': CHANGES_FILE,
      'dag-source': 'dags',
      region: 'eu-west-1'
    })
  })

  test.each([
    [true, false, CHANGES_FILE],
    [false, false, ''],
    [true, true, ''],
    [false, true, '']
  ])('mwaa-confirm-imports %s, dry-run %s: dag-changes is "%s"', (confirm, dryRun, expected) => {
    const situation = situationOf(
      { 'dry-run': dryRun },
      { ...mwaaInputs, 'mwaa-confirm-imports': confirm }
    )
    const mwaa = walkJob(deploy, situation).find(({ step }) => step.id === 'mwaa')
    expect(mwaa?.with['dag-changes']).toBe(expected)
    expect(mwaa?.with['dry-run']).toBe(String(dryRun))
  })

  test('confirms imports by default, and gives the job room for the longest wait', () => {
    expect(deployDags.inputs['mwaa-confirm-imports']).toMatchObject({
      type: 'boolean',
      default: true
    })
    const { inputs } = situationOf({}, mwaaInputs)
    const minutes = Number(interpolate(String(deploy['timeout-minutes']), { inputs }))
    const longest = 360 + Number(contract.inputs['confirm-timeout']?.default)
    expect(minutes).toBeGreaterThan(longest)
    expect(deployDags.inputs['mwaa-timeout']?.default).toBe(
      Number(contract.inputs.timeout?.default)
    )
  })

  test('surfaces whether an update started and how the environment ended', () => {
    expect(deploy.outputs).toMatchObject({
      'mwaa-updated': '${{ steps.mwaa.outputs.updated }}',
      'mwaa-status': '${{ steps.mwaa.outputs.status }}'
    })
    expect(deployDags.outputs['mwaa-updated']?.value).toBe(
      '${{ jobs.deploy.outputs.mwaa-updated }}'
    )
    expect(deployDags.outputs['mwaa-status']?.value).toBe('${{ jobs.deploy.outputs.mwaa-status }}')
    for (const output of ['updated', 'status']) expect(contract.outputs).toHaveProperty(output)
  })
})

describe('dags-check.yml with mwaa-environment', () => {
  const plan = dagsCheck.jobs.plan as Mapping
  const situation = (given: Mapping): Situation => ({
    inputs: inputsOf(dagsCheck.inputs, {
      'aws-region': 'eu-west-1',
      bucket: 'airflow-analytics',
      ...given
    })
  })

  test('without it, the plan job runs only the DAG plan, as before', () => {
    expect(walkJob(plan, situation({})).map(({ step }) => nameOf(step))).toEqual([
      'actions/checkout',
      'aws-actions/configure-aws-credentials',
      'plan'
    ])
  })

  test('with it, deploy-mwaa runs as a dry run after the DAG plan, then the summary says it', () => {
    const ran = walkJob(
      plan,
      situation({
        'mwaa-environment': 'analytics',
        'mwaa-requirements': 'requirements.txt',
        'mwaa-plugins-zip': 'build/plugins.zip'
      })
    )
    expect(ran.map(({ step }) => nameOf(step))).toEqual([
      'actions/checkout',
      'aws-actions/configure-aws-credentials',
      'plan',
      'mwaa',
      'Say whether merging starts an environment update'
    ])
    const mwaa = ran.find(({ step }) => step.id === 'mwaa')!
    expect(mwaa.step.uses).toBe(MWAA_ACTION)
    expect(mwaa.step.with).toMatchObject({ 'dry-run': true })
    expect(mwaa.with).toEqual({
      environment: 'analytics',
      bucket: 'airflow-analytics',
      requirements: 'requirements.txt',
      plugins: '',
      'plugins-zip': 'build/plugins.zip',
      'startup-script': '',
      region: 'eu-west-1',
      'dry-run': 'true'
    })
    // No wait and no confirmation in a plan: it changes nothing and reads only.
    expect(Object.keys(mwaa.with)).not.toEqual(expect.arrayContaining(['wait']))
    expect(plan.permissions).toEqual({ contents: 'read', 'id-token': 'write' })
    expect(plan.concurrency).toBeUndefined()
  })

  test('the plan outputs whether merging would start an update', () => {
    expect((plan.outputs as Mapping)['mwaa-updated']).toBe('${{ steps.mwaa.outputs.updated }}')
    expect(dagsCheck.outputs['mwaa-updated']?.value).toBe('${{ jobs.plan.outputs.mwaa-updated }}')
  })

  describe('the summary line', () => {
    const step = ((plan.steps ?? []) as Mapping[]).find(
      (s) => s.name === 'Say whether merging starts an environment update'
    )!
    const dir = mkdtempSync(join(tmpdir(), 'mwaa-summary-'))
    afterAll(() => rmSync(dir, { recursive: true, force: true }))

    function summaryFor(updates: string) {
      const summary = join(dir, `summary-${updates || 'empty'}.md`)
      const env = step.env as Record<string, string>
      expect(env).toEqual({
        ENVIRONMENT: '${{ inputs.mwaa-environment }}',
        UPDATES: '${{ steps.mwaa.outputs.updated }}'
      })
      const result = spawnSync('bash', ['-e', '-c', String(step.run)], {
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          ENVIRONMENT: 'analytics',
          UPDATES: updates,
          GITHUB_STEP_SUMMARY: summary
        }
      })
      expect(result.status).toBe(0)
      return readFileSync(summary, 'utf8')
    }

    test('says that merging starts an update when one would', () => {
      const text = summaryFor('true')
      expect(text).toMatch(/^### Amazon MWAA\n/)
      expect(text).toContain('Merging starts an update of the environment `analytics`')
    })

    test('says that merging starts none when nothing it takes changed', () => {
      for (const updates of ['false', '']) {
        expect(summaryFor(updates)).toContain(
          'Merging starts no update of the environment `analytics`'
        )
      }
    })

    test('is written only after deploy-mwaa answered', () => {
      expect(step.if).toBe("steps.mwaa.outcome == 'success'")
    })
  })
})

describe('calls of deploy-mwaa', () => {
  const sites = [
    ['.github/workflows/deploy-dags.yml', deployDags.jobs.deploy],
    ['.github/workflows/dags-check.yml', dagsCheck.jobs.plan]
  ].flatMap(([file, job]) =>
    ((job as Mapping).steps as Mapping[])
      .filter((step) => step.uses === MWAA_ACTION)
      .map((step) => [file as string, step] as const)
  )
  const readmeSteps = [...read('README.md').matchAll(/```ya?ml\n([\s\S]*?)```/g)]
    .map((block) => parseYaml(block[1] ?? '') as unknown)
    .flatMap((document) => (Array.isArray(document) ? (document as Mapping[]) : []))
    .filter((step) => /\/actions\/deploy-mwaa@<full-commit-sha>$/.test(String(step?.uses ?? '')))

  test('are found: one in each workflow, two in the README', () => {
    expect(sites.map(([file]) => file)).toEqual([
      '.github/workflows/deploy-dags.yml',
      '.github/workflows/dags-check.yml'
    ])
    expect(readmeSteps).toHaveLength(2)
  })

  test('give only inputs deploy-mwaa declares, and its required ones', () => {
    const required = Object.entries(contract.inputs)
      .filter(([, input]) => input.required === true)
      .map(([name]) => name)
    expect(required).toEqual(['environment'])
    for (const [where, step] of [...sites, ...readmeSteps.map((s) => ['README.md', s] as const)]) {
      const given = Object.keys((step.with ?? {}) as Mapping)
      expect({ where, unknown: given.filter((name) => !(name in contract.inputs)) }).toEqual({
        where,
        unknown: []
      })
      expect({ where, missing: required.filter((name) => !given.includes(name)) }).toEqual({
        where,
        missing: []
      })
    }
  })
})

describe('examples/workflows/deploy-dags-mwaa.yml', () => {
  const example = yamlOf('examples/workflows/deploy-dags-mwaa.yml')
  const jobs = example.jobs as Record<string, Mapping>
  const job = jobs.deploy as Mapping
  const given = job.with as Mapping

  test('calls deploy-dags.yml pinned, from main only, with inputs it declares', () => {
    expect(Object.keys(jobs)).toEqual(['deploy'])
    expect(job.uses).toBe(
      'octo-org/airflow-aws-deploy-actions/.github/workflows/deploy-dags.yml@<full-commit-sha>'
    )
    expect(job.if).toBe("github.ref == 'refs/heads/main'")
    expect(Object.keys(given).filter((name) => !(name in deployDags.inputs))).toEqual([])
    for (const name of ['aws-region', 'bucket'])
      expect({ name, given: name in given }).toEqual({ name, given: true })
  })

  test('deploys to an environment and never a refresh function', () => {
    expect(given['mwaa-environment']).toMatch(/^[a-zA-Z][0-9a-zA-Z_-]*$/)
    expect(given['function-name']).toBeUndefined()
    // MWAA only takes a source bucket whose name starts with airflow-.
    expect(given.bucket).toMatch(/^airflow-/)
    expect(given.environment).toBe('production')
  })

  test('a push that changes a file the environment takes starts it', () => {
    const paths = ((example.on as Mapping).push as Mapping).paths as string[]
    const covered = (file: string) =>
      paths.some((pattern) =>
        pattern.endsWith('/**') ? file.startsWith(pattern.slice(0, -2)) : pattern === file
      )
    const files = [
      `${String(given.source ?? 'dags')}/etl.py`,
      String(given['mwaa-requirements']),
      `${String(given['mwaa-plugins'])}/operators.py`,
      String(given['mwaa-startup-script']),
      '.github/workflows/deploy-dags-mwaa.yml'
    ]
    expect(files.filter((file) => !covered(file))).toEqual([])
  })
})

describe('README', () => {
  const readme = read('README.md')

  test('documents every input and output of deploy-mwaa in its section', () => {
    const start = readme.indexOf('\n## deploy-mwaa\n')
    expect(start).toBeGreaterThan(0)
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1))
    const names = [...Object.keys(contract.inputs), ...Object.keys(contract.outputs)]
    expect(names.filter((name) => !section.includes(`\`${name}\``))).toEqual([])
  })

  test('lists deploy-mwaa with the other actions', () => {
    expect(readme).toMatch(/\| \[`actions\/deploy-mwaa`\]\(#deploy-mwaa\) +\|/)
  })
})
