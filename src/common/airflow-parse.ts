import { byText } from './compare.js'
import { cap, joinWithinLimit } from './one-line.js'
import { escapeText } from './untrusted.js'
import { isRecord } from './json-shape.js'

// Whether Airflow parsed a deploy's changed DAG files, and with what import errors, whichever way
// its REST API is reached: directly (the refresh function) or through MWAA's InvokeRestApi (the
// deploy-mwaa action). The function bundle takes this module too: nothing of the Actions toolkit
// may come in through it.

/**
 * A failure to confirm with Airflow. Its message says what to look at and never holds
 * credentials, a token or a body Airflow answered with.
 */
export class AirflowError extends Error {
  constructor(
    message: string,
    /** A server error or a lost connection while polling: the next poll may succeed. */
    readonly transient = false
  ) {
    super(message)
    this.name = 'AirflowError'
  }
}

// ---------------------------------------------------------------------------------------------
// What Airflow reports, reduced to what the confirmation needs, and how it is judged (pure).

export interface ParsedDag {
  /** Where Airflow loaded the DAG from: absolute, or relative to the bundle in Airflow 3. */
  locations: string[]
  /** Epoch ms; undefined when Airflow has no parse time for it. */
  lastParsedMs: number | undefined
}

export interface ImportErrorRecord {
  filename: string
  stackTrace: string
  /** Epoch ms; undefined when Airflow gave none. */
  timestampMs: number | undefined
}

export interface FileProblem {
  /** Relative to the DAG folder where the file is in it; escaped and capped. */
  path: string
  /** The exception Airflow reported, escaped and capped. */
  message: string
}

export interface ParseOutcome {
  /**
   * Changed files Airflow parsed after `since`: a DAG from the file was parsed then, or the file
   * failed to import then (and is also in importErrors).
   */
  confirmed: string[]
  /** Changed files not seen parsed by the deadline: a module with no DAG in it is never. */
  unconfirmed: string[]
  /** Changed files that failed to import after `since`: the deploy's failures. */
  importErrors: FileProblem[]
  /**
   * Import errors this deploy is not blamed for: those of files it did not change, and older
   * ones of changed files not parsed since.
   */
  preexisting: FileProblem[]
}

/** The changed files Airflow parses as DAG files, in path order, without repeats. */
export function checkedFiles(changedPaths: readonly string[]): string[] {
  return [...new Set(changedPaths.filter((path) => path.endsWith('.py')))].sort(byText)
}

/**
 * The path of a file Airflow reports, relative to the DAG folder, or undefined when it lies
 * outside it. Airflow 2 reports absolute paths; Airflow 3 reports import errors (and
 * relative_fileloc) relative to the DAG bundle, whose root is the DAG folder.
 */
export function dagFolderPath(location: string, dagFolder: string): string | undefined {
  if (location.startsWith('/')) {
    const folder = `${dagFolder.replace(/\/+$/, '')}/`
    return location.startsWith(folder) ? location.slice(folder.length) : undefined
  }
  return location.replace(/^(\.\/)+/, '')
}

export interface ParseJudgement {
  checked: readonly string[]
  dags: readonly ParsedDag[]
  importErrors: readonly ImportErrorRecord[]
  dagFolder: string
  sinceMs: number
}

/** Sorts what Airflow reports into the outcome; every text from Airflow in it is escaped. */
export function judgeParse(input: ParseJudgement): ParseOutcome {
  const checked = new Set(input.checked)
  const parsed = new Set<string>()
  for (const dag of input.dags) {
    if (dag.lastParsedMs === undefined || dag.lastParsedMs < input.sinceMs) continue
    for (const location of dag.locations) {
      const path = dagFolderPath(location, input.dagFolder)
      if (path !== undefined && checked.has(path)) parsed.add(path)
    }
  }
  const failed = new Map<string, FileProblem[]>()
  const stale = new Map<string, FileProblem[]>()
  const preexisting: FileProblem[] = []
  for (const error of input.importErrors) {
    const path = dagFolderPath(error.filename, input.dagFolder)
    const problem = {
      path: shownPath(path ?? error.filename),
      message: errorSummary(error.stackTrace)
    }
    if (path === undefined || !checked.has(path)) preexisting.push(problem)
    else if (error.timestampMs !== undefined && error.timestampMs >= input.sinceMs) {
      failed.set(path, [...(failed.get(path) ?? []), problem])
    } else stale.set(path, [...(stale.get(path) ?? []), problem])
  }
  const confirmed = input.checked.filter((path) => parsed.has(path) || failed.has(path))
  const unconfirmed = input.checked.filter((path) => !parsed.has(path) && !failed.has(path))
  // An older error of a file parsed cleanly since is gone in Airflow's next answer; until then it
  // says nothing about the deployed file.
  for (const path of unconfirmed) preexisting.push(...(stale.get(path) ?? []))
  return {
    confirmed: confirmed.map(shownPath),
    unconfirmed: unconfirmed.map(shownPath),
    importErrors: distinct([...failed.values()].flat()),
    preexisting: distinct(preexisting)
  }
}

const PATH_LIMIT = 200
export const MESSAGE_LIMIT = 300

function shownPath(path: string): string {
  return cap(escapeText(path), PATH_LIMIT)
}

