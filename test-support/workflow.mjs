// A local model of how GitHub Actions runs a workflow file, so tests can run our reusable workflows
// and the example callers end to end against moto_server and sshd. What GitHub publishes, it
// uses: each workflow is first loaded by GitHub's workflow parser (workflow-validation.mjs), and
// every expression is evaluated by GitHub's @actions/expressions. The rest is the runner's own
// behaviour, which no published library covers, written here after actions/runner and GitHub's
// documented rules: jobs in `needs` order with job-level status functions over the ancestor jobs,
// steps with `if` and `continue-on-error`, the file commands, workflow_call inputs and secrets,
// reusable workflow jobs, composite actions and concurrency groups. Where it deviates it says so,
// in the comments and in workflow.d.mts; anything it cannot model (a matrix, containers) is an
// error, never ignored.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { Evaluator, Lexer, Parser, data } from '@actions/expressions'
import { TokenType } from '@actions/expressions/lexer'
import { falsy } from '@actions/expressions/result'
import { parse as parseYaml } from 'yaml'
import { defuse } from './output-guard.mjs'
import { workflowProblems } from './workflow-validation.mjs'
import {
  createFileCommandFiles,
  parseFileCommands,
  parseWorkflowCommands,
  runAction
} from './runner.mjs'

// ---------------------------------------------------------------------------------------------
// Expressions: GitHub's own lexer, parser and evaluator (@actions/expressions, the one behind its
// Actions language service), so loose comparisons, coercions, filters and functions are GitHub's.
// ---------------------------------------------------------------------------------------------

const STATUS_FUNCTIONS = ['success', 'failure', 'cancelled', 'always']

/**
 * The functions the runner supplies: @actions/expressions only knows the ones that need nothing
 * but their arguments. The status functions read the job's state; hashFiles would read the
 * workspace, which no workflow here asks for, so it fails loudly rather than hash nothing.
 */
function runnerFunctions(status) {
  const known = (name, minArgs, maxArgs, call) => ({ name, minArgs, maxArgs, call })
  const statusFunction = (name, check) => known(name, 0, 0, () => new data.BooleanData(check()))
  const functions = [
    known('hashFiles', 1, 255, () => {
      throw new Error('hashFiles() is not supported by the local workflow model')
    })
  ]
  if (status) {
    functions.push(
      statusFunction('success', status.success),
      statusFunction('failure', status.failure),
      statusFunction('cancelled', status.cancelled),
      statusFunction('always', () => true)
    )
  }
  return functions
}

/** A JavaScript value as the library's data: objects become its case-insensitive dictionaries. */
function toData(value) {
  if (value === null || value === undefined) return new data.Null()
  if (typeof value === 'boolean') return new data.BooleanData(value)
  if (typeof value === 'number') return new data.NumberData(value)
  if (typeof value === 'string') return new data.StringData(value)
  if (Array.isArray(value)) return new data.Array(...value.map(toData))
  return new data.Dictionary(
    ...Object.entries(value).map(([key, item]) => ({ key, value: toData(item) }))
  )
}

function fromData(value) {
  switch (value.kind) {
    case data.Kind.Null:
      return null
    case data.Kind.Array:
      return value.values().map(fromData)
    case data.Kind.Dictionary:
      return Object.fromEntries(value.pairs().map((pair) => [pair.key, fromData(pair.value)]))
    default:
      return value.value
  }
}

/** How a value reads when interpolated or formatted: null is '', objects 'Object', arrays 'Array'. */
export const toExpressionString = (value) => toData(value).coerceString()

const truthy = (value) => !falsy(toData(value))

function lex(source) {
  const { tokens } = new Lexer(source).lex()
  for (const token of tokens) {
    // The library's lexer unescapes only the first '' of a string literal (String.replace with a
    // string pattern); the runner unescapes every one.
    if (token.type === TokenType.STRING) {
      token.value = token.lexeme.slice(1, -1).replaceAll("''", "'")
    }
  }
  return tokens
}

/**
 * Parses one expression. Unknown contexts and functions are errors here, before anything runs, as
 * GitHub rejects such a workflow when it loads it: `contexts` are the ones available where the
 * expression stands. The runner adds `success() &&` to a condition without a status function;
 * `usesStatus` says whether it has one.
 */
function parseExpression(source, contexts, status) {
  const tokens = lex(source)
  const functions = runnerFunctions(status)
  const tree = new Parser(tokens, Object.keys(contexts), functions).parse()
  if (tree === undefined) throw new Error('An expression was expected')
  const usesStatus = tokens.some(
    (token, index) =>
      token.type === TokenType.IDENTIFIER &&
      tokens[index + 1]?.type === TokenType.LEFT_PAREN &&
      STATUS_FUNCTIONS.includes(token.lexeme.toLowerCase())
  )
  const byName = new Map(functions.map((f) => [f.name.toLowerCase(), f]))
  return {
    usesStatus,
    evaluate: () => new Evaluator(tree, toData(contexts), byName).evaluate()
  }
}

/**
 * Evaluates one expression (without `${{ }}`). `status` supplies success(), failure() and
 * cancelled(); without it those functions are unknown, as outside `if:`.
 */
export function evaluateExpression(expression, contexts, status) {
  return fromData(parseExpression(expression, contexts, status).evaluate())
}

/**
 * Splits a string into literal text and the `${{ }}` expressions in it. The library evaluates one
 * expression; the workflow parser splits `${{ }}` only inside its own token tree, not in the plain
 * strings the model evaluates (composite action files, stand-ins' inputs, the tests' templates).
 */
function splitTemplate(text) {
  const parts = []
  let i = 0
  while (i < text.length) {
    const start = text.indexOf('${{', i)
    if (start < 0) {
      parts.push({ text: text.slice(i) })
      break
    }
    if (start > i) parts.push({ text: text.slice(i, start) })
    // The closing }} may not be inside a string literal: format('{{0}}') is one expression.
    let end = start + 3
    let inString = false
    while (end < text.length && (inString || !text.startsWith('}}', end))) {
      if (text[end] === "'") inString = !inString
      end++
    }
    if (end >= text.length) throw new Error(`\${{ without a closing }} in: ${text}`)
    parts.push({ expression: text.slice(start + 3, end).trim() })
    i = end + 2
  }
  return parts
}

