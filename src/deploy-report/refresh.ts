// The refresh function's JSON result (src/refresh-workers/result.ts), read defensively: it passes
// through a workflow output, may be empty (no refresh ran) or come from an older function.

export interface WorkerLine {
  instanceId: string
  status: string
  durationMs?: number
  filesVerified?: number
  reason?: string
}

export interface RefreshSummary {
  ok?: boolean
  workers: WorkerLine[]
  error?: string
}

/** undefined when no refresh result was given or it is not a JSON object. */
export function parseRefreshResponse(text: string): RefreshSummary | undefined {
  if (text.trim() === '') return undefined
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return undefined
  const record = document as Record<string, unknown>
  const workers = Array.isArray(record.workers) ? record.workers.flatMap(workerLine) : []
  return {
    ...(typeof record.ok === 'boolean' ? { ok: record.ok } : {}),
    workers,
    ...(typeof record.error === 'string' ? { error: record.error } : {})
  }
}

function workerLine(value: unknown): WorkerLine[] {
  if (typeof value !== 'object' || value === null) return []
  const worker = value as Record<string, unknown>
  if (typeof worker.instanceId !== 'string') return []
  const number = (field: unknown) =>
    typeof field === 'number' && Number.isFinite(field) && field >= 0 ? field : undefined
  const durationMs = number(worker.durationMs)
  const filesVerified = number(worker.filesVerified)
  return [
    {
      instanceId: worker.instanceId,
      status: typeof worker.status === 'string' ? worker.status : 'unknown',
      ...(durationMs !== undefined ? { durationMs } : {}),
      ...(filesVerified !== undefined ? { filesVerified } : {}),
      ...(typeof worker.reason === 'string' ? { reason: worker.reason } : {})
    }
  ]
}
