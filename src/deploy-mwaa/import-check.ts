import * as core from '@actions/core'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, posix } from 'node:path'
import {
  checkedFiles,
  importErrorRecord,
  judgeParse,
  type FileProblem,
  type ParseOutcome
} from '../common/airflow-parse.js'
import { byText } from '../common/compare.js'
import { InputError } from '../common/errors.js'
import type { MwaaApi, MwaaEnvironment } from '../common/mwaa.js'
import { escapeText } from '../common/untrusted.js'
import { ignoredByAirflow, ignoreSyntaxOf, mightHoldDag, type IgnoreFile } from './airflow-files.js'
import { confirmImports, MWAA_DAG_FOLDER, MwaaAirflowReader } from './airflow-mwaa.js'
import { Input } from './constants.js'
import { dagChangesIn, readDagChanges } from './dag-changes.js'
import type { MwaaSettings } from './settings.js'

// Asking the environment's Airflow whether the deployed DAG files import. Planned before anything
// is written (a bad dag-changes input fails first), with the import errors Airflow had before an
// environment update kept, so that what the update broke is told apart from what was broken.

export interface ImportCheck {
  /** Paths in the DAG folder whose parse is awaited and whose import errors are this deploy's. */
  paths: string[]
  /** Of those, the ones the scheduler skips: not waited for. */
  skipped: Array<{ path: string; why: string }>
  /** Only a parse at or after this moment counts; epoch 0 on a re-run, which judges the folder as it is. */
  notBeforeMs: number
  /** A re-run of the workflow: every DAG file of dag-source is checked. */
  rerun: boolean
}

/** What dag-changes asks for; undefined when no DAG file is to be checked. */
export async function planImportCheck(
  settings: MwaaSettings,
  environment: MwaaEnvironment,
  env: NodeJS.ProcessEnv = process.env
): Promise<ImportCheck | undefined> {
  const value = settings.dagChanges as string
  const changes = dagChangesIn(await readDagChanges(value), environment.dagS3Path ?? 'dags')
  if (changes.truncated) {
    core.warning(
      `${Input.DagChanges} holds a shortened list of changes; pass deploy-dags' changes-file output to check every changed file`
    )
  }
  if (changes.elsewhere.length > 0 && changes.uploaded.length === 0) {
    throw new InputError(
      Input.DagChanges,
      `none of the ${changes.elsewhere.length} uploaded key(s) is in ${escapeText(environment.dagS3Path ?? 'dags')}/, the DAG folder of environment ${escapeText(environment.name)}; check deploy-dags' prefix`
    )
  }
  // A re-run uploads nothing (the first attempt did), so its change list is empty: the check then
  // covers the whole folder, or a failed check would turn green by running again.
  const rerun = Number(env.GITHUB_RUN_ATTEMPT ?? '1') > 1
  const paths = rerun
    ? checkedFiles([...changes.uploaded, ...(await pythonFilesUnder(settings.dagSource))])
    : checkedFiles(changes.uploaded)
  if (paths.length === 0) return undefined
  const skipped = await filesAirflowSkips(settings.dagSource, paths, environment.airflowVersion)
  // MWAA copies the bucket to the scheduler on its own schedule: a parse counts only once it may
  // have seen the uploaded files.
  const uploadedMs = value.startsWith('{')
    ? Date.now()
    : ((await stat(value).catch(() => undefined))?.mtimeMs ?? Date.now())
  return {
    paths,
    skipped,
    notBeforeMs: rerun ? 0 : Math.max(Date.now(), uploadedMs + settings.syncWaitMs),
    rerun
  }
}

/** Every .py file under the repository's DAG folder, as paths in it. */
async function pythonFilesUnder(dagSource: string): Promise<string[]> {
  const found: string[] = []
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(dagSource, relative), { withFileTypes: true }).catch(
      () => []
    )
    for (const entry of entries) {
      const path = relative === '' ? entry.name : posix.join(relative, entry.name)
      if (entry.isDirectory() && entry.name !== '__pycache__') await walk(path)
      else if (entry.isFile() && entry.name.endsWith('.py')) found.push(path)
    }
  }
  await walk('')
  return found.sort(byText)
}

/**
 * The changed DAG files, as the repository holds them, that the scheduler does not parse: listed
 * in an .airflowignore, or without the words its safe mode looks for. A file the repository does
 * not hold (another source) is waited for.
 */
