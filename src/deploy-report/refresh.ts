import { readRefreshResponse, type ReadWorker } from '../common/deploy-chain.js'

// The refresh function's answer as the deploy note tells it: read by the one reader of that
// answer (src/common/deploy-chain.ts), which also draws it in the deploy summary.

export type WorkerLine = ReadWorker

export interface RefreshSummary {
  ok?: boolean
  workers: WorkerLine[]
  error?: string
}

/** undefined when no refresh answer was given or it cannot be read. */
export function parseRefreshResponse(
  text: string,
  functionError?: string
): RefreshSummary | undefined {
  const reading = readRefreshResponse(text, functionError)
  switch (reading.kind) {
    case 'result':
      return {
        ok: reading.ok,
        workers: reading.workers,
        ...(reading.error !== undefined ? { error: reading.error } : {})
      }
    case 'error':
      return { ok: false, workers: [], error: `${reading.errorType}: ${reading.errorMessage}` }
    case 'unreadable':
      return undefined
  }
}
