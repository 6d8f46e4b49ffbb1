// The local workflow model (test-support/workflow.mjs) against GitHub's documented behaviour:
// synthetic workflows written to a temporary folder and run with real bash.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { stringify } from 'yaml'
import {
  evaluateExpression,
  interpolate,
  runWorkflow,
  type StepResolution,
  type WorkflowOptions
} from '../../test-support/workflow.mjs'

let root: string
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'workflow-runner-test-'))
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

function write(relative: string, text: string): string {
  const path = join(root, relative)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, text)
  return path
}

let workflowCount = 0
/** Workflows are written from objects: `${{ }}` in a TypeScript template would need escaping. */
const workflow = (document: object): string =>
  write(`workflows/workflow-${++workflowCount}.yml`, stringify(document))

const script = (...lines: string[]): string => lines.join('\n') + '\n'

/** A job of one or more steps on the default runner, for the many one-job workflows below. */
const job = (steps: object[], extra: object = {}) => ({
  'runs-on': 'ubuntu-latest',
  ...extra,
  steps
})

const run = (options: Partial<WorkflowOptions> & { file: string }) =>
  runWorkflow({ event: 'push', ...options })

describe('expressions', () => {
  const contexts = {
    github: { ref_name: 'main', event: { number: 7 } },
    steps: { build: { outputs: { version: '1.2.3' } } }
  }

  it.each<[string, unknown]>([
    // Loose equality: strings ignore case; differing kinds are compared as numbers.
    ["'abc' == 'ABC'", true],
    ["1 == '1'", true],
    ["'' == 0", true],
    ['null == 0', true],
    ["null == ''", true],
    ['null == null', true],
    ['true == 1', true],
    ["true == 'true'", false],
    ["'abc' == 0", false],
    ['NaN == NaN', false],
    ["'0x10' == 16", true],
    ["fromJSON('[1]') == fromJSON('[1]')", false],
    ["'b' > 'A'", true],
    ["1 < '2'", true],
    ["'abc' < 1", false],
    ['-1.5 <= 0', true],
    // && and || give back an operand, not a boolean.
    ["null && 'x'", null],
    ["'a' && 'b'", 'b'],
    ["'' || 'fallback'", 'fallback'],
    ['0 || false', false],
    ["1 == 1 && 'yes' || 'no'", 'yes'],
    ["1 == 2 && 'yes' || 'no'", 'no'],
    ["!''", true],
    ["!'0'", false],
    ["'It''s'", "It's"],
    // Functions.
    ["format('{0}-{{1}}-{1}}}', 'a', 'b')", 'a-{1}-b}'],
    ["format('{{{0}}}', 'x')", '{x}'],
    ["format('{0} {1}', null, true)", ' true'],
    ['fromJSON(\'{"a": [1, 2]}\').a[1]', 2],
    ["fromJSON('[1, 2]')", [1, 2]],
    ['toJSON(fromJSON(\'{"a":1}\'))', '{\n  "a": 1\n}'],
    ["contains('Hello', 'ELL')", true],
    ['contains(fromJSON(\'["a", "B"]\'), \'b\')', true],
    ["contains(fromJSON('[1]'), '1')", true],
    ["startsWith('refs/heads/main', 'REFS/')", true],
    ["endsWith('deploy.yml', '.YML')", true],
    ["join(fromJSON('[1, true, null]'), '+')", '1+true+'],
    ["join('abc')", 'abc'],
    ['TOJSON(1)', '1'],
    // Contexts: missing properties are null, names are case-insensitive.
    ['github.missing.deeper', null],
    ['GitHub.REF_name', 'main'],
    ["github['ref_name']", 'main'],
    ["steps.build.outputs['version']", '1.2.3'],
    ['github.event.number == 7', true]
  ])('%s', (expression, expected) => {
    expect(evaluateExpression(expression, contexts)).toEqual(expected)
  })

  it.each<[string, RegExp]>([
    ['secrets.TOKEN', /Unrecognized named-value: 'secrets'/],
    ['nope()', /Unrecognized function: 'nope'/],
    ['success()', /Unrecognized function: 'success'/],
    ["'unterminated", /Unexpected symbol/],
    ['github.ref ==', /Unexpected end of expression/],
    ["format('{0}')", /more arguments than were supplied/],
    ["format('{x}', 1)", /format string is invalid/],
    ["hashFiles('**/*.py')", /not supported/]
  ])('rejects %s', (expression, error) => {
    expect(() => evaluateExpression(expression, contexts)).toThrow(error)
  })

  // Run over a batch of edge cases (loose equality, number coercion, NaN, case, object equality,
  // null dereference, format escapes, JSON round trips, filters, contains, startsWith), the former
  // hand-written evaluator and @actions/expressions differed in these, among others.
  describe('as GitHub evaluates them, where the former hand-written evaluator did not', () => {
    const event = {
      commits: [{ message: 'Fix the DAG' }, { message: 'Add a DAG' }],
      labels: [{ name: 'deploy' }, { name: 'docs' }]
    }
    it.each<[string, unknown]>([
      // The * object filter, which GitHub's documentation uses for event payloads, was refused.
      ['github.event.commits.*.message', ['Fix the DAG', 'Add a DAG']],
      ["contains(github.event.labels.*.name, 'DEPLOY')", true],
      ["join(github.event.commits.*.message, '; ')", 'Fix the DAG; Add a DAG'],
      // A filter of a filter keeps only what each element has: strings have no `name`.
      ['github.event.labels.*.name.*.name', []],
      // The runner compares ignoring case as .NET's OrdinalIgnoreCase does, which leaves the
      // dotless ı alone; JavaScript's toUpperCase made it an I.
      ["'ı' == 'I'", false],
      ["startsWith('ıd', 'I')", false]
    ])('%s', (expression, expected) => {
      expect(evaluateExpression(expression, { github: { event } })).toEqual(expected)
    })

    it("unescapes every '' of a string literal, not only the first as the library's lexer does", () => {
      expect(evaluateExpression("'a''b''c'", {})).toBe("a'b'c")
    })
  })

  it('interpolates each ${{ }} as text, a }} inside a string literal included', () => {
    expect(
      interpolate(
        "v${{ steps.build.outputs.version }}-${{ format('{{0}}') }}-${{ null }}",
        contexts
      )
    ).toBe('v1.2.3-{0}-')
  })

  it('substitutes into the script text before bash runs it, as GitHub does', async () => {
    const cases: Record<string, string> = {
      'null-value': 'null',
      'true-value': 'true',
      'whole-number': '3.0',
      fraction: '0.1',
      object: 'github.event',
      array: "fromJSON('[1]')",
      'typed-input': "github.event_name == 'PUSH'",
      'and-value': "github.ref_name && 'has-ref'",
      'or-value': "github.head_ref || 'no-head-ref'"
    }
    // A quoted heredoc: bash leaves the substituted text alone.
    const heredocs = Object.entries(cases).map(([name, expression]) =>
      script(
        `cat >> "$GITHUB_OUTPUT" <<'EOF'`,
        `${name}<<VALUE`,
        `\${{ ${expression} }}`,
        'VALUE',
        'EOF'
      )
    )
    const file = workflow({
      on: 'push',
      jobs: {
        check: job([
          { id: 'table', run: heredocs.join('') },
          // Unquoted, the substituted text is shell code: the reason not to put inputs in run:.
          { id: 'injected', run: 'echo "value=${{ \'$GITHUB_EVENT_NAME\' }}" >> "$GITHUB_OUTPUT"' }
        ])
      }
    })
    const result = await run({ file })
    expect(result.jobs.check?.steps.table?.outputs).toEqual({
      'null-value': '',
      'true-value': 'true',
      'whole-number': '3',
      fraction: '0.1',
      object: 'Object',
      array: 'Array',
      'typed-input': 'true',
      'and-value': 'has-ref',
      'or-value': 'no-head-ref'
    })
    expect(result.jobs.check?.steps.injected?.outputs).toEqual({ value: 'push' })
  })
})

