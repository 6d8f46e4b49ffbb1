import { byText } from '../common/compare.js'

/**
 * The worker-sync SSM document (built into infra/refresh-workers.yaml around
 * infra/worker/sync-dags.sh) takes these typed parameters. The bucket, prefix, DAG folder and
 * start command are written into the document at stack creation and are no parameters: whoever
 * may send the document can sync only the configured folder and run only the configured command.
 */
export const DocumentParameter = {
  /** base64 of the newline-separated paths, relative to the prefix, to report the SHA-256 of. */
  ReportPaths: 'ReportPaths',
  /** 'yes' to run the configured start command after a successful sync, else 'no'. */
  StartWorker: 'StartWorker'
} as const

/** The document's allowedPattern for ReportPaths. */
export const BASE64_PATTERN = '^[A-Za-z0-9+/]*={0,2}$'
/** The document's allowedValues for StartWorker. */
export const START_WORKER_VALUES = ['no', 'yes'] as const

/** Longest ReportPaths value sent, in base64 characters: it keeps the command small. */
export const REPORT_PATHS_LIMIT = 6000

/**
 * What the hashes of the asked paths may take of the worker's output. SSM keeps the first 24,000
 * characters; the script's detail lines take at most 8,000, its failed keys about 4,100 and the
 * rest of its report a few hundred, so the report line always fits behind them.
 */
export const REPORT_OUTPUT_BUDGET = 10_000

/** Characters a path adds to the report line: `"<path>": "<64 hex digits>", `. */
const reportedCost = (path: string): number => JSON.stringify(path).length + 70

export const encode = (text: string): string => Buffer.from(text, 'utf8').toString('base64')

/**
 * The paths to ask a worker about: as many of `paths` (sorted, without repeats, none holding a
 * line break) as fit both in REPORT_PATHS_LIMIT and in REPORT_OUTPUT_BUDGET. The worker's tree
 * digest covers every file; these give the per-file verdicts named in a failure.
 */
export function reportPathsFitting(paths: readonly string[]): string[] {
  const chosen: string[] = []
  let bytes = 0
  let output = 0
  for (const path of [...new Set(paths)].sort(byText)) {
    if (/[\r\n]/.test(path)) continue
    const size = Buffer.byteLength(path, 'utf8') + (chosen.length === 0 ? 0 : 1)
    // base64 is 4 characters for every 3 bytes, rounded up.
    if (Math.ceil((bytes + size) / 3) * 4 > REPORT_PATHS_LIMIT) break
    if (output + reportedCost(path) > REPORT_OUTPUT_BUDGET) break
    chosen.push(path)
    bytes += size
    output += reportedCost(path)
  }
  return chosen
}

/** SendCommand's Parameters for a sync of one or more workers. */
export function documentParameters(
  reportPaths: readonly string[],
  startWorker: boolean
): Record<string, string[]> {
  return {
    [DocumentParameter.ReportPaths]: [encode(reportPaths.join('\n'))],
    [DocumentParameter.StartWorker]: [startWorker ? 'yes' : 'no']
  }
}
