import { byText } from '../common/compare.js'
import { escapeText } from '../common/untrusted.js'
import { manifestEntry, type Manifest } from '../deploy-dags/plan.js'
import type { ParseOutcome } from './airflow.js'
import { cap, joinWithinLimit } from '../common/one-line.js'
import { parseSyncReport, SYNC_RESULT_MARKER, type SyncReport } from './sync-report.js'
import { manifestTree } from './tree.js'

/**
 * refreshed: synced and every checked file verified. failed: the sync or the verification failed.
 * timed-out: no answer before the deadline. offline: SSM does not report the agent Online, so the
 * command was never sent (a failure unless the configuration tolerates it).
 */
export type WorkerStatus = 'refreshed' | 'failed' | 'timed-out' | 'offline'

export interface WorkerResult {
  /** The EC2 instance id; in efs mode, the folder the function wrote. */
  instanceId: string
  status: WorkerStatus
  durationMs: number
  filesVerified: number
  /** The end of the worker's output, as it came (JSON keeps it inert); see outputTail. */
  outputTail: string
  /** Why the worker is not refreshed, worded for the person reading the deploy. */
  reason?: string
}

export const OUTPUT_TAIL_LIMIT = 2000

/** The last `limit` characters of a worker's output: the end is where a failure says why. */
export function outputTail(output: string, limit = OUTPUT_TAIL_LIMIT): string {
  const chars = [...output]
  if (chars.length <= limit) return output
  return `…${chars.slice(chars.length - limit).join('')}`
}

/** verified: as the manifest says. mismatched: other bytes. missing: absent though deployed. unexpected: present though deleted. */
export type FileVerdict = 'verified' | 'mismatched' | 'missing' | 'unexpected'

export interface Verification {
  verified: number
  /** Every path not verified, in path order. */
  problems: { path: string; verdict: Exclude<FileVerdict, 'verified'> }[]
}

const SHA256 = /^[0-9a-f]{64}$/

/**
 * Compares what a worker holds with what deploy-dags recorded. For each of `paths` (relative to
 * the prefix) the worker reports the SHA-256 of its file, or null when it has none. The manifest
 * is read after the sync, so it is the truth even when a later deploy changed a path again: a
 * path it lists must be there with its hash, a path it does not list (a delete) must be gone.
 */
export function verifyWorkerFiles(
  paths: readonly string[],
  reported: ReadonlyMap<string, string | null>,
  manifest: Manifest
): Verification {
  const verification: Verification = { verified: 0, problems: [] }
  for (const path of [...new Set(paths)].sort(byText)) {
    const verdict = fileVerdict(manifestEntry(manifest, path)?.sha256, reported.get(path) ?? null)
    if (verdict === 'verified') verification.verified += 1
    else verification.problems.push({ path, verdict })
  }
  return verification
}

function fileVerdict(expected: string | undefined, found: string | null): FileVerdict {
  if (expected === undefined) return found === null ? 'verified' : 'unexpected'
  if (found === null) return 'missing'
  const hash = found.trim().toLowerCase()
  return SHA256.test(hash) && hash === expected.toLowerCase() ? 'verified' : 'mismatched'
}

const PATHS_IN_REASON = 5

/** The reason for a worker whose files do not all verify, or undefined when they do. */
export function verificationProblem(verification: Verification): string | undefined {
  const { problems } = verification
  if (problems.length === 0) return undefined
  const shown = problems
    .slice(0, PATHS_IN_REASON)
    .map(({ path, verdict }) => `${cap(escapeText(path), 80)} ${verdict}`)
  const more = problems.length - shown.length
  return (
    `${problems.length} file${problems.length === 1 ? '' : 's'} not as deployed: ${shown.join(', ')}` +
    (more > 0 ? ` and ${more} more` : '')
  )
}

export interface RefreshResult {
  ok: boolean
  kind: 'deploy' | 'resync' | 'launch'
  /** s3://bucket/prefix/ the workers were converged to. */
  source: string
  /** The commit deployed, for a deploy event. */
  sha?: string
  counts: Record<WorkerStatus, number>
  /** In instance id order. */
  workers: WorkerResult[]
  /** Set when ok is false: the one line thrown as the function error. */
  error?: string
  /** With the Airflow confirmation on: what Airflow reported of the changed files. */
  airflow?: ParseOutcome
}

export interface ResultInput {
  kind: RefreshResult['kind']
  bucket: string
  prefix: string
  sha?: string
  workers: readonly WorkerResult[]
  tolerateOffline: boolean
}

/**
 * The function's JSON result. A refresh with no workers is ok: there is nothing to leave stale
 * (a group scaled to zero syncs each new worker at launch).
 */