describe('steps', () => {
  it('passes outputs between steps and runs the ones whose if holds', async () => {
    const file = workflow({
      on: 'push',
      jobs: {
        steps: job([
          {
            id: 'answer',
            run: script(
              'echo "answer=yes" >> "$GITHUB_OUTPUT"',
              'printf "lines<<END\\none\\ntwo\\nEND\\n" >> "$GITHUB_OUTPUT"'
            )
          },
          { id: 'yes', if: "steps.answer.outputs.answer == 'YES'", run: 'echo ran' },
          { id: 'no', if: "${{ steps.answer.outputs.answer == 'no' }}", run: 'echo ran' },
          // Text around ${{ }} makes a non-empty string: true, a GitHub pitfall the model keeps.
          { id: 'pitfall', if: '${{ false }} && false', run: 'echo ran' },
          {
            id: 'report',
            run: script(
              'echo "no=${{ steps.no.outcome }}/${{ steps.no.conclusion }}" >> "$GITHUB_OUTPUT"',
              'echo \'lines=${{ toJSON(steps.answer.outputs.lines) }}\' >> "$GITHUB_OUTPUT"'
            )
          }
        ])
      }
    })
    const { jobs } = await run({ file })
    const steps = jobs.steps?.steps
    expect(steps?.answer?.outputs).toEqual({ answer: 'yes', lines: 'one\ntwo' })
    expect(steps?.yes?.outcome).toBe('success')
    expect(steps?.no).toEqual({ outcome: 'skipped', conclusion: 'skipped', outputs: {} })
    expect(steps?.pitfall?.outcome).toBe('success')
    expect(steps?.report?.outputs).toEqual({ no: 'skipped/skipped', lines: '"one\\ntwo"' })
  })

  it('skips later steps after a failure unless their if asks for it', async () => {
    const file = workflow({
      on: 'push',
      jobs: {
        failing: job([
          { id: 'ok', run: 'echo fine' },
          { id: 'broken', run: script('echo before', 'exit 3', 'echo after') },
          { id: 'next', run: 'echo never' },
          // Without a status function an if means success() && (…): skipped, though true.
          { id: 'implicit', if: "steps.ok.outcome == 'success'", run: 'echo never' },
          { id: 'success', if: 'success()', run: 'echo never' },
          {
            id: 'failure',
            if: 'failure()',
            run: 'echo "job=${{ job.status }}" >> "$GITHUB_OUTPUT"'
          },
          {
            id: 'always',
            if: 'always()',
            run: 'echo "broken=${{ steps.broken.outcome }}" >> "$GITHUB_OUTPUT"'
          },
          { id: 'cancelled', if: 'cancelled()', run: 'echo never' },
          { id: 'not-cancelled', if: '!cancelled()', run: 'echo ran' }
        ])
      }
    })
    const result = await run({ file })
    const steps = result.jobs.failing?.steps
    expect(result.result).toBe('failure')
    expect(result.jobs.failing?.result).toBe('failure')
    expect(steps?.broken?.outcome).toBe('failure')
    expect(steps?.next?.outcome).toBe('skipped')
    expect(steps?.implicit?.outcome).toBe('skipped')
    expect(steps?.success?.outcome).toBe('skipped')
    expect(steps?.failure?.outputs).toEqual({ job: 'failure' })
    expect(steps?.always?.outputs).toEqual({ broken: 'failure' })
    expect(steps?.cancelled?.outcome).toBe('skipped')
    expect(steps?.['not-cancelled']?.outcome).toBe('success')
    expect(result.log).toContain('failing / Run echo before | before\n')
    expect(result.log).toContain('Error: Process completed with exit code 3.')
    expect(result.log).not.toContain('after')
  })

  it('continue-on-error: outcome failure, conclusion success, the job goes on', async () => {
    const file = workflow({
      on: 'push',
      jobs: {
        tolerant: job([
          { id: 'flaky', 'continue-on-error': true, run: 'exit 1' },
          { id: 'strict', 'continue-on-error': '${{ 1 == 2 }}', if: 'false', run: 'exit 1' },
          {
            id: 'next',
            run: 'echo "seen=${{ steps.flaky.outcome }}/${{ steps.flaky.conclusion }}" >> "$GITHUB_OUTPUT"'
          }
        ])
      }
    })
    const result = await run({ file })
    expect(result.result).toBe('success')
    expect(result.jobs.tolerant?.steps.flaky).toEqual({
      outcome: 'failure',
      conclusion: 'success',
      outputs: {}
    })
    expect(result.jobs.tolerant?.steps.next?.outputs).toEqual({ seen: 'failure/success' })
  })

  it('runs the default shell without pipefail, and bash, sh, python and custom shells', async () => {
    const nodeDir = dirname(process.execPath)
    const file = workflow({
      on: 'push',
      jobs: {
        shells: job([
          { id: 'default', run: 'false | true' },
          { id: 'bash', shell: 'bash', 'continue-on-error': true, run: 'false | true' },
          {
            id: 'sh',
            shell: 'sh',
            run: script(
              'echo "bash=${BASH_VERSION:-none}" >> "$GITHUB_OUTPUT"',
              'echo "script=${0##*.}" >> "$GITHUB_OUTPUT"'
            )
          },
          {
            id: 'python',
            shell: 'python',
            run: script(
              'import os',
              'with open(os.environ["GITHUB_OUTPUT"], "a") as out:',
              '    out.write(f"sum={2 + 3}\\n")'
            )
          },
          {
            id: 'custom',
            shell: 'node {0}',
            run: "require('fs').appendFileSync(process.env.GITHUB_OUTPUT, `power=${2 ** 8}\\n`)"
          }
        ])
      }
    })
    const result = await run({ file, env: { PATH: `${nodeDir}:${process.env.PATH}` } })
    const steps = result.jobs.shells?.steps
    expect(steps?.default?.outcome).toBe('success')
    expect(steps?.bash?.outcome).toBe('failure')
    expect(steps?.sh?.outputs).toEqual({ bash: 'none', script: 'sh' })
    expect(steps?.python?.outputs).toEqual({ sum: '5' })
    expect(steps?.custom?.outputs).toEqual({ power: '256' })
  })

  it('applies GITHUB_ENV and GITHUB_PATH to later steps, under step env', async () => {
    const file = workflow({
      on: 'push',
      env: { LEVEL: 'workflow', SHARED: 'workflow' },
      jobs: {
        env: job(
          [
            {
              id: 'export',
              run: script(
                'echo "FROM_STEP=one" >> "$GITHUB_ENV"',
                'printf "MULTI<<END\\na\\nb\\nEND\\n" >> "$GITHUB_ENV"',
                'echo "LEVEL=exported" >> "$GITHUB_ENV"',
                'mkdir -p "$RUNNER_TEMP/bin"',
                'printf "#!/bin/sh\\necho tool-ran\\n" > "$RUNNER_TEMP/bin/hello-tool"',
                'chmod +x "$RUNNER_TEMP/bin/hello-tool"',
                'echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"',
                'echo "level=$LEVEL from-step=${FROM_STEP:-unset}" >> "$GITHUB_OUTPUT"'
              )
            },
            {
              id: 'read',
              env: { STEP_ONLY: '${{ env.FROM_STEP }}-step' },
              run: script(
                'echo "level=$LEVEL context=${{ env.LEVEL }} shared=$SHARED" >> "$GITHUB_OUTPUT"',
                'echo "step-only=$STEP_ONLY tool=$(hello-tool)" >> "$GITHUB_OUTPUT"',
                'echo \'multi=${{ toJSON(env.MULTI) }}\' >> "$GITHUB_OUTPUT"',
                'echo "temp=$RUNNER_TEMP" >> "$GITHUB_OUTPUT"'
              )
            },
            {
              id: 'override',
              env: { LEVEL: 'step' },
              run: 'echo "level=$LEVEL" >> "$GITHUB_OUTPUT"'
            }
          ],
          { env: { LEVEL: 'job' } }
        )
      }
    })
    const result = await run({ file })
    const steps = result.jobs.env?.steps
    expect(steps?.export?.outputs).toEqual({ level: 'job from-step=unset' })
    expect(steps?.read?.outputs).toMatchObject({
      level: 'exported context=exported shared=workflow',
      'step-only': 'one-step tool=tool-ran',
      multi: '"a\\nb"'
    })
    expect(steps?.override?.outputs).toEqual({ level: 'step' })
    // RUNNER_TEMP is the job's, and goes with it.
    const temp = steps?.read?.outputs.temp ?? ''
    expect(temp).toMatch(/temp$/)
    expect(existsSync(temp)).toBe(false)
  })

  it('gives the runner variables, the event file and the job context', async () => {
    const workspace = join(root, 'variables-workspace')
    const file = workflow({
      name: 'Variables',
      on: { release: { types: ['published'] } },
      jobs: {
        show: job([
          {
            id: 'vars',
            'working-directory': 'sub',
            run: script(
              'echo "pwd=$PWD" >> "$GITHUB_OUTPUT"',
              'echo "env=$GITHUB_REPOSITORY $GITHUB_SHA $GITHUB_REF_NAME $GITHUB_EVENT_NAME $GITHUB_JOB $GITHUB_WORKFLOW $RUNNER_OS" >> "$GITHUB_OUTPUT"',
              'echo "event=$(cat "$GITHUB_EVENT_PATH")" >> "$GITHUB_OUTPUT"',
              'echo "context=${{ github.ref_type }} ${{ runner.os }} ${{ job.workflow_repository }}@${{ job.workflow_sha }} ${{ vars.STAGE }}" >> "$GITHUB_OUTPUT"'
            )
          }
        ])
      }
    })
    mkdirSync(join(workspace, 'sub'), { recursive: true })
    const result = await run({
      file,
      event: 'release',
      workspace,
      vars: { STAGE: 'prod' },
      github: {
        repository: 'acme/dags',
        sha: 'abc123',
        ref: 'refs/tags/v1.0.0',
        event: { release: { tag_name: 'v1.0.0' } },
        workflow_repository: 'acme/pack',
        workflow_sha: 'def456'
      }
    })
    expect(result.jobs.show?.steps.vars?.outputs).toEqual({
      pwd: join(workspace, 'sub'),
      env: 'acme/dags abc123 v1.0.0 release show Variables Linux',
      event: '{"release":{"tag_name":"v1.0.0"}}',
      context: 'tag Linux acme/pack@def456 prod'
    })
  })

  it('runs a step with a missing working directory as a failure', async () => {
    const file = workflow({
      on: 'push',
      jobs: { lost: job([{ 'working-directory': 'nowhere', run: 'echo never' }]) }
    })
    const result = await run({ file })
    expect(result.jobs.lost?.steps['0']?.outcome).toBe('failure')
    expect(result.log).toMatch(/Error: working directory .*nowhere does not exist/)
  })

  it('ends a step when its shell exits and what it left running when the job ends', async () => {
    const file = workflow({
      on: 'push',
      jobs: {
        background: job([
          {
            id: 'start',
            run: 'tail -f /dev/null & echo "pid=$!" >> "$GITHUB_OUTPUT"; echo started'
          },
          {
            id: 'next',
            run: 'echo "running=$(kill -0 ${{ steps.start.outputs.pid }} && echo yes)" >> "$GITHUB_OUTPUT"'
          }
        ])
      }
    })
    const result = await run({ file })
    // The next step saw the background process still running: the first did not wait for it.
    expect(result.jobs.background?.steps.next?.outputs).toEqual({ running: 'yes' })
    expect(result.log).toContain('| started')
    const pid = result.jobs.background?.steps.start?.outputs.pid ?? ''
    // Gone, or a zombie waiting for init to reap it.
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : ''
    expect(stat === '' || / Z /.test(stat)).toBe(true)
  })

  it('bounds each step with timeoutMs', async () => {
    // The step waits for input that never comes: only the bound can end it.
    const file = workflow({
      on: 'push',
      jobs: { stuck: job([{ name: 'Wait forever', run: 'tail -f /dev/null' }]) }
    })
    await expect(run({ file, timeoutMs: 500 })).rejects.toThrow(/did not finish within 500 ms/)
  })
})

