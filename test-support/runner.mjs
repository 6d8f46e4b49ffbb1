// Runs an action's bundled dist the way the GitHub runner does: inputs from action.yml defaults
// as INPUT_* variables, the runner's file commands (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_ENV,
// GITHUB_PATH, GITHUB_STEP_SUMMARY), RUNNER_TEMP, GITHUB_WORKSPACE and the GITHUB_* context, the
// runtime action.yml declares, and then the post step with STATE_* variables, honouring post-if.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { defuse } from './output-guard.mjs'

const repoRoot = resolve(import.meta.dirname, '..')

/**
 * The Node runtime every bundle is tested under: the one action.yml declares, which is the only one
 * the runner starts it with. The tests themselves run on it too (scripts/node24.sh), so a run under
 * the tests' own Node would repeat the same runtime.
 */
export function nodeRuntimes() {
  const node24 = join(repoRoot, '.cache', 'node24', 'bin', 'node')
  if (!existsSync(node24)) {
    throw new Error('Node 24 is missing: run `npm run setup` (it fetches it into .cache/node24)')
  }
  return [{ label: 'node24 (runs.using)', path: node24 }]
}

/** `dir` defaults to this pack's `actions/<name>`; tests pass another folder for a fake action. */
export function loadAction(name, dir = join(repoRoot, 'actions', name)) {
  const metadata = parseYaml(readFileSync(join(dir, 'action.yml'), 'utf8'))
  return { dir, metadata }
}

/** The runner's rule: `INPUT_` + name upper-cased with spaces as `_` (hyphens stay). */
export function inputVariable(name) {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

/** Empty GITHUB_OUTPUT, STATE, ENV, PATH and STEP_SUMMARY files in `dir`, as a step gets them. */
export function createFileCommandFiles(dir) {
  mkdirSync(dir, { recursive: true })
  const files = {
    GITHUB_OUTPUT: join(dir, 'set_output'),
    GITHUB_STATE: join(dir, 'save_state'),
    GITHUB_ENV: join(dir, 'set_env'),
    GITHUB_PATH: join(dir, 'add_path'),
    GITHUB_STEP_SUMMARY: join(dir, 'step_summary')
  }
  for (const file of Object.values(files)) writeFileSync(file, '')
  return files
}

/** Reads a file written with @actions/core's file commands (`name<<delimiter` or `name=value`). */
export function parseFileCommands(text) {
  const values = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line === '') continue
    const heredoc = line.match(/^([^=<]+)<<(.+)$/)
    if (heredoc) {
      const [, name, delimiter] = heredoc
      const body = []
      i++
      while (i < lines.length && lines[i] !== delimiter) body.push(lines[i++])
      if (i >= lines.length)
        throw new Error(`unterminated value for ${name} (delimiter ${delimiter})`)
      values[name] = body.join('\n')
    } else {
      const eq = line.indexOf('=')
      if (eq < 0) throw new Error(`malformed file command line: ${line}`)
      values[line.slice(0, eq)] = line.slice(eq + 1)
    }
  }
  return values
}

/**
 * Workflow commands printed on stdout (`::error::…`), decoded as the runner decodes them. Like the
 * runner, `::stop-commands::TOKEN` turns command processing off until a line `::TOKEN::`.
 */
export function parseWorkflowCommands(stdout) {
  const commands = []
  let stopToken
  for (const line of stdout.split(/\r?\n/)) {
    if (stopToken !== undefined) {
      if (line === `::${stopToken}::`) stopToken = undefined
      continue
    }
    const match = line.match(/^::([a-z-]+)(?: ([^:]*))?::(.*)$/)
    if (!match) continue
    const [, command, properties = '', message] = match
    if (command === 'stop-commands') {
      stopToken = message
      continue
    }
    commands.push({ command, properties, message: unescape(message) })
  }
  return commands
}

const unescape = (text) => text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')

