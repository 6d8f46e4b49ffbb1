import { realpath, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { readAwsTarget, type AwsTarget } from '../common/aws.js'
import { InputError } from '../common/errors.js'
import {
  booleanInput,
  decimalInput,
  integerInput,
  optionalString,
  requiredString
} from '../common/inputs.js'
import type { FileRole } from '../common/mwaa.js'
import { bucketNameProblem } from '../common/s3-location.js'
import { escapeText, hasControlCharacter } from '../common/untrusted.js'
import { within } from '../deploy-dags/selection.js'
import { Input, KEY_INPUT } from './constants.js'

/** A file of the repository that the environment is to run. */
export interface LocalSource {
  role: FileRole
  /** The input that named it. */
  input: string
  /** As written in the workflow, for messages. */
  given: string
  path: string
  /** plugins given as a folder is zipped by the action. */
  form: 'file' | 'folder'
  /** The key input; undefined means the environment's key, or the role's usual name. */
  key?: string
}

export interface MwaaSettings {
  environment: string
  /** Undefined: the environment's own source bucket. */
  bucket?: string
  sources: LocalSource[]
  wait: boolean
  timeoutMs: number
  pollIntervalMs: number
  dryRun: boolean
  /** The dag-changes input: a changes file's path, or the changes JSON itself. */
  dagChanges?: string
  dagSource: string
  confirmTimeoutMs: number
  /** How long MWAA may take to copy the bucket to its scheduler. */
  syncWaitMs: number
  target: AwsTarget
}

/** MWAA's rule for environment names. */
const ENVIRONMENT_NAME = /^[a-zA-Z][0-9a-zA-Z_-]{0,79}$/

/** Reads and checks every input before anything touches AWS. */
export async function readSettings(): Promise<MwaaSettings> {
  const environment = requiredString(Input.Environment, 'give the name of the MWAA environment')
  if (!ENVIRONMENT_NAME.test(environment)) {
    throw new InputError(
      Input.Environment,
      `'${escapeText(environment)}' is not an MWAA environment name (a letter, then up to 79 letters, digits, - and _)`
    )
  }
  const bucketInput = optionalString(Input.Bucket)
  if (bucketInput !== undefined) {
    const problem = bucketNameProblem(bucketInput)
    if (problem !== undefined) throw new InputError(Input.Bucket, problem)
  }
  const wait = booleanInput(Input.Wait, true)
  const timeoutMs =
    decimalInput(Input.Timeout, 90, { min: 0.05, max: 360, unit: 'minutes' }) * 60_000
  const pollIntervalMs =
    decimalInput(Input.PollInterval, 30, { min: 0.1, max: 300, unit: 'seconds' }) * 1000
  const dryRun = booleanInput(Input.DryRun, false)
  const confirmTimeoutMs = integerInput(Input.ConfirmTimeout, 10, { min: 1, max: 60 }) * 60_000
  const syncWaitMs = integerInput(Input.SyncWait, 60, { min: 0, max: 600 }) * 1000
  const dagChanges = optionalString(Input.DagChanges)
  const dagSource = (optionalString(Input.DagSource) ?? 'dags').replace(/^\.\/+|\/+$/g, '')
  const target = readAwsTarget()

  const sources = await readSources()
  if (sources.length === 0 && dagChanges === undefined) {
    throw new InputError(
      Input.Environment,
      `nothing to deploy: give ${Input.Requirements}, ${Input.Plugins} (or ${Input.PluginsZip}), ${Input.StartupScript}, or ${Input.DagChanges}`
    )
  }
  return {
    environment,
    ...(bucketInput !== undefined ? { bucket: bucketInput } : {}),
    sources,
    wait,
    timeoutMs,
    pollIntervalMs,
    dryRun,
    ...(dagChanges !== undefined ? { dagChanges } : {}),
    dagSource,
    confirmTimeoutMs,
    syncWaitMs,
    target
  }
}

async function readSources(): Promise<LocalSource[]> {
  const plugins = optionalString(Input.Plugins)
  const pluginsZip = optionalString(Input.PluginsZip)
  if (plugins !== undefined && pluginsZip !== undefined) {
    throw new InputError(
      Input.PluginsZip,
      `give ${Input.Plugins} (a folder, zipped by the action) or ${Input.PluginsZip} (a prebuilt zip), not both`
    )
  }
  const wanted: Array<{ role: FileRole; input: string; form: 'file' | 'folder' }> = [
    { role: 'requirements', input: Input.Requirements, form: 'file' },
    plugins !== undefined
      ? { role: 'plugins', input: Input.Plugins, form: 'folder' }
      : { role: 'plugins', input: Input.PluginsZip, form: 'file' },
    { role: 'startup-script', input: Input.StartupScript, form: 'file' }
  ]
  const sources: LocalSource[] = []
  for (const { role, input, form } of wanted) {
    const keyInput = KEY_INPUT[role].input
    const key = optionalString(keyInput)
    if (key !== undefined) checkKey(keyInput, key)
    const given = optionalString(input)
    if (given === undefined) {
      if (key !== undefined) {
        throw new InputError(keyInput, `is set, but ${input} is not: give the file to upload`)
      }
      continue
    }
    const path = await requireInRepository(input, given, form)
    sources.push({ role, input, given, path, form, ...(key !== undefined ? { key } : {}) })
  }
  return sources
}

function checkKey(input: string, key: string): void {
  if (hasControlCharacter(key) || key.startsWith('/') || key.endsWith('/')) {
    throw new InputError(
      input,
      `'${escapeText(key)}' is not an object key: give it without a leading or trailing / and without control characters, like requirements/requirements.txt`
    )
  }
  if (Buffer.byteLength(key, 'utf8') > 1024) {
    throw new InputError(input, 'is longer than the 1,024 bytes an S3 key may have')
  }
}

/** The file or folder must exist, be of the right kind, and really lie in the workspace. */
async function requireInRepository(
  input: string,
  given: string,
  form: 'file' | 'folder'
): Promise<string> {
  const path = resolve(given)
  const info = await stat(path).catch(() => undefined)
  const kind = form === 'file' ? 'file' : 'folder'
  if (info === undefined) {
    throw new InputError(
      input,
      `${kind} '${escapeText(given)}' does not exist (looked in ${escapeText(path)}). Check out the repository first (actions/checkout) or fix the path.`
    )
  }
  if (form === 'file' ? !info.isFile() : !info.isDirectory()) {
    throw new InputError(input, `'${escapeText(given)}' is not a ${kind}`)
  }
  // A link out of the repository would ship whatever file of the runner it names.
  const real = await realpath(path)
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd()
  const realWorkspace = await realpath(workspace).catch(() => resolve(workspace))
  if (!within(realWorkspace, real)) {
    throw new InputError(
      input,
      `'${escapeText(given)}' is really ${escapeText(real)}, outside the workspace (${escapeText(realWorkspace)}); give a path in the repository`
    )
  }
  return path
}