describe('jobs', () => {
  it('passes job outputs through needs and skips what depends on a failure', async () => {
    const file = workflow({
      on: 'push',
      jobs: {
        build: job([{ id: 'v', run: 'echo "version=1.2.3" >> "$GITHUB_OUTPUT"' }], {
          outputs: { version: '${{ steps.v.outputs.version }}' }
        }),
        test: job(
          [
            {
              id: 'got',
              run: 'echo "got=${{ needs.build.outputs.version }} ${{ needs.build.result }}" >> "$GITHUB_OUTPUT"'
            }
          ],
          { needs: 'build', outputs: { got: '${{ steps.got.outputs.got }}' } }
        ),
        broken: job([{ run: 'exit 1' }], { needs: 'build' }),
        deploy: job([{ run: 'echo never' }], { needs: ['test', 'broken'] }),
        report: job(
          [
            {
              id: 'r',
              run: 'echo "deploy=${{ needs.deploy.result }}" >> "$GITHUB_OUTPUT"'
            }
          ],
          { needs: 'deploy', if: 'always()', outputs: { deploy: '${{ steps.r.outputs.deploy }}' } }
        ),
        // Its only need succeeded, but an ancestor failed: success() is false.
        'after-report': job([{ run: 'echo never' }], { needs: 'report' }),
        notify: job([{ run: 'echo notified' }], { needs: 'broken', if: 'failure()' }),
        'on-success': job([{ run: 'echo ok' }], { needs: 'test', if: 'success()' })
      }
    })
    const result = await run({ file })
    expect(result.result).toBe('failure')
    expect(
      Object.fromEntries(Object.entries(result.jobs).map(([id, record]) => [id, record.result]))
    ).toEqual({
      build: 'success',
      test: 'success',
      broken: 'failure',
      deploy: 'skipped',
      report: 'success',
      'after-report': 'skipped',
      notify: 'success',
      'on-success': 'success'
    })
    expect(result.jobs.test?.outputs).toEqual({ got: '1.2.3 success' })
    expect(result.jobs.report?.outputs).toEqual({ deploy: 'skipped' })
    expect(result.jobs.deploy?.steps).toEqual({})
  })

  it('runs only the jobs asked for and what they need', async () => {
    const file = workflow({
      on: 'push',
      jobs: {
        first: job([{ run: 'echo first' }]),
        second: job([{ run: 'echo second' }], { needs: 'first' }),
        other: job([{ run: 'echo other' }])
      }
    })
    const result = await run({ file, jobs: ['second'] })
    expect(Object.keys(result.jobs)).toEqual(['first', 'second'])
  })

  it('records the environment and rejects a matrix', async () => {
    const file = workflow({
      on: 'push',
      jobs: {
        named: job([{ run: 'true' }], { environment: 'prod-${{ github.ref_name }}' }),
        mapping: job([{ run: 'true' }], { environment: { name: 'staging', url: 'https://x' } }),
        empty: job([{ run: 'true' }], { environment: '${{ vars.NONE }}' })
      }
    })
    const result = await run({ file })
    expect(result.jobs.named?.environment).toBe('prod-main')
    expect(result.jobs.mapping?.environment).toBe('staging')
    expect(result.jobs.empty?.environment).toBeUndefined()

    const matrix = workflow({
      on: 'push',
      jobs: { many: job([{ run: 'true' }], { strategy: { matrix: { n: [1, 2] } } }) }
    })
    await expect(run({ file: matrix })).rejects.toThrow(/jobs\.many\.strategy is not supported/)
  })

  it('rejects a key GitHub does not know, where it stands, before any step runs', async () => {
    const file = write(
      'workflows/unknown-key.yml',
      [
        'on: push',
        'jobs:',
        '  build:',
        '    runs-on: ubuntu-latest',
        '    timeout: 5',
        '    steps:',
        '      - run: "true"',
        ''
      ].join('\n')
    )
    await expect(run({ file })).rejects.toThrow(
      /unknown-key\.yml \(Line: 5, Col: 5\): Unexpected value 'timeout'/
    )
  })

  it('rejects secrets in an if, as GitHub rejects such a workflow', async () => {
    const file = workflow({
      on: 'push',
      jobs: { check: job([{ if: "secrets.TOKEN != ''", run: 'true' }]) }
    })
    await expect(run({ file, secrets: { TOKEN: 't' } })).rejects.toThrow(
      /\(Line: 6, Col: 13\): Unrecognized named-value: 'secrets'/
    )
  })
})

