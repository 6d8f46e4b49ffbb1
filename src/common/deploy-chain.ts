import type { WorkerStatus } from '../refresh-workers/result.js'
import { cap } from './one-line.js'
import { formatDuration, markdownCode } from './summary.js'
import { escapeText } from './untrusted.js'
import { isRecord } from './json-shape.js'

// The deploy summary's picture of where the commit went: the repository, the bucket, then either
// the refresh function and its workers or the MWAA environment. Job summaries render ```mermaid
// blocks. Every label from outside (names, keys, instance ids, the function's answer) is written
// as a quoted label whose every character outside a small safe set is one of Mermaid's entity
// codes (#34; for "), so that it cannot end the label, start a statement on a new line, open a
// %%{init}%% directive, turn into a Markdown string with a backtick or close the code fence.

/** Beyond this many workers, the picture shows counts and a table lists the workers. */
export const WORKERS_IN_PICTURE = 12
/** Rows of the worker table; the rest are counted. */
export const WORKERS_IN_TABLE = 100

const NAME_LIMIT = 100
const REASON_LIMIT = 160
const MESSAGE_LIMIT = 300

export interface RefreshStep {
  /** The function as the deploy named it. */
  functionName: string
  /** invoke-lambda's `response` output: the function's JSON result, or Lambda's error payload. */
  response: string | undefined
  /** invoke-lambda's `function-error` output: empty or undefined when the function returned. */
  functionError?: string
}

export interface MwaaStep {
  environment: string
  /** deploy-mwaa's `updated` output: an environment update was started. */
  updated: boolean
  /** deploy-mwaa's `status` output: the environment's status when the step ended. */
  status: string
}

export interface DeployChainInput {
  /** owner/name */
  repository: string
  sha: string
  bucket: string
  prefix: string
  uploaded: number
  deleted: number
  refresh?: RefreshStep
  mwaa?: MwaaStep
}

/** One worker as read from the function's result; `unknown` stands for a status it does not know. */
export interface ReadWorker {
  instanceId: string
  status: WorkerStatus | 'unknown'
  durationMs?: number
  filesVerified?: number
  reason?: string
}

/**
 * What the function's answer says. `result`: its JSON result (entries that were no worker are
 * counted in `unreadable`). `error`: Lambda's error payload, whose message is the result's one
 * line. `unreadable`: anything else, with why.
 */
export type RefreshReading =
  | { kind: 'result'; ok: boolean; workers: ReadWorker[]; unreadable: number; error?: string }
  | { kind: 'error'; errorType: string; errorMessage: string }
  | { kind: 'unreadable'; why: string }

const STATUSES: readonly WorkerStatus[] = ['refreshed', 'failed', 'timed-out', 'offline']

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined

/**
 * Reads invoke-lambda's `response` output. The answer is the function's to give, and a function
 * that is not ours, or an older one, may answer anything: nothing in it is trusted to have a shape.
 */
export function readRefreshResponse(
  response: string | undefined,
  functionError?: string
): RefreshReading {
  if (response === undefined || response.trim() === '') {
    return {
      kind: 'unreadable',
      why: 'the response is empty (too large to pass inline, or the function was not invoked)'
    }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(response)
  } catch {
    return { kind: 'unreadable', why: 'the response is not JSON' }
  }
  if (!isRecord(parsed)) return { kind: 'unreadable', why: 'the response is no JSON object' }
  if (typeof parsed.errorMessage === 'string' || (functionError ?? '') !== '') {
    return {
      kind: 'error',
      errorType:
        typeof parsed.errorType === 'string' ? parsed.errorType : functionError || 'Unhandled',
      errorMessage:
        typeof parsed.errorMessage === 'string' ? parsed.errorMessage : 'no error message'
    }
  }
  if (typeof parsed.ok !== 'boolean' || !Array.isArray(parsed.workers)) {
    return { kind: 'unreadable', why: 'the response has no ok and workers of a refresh result' }
  }
  const workers: ReadWorker[] = []
  let unreadable = 0
  for (const entry of parsed.workers as unknown[]) {
    const worker = readWorker(entry)
    if (worker === undefined) unreadable += 1
    else workers.push(worker)
  }
  return {
    kind: 'result',
    ok: parsed.ok,
    workers,
    unreadable,
    ...(typeof parsed.error === 'string' ? { error: parsed.error } : {})
  }
}

