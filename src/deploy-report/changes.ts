import { escapeText } from '../common/untrusted.js'

// deploy-dags' `changes` output: {"uploaded":[keys],"deleted":[keys]}, or, when it had to be cut
// to pass on inline, the first keys with "truncated": true and the real counts.

export interface Changes {
  uploaded: string[]
  deleted: string[]
  uploadedCount: number
  deletedCount: number
  /** The lists hold only the first keys; the counts are the whole. */
  truncated: boolean
}

export const NO_CHANGES: Changes = {
  uploaded: [],
  deleted: [],
  uploadedCount: 0,
  deletedCount: 0,
  truncated: false
}

/** The changes, or the one problem that makes `text` not deploy-dags' changes document. */
export function parseChanges(text: string): Changes | { problem: string } {
  if (text.trim() === '') return NO_CHANGES
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    return {
      problem: `is not JSON; give deploy-dags' changes output (${escapeText(text.slice(0, 80))})`
    }
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return { problem: 'must be a JSON object like {"uploaded":[…],"deleted":[…]}' }
  }
  const record = document as Record<string, unknown>
  const uploaded = keyList(record.uploaded)
  const deleted = keyList(record.deleted)
  if (uploaded === undefined || deleted === undefined) {
    return { problem: 'uploaded and deleted must be lists of object keys (strings)' }
  }
  const truncated = record.truncated === true
  return {
    uploaded,
    deleted,
    uploadedCount: truncated ? count(record.uploadedCount, uploaded.length) : uploaded.length,
    deletedCount: truncated ? count(record.deletedCount, deleted.length) : deleted.length,
    truncated
  }
}

function keyList(value: unknown): string[] | undefined {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((key) => typeof key === 'string')) return undefined
  return value as string[]
}

/** A count the document gives, never fewer than the keys it lists. */
function count(value: unknown, listed: number): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= listed
    ? value
    : listed
}