describe('workflow_call', () => {
  const called = () =>
    workflow({
      on: {
        workflow_call: {
          inputs: {
            name: { type: 'string', required: true },
            flag: { type: 'boolean', default: false },
            count: { type: 'number', default: 2 },
            label: { type: 'string' }
          },
          secrets: { API_KEY: { required: true }, OPTIONAL: { required: false } },
          outputs: { inputs: { value: '${{ jobs.show.outputs.inputs }}' } }
        }
      },
      jobs: {
        show: job(
          [
            {
              id: 'show',
              run: "echo 'inputs=${{ toJSON(inputs) }}' | tr -d '\\n ' >> \"$GITHUB_OUTPUT\""
            }
          ],
          {
            outputs: { inputs: '${{ steps.show.outputs.inputs }}' }
          }
        )
      }
    })

  it('types the inputs and applies their defaults', async () => {
    const file = called()
    const given = await runWorkflow({
      file,
      inputs: { name: 'x', flag: 'true', count: '12' },
      secrets: { API_KEY: 'k' }
    })
    expect(JSON.parse(given.outputs.inputs ?? '')).toEqual({
      name: 'x',
      flag: true,
      count: 12,
      label: ''
    })
    const defaults = await runWorkflow({ file, inputs: { name: 'y' }, secrets: { API_KEY: 'k' } })
    expect(JSON.parse(defaults.outputs.inputs ?? '')).toEqual({
      name: 'y',
      flag: false,
      count: 2,
      label: ''
    })
  })

  it.each<[string, Partial<WorkflowOptions>, RegExp]>([
    ['a missing required input', { secrets: { API_KEY: 'k' } }, /input name is required/],
    [
      'an undeclared input',
      { inputs: { name: 'x', nope: '1' }, secrets: { API_KEY: 'k' } },
      /input nope is not declared/
    ],
    [
      'a value of the wrong type',
      { inputs: { name: 'x', flag: 'yes' }, secrets: { API_KEY: 'k' } },
      /input flag is a boolean/
    ],
    [
      'an undeclared secret',
      { inputs: { name: 'x' }, secrets: { API_KEY: 'k', OTHER: 'o' } },
      /secret OTHER is not declared/
    ],
    ['a missing required secret', { inputs: { name: 'x' } }, /secret API_KEY is required/],
    ['an event it does not run on', { event: 'push' }, /does not run on push/]
  ])('rejects %s', async (_, options, error) => {
    await expect(runWorkflow({ file: called(), ...options })).rejects.toThrow(error)
  })

  it('runs a reusable workflow from a job and hands its outputs up', async () => {
    const calledFile = workflow({
      on: {
        workflow_call: {
          inputs: { who: { type: 'string', required: true }, loud: { type: 'boolean' } },
          secrets: { DEPLOY_KEY: { required: true } },
          outputs: { shout: { value: '${{ jobs.speak.outputs.shout }}' } }
        }
      },
      jobs: {
        speak: job(
          [
            {
              id: 'say',
              run: script(
                'echo "key=${{ secrets.DEPLOY_KEY }}"',
                'echo "shout=${{ inputs.loud && \'HELLO\' || \'hello\' }} ${{ inputs.who }} on ${{ github.event_name }} caller-env=${CALLER_ONLY:-unset} from ${{ job.workflow_repository }}@${{ job.workflow_sha }}" >> "$GITHUB_OUTPUT"'
              )
            }
          ],
          { outputs: { shout: '${{ steps.say.outputs.shout }}' } }
        )
      }
    })
    const caller = workflow({
      on: 'push',
      env: { CALLER_ONLY: 'not passed on' },
      jobs: {
        local: {
          uses: './.github/workflows/called.yml',
          with: { who: '${{ github.ref_name }}', loud: "${{ github.event_name == 'push' }}" },
          secrets: 'inherit'
        },
        remote: {
          uses: 'acme/pack/.github/workflows/called.yml@v2',
          with: { who: 'remote' },
          secrets: { DEPLOY_KEY: '${{ secrets.OTHER_KEY }}' }
        },
        use: job(
          [{ id: 'u', run: 'echo "heard=${{ needs.local.outputs.shout }}" >> "$GITHUB_OUTPUT"' }],
          { needs: 'local' }
        )
      }
    })
    const resolveUses = (uses: string, kind: 'step' | 'job') =>
      kind === 'job' && uses.includes('/.github/workflows/called.yml')
        ? { file: calledFile, sha: uses.startsWith('acme/') ? 'cafe01' : undefined }
        : undefined
    const result = await run({
      file: caller,
      resolveUses,
      secrets: { DEPLOY_KEY: 'inherited-key', OTHER_KEY: 'explicit-key' }
    })
    expect(result.result).toBe('success')
    const sha = 'ffac537e6cbbf934b08745a378932722df287a53'
    expect(result.jobs.local?.outputs).toEqual({
      shout: `HELLO main on push caller-env=unset from octo-org/airflow@${sha}`
    })
    expect(result.jobs.remote?.outputs).toEqual({
      shout: 'hello remote on push caller-env=unset from acme/pack@cafe01'
    })
    expect(result.jobs.use?.steps.u?.outputs).toEqual({
      heard: `HELLO main on push caller-env=unset from octo-org/airflow@${sha}`
    })
    expect(result.jobs.local?.workflow?.jobs.speak?.result).toBe('success')
    expect(result.log).toContain('local / speak / Run echo "key=${{ secrets.DEPLOY_KEY }}"')
    expect(result.log).toContain('| key=***')
    expect(result.log).not.toMatch(/inherited-key|explicit-key/)
  })
})