function readWorker(entry: unknown): ReadWorker | undefined {
  if (!isRecord(entry) || typeof entry.instanceId !== 'string' || entry.instanceId === '') {
    return undefined
  }
  const status = STATUSES.find((known) => known === entry.status) ?? 'unknown'
  const durationMs = count(entry.durationMs)
  const filesVerified = count(entry.filesVerified)
  return {
    instanceId: entry.instanceId,
    status,
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(filesVerified !== undefined ? { filesVerified } : {}),
    ...(typeof entry.reason === 'string' ? { reason: entry.reason } : {})
  }
}

const SAFE = /[A-Za-z0-9 _.,/@+()-]/

/**
 * Text from outside as the inside of a quoted Mermaid label: one line (escapeText), at most
 * `limit` characters, and every character outside a small safe set as a decimal entity code.
 * The colon is coded too: Mermaid drops the last `;` of a line matching `style.*:\S*#.*;`
 * before parsing, which would cut an entity code short.
 */
export function mermaidText(text: string, limit: number): string {
  let out = ''
  for (const char of cap(escapeText(text), limit)) {
    out += SAFE.test(char) ? char : `#${char.codePointAt(0)};`
  }
  return out
}

type Tone = 'good' | 'bad' | 'pending'

interface Node {
  id: string
  /** Lines already in Mermaid form (mermaidText); joined with <br/>. */
  lines: string[]
  tone?: Tone
}

const TONE_OF: Record<ReadWorker['status'], Tone> = {
  refreshed: 'good',
  failed: 'bad',
  'timed-out': 'bad',
  offline: 'pending',
  unknown: 'pending'
}

// Our own words, coded like the rest: they may hold a colon (see mermaidText).
const own = (text: string) => mermaidText(text, 1000)

/** The chain as a Mermaid flowchart, then the worker table when there are too many to draw. */
export function deployChainMarkdown(input: DeployChainInput): string {
  const nodes: Node[] = []
  const edges: [string, string][] = []
  const add = (node: Node, from?: string) => {
    nodes.push(node)
    if (from !== undefined) edges.push([from, node.id])
  }
  add({
    id: 'repository',
    lines: [
      `${mermaidText(input.repository, NAME_LIMIT)}@${mermaidText([...input.sha].slice(0, 7).join(''), 40)}`
    ]
  })
  const prefix = input.prefix === '' ? '' : `${input.prefix.replace(/\/+$/, '')}/`
  add(
    {
      id: 'bucket',
      lines: [
        own('s3://') + mermaidText(`${input.bucket}/${prefix}`, NAME_LIMIT),
        own(`${input.uploaded} uploaded, ${input.deleted} deleted`)
      ]
    },
    'repository'
  )
  let table: string[] = []
  if (input.refresh !== undefined) table = addRefresh(input.refresh, add)
  if (input.mwaa !== undefined) addMwaa(input.mwaa, add)

  const diagram = [
    '```mermaid',
    'flowchart LR',
    ...nodes.map((node) => `  ${node.id}["${node.lines.join('<br/>')}"]`),
    ...edges.map(([from, to]) => `  ${from} --> ${to}`),
    '  classDef good fill:#dcfce7,stroke:#15803d',
    '  classDef bad fill:#fee2e2,stroke:#b91c1c',
    '  classDef pending fill:#fef9c3,stroke:#a16207',
    ...(['good', 'bad', 'pending'] as const).flatMap((tone) => {
      const ids = nodes.filter((node) => node.tone === tone).map((node) => node.id)
      return ids.length === 0 ? [] : [`  class ${ids.join(',')} ${tone}`]
    }),
    '```'
  ]
  return [...diagram, ...(table.length > 0 ? ['', ...table] : []), ''].join('\n')
}