/** Substitutes every `${{ }}` in a string, each result converted to text. */
export function interpolate(template, contexts) {
  return splitTemplate(template)
    .map((part) =>
      part.expression === undefined
        ? part.text
        : toExpressionString(evaluateExpression(part.expression, contexts))
    )
    .join('')
}

/** A value that is one whole `${{ }}` keeps its type (a boolean input stays a boolean). */
function evaluateValue(value, contexts) {
  if (typeof value !== 'string') return value
  const parts = splitTemplate(value)
  if (parts.length === 1 && parts[0].expression !== undefined) {
    return evaluateExpression(parts[0].expression, contexts)
  }
  return interpolate(value, contexts)
}

/** Adds where in the workflow an expression stands to its error: GitHub's messages do too. */
function at(where, evaluate) {
  try {
    return evaluate()
  } catch (error) {
    throw new Error(`${where}: ${error.message}`, { cause: error })
  }
}

const evaluateString = (value, contexts, where) =>
  at(where, () => toExpressionString(evaluateValue(value, contexts)))

function evaluateMap(map, contexts, where) {
  const result = {}
  for (const [name, value] of Object.entries(map ?? {})) {
    result[name] = evaluateString(value, contexts, `${where}.${name}`)
  }
  return result
}

/**
 * A job or step `if:`. Bare or wrapped in `${{ }}`; without a status function it means
 * `success() && (condition)`. Text mixing literals and `${{ }}` is a non-empty string, so true:
 * a known GitHub pitfall, kept.
 */
function evaluateCondition(condition, contexts, status, where) {
  return at(where, () => {
    const text = condition === undefined || condition === null ? '' : String(condition).trim()
    const parts = splitTemplate(text === '' ? 'success()' : text)
    if (parts.length === 1) {
      const source = parts[0].expression ?? parts[0].text
      const parsed = parseExpression(source, contexts, status)
      if (!parsed.usesStatus && !status.success()) return false
      return !falsy(parsed.evaluate())
    }
    const parsed = parts.flatMap((part) =>
      part.expression === undefined ? [] : [parseExpression(part.expression, contexts, status)]
    )
    if (!parsed.some((expression) => expression.usesStatus) && !status.success()) return false
    const interpolated = parts
      .map((part) =>
        part.expression === undefined
          ? part.text
          : toExpressionString(evaluateExpression(part.expression, contexts, status))
      )
      .join('')
    return interpolated !== ''
  })
}

// ---------------------------------------------------------------------------------------------
// Workflows. Written by hand: what follows is the runner's and the Actions service's run-time
// behaviour (contexts, inputs and secrets of a call, concurrency, the job graph, steps, processes,
// file commands). GitHub publishes parsers and evaluators for the language, not its runtime.
// ---------------------------------------------------------------------------------------------

const asList = (value) => (value === undefined || value === null ? [] : [value].flat())

const prefixLines = (text, prefix) =>
  text
    .split('\n')
    .map((line) => (line === '' ? line : prefix + line))
    .join('\n')

const mask = (text, masks) =>
  [...masks]
    .filter((value) => value !== '')
    .sort((a, b) => b.length - a.length)
    .reduce((masked, value) => masked.split(value).join('***'), text)

/** The workflow as GitHub loads it: a key or expression its parser rejects is an error here. */
async function loadWorkflow(file) {
  const text = readFileSync(file, 'utf8')
  const problems = await workflowProblems(file, text)
  if (problems.length > 0) {
    throw new Error(`GitHub's workflow parser rejects the workflow:\n${problems.join('\n')}`)
  }
  // The model runs the plain document; the parser's template tokens only validate it.
  return parseYaml(text)
}

/** `on: push`, `on: [push, pull_request]` and the mapping form, as a mapping. */
function triggersOf(workflow) {
  const on = workflow.on
  if (typeof on === 'string') return { [on]: {} }
  if (Array.isArray(on)) return Object.fromEntries(on.map((name) => [name, {}]))
  return Object.fromEntries(Object.entries(on ?? {}).map(([name, spec]) => [name, spec ?? {}]))
}