function evaluateIf(condition, status) {
  const expression = String(condition ?? 'always()')
    .replace(/^\$\{\{\s*|\s*\}\}$/g, '')
    .trim()
  const table = {
    'always()': true,
    'success()': status === 'success',
    'failure()': status === 'failure',
    'cancelled()': status === 'cancelled',
    '!cancelled()': status !== 'cancelled'
  }
  if (!(expression in table)) throw new Error(`runner model cannot evaluate post-if: ${expression}`)
  return table[expression]
}

function resolveDefault(value, context) {
  if (value === undefined || value === null) return undefined
  return String(value).replace(/\$\{\{\s*([a-z_.]+)\s*\}\}/gi, (_, path) => {
    const found = path.split('.').reduce((node, key) => node?.[key], context)
    if (found === undefined) throw new Error(`runner model has no value for \${{ ${path} }}`)
    return String(found)
  })
}

/**
 * @param {{
 *   action: string,
 *   actionDir?: string,
 *   inputs?: Record<string, string>,
 *   env?: Record<string, string>,
 *   node?: string,
 *   workspace?: string,
 *   cancelWhen?: ((stdout: string) => boolean) | Promise<unknown>,
 *   signalWhen?: { signal: NodeJS.Signals, when: ((stdout: string) => boolean) | Promise<unknown> },
 *   onStdout?: (stdout: string) => void,
 *   timeoutMs?: number,
 *   keepFiles?: boolean
 * }} options
 */
export async function runAction(options) {
  const { dir, metadata } = loadAction(options.action, options.actionDir)
  const declared = metadata.inputs ?? {}
  const unknown = Object.keys(options.inputs ?? {}).filter((name) => !(name in declared))
  if (unknown.length > 0) {
    // The runner only warns ("Unexpected input(s)"); a test passing one has a typo, so fail it.
    const metadataPath = options.actionDir ?? `actions/${options.action}`
    throw new Error(`inputs not declared in ${metadataPath}/action.yml: ${unknown.join(', ')}`)
  }
  const runs = metadata.runs ?? {}
  if (!/^node\d+$/.test(runs.using ?? ''))
    throw new Error(`runs.using ${runs.using} is not a node runtime`)

  const home = mkdtempSync(join(tmpdir(), 'runner-'))
  const workspace = options.workspace ?? join(home, 'workspace')
  const runnerTemp = join(home, 'temp')
  for (const folder of [workspace, runnerTemp]) mkdirSync(folder, { recursive: true })
  const files = createFileCommandFiles(join(home, 'file-commands'))
  const eventPath = join(home, 'event.json')
  writeFileSync(
    eventPath,
    JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'octo-org/airflow' } })
  )

  const context = {
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_WORKSPACE: workspace,
    RUNNER_TEMP: runnerTemp,
    RUNNER_TOOL_CACHE: join(home, 'tool-cache'),
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    RUNNER_NAME: 'local-runner-model',
    RUNNER_ENVIRONMENT: 'github-hosted',
    GITHUB_REPOSITORY: 'octo-org/airflow',
    GITHUB_REPOSITORY_OWNER: 'octo-org',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_NUMBER: '17',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SHA: 'ffac537e6cbbf934b08745a378932722df287a53',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REF_NAME: 'main',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_ACTOR: 'octocat',
    GITHUB_WORKFLOW: 'deploy',
    GITHUB_JOB: 'deploy',
    GITHUB_ACTION: options.action,
    GITHUB_ACTION_PATH: dir,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: 'https://api.github.com',
    GITHUB_GRAPHQL_URL: 'https://api.github.com/graphql',
    ...files
  }
  const inputs = {}
  for (const [name, spec] of Object.entries(declared)) {
    const given = options.inputs?.[name]
    const value =
      given ??
      resolveDefault(spec?.default, { github: { token: 'ghs_runner_model_token', workspace } })
    // Like the runner, which gives a declared input without value or default an empty string.
    inputs[inputVariable(name)] = value ?? ''
  }
  const baseEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? home,
    LANG: 'C.UTF-8',
    ...context,
    ...(options.env ?? {})
  }
  const nodePath = options.node ?? process.execPath

  // The step's folders go afterwards, also when it fails to finish in time.
  try {
    const main = await runEntry(
      nodePath,
      resolve(dir, runs.main),
      { ...baseEnv, ...inputs },
      workspace,
      options
    )
    const status = main.cancelled ? 'cancelled' : main.exitCode === 0 ? 'success' : 'failure'
    const state = parseFileCommands(readFileSync(files.GITHUB_STATE, 'utf8'))
    const outputs = parseFileCommands(readFileSync(files.GITHUB_OUTPUT, 'utf8'))
    const summary = readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8')
    // Read before the post step empties the files: the runner applies them to the steps that follow.
    const exportedEnv = parseFileCommands(readFileSync(files.GITHUB_ENV, 'utf8'))
    const addedPath = readFileSync(files.GITHUB_PATH, 'utf8').split('\n').filter(Boolean)

    let post
    if (runs.post && evaluateIf(runs['post-if'], status)) {
      for (const file of Object.values(files)) writeFileSync(file, '')
      const stateEnv = Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]))
      const result = await runEntry(
        nodePath,
        resolve(dir, runs.post),
        { ...baseEnv, ...inputs, ...stateEnv },
        workspace,
        {
          timeoutMs: options.timeoutMs
        }
      )
      post = {
        ...result,
        outputs: parseFileCommands(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
        summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8')
      }
    }
    return {
      ...main,
      status,
      outputs,
      state,
      summary,
      exportedEnv,
      addedPath,
      post,
      home,
      workspace,
      runnerTemp
    }
  } finally {
    if (!options.keepFiles) rmSync(home, { recursive: true, force: true })
  }
}