async function filesAirflowSkips(
  dagSource: string,
  paths: readonly string[],
  airflowVersion: string | undefined
): Promise<Array<{ path: string; why: string }>> {
  const folders = new Set([''])
  for (const path of paths) {
    const parts = path.split('/').slice(0, -1)
    parts.forEach((_, index) => folders.add(parts.slice(0, index + 1).join('/')))
  }
  const ignoreFiles: IgnoreFile[] = []
  for (const folder of [...folders].sort()) {
    const text = await readFile(join(dagSource, folder, '.airflowignore'), 'utf8').catch(
      () => undefined
    )
    if (text !== undefined) ignoreFiles.push({ folder, text })
  }
  const syntax = ignoreSyntaxOf(airflowVersion)
  const skipped: Array<{ path: string; why: string }> = []
  for (const path of paths) {
    if (ignoredByAirflow(path, ignoreFiles, syntax)) {
      skipped.push({ path, why: `.airflowignore lists it (${syntax} syntax)` })
      continue
    }
    const content = await readFile(join(dagSource, path)).catch(() => undefined)
    if (content !== undefined && !mightHoldDag(content)) {
      skipped.push({
        path,
        why: 'it lacks "airflow" or "dag", which the scheduler\'s safe mode looks for'
      })
    }
  }
  return skipped
}

function readerOptions(api: MwaaApi, environment: MwaaEnvironment, region: string) {
  const account = /^arn:[^:]+:iam::(\d{12}):/.exec(environment.executionRoleArn ?? '')?.[1]
  return {
    api,
    environment: environment.name,
    ...(environment.airflowVersion !== undefined
      ? { airflowVersion: environment.airflowVersion }
      : {}),
    // For the ARN the error names when IAM refuses InvokeRestApi.
    region,
    ...(account !== undefined ? { account } : {})
  }
}

/**
 * The import errors Airflow reports before an environment update, so that those the update
 * brings (a provider upgrade breaking unchanged DAGs) are this deploy's. Asked before anything is
 * changed: a refused InvokeRestApi fails the step while nothing is updated yet.
 */
export async function importErrorsBefore(
  api: MwaaApi,
  environment: MwaaEnvironment,
  region: string,
  deadlineMs: number
): Promise<FileProblem[]> {
  const reader = new MwaaAirflowReader({ ...readerOptions(api, environment, region), deadlineMs })
  const records = (await reader.list('importErrors')).map(importErrorRecord)
  return judgeParse({
    checked: [],
    dags: [],
    importErrors: records,
    dagFolder: MWAA_DAG_FOLDER,
    sinceMs: 0
  }).preexisting
}

const problemKey = (problem: FileProblem) => `${problem.path}\n${problem.message}`

/**
 * Waits for Airflow to parse the files and sorts its import errors. After an update, an import
 * error of an unchanged file that Airflow did not report before the update is this deploy's too.
 */
export async function runImportCheck(options: {
  api: MwaaApi
  environment: MwaaEnvironment
  region: string
  check: ImportCheck
  before: readonly FileProblem[] | undefined
  confirmTimeoutMs: number
  pollIntervalMs: number
}): Promise<ParseOutcome> {
  const { check, before } = options
  for (const { path, why } of options.check.skipped) {
    core.info(`Not waited for: ${escapeText(path)} (${why})`)
  }
  const since = new Date(check.notBeforeMs)
  // A re-run judges the folder as Airflow has it now: one look, with a minute to read its pages.
  const window = check.rerun ? Math.min(options.confirmTimeoutMs, 60_000) : options.confirmTimeoutMs
  const outcome = await confirmImports({
    ...readerOptions(options.api, options.environment, options.region),
    changedPaths: check.paths,
    since,
    deadlineMs: Math.max(Date.now(), check.notBeforeMs) + window,
    pollIntervalMs: check.rerun ? window + 1 : options.pollIntervalMs,
    skipped: check.skipped.map((file) => file.path)
  })
  if (before === undefined) return outcome
  const known = new Set(before.map(problemKey))
  const brokenByUpdate = outcome.preexisting.filter((problem) => !known.has(problemKey(problem)))
  return {
    ...outcome,
    importErrors: [...outcome.importErrors, ...brokenByUpdate],
    preexisting: outcome.preexisting.filter((problem) => known.has(problemKey(problem)))
  }
}

/** Each import error on its file in the repository, so the pull request and the run show it there. */
export function annotate(outcome: ParseOutcome, dagSource: string): void {
  // Airflow names a file outside its DAG folder by its absolute path: no repository file to mark.
  const where = (path: string) => (path.startsWith('/') ? {} : { file: `${dagSource}/${path}` })
  for (const problem of outcome.importErrors) {
    core.error(`Airflow failed to import this DAG file: ${problem.message}`, {
      title: 'Import error after deploy',
      ...where(problem.path)
    })
  }
  for (const problem of outcome.preexisting) {
    core.warning(
      `Import error from before this deploy, not caused by it (${problem.path}): ${problem.message}`,
      { title: 'Existing import error', ...where(problem.path) }
    )
  }
  for (const path of outcome.unconfirmed) {
    core.warning(
      'Airflow had not parsed this file by confirm-timeout (a module without DAGs is never listed as parsed)',
      { title: 'Not confirmed', ...where(path) }
    )
  }
  core.info(
    `${outcome.confirmed.length} changed DAG file(s) parsed, ${outcome.importErrors.length} import error(s), ${outcome.unconfirmed.length} not confirmed, ${outcome.preexisting.length} older import error(s) elsewhere`
  )
}