function githubContext(options, event, workspace, workflow, file) {
  const overrides = { ...options.github }
  // Not a github context property: it only seeds job.workflow_repository.
  delete overrides.workflow_repository
  const repository = overrides.repository ?? 'octo-org/airflow'
  const ref = overrides.ref ?? 'refs/heads/main'
  const sha = overrides.sha ?? 'ffac537e6cbbf934b08745a378932722df287a53'
  const owner = repository.split('/')[0]
  const workflowPath = `.github/workflows/${basename(file)}`
  return {
    repository,
    repository_owner: owner,
    repositoryUrl: `git://github.com/${repository}.git`,
    ref,
    ref_name: ref.replace(/^refs\/(heads|tags)\//, ''),
    ref_type: ref.startsWith('refs/tags/') ? 'tag' : 'branch',
    sha,
    head_ref: '',
    base_ref: '',
    run_id: '4242',
    run_number: '17',
    run_attempt: '1',
    retention_days: '90',
    actor: 'octocat',
    triggering_actor: 'octocat',
    event_name: event,
    event: {
      ref,
      repository: {
        full_name: repository,
        name: repository.split('/')[1],
        owner: { login: owner }
      },
      ...(event === 'workflow_dispatch' ? { inputs: dispatchEventInputs(options.inputs) } : {})
    },
    workflow: workflow.name ?? workflowPath,
    workflow_ref: `${repository}/${workflowPath}@${ref}`,
    workflow_sha: sha,
    server_url: 'https://github.com',
    api_url: 'https://api.github.com',
    graphql_url: 'https://api.github.com/graphql',
    token: 'ghs_workflow_model_token',
    job: '',
    action: '',
    action_path: '',
    ...overrides,
    workspace
  }
}

/** github.event.inputs holds the dispatch inputs as the strings the form sent. */
const dispatchEventInputs = (inputs) =>
  Object.fromEntries(Object.entries(inputs ?? {}).map(([k, v]) => [k, toExpressionString(v)]))

/** The runtime variables every step gets, from the github and runner contexts. */
function runnerVariables(github, runnerContext, eventPath) {
  return {
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: github.workspace,
    GITHUB_EVENT_NAME: github.event_name,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: github.repository,
    GITHUB_REPOSITORY_OWNER: github.repository_owner,
    GITHUB_SHA: github.sha,
    GITHUB_REF: github.ref,
    GITHUB_REF_NAME: github.ref_name,
    GITHUB_REF_TYPE: github.ref_type,
    GITHUB_HEAD_REF: github.head_ref,
    GITHUB_BASE_REF: github.base_ref,
    GITHUB_RUN_ID: github.run_id,
    GITHUB_RUN_NUMBER: github.run_number,
    GITHUB_RUN_ATTEMPT: github.run_attempt,
    GITHUB_RETENTION_DAYS: github.retention_days,
    GITHUB_ACTOR: github.actor,
    GITHUB_TRIGGERING_ACTOR: github.triggering_actor,
    GITHUB_WORKFLOW: github.workflow,
    GITHUB_WORKFLOW_REF: github.workflow_ref,
    GITHUB_WORKFLOW_SHA: github.workflow_sha,
    GITHUB_JOB: github.job,
    GITHUB_SERVER_URL: github.server_url,
    GITHUB_API_URL: github.api_url,
    GITHUB_GRAPHQL_URL: github.graphql_url,
    RUNNER_OS: runnerContext.os,
    RUNNER_ARCH: runnerContext.arch,
    RUNNER_NAME: runnerContext.name,
    RUNNER_ENVIRONMENT: runnerContext.environment,
    RUNNER_TEMP: runnerContext.temp,
    RUNNER_TOOL_CACHE: runnerContext.tool_cache
  }
}

function typedInput(value, spec, name, where) {
  const type = spec?.type ?? 'string'
  const invalid = () =>
    new Error(`${where}: input ${name} is a ${type}, got ${JSON.stringify(value)}`)
  switch (type) {
    case 'boolean':
      if (value === undefined) return false
      if (typeof value === 'boolean') return value
      if (value === 'true' || value === 'false') return value === 'true'
      throw invalid()
    case 'number': {
      if (value === undefined) return 0
      const number = typeof value === 'number' ? value : toData(String(value)).number()
      if (typeof value === 'boolean' || Number.isNaN(number)) throw invalid()
      return number
    }
    case 'string':
    case 'choice':
    case 'environment': {
      if (value === undefined) return ''
      if (!toData(value).primitive) throw invalid()
      const text = toExpressionString(value)
      if (type === 'choice' && !asList(spec.options).map(String).includes(text)) throw invalid()
      return text
    }
    default:
      throw new Error(`${where}: input ${name} has unknown type ${type}`)
  }
}

/**
 * The inputs context of a called or dispatched workflow: declared, typed, defaults applied. By
 * hand: the parser checks the declarations and a caller's `with:` keys, but the typing of the
 * values given at run time is the Actions service's.
 */
function typedInputs(declared, given, contexts, where) {
  for (const name of Object.keys(given)) {
    if (!(name in declared)) throw new Error(`${where}: input ${name} is not declared`)
  }
  const inputs = {}
  for (const [name, spec] of Object.entries(declared)) {
    let value = given[name]
    if (value === undefined && spec?.default !== undefined) {
      value = at(`${where}.${name}.default`, () => evaluateValue(spec.default, contexts))
    } else if (value === undefined && spec?.required) {
      throw new Error(`${where}: input ${name} is required but not provided`)
    }
    inputs[name] = typedInput(value, spec, name, where)
  }
  return inputs
}

function calledSecrets(declared, call, where) {
  if (!call.inherit) {
    for (const name of Object.keys(call.secrets)) {
      if (!(name in declared)) throw new Error(`${where}: secret ${name} is not declared`)
    }
  }
  for (const [name, spec] of Object.entries(declared)) {
    if (spec?.required && !(name in call.secrets)) {
      throw new Error(`${where}: secret ${name} is required but not provided`)
    }
  }
  return { ...call.secrets }
}

/**
 * A workflow's or job's `concurrency:` (a group name, or group and cancel-in-progress), evaluated
 * with the contexts GitHub allows there; undefined when there is none. By hand: groups are held
 * and waited for by the Actions service, which publishes no model of them.
 */
function concurrencyOf(value, contexts, where) {
  if (value === undefined || value === null) return undefined
  const spec = typeof value === 'object' ? value : { group: value }
  if (spec.group === undefined) throw new Error(`${where}: group is required`)
  const group = evaluateString(spec.group, contexts, `${where}.group`)
  if (group === '') throw new Error(`${where}.group is empty`)
  const cancel = at(`${where}.cancel-in-progress`, () =>
    evaluateValue(spec['cancel-in-progress'] ?? false, contexts)
  )
  return { group, cancelInProgress: cancel === 'true' || (cancel !== 'false' && truthy(cancel)) }
}

/** GitHub's message when a job or called workflow waits for a group held around it. */
const deadlock = (group, holder, waiter) =>
  `Canceling since a deadlock was detected for concurrency group: '${group}' between ${holder} and '${waiter}'`

/**
 * The jobs to run, each after its needs. By hand: the parser checks the graph (unknown needs,
 * cycles) but scheduling it is the Actions service's; this runs one job at a time.
 */
function jobOrder(jobs, wanted, where) {
  const ids = Object.keys(jobs)
  const selected = new Set()
  const select = (id) => {
    if (!(id in jobs)) throw new Error(`${where}: no job ${id}`)
    if (selected.has(id)) return
    selected.add(id)
    for (const need of asList(jobs[id].needs)) select(need)
  }
  for (const id of wanted ?? ids) select(id)
  const order = []
  while (order.length < selected.size) {
    const next = ids.find(
      (id) =>
        selected.has(id) &&
        !order.includes(id) &&
        asList(jobs[id].needs).every((need) => order.includes(need))
    )
    if (next === undefined) throw new Error(`${where}: the jobs' needs form a cycle`)
    order.push(next)
  }
  return order
}

function ancestorsOf(jobs, id) {
  const found = new Set()
  const visit = (job) => {
    for (const need of asList(jobs[job].needs)) {
      if (!found.has(need)) {
        found.add(need)
        visit(need)
      }
    }
  }
  visit(id)
  return [...found]
}

/**
 * Runs a workflow file's jobs and returns what GitHub would show of them. See workflow.d.mts for
 * the options.
 */
export async function runWorkflow(options) {
  const home = mkdtempSync(join(tmpdir(), 'workflow-'))
  try {
    const file = resolve(options.file)
    const workflow = await loadWorkflow(file)
    const event = options.event ?? 'workflow_call'
    const workspace = options.workspace ?? options.github?.workspace ?? join(home, 'workspace')
    mkdirSync(workspace, { recursive: true })
    const github = githubContext(options, event, workspace, workflow, file)
    const eventPath = join(home, 'event.json')
    writeFileSync(eventPath, JSON.stringify(github.event))
    const run = {
      options,
      home,
      eventPath,
      github,
      vars: options.vars ?? {},
      baseEnv: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? home,
        LANG: 'C.UTF-8',
        ...options.env
      },
      timeoutMs: options.timeoutMs ?? 120_000,
      jobCount: 0,
      // The run's artifact storage, shared by its jobs and the workflows it calls, as on GitHub.
      artifacts: join(home, 'artifacts'),
      // Concurrency groups held by the workflows and jobs around the one running now.
      heldGroups: []
    }
    mkdirSync(run.artifacts)
    const call =
      event === 'workflow_call'
        ? { inputs: options.inputs ?? {}, secrets: options.secrets ?? {}, inherit: false }
        : undefined
    return await runWorkflowFile(run, {
      file,
      workflow,
      call,
      jobs: options.jobs,
      identity: {
        repository: options.github?.workflow_repository ?? github.repository,
        sha: options.github?.workflow_sha ?? github.sha
      },
      depth: 0
    })
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}

async function runWorkflowFile(run, spec) {
  const { file, workflow, call } = spec
  const { github, vars, options } = run
  const triggers = triggersOf(workflow)
  const trigger = call ? 'workflow_call' : github.event_name
  if (!(trigger in triggers)) throw new Error(`${file} does not run on ${trigger}`)

  let inputs = {}
  let secrets
  const defaultContexts = { github, inputs: {}, vars }
  if (call) {
    const declared = triggers.workflow_call
    inputs = typedInputs(declared.inputs ?? {}, call.inputs, defaultContexts, `${file}: inputs`)
    secrets = calledSecrets(declared.secrets ?? {}, call, `${file}: secrets`)
  } else {
    if (trigger === 'workflow_dispatch') {
      const declared = triggers.workflow_dispatch.inputs ?? {}
      inputs = typedInputs(declared, options.inputs ?? {}, defaultContexts, `${file}: inputs`)
    } else if (Object.keys(options.inputs ?? {}).length > 0) {
      throw new Error(`${file}: a ${trigger} run has no inputs`)
    }
    secrets = { ...options.secrets }
  }
  // Every workflow gets the job token as secrets.GITHUB_TOKEN, called ones too.
  secrets.GITHUB_TOKEN ??= github.token

  const concurrency = concurrencyOf(
    workflow.concurrency,
    { github, inputs, vars },
    `${file}: concurrency`
  )
  if (concurrency && run.heldGroups.includes(concurrency.group)) {
    const message = deadlock(concurrency.group, 'a top level workflow', spec.callerJob ?? file)
    return {
      result: 'cancelled',
      outputs: {},
      jobs: {},
      concurrency,
      annotations: [{ command: 'error', properties: '', message }],
      summary: '',
      log: `${message}\n`
    }
  }
  if (concurrency) run.heldGroups.push(concurrency.group)
  try {
    return await runWorkflowJobs(run, spec, { triggers, inputs, secrets, concurrency })
  } finally {
    if (concurrency) run.heldGroups.pop()
  }
}

async function runWorkflowJobs(run, spec, { triggers, inputs, secrets, concurrency }) {
  const { file, workflow, call } = spec
  const { github, vars } = run

  const wf = {
    file,
    workflow,
    github,
    inputs,
    secrets,
    identity: spec.identity,
    depth: spec.depth,
    env: evaluateMap(workflow.env, { github, secrets, inputs, vars }, `${file}: env`),
    defaults: workflow.defaults?.run ?? {},
    results: {}
  }
  for (const id of jobOrder(workflow.jobs, spec.jobs, file)) {
    wf.results[id] = await runJob(run, wf, id)
  }

  const outputs = {}
  if (call) {
    const jobsContext = Object.fromEntries(
      Object.entries(wf.results).map(([id, job]) => [
        id,
        { result: job.result, outputs: job.outputs }
      ])
    )
    const contexts = { github, jobs: jobsContext, vars, inputs }
    for (const [name, output] of Object.entries(triggers.workflow_call.outputs ?? {})) {
      outputs[name] = evaluateString(output?.value ?? '', contexts, `${file}: outputs.${name}`)
    }
  }
  const results = Object.values(wf.results).map((job) => job.result)
  return {
    result: results.includes('failure')
      ? 'failure'
      : results.includes('cancelled')
        ? 'cancelled'
        : 'success',
    outputs,
    jobs: wf.results,
    concurrency,
    annotations: [],
    summary: Object.values(wf.results)
      .map((job) => job.summary)
      .join(''),
    log: Object.entries(wf.results)
      .map(([id, job]) => prefixLines(job.log, `${id} / `))
      .join('')
  }
}

async function runJob(run, wf, id) {
  const job = wf.workflow.jobs[id]
  const where = `${wf.file}: jobs.${id}`
  for (const key of ['strategy', 'container', 'services', 'continue-on-error']) {
    if (job[key] !== undefined) {
      throw new Error(`${where}.${key} is not supported by the local workflow model`)
    }
  }
  const record = {
    result: 'skipped',
    outputs: {},
    environment: undefined,
    steps: {},
    log: '',
    annotations: [],
    summary: ''
  }
  const needs = Object.fromEntries(
    asList(job.needs).map((need) => [
      need,
      { result: wf.results[need].result, outputs: wf.results[need].outputs }
    ])
  )
  // Job-level status functions look at every ancestor job, not only the direct needs.
  const ancestors = ancestorsOf(wf.workflow.jobs, id).map((ancestor) => wf.results[ancestor].result)
  const status = {
    success: () => ancestors.every((result) => result === 'success'),
    failure: () => ancestors.includes('failure'),
    cancelled: () => false
  }
  const github = { ...wf.github, job: id }
  const jobContexts = { github, needs, vars: run.vars, inputs: wf.inputs }
  if (!evaluateCondition(job.if, jobContexts, status, `${where}.if`)) {
    record.log = `Skipped: if: ${job.if ?? 'success()'}\n`
    return record
  }
  const planContexts = { ...jobContexts, strategy: {}, matrix: {} }
  const concurrency = concurrencyOf(job.concurrency, planContexts, `${where}.concurrency`)
  if (concurrency) {
    record.concurrency = concurrency
    // A job waiting for a group that a workflow or job around it holds would wait forever:
    // GitHub cancels it instead.
    if (run.heldGroups.includes(concurrency.group)) {
      const message = deadlock(concurrency.group, 'a top level workflow', id)
      record.result = 'cancelled'
      record.annotations.push({ command: 'error', properties: '', message })
      record.log = `${message}\n`
      return record
    }
    run.heldGroups.push(concurrency.group)
  }
  try {
    return await runJobSteps(run, wf, { id, job, where, record, needs, github, planContexts })
  } finally {
    if (concurrency) run.heldGroups.pop()
  }
}

async function runJobSteps(
  run,
  wf,
  { id, job, where, record, needs, github: jobGithub, planContexts }
) {
  if (job.environment !== undefined && job.environment !== null) {
    const name = typeof job.environment === 'object' ? job.environment.name : job.environment
    const evaluated = evaluateString(name, planContexts, `${where}.environment`)
    // An empty name, as `environment: ${{ inputs.environment }}` can give, is no environment.
    record.environment = evaluated === '' ? undefined : evaluated
  }
  if (job.uses !== undefined) {
    await runCalledWorkflow(run, wf, job, planContexts, record, where, id)
    return record
  }

  const jobHome = join(run.home, `job-${++run.jobCount}`)
  // With options.checkout, only a job that checks out works in the checkout; any other starts,
  // as on a fresh runner, with an empty workspace (here at a path of its own).
  const checksOut = run.options.checkout
  const workspace =
    checksOut === undefined || asList(job.steps).some((step) => checksOut(step))
      ? jobGithub.workspace
      : join(jobHome, 'workspace')
  mkdirSync(workspace, { recursive: true })
  const github = { ...jobGithub, workspace }
  const runnerContext = {
    os: 'Linux',
    arch: 'X64',
    name: 'local-runner-model',
    environment: 'github-hosted',
    temp: join(jobHome, 'temp'),
    tool_cache: join(jobHome, 'tool-cache')
  }
  mkdirSync(runnerContext.temp, { recursive: true })
  const jobEnv = evaluateMap(job.env, { ...planContexts, secrets: wf.secrets }, `${where}.env`)
  const state = {
    run,
    record,
    jobHome,
    runnerTemp: runnerContext.temp,
    workspace: github.workspace,
    // The env context's base: workflow and job env, then what steps write to GITHUB_ENV.
    env: { ...wf.env, ...jobEnv },
    // GITHUB_PATH entries in the order added; the latest comes first in PATH.
    path: [],
    status: 'success',
    masks: new Set(Object.values(wf.secrets).map(String)),
    variables: runnerVariables(github, runnerContext, run.eventPath),
    // Process groups of the job's run steps: what they leave running ends with the job.
    processGroups: []
  }
  const jobContext = () => ({
    status: state.status,
    workflow_repository: wf.identity.repository,
    workflow_sha: wf.identity.sha
  })
  const scope = {
    job: state,
    label: '',
    where: `${where}.steps`,
    steps: {},
    track: state,
    records: record.steps,
    outerEnv: {},
    defaults: {
      ...wf.defaults,
      ...evaluateMap(
        job.defaults?.run,
        { ...planContexts, env: state.env },
        `${where}.defaults.run`
      )
    },
    contexts: (env) => ({
      github,
      inputs: wf.inputs,
      vars: run.vars,
      secrets: wf.secrets,
      needs,
      strategy: {},
      matrix: {},
      job: jobContext(),
      runner: runnerContext,
      steps: scope.steps,
      env
    })
  }
  try {
    for (const [index, step] of asList(job.steps).entries()) await runStep(scope, step, index)
    const outputContexts = scope.contexts(state.env)
    for (const [name, value] of Object.entries(job.outputs ?? {})) {
      const text = evaluateString(value, outputContexts, `${where}.outputs.${name}`)
      if (mask(text, state.masks) !== text) {
        // The runner drops such an output rather than pass a secret on.
        record.log += `Warning: Skip output '${name}' since it may contain secret.\n`
      } else {
        record.outputs[name] = text
      }
    }
  } finally {
    endOrphans(state.processGroups)
    rmSync(jobHome, { recursive: true, force: true })
  }
  record.result = state.status
  return record
}

/**
 * A job that calls a reusable workflow. By hand: handing inputs, secrets and outputs across the
 * call, and job.workflow_* identity, is the Actions service's plumbing, in no published library.
 */
async function runCalledWorkflow(run, wf, job, contexts, record, where, id) {
  const resolution = run.options.resolveUses?.(job.uses, 'job')
  if (!resolution || typeof resolution.file !== 'string') {
    throw new Error(`${where}: resolveUses gives no { file } for uses: ${job.uses}`)
  }
  if (wf.depth >= 10) throw new Error(`${where}: reusable workflows nest at most 10 deep`)
  const inputs = {}
  for (const [name, value] of Object.entries(job.with ?? {})) {
    inputs[name] = at(`${where}.with.${name}`, () => evaluateValue(value, contexts))
  }
  const ownSecrets = { ...wf.secrets }
  delete ownSecrets.GITHUB_TOKEN
  const call =
    job.secrets === 'inherit'
      ? { inputs, secrets: ownSecrets, inherit: true }
      : {
          inputs,
          secrets: evaluateMap(
            job.secrets,
            { ...contexts, secrets: wf.secrets },
            `${where}.secrets`
          ),
          inherit: false
        }
  // A local ./ workflow comes from the caller's own commit; owner/repo/path@ref from that one.
  const remote = /^([\w-]+\/[\w.-]+)\/.+@(.+)$/.exec(job.uses)
  const identity = remote
    ? { repository: remote[1], sha: resolution.sha ?? remote[2] }
    : wf.identity
  const nested = await runWorkflowFile(run, {
    file: resolve(resolution.file),
    workflow: await loadWorkflow(resolve(resolution.file)),
    call,
    jobs: undefined,
    identity,
    depth: wf.depth + 1,
    callerJob: id
  })
  record.result = nested.result
  record.outputs = nested.outputs
  record.log = nested.log
  record.summary = nested.summary
  record.annotations = [
    ...nested.annotations,
    ...Object.values(nested.jobs).flatMap((nestedJob) => nestedJob.annotations)
  ]
  record.workflow = nested
}

function defaultStepName(step) {
  if (step.uses !== undefined) return `Run ${step.uses}`
  // GitHub shows the whole first line; cut here, as it prefixes every log line of the step.
  const firstLine = String(step.run).trimStart().split(/\r?\n/)[0] ?? ''
  return `Run ${firstLine.length > 60 ? `${firstLine.slice(0, 59)}…` : firstLine}`
}

function continueOnError(value, contexts, where) {
  const evaluated = at(where, () => evaluateValue(value ?? false, contexts))
  if (evaluated === 'true' || evaluated === 'false') return evaluated === 'true'
  return truthy(evaluated)
}

async function runStep(scope, step, index) {
  const { job } = scope
  const where = `${scope.where}[${index}]`
  if ((step.run === undefined) === (step.uses === undefined)) {
    throw new Error(`${where}: a step needs exactly one of run and uses`)
  }
  const globalEnv = { ...job.env, ...scope.outerEnv }
  const stepEnv = evaluateMap(step.env, scope.contexts(globalEnv), `${where}.env`)
  const env = { ...globalEnv, ...stepEnv }
  const contexts = scope.contexts(env)
  // No secrets in `if:`, as on GitHub: a workflow that tries is rejected.
  const conditionContexts = { ...contexts }
  delete conditionContexts.secrets
  const status = {
    success: () => scope.track.status === 'success',
    failure: () => scope.track.status === 'failure',
    cancelled: () => false
  }
  const name =
    step.name === undefined
      ? defaultStepName(step)
      : evaluateString(step.name, contexts, `${where}.name`)
  const label = scope.label + name
  const record = (outcome, conclusion, outputs) => {
    const entry = { outcome, conclusion, outputs }
    if (step.id !== undefined) scope.steps[step.id] = entry
    if (scope.records) scope.records[step.id ?? String(index)] = entry
  }
  const log = (text) => {
    if (text !== '') job.record.log += prefixLines(mask(text, job.masks), `${label} | `) + '\n'
  }

  if (!evaluateCondition(step.if, conditionContexts, status, `${where}.if`)) {
    log(`Skipped: if: ${step.if ?? 'success()'}`)
    record('skipped', 'skipped', {})
    return
  }
  if (job.run.options.skipStep?.(step)) {
    log('Skipped locally: the machine is already provisioned')
    record('success', 'success', {})
    return
  }
  const canFail = continueOnError(step['continue-on-error'], contexts, `${where}.continue-on-error`)
  const result =
    step.run !== undefined
      ? await runScript(scope, step, env, contexts, where)
      : await runUses(scope, step, { env, stepEnv, contexts, where, label })

  const outputs = { ...result.outputs }
  for (const command of result.commands) {
    if (command.command === 'add-mask') job.masks.add(command.message)
  }
  for (const command of result.commands) {
    if (['error', 'warning', 'notice'].includes(command.command)) {
      job.record.annotations.push({ ...command, message: mask(command.message, job.masks) })
    } else if (command.command === 'set-output') {
      outputs[command.properties.replace(/^name=/, '')] = command.message
    }
  }
  Object.assign(job.env, result.env)
  for (const entry of result.path) {
    job.path = job.path.filter((existing) => existing !== entry)
    job.path.push(entry)
  }
  job.record.summary += mask(result.summary, job.masks)
  log(result.log.replace(/\n$/, ''))
  if (result.error) log(`Error: ${result.error}`)

  const outcome = result.failed ? 'failure' : 'success'
  const conclusion = result.failed && canFail ? 'success' : outcome
  if (conclusion === 'failure' || result.postFailed) scope.track.status = 'failure'
  record(outcome, conclusion, outputs)
}

/** The process environment: the machine's base, the env context, then the runner's variables. */
function processEnvironment(job, env, extra = {}) {
  const result = { ...job.run.baseEnv, ...env, ...job.variables, ...extra }
  if (job.path.length > 0) {
    result.PATH = [...job.path].reverse().concat(asList(result.PATH)).join(':')
  }
  return result
}

function shellCommand(shell, where) {
  if (shell === undefined || shell === '') {
    // Unspecified is not `shell: bash`: the runner then runs bash -e, without pipefail.
    return { command: 'bash', args: ['-e', '{0}'], extension: '.sh' }
  }
  const [command, ...args] = String(shell).trim().split(/\s+/)
  const extensions = { bash: '.sh', sh: '.sh', python: '.py' }
  if (args.length > 0) {
    if (!args.some((arg) => arg.includes('{0}'))) {
      throw new Error(`${where}: shell ${shell} needs {0} where the script file goes`)
    }
    return { command, args, extension: extensions[command] ?? '' }
  }
  switch (command) {
    case 'bash':
      return {
        command,
        args: ['--noprofile', '--norc', '-e', '-o', 'pipefail', '{0}'],
        extension: '.sh'
      }
    case 'sh':
      return { command, args: ['-e', '{0}'], extension: '.sh' }
    case 'python':
      return { command: 'python3', args: ['{0}'], extension: '.py' }
    default:
      throw new Error(`${where}: shell ${shell} is not supported by the local workflow model`)
  }
}

function createFileCommands(job) {
  return createFileCommandFiles(join(job.jobHome, 'file-commands', randomUUID()))
}

/**
 * What a step wrote to GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY. By hand (in
 * runner.mjs too): the runner reads these files; @actions/core only writes them.
 */
function readFileCommands(files) {
  const read = (file) => readFileSync(file, 'utf8')
  return {
    outputs: parseFileCommands(read(files.GITHUB_OUTPUT)),
    env: parseFileCommands(read(files.GITHUB_ENV)),
    path: read(files.GITHUB_PATH)
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean),
    summary: read(files.GITHUB_STEP_SUMMARY)
  }
}

