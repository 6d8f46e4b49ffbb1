import { capList, formatDuration } from '../common/summary.js'
import { MARKER_PREFIX, type CheckResult } from './constants.js'
import type { Changes } from './changes.js'
import { code, plainText } from './markdown.js'
import type { RefreshSummary } from './refresh.js'

// The comment bodies, built from literal values only: what the step read and what the previous
// comment said. The first line is the marker that finds the comment again; a key can never be
// there, so a key that looks like a marker cannot make a comment look like another target's.

/** GitHub refuses a comment over 65,536 characters; bodies stay far below, whatever the keys. */
export const BODY_LIMIT = 40_000
/** Lists longer than this are folded in <details>. */
export const FOLD_AFTER = 10
/** Keys listed per list in a plan; the rest are counted. */
export const PLAN_LIST_CAP = 50
/** Keys listed per list in a deploy note, which stays short. */
export const NOTE_LIST_CAP = 5
export const NOTE_WORKER_CAP = 20

export interface RunLink {
  serverUrl: string
  repository: string
  runId: string
  attempt: string
}

export interface PlanReport {
  target: string
  changes: Changes
  validation?: CheckResult
  planOutcome?: CheckResult
  /** The delete guard's refusal; undefined when it would let the deletes through. */
  refusal?: string
  mwaa?: { environment: string; updated?: boolean }
  run: RunLink
  /** The pull request's head commit the plan was made for. */
  sha?: string
}

export interface DeployedReport {
  target: string
  sha: string
  changes: Changes
  refresh?: RefreshSummary
  mwaa?: { environment: string; updated?: boolean }
  run: RunLink
}

/** Marker text is percent-encoded, so `-->` or a line break in a prefix cannot end the comment. */
function markerText(text: string): string {
  return text.replace(/[^\w.~/:-]/gu, (char) => {
    try {
      return encodeURIComponent(char)
    } catch {
      return '%EF%BF%BD' // a lone surrogate
    }
  })
}

export function planMarker(target: string): string {
  return `<!-- ${MARKER_PREFIX}:plan ${markerText(target)} -->`
}

export function deployedMarker(target: string, sha: string): string {
  return `<!-- ${MARKER_PREFIX}:deployed ${markerText(target)} ${markerText(sha)} -->`
}

const STATE_FAILING = `<!-- ${MARKER_PREFIX}:state failing -->`
const STATE_PASSING = `<!-- ${MARKER_PREFIX}:state passing -->`

/** True when `body` begins with `marker` on its own first line. */
export function hasMarker(body: string | undefined | null, marker: string): boolean {
  if (typeof body !== 'string') return false
  const firstLine = body.split('\n', 1)[0] ?? ''
  return firstLine.replace(/\r$/, '') === marker
}

/** A failing check: validation or the plan did not succeed, or the delete guard would refuse. */
export function isFailing(
  report: Pick<PlanReport, 'validation' | 'planOutcome' | 'refusal'>
): boolean {
  const bad = (result?: CheckResult) => result === 'failure' || result === 'cancelled'
  return bad(report.validation) || bad(report.planOutcome) || report.refusal !== undefined
}

/** Whether an earlier plan comment showed a failing check (its state line says so). */
export function showedFailure(previousBody: string | undefined): boolean {
  // A body edited in GitHub's editor comes back with CRLF line ends.
  const head = previousBody?.split('\n', 3).map((line) => line.replace(/\r$/, ''))
  return head?.includes(STATE_FAILING) ?? false
}

export function runUrl(run: RunLink): string {
  const base = `${run.serverUrl}/${run.repository}/actions/runs/${run.runId}`
  return run.attempt !== '' && run.attempt !== '1' ? `${base}/attempts/${run.attempt}` : base
}

