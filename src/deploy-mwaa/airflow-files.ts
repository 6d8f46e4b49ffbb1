import { PatternError, compileFilter, parsePatterns } from '../deploy-dags/selection.js'

// Which files Airflow's scheduler parses at all. Helper modules next to the DAGs are never parsed
// when .airflowignore lists them, or when they lack the words "airflow" and "dag" (the DAG
// discovery safe mode, on by default): waiting for those to be parsed would hold every deploy
// until the check's timeout.

/** .airflowignore syntax: regexp by default in Airflow 2, glob by default in Airflow 3. */
export type IgnoreSyntax = 'regexp' | 'glob'

export function ignoreSyntaxOf(airflowVersion: string | undefined): IgnoreSyntax {
  return /^([3-9]|\d{2,})\./.test(airflowVersion ?? '') ? 'glob' : 'regexp'
}

/** Airflow's safe-mode heuristic: the file holds both "dag" and "airflow", in any case. */
export function mightHoldDag(content: Buffer): boolean {
  const text = content.toString('latin1').replace(/[A-Z]/g, (c) => c.toLowerCase())
  return text.includes('dag') && text.includes('airflow')
}

/** An .airflowignore: the folder holding it (relative to the DAG folder, '' for the top) and its lines. */
export interface IgnoreFile {
  folder: string
  text: string
}

/**
 * Whether an .airflowignore of `path`'s folder or one above it ignores the file or a folder on
 * the way to it. Each file's patterns apply to paths relative to its own folder, as in Airflow.
 */
export function ignoredByAirflow(
  path: string,
  ignoreFiles: readonly IgnoreFile[],
  syntax: IgnoreSyntax
): boolean {
  for (const { folder, text } of ignoreFiles) {
    const base = folder === '' ? '' : `${folder}/`
    if (!path.startsWith(base)) continue
    const relative = path.slice(base.length)
    const lines = text
      .split(/\r?\n/)
      .map((line) => line.replace(/\s*#.*$/, '').trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
    if (syntax === 'regexp' ? regexpIgnores(relative, lines) : globIgnores(relative, lines)) {
      return true
    }
  }
  return false
}

/** Airflow 2: re.search of each pattern on the folders on the way and on the file itself. */
function regexpIgnores(relative: string, lines: readonly string[]): boolean {
  const parts = relative.split('/')
  const candidates = parts.map((_, index) => parts.slice(0, index + 1).join('/'))
  return lines.some((line) => {
    let pattern: RegExp
    try {
      pattern = new RegExp(line)
    } catch {
      // Airflow skips a pattern it cannot compile, with a warning.
      return false
    }
    return candidates.some((candidate) => pattern.test(candidate))
  })
}

/** Airflow 3: gitignore-style patterns. */
function globIgnores(relative: string, lines: readonly string[]): boolean {
  try {
    return !compileFilter([], parsePatterns(lines))(relative)
  } catch (error) {
    if (error instanceof PatternError) return false
    throw error
  }
}