async function runScript(scope, step, env, contexts, where) {
  const { job } = scope
  const shell = step.shell ?? scope.defaults?.shell
  if (scope.actionPath !== undefined && step.shell === undefined) {
    throw new Error(`${where}: a composite action's run step needs shell`)
  }
  const script = at(`${where}.run`, () => interpolate(String(step.run), contexts))
  const directory = step['working-directory'] ?? scope.defaults?.['working-directory'] ?? ''
  const cwd = resolve(
    job.workspace,
    evaluateString(directory, contexts, `${where}.working-directory`)
  )
  const { command, args, extension } = shellCommand(shell, where)
  const path = join(job.runnerTemp, `${randomUUID()}${extension}`)
  writeFileSync(path, script)
  const files = createFileCommands(job)
  const extra = { ...files, GITHUB_ACTION: step.id ?? '__run' }
  if (scope.actionPath !== undefined) extra.GITHUB_ACTION_PATH = scope.actionPath
  const empty = { outputs: {}, env: {}, path: [], summary: '', commands: [] }
  if (!existsSync(cwd)) {
    return { ...empty, failed: true, log: '', error: `working directory ${cwd} does not exist` }
  }
  const processResult = await runProcess(
    command,
    args.map((arg) => arg.replaceAll('{0}', path)),
    { env: processEnvironment(job, env, extra), cwd, groups: job.processGroups },
    job.run.timeoutMs,
    where
  )
  const output = processResult.lines.join('\n')
  const exitError =
    processResult.spawnError ?? (processResult.exitCode === 0 ? undefined : processResult.exit)
  return {
    ...readFileCommands(files),
    commands: parseWorkflowCommands(output),
    log: output,
    failed: exitError !== undefined,
    error: exitError
  }
}