function runLine(run: RunLink, sha?: string): string {
  const attempt = run.attempt !== '' ? `, attempt ${plainText(run.attempt, 10)}` : ''
  const commit = sha !== undefined ? ` for commit ${code(sha.slice(0, 12))}` : ''
  return `[Workflow run ${plainText(run.runId, 20)}${attempt}](${runUrl(run)})${commit}`
}

const RESULT_WORDS: Record<CheckResult, string> = {
  success: '✅ passed',
  failure: '❌ failed',
  cancelled: '⚠️ cancelled',
  skipped: '⏭️ skipped'
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`

/**
 * A list of keys: the first `max` as code, the rest counted, folded in <details> when long. A
 * key is inline code on one line, so it cannot close the <details> or start HTML of its own.
 */
function keyList(
  keys: readonly string[],
  total: number,
  max: number,
  options: { bullet: string; summary: string }
): string[] {
  const { shown } = capList(keys, max)
  const lines = shown.map((key) => `- ${options.bullet}${code(key)}`)
  const more = total - shown.length
  if (more > 0) lines.push(`- … and ${more} more (the whole list is in the workflow run)`)
  if (total <= FOLD_AFTER) return [...lines, '']
  return [`<details><summary>${options.summary}</summary>`, '', ...lines, '', '</details>', '']
}

function mwaaLine(mwaa: PlanReport['mwaa'], tense: 'plan' | 'deployed'): string[] {
  if (mwaa === undefined) return []
  const environment = code(mwaa.environment, 80)
  const what =
    mwaa.updated === undefined
      ? 'whether an environment update is needed is not known'
      : tense === 'plan'
        ? mwaa.updated
          ? '**a merge starts an environment update**'
          : 'a merge starts no environment update'
        : mwaa.updated
          ? '**an environment update was started**'
          : 'no environment update was needed'
  return [`MWAA environment ${environment}: ${what}.`, '']
}

/** The plan comment; `previousBody` is the comment it replaces, if any. */
export function planBody(report: PlanReport, previousBody?: string): string {
  // Caps halve until the body fits: a plan of thousands of long keys still posts.
  for (let cap = PLAN_LIST_CAP; ; cap = Math.floor(cap / 2)) {
    const body = buildPlanBody(report, previousBody, cap)
    if (body.length <= BODY_LIMIT || cap === 0) return body
  }
}

function buildPlanBody(report: PlanReport, previousBody: string | undefined, cap: number): string {
  const { changes } = report
  const failing = isFailing(report)
  const lines = [planMarker(report.target), failing ? STATE_FAILING : STATE_PASSING]
  lines.push(`### Deploy plan for ${code(report.target)}`, '')
  if (!failing && showedFailure(previousBody)) {
    lines.push('✅ **The checks pass again.** The previous plan here showed a failing check.', '')
  }
  const planFailed = report.planOutcome === 'failure' || report.planOutcome === 'cancelled'
  const total = changes.uploadedCount + changes.deletedCount
  if (planFailed) {
    lines.push(
      `❌ **The plan did not complete (${report.planOutcome}).** What is listed below may be incomplete; see the run.`,
      ''
    )
  }
  // A plan that did not run (a fork's pull request, plan: false) says nothing of changes.
  const planSkipped = report.planOutcome === 'skipped'
  if (planSkipped) {
    lines.push(
      '**No plan.** The dry run did not run for this pull request (a fork has no credentials for it, or the check was told not to plan).',
      ''
    )
  }
  if (total === 0 && !planFailed && !planSkipped) {
    lines.push(`**No changes.** A merge would upload nothing and delete nothing.`, '')
  } else if (total > 0) {
    lines.push(
      `A merge would **delete ${plural(changes.deletedCount, 'file')}** and upload ${plural(changes.uploadedCount, 'file')}.`,
      ''
    )
  }
  if (changes.truncated) {
    lines.push('The lists below are the first keys only; the counts are complete.', '')
  }
  if (changes.deletedCount > 0) {
    lines.push(`#### 🗑️ To delete (${changes.deletedCount})`, '')
    lines.push(
      ...keyList(changes.deleted, changes.deletedCount, cap, {
        bullet: '🗑️ **delete** ',
        summary: `Show the ${changes.deletedCount} files to delete`
      })
    )
  }
  if (changes.uploadedCount > 0) {
    lines.push(`#### To upload (${changes.uploadedCount})`, '')
    lines.push(
      ...keyList(changes.uploaded, changes.uploadedCount, cap, {
        bullet: '',
        summary: `Show the ${changes.uploadedCount} files to upload`
      })
    )
  }
  lines.push('| Check | Result |', '| --- | --- |')
  lines.push(`| DAG validation | ${checkWord(report.validation)} |`)
  lines.push(`| Plan | ${checkWord(report.planOutcome)} |`)
  lines.push(
    `| Delete guard | ${
      report.refusal === undefined
        ? '✅ would let the deletes through'
        : `❌ would refuse: ${plainText(report.refusal, 1000)}`
    } |`,
    ''
  )
  lines.push(...mwaaLine(report.mwaa, 'plan'))
  lines.push(runLine(report.run, report.sha), '')
  return lines.join('\n')
}