function runEntry(nodePath, entry, env, cwd, options) {
  return new Promise((resolvePromise, reject) => {
    const started = Date.now()
    const child = spawn(nodePath, [entry], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const timers = []
    let cancelled = false
    let finished = false
    const watchers = []
    child.stdout.on('data', () => {
      options.onStdout?.(stdout)
      for (const watcher of watchers.splice(0)) {
        if (!watcher(stdout)) watchers.push(watcher)
      }
    })
    // Runs `act` once the step's output satisfies `when`, or once the promise `when` settles.
    const onEvent = (when, act) => {
      if (typeof when === 'function') {
        watchers.push((text) => {
          if (!when(text)) return false
          act()
          return true
        })
      } else {
        const fire = () => {
          if (!finished) act()
        }
        Promise.resolve(when).then(fire, fire)
      }
    }
    if (options.signalWhen !== undefined) {
      // A main step signalled from outside: SIGTERM alone, or SIGKILL as a force-terminated job
      // gets, at the moment the step reached the given point.
      const { signal, when } = options.signalWhen
      onEvent(when, () => {
        cancelled = true
        child.kill(signal)
      })
    }
    if (options.cancelWhen !== undefined) {
      // The runner cancels a step with SIGINT, then SIGTERM 7.5 s later, then kills it.
      onEvent(options.cancelWhen, () => {
        cancelled = true
        child.kill('SIGINT')
        timers.push(setTimeout(() => child.kill('SIGTERM'), 7500))
        timers.push(setTimeout(() => child.kill('SIGKILL'), 15000))
      })
    }
    timers.push(
      setTimeout(() => {
        child.kill('SIGKILL')
        reject(
          new Error(
            `${entry} did not finish within ${options.timeoutMs ?? 120000} ms\n${defuse(stdout)}\n${defuse(stderr)}`
          )
        )
      }, options.timeoutMs ?? 120000)
    )
    child.on('error', reject)
    child.on('close', (exitCode, signal) => {
      finished = true
      for (const timer of timers) clearTimeout(timer)
      const commands = parseWorkflowCommands(stdout)
      resolvePromise({
        exitCode,
        signal,
        cancelled,
        stdout,
        stderr,
        durationMs: Date.now() - started,
        commands,
        errors: commands.filter((c) => c.command === 'error').map((c) => c.message),
        warnings: commands.filter((c) => c.command === 'warning').map((c) => c.message),
        masks: commands.filter((c) => c.command === 'add-mask').map((c) => c.message)
      })
    })
  })
}