/** Like the runner's orphan process cleanup at the end of a job. */
function endOrphans(groups) {
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGKILL')
    } catch {
      // ESRCH: nothing of that group is left.
    }
  }
}

/**
 * Runs a step's process, its stdout and stderr lines together in the order they came. The step
 * ends when the shell exits: like the runner, it does not wait for a background child that still
 * holds stdout (endOrphans ends that one with the job).
 */
function runProcess(command, args, { env, cwd, groups }, timeoutMs, where) {
  return new Promise((resolvePromise, reject) => {
    // Its own process group, so that a timeout or the job's end also ends what the script started.
    const child = spawn(command, args, {
      env,
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    })
    if (child.pid !== undefined) groups.push(child.pid)
    const lines = []
    const partial = { stdout: '', stderr: '' }
    let openStreams = 2
    let exit
    let chunks = 0
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      child.stdout.destroy()
      child.stderr.destroy()
      for (const rest of Object.values(partial)) if (rest !== '') lines.push(rest)
      resolvePromise({ lines, ...exit })
    }
    for (const stream of ['stdout', 'stderr']) {
      child[stream].setEncoding('utf8')
      child[stream].on('data', (chunk) => {
        chunks++
        const pieces = (partial[stream] + chunk).split('\n')
        partial[stream] = pieces.pop() ?? ''
        lines.push(...pieces.map((line) => line.replace(/\r$/, '')))
      })
      child[stream].on('end', () => {
        openStreams--
        if (openStreams === 0 && exit) finish()
      })
    }
    const timer = setTimeout(() => {
      done = true
      process.kill(-child.pid, 'SIGKILL')
      reject(
        new Error(`${where} did not finish within ${timeoutMs} ms:\n${defuse(lines.join('\n'))}`)
      )
    }, timeoutMs)
    child.on('error', (error) => {
      exit = { spawnError: `could not start ${command}: ${error.message}` }
      finish()
    })
    child.on('exit', (exitCode, signal) => {
      exit = {
        exitCode,
        exit: signal
          ? `Process was killed by ${signal}.`
          : `Process completed with exit code ${exitCode}.`
      }
      if (openStreams === 0) finish()
      else drainThenFinish()
    })
    // A background child still holds the pipes. What the shell wrote before it exited is already
    // in them, and readable in the same turn of the event loop that reports the exit: read on
    // until a whole turn brings nothing new (bounded, for a child that never stops writing).
    const drainThenFinish = (turns = 0, seen = -1) => {
      if (chunks === seen || turns >= 100) finish()
      else setImmediate(() => drainThenFinish(turns + 1, chunks))
    }
  })
}