function checkWord(result: CheckResult | undefined): string {
  return result === undefined ? 'not reported' : RESULT_WORDS[result]
}

/** The short note left on a merged pull request once its changes are deployed. */
export function deployedBody(report: DeployedReport): string {
  const { changes } = report
  const lines = [deployedMarker(report.target, report.sha)]
  lines.push(`### Deployed to ${code(report.target)}`, '')
  const total = changes.uploadedCount + changes.deletedCount
  lines.push(
    total === 0
      ? `Commit ${code(report.sha.slice(0, 12))} changed no files there.`
      : `Commit ${code(report.sha.slice(0, 12))}: ${changes.uploadedCount} uploaded, ${changes.deletedCount} deleted.`,
    ''
  )
  const inline = (label: string, keys: readonly string[], count: number) => {
    if (count === 0) return
    const { shown } = capList(keys, NOTE_LIST_CAP)
    const more = count - shown.length
    lines.push(
      `${label}: ${shown.map((key) => code(key)).join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
      ''
    )
  }
  inline('Deleted', changes.deleted, changes.deletedCount)
  inline('Uploaded', changes.uploaded, changes.uploadedCount)
  lines.push(...workerLines(report.refresh))
  lines.push(...mwaaLine(report.mwaa, 'deployed'))
  lines.push(runLine(report.run), '')
  return lines.join('\n')
}

function workerLines(refresh: RefreshSummary | undefined): string[] {
  if (refresh === undefined) return []
  const { workers } = refresh
  if (workers.length === 0) {
    return [
      refresh.error !== undefined
        ? `Workers: ❌ ${plainText(refresh.error, 500)}`
        : 'Workers: none to refresh.',
      ''
    ]
  }
  const refreshed = workers.filter((worker) => worker.status === 'refreshed').length
  const head = `Workers: ${refreshed} of ${workers.length} refreshed${refresh.ok === false ? ' ❌' : ''}.`
  const { shown, omitted } = capList(workers, NOTE_WORKER_CAP)
  const rows = shown.map((worker) => {
    const details = [
      worker.durationMs !== undefined ? formatDuration(worker.durationMs) : undefined,
      worker.filesVerified !== undefined
        ? `${plural(worker.filesVerified, 'file')} verified`
        : undefined,
      worker.reason !== undefined ? plainText(worker.reason, 200) : undefined
    ].filter((part) => part !== undefined)
    const mark = worker.status === 'refreshed' ? '✅' : '❌'
    return `- ${mark} ${code(worker.instanceId, 64)} ${plainText(worker.status, 20)}${details.length > 0 ? ` (${details.join('; ')})` : ''}`
  })
  if (omitted > 0) rows.push(`- … and ${omitted} more`)
  return [head, '', ...rows, '']
}