describe('concurrency', () => {
  const calledWith = (group: string) =>
    workflow({
      on: { workflow_call: { inputs: { hosts: { type: 'string', required: true } } } },
      jobs: {
        deploy: job([{ run: 'echo deployed' }], {
          concurrency: { group, 'cancel-in-progress': false }
        })
      }
    })
  const callerOf = (calledFile: string, group: string) => ({
    file: workflow({
      on: 'push',
      concurrency: 'whole-run-${{ github.ref }}',
      jobs: {
        call: {
          concurrency: {
            group,
            'cancel-in-progress': "${{ github.event_name == 'pull_request' }}"
          },
          uses: './.github/workflows/called.yml',
          with: { hosts: 'a.example.com\nb.example.com\n' }
        }
      }
    }),
    resolveUses: (uses: string, kind: 'step' | 'job') =>
      kind === 'job' && uses === './.github/workflows/called.yml' ? { file: calledFile } : undefined
  })

  it('evaluates the groups of the workflow and of each job, a multi-line input on one line', async () => {
    const called = calledWith('pack/deploy/${{ toJSON(inputs.hosts) }}')
    const result = await run(callerOf(called, 'caller-deploy'))
    expect(result.result).toBe('success')
    expect(result.concurrency).toEqual({
      group: 'whole-run-refs/heads/main',
      cancelInProgress: false
    })
    expect(result.jobs.call?.concurrency).toEqual({
      group: 'caller-deploy',
      cancelInProgress: false
    })
    expect(result.jobs.call?.workflow?.jobs.deploy?.concurrency).toEqual({
      group: 'pack/deploy/"a.example.com\\nb.example.com\\n"',
      cancelInProgress: false
    })
  })

  it('cancels a job that waits for a group its caller holds, as GitHub does', async () => {
    const called = calledWith('caller-deploy')
    const result = await run(callerOf(called, 'caller-deploy'))
    expect(result.result).toBe('cancelled')
    const deploy = result.jobs.call?.workflow?.jobs.deploy
    expect(deploy?.result).toBe('cancelled')
    expect(result.jobs.call?.annotations).toEqual([
      {
        command: 'error',
        properties: '',
        message:
          "Canceling since a deadlock was detected for concurrency group: 'caller-deploy' between a top level workflow and 'deploy'"
      }
    ])
    expect(result.log).not.toContain('deployed')
  })

  it('cancels a called workflow whose own group is held by its caller', async () => {
    const called = workflow({
      on: { workflow_call: {} },
      concurrency: 'whole-run-${{ github.ref }}',
      jobs: { deploy: job([{ run: 'echo deployed' }]) }
    })
    const caller = workflow({
      on: 'push',
      concurrency: 'whole-run-${{ github.ref }}',
      jobs: { call: { uses: './.github/workflows/called.yml' } }
    })
    const result = await run({ file: caller, resolveUses: () => ({ file: called }) })
    expect(result.jobs.call?.result).toBe('cancelled')
    expect(result.jobs.call?.annotations[0]?.message).toContain(
      "group: 'whole-run-refs/heads/main' between a top level workflow and 'call'"
    )
  })

  it('rejects a context that a concurrency group cannot read', async () => {
    const file = workflow({
      on: 'push',
      jobs: { deploy: job([{ run: 'true' }], { concurrency: '${{ secrets.TOKEN }}' }) }
    })
    await expect(run({ file })).rejects.toThrow(
      /\(Line: 5, Col: 18\): Unrecognized named-value: 'secrets'/
    )
  })
})