async function runUses(scope, step, { env, stepEnv, contexts, where, label }) {
  const resolution = scope.job.run.options.resolveUses?.(step.uses, 'step')
  if (!resolution) {
    throw new Error(
      `${where} (${label}): resolveUses does not know uses: ${step.uses}; resolve it to ` +
        '{ action }, { run } or { composite }'
    )
  }
  const inputs = evaluateMap(step.with, contexts, `${where}.with`)
  if ('action' in resolution) return runBundledAction(scope.job, step, resolution, inputs, env)
  if ('run' in resolution) return runStandIn(scope.job, step, resolution, inputs, env, contexts)
  if ('composite' in resolution) {
    return runComposite(
      scope,
      resolution.composite,
      inputs,
      { ...scope.outerEnv, ...stepEnv },
      {
        contexts,
        label
      }
    )
  }
  throw new Error(`${where}: resolveUses gave ${JSON.stringify(resolution)} for ${step.uses}`)
}

async function runBundledAction(job, step, resolution, inputs, env) {
  const result = await runAction({
    action: resolution.action,
    actionDir: resolution.actionDir,
    inputs,
    env: processEnvironment(job, env, { GITHUB_ACTION: step.id ?? '__action' }),
    node: job.run.options.node,
    workspace: job.workspace,
    timeoutMs: job.run.timeoutMs
  })
  // Deviation: runAction runs the post step right after main, not at the end of the job.
  const post = result.post
  const log = [result.stdout, result.stderr]
  if (post) log.push('Post step:', post.stdout, post.stderr)
  return {
    outputs: result.outputs,
    env: result.exportedEnv,
    path: result.addedPath,
    summary: result.summary + (post?.summary ?? ''),
    commands: [...result.commands, ...(post?.commands ?? [])],
    log: log.filter(Boolean).join('\n'),
    failed: result.status !== 'success',
    error:
      result.status === 'success'
        ? undefined
        : `Process completed with exit code ${result.exitCode}.`,
    postFailed: post !== undefined && post.exitCode !== 0
  }
}