function distinct(problems: FileProblem[]): FileProblem[] {
  const seen = new Set<string>()
  return problems
    .filter((problem) => {
      const key = `${problem.path}\n${problem.message}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
    .sort((a, b) => byText(a.path, b.path) || byText(a.message, b.message))
}

/**
 * The part of an import error worth a line: after a Python traceback, the exception (what
 * follows the last frame); otherwise the first lines. Escaped and within MESSAGE_LIMIT.
 */
export function errorSummary(stackTrace: string): string {
  const lines = stackTrace.split(/\r\n|\r|\n/).map((line) => line.trimEnd())
  let start = 0
  const lastFrame = lines.findLastIndex((line) => /^\s+File "/.test(line))
  if (lastFrame >= 0) {
    start = lastFrame + 1
    // The frame's source line and any ^^^ markers are indented; the exception is not.
    while (start < lines.length && /^\s/.test(lines[start] as string)) start += 1
  }
  const shown = lines.slice(start).filter((line) => line.trim() !== '')
  const text = (shown.length > 0 ? shown : lines.filter((line) => line.trim() !== ''))
    .slice(0, 3)
    .map((line) => line.trim())
    .join(' | ')
  return cap(escapeText(text === '' ? '(Airflow gave no error text)' : text), MESSAGE_LIMIT)
}

export const IMPORT_ERROR_LINE_LIMIT = 600

/** One line naming the changed files that failed to import and why, or undefined when none did. */
export function importErrorLine(outcome: ParseOutcome): string | undefined {
  const failures = outcome.importErrors
  if (failures.length === 0) return undefined
  const files = new Set(failures.map((failure) => failure.path)).size
  const parts = failures.map((failure) => `${failure.path} (${failure.message})`)
  const head = `Airflow failed to import ${files} changed DAG file${files === 1 ? '' : 's'}: `
  // Paths and messages are capped so that the first failure fits; this holds the limit regardless.
  return cap(joinWithinLimit(head, parts, IMPORT_ERROR_LINE_LIMIT), IMPORT_ERROR_LINE_LIMIT - 1)
}

// ---------------------------------------------------------------------------------------------
// Airflow's records.

/** A DAG as Airflow 2 and 3 list it, reduced to where it came from and when it was parsed. */
export function dagRecord(entry: unknown): ParsedDag {
  const record = isRecord(entry) ? entry : {}
  const locations = [record.fileloc, record.relative_fileloc].filter(
    (location): location is string => typeof location === 'string' && location !== ''
  )
  return { locations, lastParsedMs: epochMs(record.last_parsed_time) }
}

/** An import error as Airflow 2 and 3 list it. */
export function importErrorRecord(entry: unknown): ImportErrorRecord {
  const record = isRecord(entry) ? entry : {}
  return {
    filename: typeof record.filename === 'string' ? record.filename : '(no file name)',
    stackTrace: typeof record.stack_trace === 'string' ? record.stack_trace : '',
    timestampMs: epochMs(record.timestamp)
  }
}

/** Airflow's times carry an offset; one without is UTC, as Airflow stores every time. */
export function epochMs(text: unknown): number | undefined {
  if (typeof text !== 'string' || text === '') return undefined
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`
  const ms = Date.parse(zoned)
  return Number.isNaN(ms) ? undefined : ms
}

// ---------------------------------------------------------------------------------------------
// Polling.

/** Airflow's REST API, however reached. */
export interface AirflowReader {
  /**
   * Every entry of a paginated collection. Throws an AirflowError: transient when the next poll
   * may succeed (a server error, a lost connection), not when waiting cannot help (refused
   * credentials, no such API).
   */
  list(collection: 'dags' | 'importErrors'): Promise<unknown[]>
}

export interface ParsePoll {
  /** Opens the reader; called again at the next poll while it fails transiently. */
  connect: () => Promise<AirflowReader>
  /** The DAG folder as Airflow sees it, where its absolute file locations start. */
  dagFolder: string
  /** Paths relative to that folder that the deploy uploaded. */
  changedPaths: readonly string[]
  /** Only a parse at or after this moment counts: before it, Airflow saw the old files. */
  since: Date
  /** Epoch ms after which no poll starts. */
  deadlineMs: number
  /** Airflow parses a file at most every min_file_process_interval (30 s by default). */
  pollIntervalMs: number
  /**
   * Changed files Airflow's scheduler is known to skip (.airflowignore, no DAG in them by its
   * heuristic): never waited for nor reported unconfirmed, while an import error of theirs still
   * counts as this deploy's.
   */
  skipped?: readonly string[]
}

/**
 * Polls Airflow until every changed DAG file was parsed after `since` or the deadline passes.
 * A failure that is not transient ends it at once; a transient one is tried again at the next
 * poll and thrown when no poll succeeded by the deadline.
 */
export async function pollParse(options: ParsePoll): Promise<ParseOutcome> {
  const interval = options.pollIntervalMs
  const checked = checkedFiles(options.changedPaths)
  const skipped = new Set((options.skipped ?? []).map(shownPath))
  const awaited = (outcome: ParseOutcome): ParseOutcome => ({
    ...outcome,
    unconfirmed: outcome.unconfirmed.filter((path) => !skipped.has(path))
  })
  let reader: AirflowReader | undefined
  let outcome: ParseOutcome | undefined
  let lastProblem: AirflowError | undefined
  for (;;) {
    try {
      reader ??= await options.connect()
      const [dags, importErrors] = await Promise.all([
        reader.list('dags'),
        reader.list('importErrors')
      ])
      outcome = awaited(
        judgeParse({
          checked,
          dags: dags.map(dagRecord),
          importErrors: importErrors.map(importErrorRecord),
          dagFolder: options.dagFolder,
          sinceMs: options.since.getTime()
        })
      )
      lastProblem = undefined
      if (outcome.unconfirmed.length === 0) return outcome
    } catch (error) {
      if (!(error instanceof AirflowError) || !error.transient) throw error
      lastProblem = error
    }
    if (Date.now() + interval >= options.deadlineMs) {
      if (outcome === undefined) throw lastProblem ?? new AirflowError('Airflow gave no answer')
      return outcome
    }
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}