describe('workspaces', () => {
  it('with the checkout option, only a job that checks out sees the checkout', async () => {
    const checkout = join(root, 'checkout-workspace')
    mkdirSync(checkout, { recursive: true })
    writeFileSync(join(checkout, 'repository-file'), 'from the repository\n')
    const list = { id: 'list', run: 'echo "files=$(ls -A | tr \'\\n\' \' \')" >> "$GITHUB_OUTPUT"' }
    const file = workflow({
      on: 'push',
      jobs: {
        build: job([{ uses: 'actions/checkout@v6' }, list]),
        deploy: job(
          [list, { id: 'where', run: 'echo "ws=$GITHUB_WORKSPACE" >> "$GITHUB_OUTPUT"' }],
          {
            needs: 'build'
          }
        )
      }
    })
    const options = {
      file,
      workspace: checkout,
      resolveUses: (uses: string) =>
        uses.startsWith('actions/checkout@') ? { run: () => ({}) } : undefined
    }
    const fresh = await run({
      ...options,
      checkout: (step) => String(step.uses ?? '').startsWith('actions/checkout@')
    })
    expect(fresh.jobs.build?.steps.list?.outputs.files).toBe('repository-file ')
    expect(fresh.jobs.deploy?.steps.list?.outputs.files).toBe('')
    expect(fresh.jobs.deploy?.steps.where?.outputs.ws).not.toBe(checkout)
    const shared = await run(options)
    expect(shared.jobs.deploy?.steps.list?.outputs.files).toBe('repository-file ')
  })

  it('gives stand-ins one artifact folder for the whole run, removed with it', async () => {
    const folders: string[] = []
    const resolveUses = (): StepResolution => ({
      run: ({ artifacts }) => {
        folders.push(artifacts)
        writeFileSync(join(artifacts, `seen-${folders.length}`), 'x')
        return { outputs: { count: readdirSync(artifacts).length } }
      }
    })
    const file = workflow({
      on: 'push',
      jobs: {
        first: job([{ uses: 'acme/store@v1' }]),
        second: job([{ id: 'store', uses: 'acme/store@v1' }], {
          needs: 'first',
          outputs: { count: '${{ steps.store.outputs.count }}' }
        })
      }
    })
    const result = await run({ file, resolveUses })
    expect(result.jobs.second?.outputs.count).toBe('2')
    expect(new Set(folders).size).toBe(1)
    expect(existsSync(folders[0] as string)).toBe(false)
  })
})