async function runStandIn(job, step, resolution, inputs, env, contexts) {
  const processEnv = processEnvironment(job, env, { GITHUB_ACTION: step.id ?? '__action' })
  try {
    const result =
      (await resolution.run({
        with: inputs,
        env: processEnv,
        context: contexts,
        artifacts: job.run.artifacts
      })) ?? {}
    const outputs = Object.fromEntries(
      Object.entries(result.outputs ?? {}).map(([name, value]) => [name, toExpressionString(value)])
    )
    return {
      outputs,
      env: result.env ?? {},
      path: asList(result.path),
      summary: result.summary ?? '',
      commands: [],
      log: result.log ?? '',
      failed: false
    }
  } catch (error) {
    // A throwing stand-in is an action that failed, as core.setFailed reports it.
    const message = error instanceof Error ? error.message : String(error)
    return {
      outputs: {},
      env: {},
      path: [],
      summary: '',
      commands: [{ command: 'error', properties: '', message }],
      log: '',
      failed: true,
      error: message
    }
  }
}

async function runComposite(scope, dir, given, outerEnv, { contexts: outerContexts, label }) {
  const file = ['action.yml', 'action.yaml'].map((name) => join(dir, name)).find(existsSync)
  if (!file) throw new Error(`${dir} has no action.yml`)
  const metadata = parseYaml(readFileSync(file, 'utf8'))
  if (metadata?.runs?.using !== 'composite') throw new Error(`${file} is not a composite action`)
  const declared = metadata.inputs ?? {}
  const unknown = Object.keys(given).filter((name) => !(name in declared))
  if (unknown.length > 0) {
    // The runner only warns about these; in a test they are a typo, so fail.
    throw new Error(`inputs not declared in ${file}: ${unknown.join(', ')}`)
  }
  const track = { status: 'success' }
  const github = { ...outerContexts.github, action_path: dir }
  const inner = {
    job: scope.job,
    label: `${label} / `,
    where: `${file}: runs.steps`,
    steps: {},
    track,
    records: undefined,
    outerEnv,
    defaults: undefined,
    actionPath: dir,
    // No secrets, vars or needs inside a composite action, as on GitHub.
    contexts: (env) => ({
      github: { ...github, action_status: track.status },
      inputs,
      steps: inner.steps,
      env,
      runner: outerContexts.runner,
      job: { ...outerContexts.job, status: scope.job.status },
      strategy: {},
      matrix: {}
    })
  }
  const inputs = {}
  const defaultContexts = inner.contexts({ ...scope.job.env, ...outerEnv })
  for (const [name, spec] of Object.entries(declared)) {
    inputs[name] =
      given[name] ??
      evaluateString(spec?.default ?? '', defaultContexts, `${file}: inputs.${name}.default`)
  }
  for (const [index, step] of asList(metadata.runs.steps).entries()) {
    await runStep(inner, step, index)
  }
  const outputContexts = inner.contexts({ ...scope.job.env, ...outerEnv })
  const outputs = {}
  for (const [name, output] of Object.entries(metadata.outputs ?? {})) {
    outputs[name] = evaluateString(output?.value ?? '', outputContexts, `${file}: outputs.${name}`)
  }
  // The inner steps already applied their env, path, summary and log to the job.
  return {
    outputs,
    env: {},
    path: [],
    summary: '',
    commands: [],
    log: '',
    failed: track.status === 'failure'
  }
}