function addRefresh(step: RefreshStep, add: (node: Node, from?: string) => void): string[] {
  const reading = readRefreshResponse(step.response, step.functionError)
  const name = mermaidText(step.functionName, NAME_LIMIT)
  if (reading.kind === 'unreadable') {
    add({ id: 'refresh', lines: [name, own('refresh function')], tone: 'pending' }, 'bucket')
    add(
      { id: 'answer', lines: [own(`the response could not be read: ${reading.why}`)], tone: 'bad' },
      'refresh'
    )
    return []
  }
  if (reading.kind === 'error') {
    add(
      {
        id: 'refresh',
        lines: [name, own('failed (') + mermaidText(reading.errorType, 60) + own(')')],
        tone: 'bad'
      },
      'bucket'
    )
    add(
      { id: 'answer', lines: [mermaidText(reading.errorMessage, MESSAGE_LIMIT)], tone: 'bad' },
      'refresh'
    )
    return []
  }
  add(
    {
      id: 'refresh',
      lines: [name, own(reading.ok ? 'succeeded' : 'failed')],
      tone: reading.ok ? 'good' : 'bad'
    },
    'bucket'
  )
  if (!reading.ok && reading.error !== undefined) {
    add(
      { id: 'answer', lines: [mermaidText(reading.error, MESSAGE_LIMIT)], tone: 'bad' },
      'refresh'
    )
  }
  if (reading.unreadable > 0) {
    add(
      {
        id: 'unread',
        lines: [
          own(
            `${reading.unreadable} worker entr${reading.unreadable === 1 ? 'y' : 'ies'} could not be read`
          )
        ],
        tone: 'pending'
      },
      'refresh'
    )
  }
  const { workers } = reading
  if (workers.length === 0 && reading.unreadable === 0) {
    add({ id: 'workers', lines: [own('no worker in service')] }, 'refresh')
    return []
  }
  if (workers.length <= WORKERS_IN_PICTURE) {
    workers.forEach((worker, index) =>
      add(
        { id: `worker${index + 1}`, lines: workerLines(worker), tone: TONE_OF[worker.status] },
        'refresh'
      )
    )
    return []
  }
  for (const status of [...STATUSES, 'unknown'] as const) {
    const many = workers.filter((worker) => worker.status === status).length
    if (many > 0) {
      add(
        {
          id: `status${status.replace('-', '')}`,
          lines: [own(`${many} ${status === 'unknown' ? 'of unknown status' : status}`)],
          tone: TONE_OF[status]
        },
        'refresh'
      )
    }
  }
  return workerTable(workers)
}

function workerLines(worker: ReadWorker): string[] {
  const lines = [mermaidText(worker.instanceId, NAME_LIMIT)]
  const details = [worker.status === 'unknown' ? 'unknown status' : worker.status]
  if (worker.status === 'refreshed' && worker.filesVerified !== undefined) {
    details.push(`${worker.filesVerified} file${worker.filesVerified === 1 ? '' : 's'} verified`)
  }
  if (worker.durationMs !== undefined && worker.status !== 'offline') {
    details.push(formatDuration(worker.durationMs))
  }
  lines.push(own(details.join(', ')))
  if (worker.reason !== undefined) lines.push(mermaidText(worker.reason, REASON_LIMIT))
  return lines
}

/** Workers not refreshed first: they are what the reader came for. */
function workerTable(workers: readonly ReadWorker[]): string[] {
  const ordered = [
    ...workers.filter((worker) => worker.status !== 'refreshed'),
    ...workers.filter((worker) => worker.status === 'refreshed')
  ]
  const shown = ordered.slice(0, WORKERS_IN_TABLE)
  const rows = shown.map((worker) => {
    const cells = [
      markdownCode(cap(escapeText(worker.instanceId), NAME_LIMIT)),
      worker.status === 'unknown' ? 'unknown' : worker.status,
      worker.filesVerified !== undefined ? String(worker.filesVerified) : '',
      worker.durationMs !== undefined ? formatDuration(worker.durationMs) : '',
      worker.reason !== undefined ? markdownCode(cap(escapeText(worker.reason), REASON_LIMIT)) : ''
    ]
    return `| ${cells.join(' | ')} |`
  })
  const left = ordered.length - shown.length
  const allRefreshed = ordered.slice(shown.length).every((worker) => worker.status === 'refreshed')
  return [
    '| Worker | Status | Files verified | Duration | Reason |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    ...(left > 0
      ? [
          '',
          `…and ${left} more worker${left === 1 ? '' : 's'}${allRefreshed ? ', all refreshed' : ''}.`
        ]
      : [])
  ]
}

function addMwaa(step: MwaaStep, add: (node: Node, from?: string) => void): void {
  const status = step.status === '' ? 'status unknown' : step.status
  const tone: Tone = /FAILED|ERROR|DELET/.test(step.status)
    ? 'bad'
    : step.status === 'AVAILABLE'
      ? 'good'
      : 'pending'
  add(
    {
      id: 'environment',
      lines: [
        own('MWAA ') + mermaidText(step.environment, NAME_LIMIT),
        own(step.updated ? 'update started' : 'no update needed'),
        mermaidText(status, 40)
      ],
      tone
    },
    'bucket'
  )
}