describe('uses', () => {
  it('runs a composite action from its folder, with github.action_path', async () => {
    const dir = join(root, 'composite')
    write(
      'composite/action.yml',
      stringify({
        name: 'Greet',
        inputs: { name: { required: true }, greeting: { default: 'hi' } },
        outputs: {
          message: { value: '${{ steps.say.outputs.message }}' },
          where: { value: '${{ steps.where.outputs.dir }}' }
        },
        runs: {
          using: 'composite',
          steps: [
            {
              id: 'say',
              shell: 'bash',
              run: 'echo "message=${{ inputs.greeting }}, ${{ inputs.name }}" >> "$GITHUB_OUTPUT"'
            },
            {
              id: 'where',
              shell: 'bash',
              run: script(
                'echo "dir=${{ github.action_path }}" >> "$GITHUB_OUTPUT"',
                'test "$GITHUB_ACTION_PATH" = "${{ github.action_path }}"',
                'sh "$GITHUB_ACTION_PATH/helper.sh"',
                'echo "FROM_COMPOSITE=yes" >> "$GITHUB_ENV"'
              )
            },
            { name: 'Never', if: "inputs.name == 'nobody'", shell: 'bash', run: 'exit 1' }
          ]
        }
      })
    )
    write('composite/helper.sh', 'echo helper ran\n')
    const file = workflow({
      on: 'push',
      jobs: {
        greet: job([
          { id: 'greet', uses: './composite', with: { name: 'World' } },
          {
            id: 'after',
            run: 'echo "got=${{ steps.greet.outputs.message }} env=$FROM_COMPOSITE" >> "$GITHUB_OUTPUT"'
          }
        ])
      }
    })
    const resolveUses = (uses: string) => (uses === './composite' ? { composite: dir } : undefined)
    const result = await run({ file, resolveUses })
    const steps = result.jobs.greet?.steps
    expect(steps?.greet?.outputs).toEqual({ message: 'hi, World', where: dir })
    expect(steps?.after?.outputs).toEqual({ got: 'hi, World env=yes' })
    expect(result.log).toMatch(/Run \.\/composite \/ Run echo "dir=.*\| helper ran/)
    expect(result.log).toContain('Run ./composite / Never | Skipped')
  })

  it('fails a composite action whose step fails, and needs shell on its run steps', async () => {
    write(
      'failing-composite/action.yml',
      stringify({
        name: 'Fail',
        runs: {
          using: 'composite',
          steps: [
            { shell: 'bash', run: 'exit 4' },
            { id: 'cleanup', if: 'always()', shell: 'bash', run: 'echo cleaned' }
          ]
        }
      })
    )
    write(
      'shell-less/action.yml',
      stringify({ name: 'No shell', runs: { using: 'composite', steps: [{ run: 'true' }] } })
    )
    const resolveUses = (uses: string) => ({ composite: join(root, uses) })
    const failing = workflow({
      on: 'push',
      jobs: { use: job([{ id: 'c', uses: 'failing-composite' }]) }
    })
    const result = await run({ file: failing, resolveUses })
    expect(result.jobs.use?.steps.c?.outcome).toBe('failure')
    expect(result.jobs.use?.result).toBe('failure')
    expect(result.log).toContain('Run failing-composite / Run echo cleaned | cleaned')

    const shellLess = workflow({ on: 'push', jobs: { use: job([{ uses: 'shell-less' }]) } })
    await expect(run({ file: shellLess, resolveUses })).rejects.toThrow(/needs shell/)
  })

  it('runs a bundled action through runAction, inputs from action.yml defaults', async () => {
    const actionDir = join(root, 'fake-action')
    write(
      'fake-action/action.yml',
      stringify({
        name: 'Fake',
        inputs: { greeting: { required: true }, punctuation: { default: '!' } },
        outputs: { message: { description: 'greeting' } },
        runs: { using: 'node20', main: 'index.mjs' }
      })
    )
    write(
      'fake-action/index.mjs',
      script(
        "import { appendFileSync } from 'node:fs'",
        'const message = process.env.INPUT_GREETING + process.env.INPUT_PUNCTUATION',
        'appendFileSync(process.env.GITHUB_OUTPUT, `message=${message}\\n`)',
        'appendFileSync(process.env.GITHUB_ENV, `FROM_ACTION=${process.env.STEP_VAR}\\n`)',
        "appendFileSync(process.env.GITHUB_STEP_SUMMARY, '## fake summary\\n')",
        "console.log('::warning file=dags/a.py::from the fake action')",
        "if (process.env.INPUT_GREETING === 'fail') process.exitCode = 1"
      )
    )
    const file = workflow({
      on: 'push',
      jobs: {
        act: job([
          {
            id: 'fake',
            uses: './fake-action',
            with: { greeting: 'hello' },
            env: { STEP_VAR: 'from-step' }
          },
          {
            id: 'after',
            run: 'echo "got=${{ steps.fake.outputs.message }} $FROM_ACTION" >> "$GITHUB_OUTPUT"'
          },
          {
            id: 'failing',
            uses: './fake-action',
            with: { greeting: 'fail' },
            'continue-on-error': true
          }
        ])
      }
    })
    const resolveUses = (): StepResolution => ({ action: 'fake', actionDir })
    const result = await run({ file, resolveUses, node: process.execPath })
    const steps = result.jobs.act?.steps
    expect(steps?.fake).toEqual({
      outcome: 'success',
      conclusion: 'success',
      outputs: { message: 'hello!' }
    })
    expect(steps?.after?.outputs).toEqual({ got: 'hello! from-step' })
    expect(steps?.failing).toMatchObject({ outcome: 'failure', conclusion: 'success' })
    expect(result.summary).toBe('## fake summary\n## fake summary\n')
    expect(result.jobs.act?.annotations[0]).toEqual({
      command: 'warning',
      properties: 'file=dags/a.py',
      message: 'from the fake action'
    })

    const typo = workflow({
      on: 'push',
      jobs: { act: job([{ uses: './fake-action', with: { greting: 'x' } }]) }
    })
    await expect(run({ file: typo, resolveUses })).rejects.toThrow(/inputs not declared.*greting/)
  })

  it('runs a JavaScript stand-in for a third-party action', async () => {
    const seen: { workspace?: string; repository?: unknown }[] = []
    const resolveUses = (uses: string): StepResolution | undefined =>
      uses.startsWith('aws-actions/configure-aws-credentials@')
        ? {
            run: ({ with: inputs, env, context }) => {
              seen.push({
                workspace: env.GITHUB_WORKSPACE,
                repository: (context.github as { repository: string }).repository
              })
              if (!inputs['aws-region'])
                throw new Error('Input required and not supplied: aws-region')
              return {
                env: { AWS_REGION: inputs['aws-region'] },
                outputs: { 'aws-account-id': '123456789012' },
                log: `assumed ${inputs['role-to-assume']}`
              }
            }
          }
        : undefined
    const file = workflow({
      on: 'push',
      jobs: {
        aws: job([
          {
            id: 'creds',
            uses: 'aws-actions/configure-aws-credentials@v5',
            with: { 'aws-region': 'eu-west-1', 'role-to-assume': 'arn:aws:iam::1:role/r' }
          },
          {
            id: 'after',
            run: 'echo "region=$AWS_REGION account=${{ steps.creds.outputs.aws-account-id }}" >> "$GITHUB_OUTPUT"'
          },
          {
            id: 'broken',
            uses: 'aws-actions/configure-aws-credentials@v5',
            'continue-on-error': true
          }
        ])
      }
    })
    const workspace = join(root, 'stand-in-workspace')
    const result = await run({ file, resolveUses, workspace })
    const steps = result.jobs.aws?.steps
    expect(steps?.after?.outputs).toEqual({ region: 'eu-west-1 account=123456789012' })
    expect(steps?.broken?.outcome).toBe('failure')
    expect(result.jobs.aws?.annotations).toEqual([
      { command: 'error', properties: '', message: 'Input required and not supplied: aws-region' }
    ])
    expect(result.log).toContain('| assumed arn:aws:iam::1:role/r')
    expect(seen[0]).toEqual({ workspace, repository: 'octo-org/airflow' })
  })

  it('names the step when resolveUses does not know its uses', async () => {
    const file = workflow({
      on: 'push',
      jobs: { unknown: job([{ name: 'Configure', uses: 'acme/unknown@v1' }]) }
    })
    await expect(run({ file, resolveUses: () => undefined })).rejects.toThrow(
      /jobs\.unknown\.steps\[0\] \(Configure\): resolveUses does not know uses: acme\/unknown@v1/
    )
  })

  it('treats provisioning steps given by skipStep as done', async () => {
    const file = workflow({
      on: 'push',
      jobs: { setup: job([{ id: 'checkout', uses: 'actions/checkout@v4' }, { run: 'echo built' }]) }
    })
    const result = await run({
      file,
      skipStep: (step) => String(step.uses).startsWith('actions/checkout@')
    })
    expect(result.jobs.setup?.steps.checkout?.outcome).toBe('success')
    expect(result.log).toContain('setup / Run echo built | built')
  })
})

describe('workflow_dispatch', () => {
  it('types the inputs and puts them in github.event.inputs as strings', async () => {
    const file = workflow({
      on: {
        workflow_dispatch: {
          inputs: {
            'dry-run': { type: 'boolean', default: false },
            target: { type: 'choice', options: ['a', 'b'], default: 'a' }
          }
        }
      },
      jobs: {
        show: job([
          {
            id: 'show',
            run: 'echo \'typed=${{ toJSON(inputs.dry-run) }} event=${{ toJSON(github.event.inputs.dry-run) }} target=${{ inputs.target }}\' >> "$GITHUB_OUTPUT"'
          }
        ])
      }
    })
    const result = await run({
      file,
      event: 'workflow_dispatch',
      inputs: { 'dry-run': true, target: 'b' }
    })
    expect(result.jobs.show?.steps.show?.outputs).toEqual({
      typed: 'true event="true" target=b'
    })
    await expect(
      run({ file, event: 'workflow_dispatch', inputs: { target: 'c' } })
    ).rejects.toThrow(/input target is a choice/)
  })
})

describe('masking', () => {
  it('masks secrets and ::add-mask:: values in logs, annotations and job outputs', async () => {
    const file = workflow({
      on: 'push',
      jobs: {
        leak: job(
          [
            {
              run: script(
                'echo "pw=${{ secrets.PASSWORD }}"',
                'echo "::add-mask::runtime-token-123"',
                'echo "token runtime-token-123"',
                'echo "::error file=a.py,line=3::bad hunter2-secret"'
              )
            }
          ],
          {
            outputs: { leak: 'x${{ secrets.PASSWORD }}', plain: 'ok' }
          }
        )
      }
    })
    const result = await run({ file, secrets: { PASSWORD: 'hunter2-secret' } })
    expect(result.log).toContain('| pw=***')
    expect(result.log).toContain('| token ***')
    expect(result.log).not.toMatch(/hunter2-secret|runtime-token-123/)
    expect(result.jobs.leak?.annotations).toEqual([
      { command: 'error', properties: 'file=a.py,line=3', message: 'bad ***' }
    ])
    // The runner drops an output that carries a secret rather than pass it on.
    expect(result.jobs.leak?.outputs).toEqual({ plain: 'ok' })
    expect(result.log).toContain("Skip output 'leak' since it may contain secret")
  })
})