export function refreshResult(input: ResultInput): RefreshResult {
  const workers = [...input.workers].sort((a, b) => byText(a.instanceId, b.instanceId))
  const counts: Record<WorkerStatus, number> = {
    refreshed: 0,
    failed: 0,
    'timed-out': 0,
    offline: 0
  }
  for (const worker of workers) counts[worker.status] += 1
  const error = failureLine(workers, input.tolerateOffline)
  return {
    ok: error === undefined,
    kind: input.kind,
    source: `s3://${input.bucket}/${input.prefix === '' ? '' : `${input.prefix}/`}`,
    ...(input.sha !== undefined ? { sha: input.sha } : {}),
    counts,
    workers,
    ...(error !== undefined ? { error } : {})
  }
}

export const FAILURE_LINE_LIMIT = 1000
const REASON_LIMIT = 160

const VERB: Record<Exclude<WorkerStatus, 'refreshed'>, string> = {
  failed: 'failed',
  'timed-out': 'timed out',
  offline: 'is not Online in SSM'
}

/**
 * One line naming every worker that is not refreshed and why, or undefined when none counts as a
 * failure. invoke-lambda shows it as the deploy's error, so it stays one line, escaped, and
 * within FAILURE_LINE_LIMIT characters; the workers left out are counted.
 */
export function failureLine(
  workers: readonly WorkerResult[],
  tolerateOffline: boolean
): string | undefined {
  const failing = [...workers]
    .filter(
      (worker) => worker.status !== 'refreshed' && !(worker.status === 'offline' && tolerateOffline)
    )
    .sort((a, b) => byText(a.instanceId, b.instanceId))
  if (failing.length === 0) return undefined
  const head = `${failing.length} of ${workers.length} worker${workers.length === 1 ? '' : 's'} not refreshed: `
  const parts = failing.map((worker) => {
    const verb = VERB[worker.status as Exclude<WorkerStatus, 'refreshed'>]
    const reason =
      worker.reason === undefined ? '' : ` (${cap(escapeText(worker.reason), REASON_LIMIT)})`
    return `${cap(escapeText(worker.instanceId), 64)} ${verb}${reason}`
  })
  return joinWithinLimit(head, parts, FAILURE_LINE_LIMIT)
}

/** Thrown with the result's one line, so Lambda reports a function error and invoke-lambda fails. */
export class RefreshFailed extends Error {
  constructor(readonly result: RefreshResult) {
    super(result.error ?? 'the refresh failed')
    this.name = 'RefreshFailed'
  }
}

/** What the function knows of one worker's sync when it judges it. */
export interface SyncOutcome {
  instanceId: string
  state: 'succeeded' | 'failed' | 'timed-out'
  reason?: string
  output: string
  durationMs: number
}

/**
 * A worker counts as refreshed only when its sync succeeded and what it reports matches the
 * manifest: the digest of its whole folder equals the manifest's, and each path asked about holds
 * the recorded bytes (or is gone, when deleted). A sync that exited 0 without a report is failed.
 */
export function judgeWorker(
  outcome: SyncOutcome,
  manifest: Manifest,
  reportPaths: readonly string[]
): WorkerResult {
  const base = {
    instanceId: outcome.instanceId,
    durationMs: outcome.durationMs,
    // The report line is what the verdict is made of; the person reading wants the lines around it.
    outputTail: outputTail(
      outcome.output
        .split('\n')
        .filter((line) => !line.startsWith(SYNC_RESULT_MARKER))
        .join('\n')
    )
  }
  if (outcome.state !== 'succeeded') {
    return {
      ...base,
      status: outcome.state,
      filesVerified: 0,
      ...(outcome.reason !== undefined ? { reason: outcome.reason } : {})
    }
  }
  const report = parseSyncReport(outcome.output)
  if ('problem' in report)
    return { ...base, status: 'failed', filesVerified: 0, reason: report.problem }
  return judgeReport(base, report, manifest, reportPaths)
}

/** The verdict on a sync that ran to its end, from what it reported (see judgeWorker). */
export function judgeReport(
  base: Pick<WorkerResult, 'instanceId' | 'durationMs' | 'outputTail'>,
  report: SyncReport,
  manifest: Manifest,
  reportPaths: readonly string[]
): WorkerResult {
  const verification = verifyWorkerFiles(reportPaths, report.hashes, manifest)
  const problem = verificationProblem(verification)
  if (problem !== undefined) {
    return { ...base, status: 'failed', filesVerified: verification.verified, reason: problem }
  }
  const expected = manifestTree(manifest)
  if (report.tree.sha256 !== expected.sha256) {
    return {
      ...base,
      status: 'failed',
      filesVerified: verification.verified,
      reason: `its DAG folder is not the deployed tree: ${report.tree.files} file${report.tree.files === 1 ? '' : 's'} against ${expected.files} deployed, and their digest differs`
    }
  }
  return { ...base, status: 'refreshed', filesVerified: expected.files }
}
