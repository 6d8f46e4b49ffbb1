import { readFile } from 'node:fs/promises'
import { InputError } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { Input } from './constants.js'

// The DAG files a deploy-dags step changed, from its changes file (or its changes JSON), as paths
// in the environment's DAG folder: the files whose import errors are this deploy's.

export interface DagChanges {
  /** Paths relative to the DAG folder, of the uploaded objects under it. */
  uploaded: string[]
  /** Uploaded keys outside the environment's DAG folder: not this environment's DAGs. */
  elsewhere: string[]
  /** The inline JSON was cut by deploy-dags; the list is incomplete. */
  truncated: boolean
}

/** Reads the input: a JSON document when it starts with `{`, else the path of a changes file. */
export async function readDagChanges(value: string): Promise<unknown> {
  const text = value.startsWith('{')
    ? value
    : await readFile(value, 'utf8').catch(() => {
        throw new InputError(
          Input.DagChanges,
          `'${escapeText(value)}' is neither a changes JSON document nor a readable file; pass deploy-dags' changes-file output`
        )
      })
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new InputError(
      Input.DagChanges,
      `is not the JSON deploy-dags writes ({"uploaded": [...], "deleted": [...]})`
    )
  }
}

/** Sorts the uploaded keys by whether they lie in the DAG folder `dagS3Path` (pure). */
export function dagChangesIn(document: unknown, dagS3Path: string): DagChanges {
  const record =
    typeof document === 'object' && document !== null && !Array.isArray(document)
      ? (document as Record<string, unknown>)
      : {}
  const uploaded = record.uploaded
  if (!Array.isArray(uploaded) || !uploaded.every((key) => typeof key === 'string')) {
    throw new InputError(
      Input.DagChanges,
      'has no "uploaded" list of keys; pass deploy-dags\' changes-file output'
    )
  }
  const folder = dagS3Path.replace(/^\/+|\/+$/g, '')
  const prefix = folder === '' ? '' : `${folder}/`
  const inside: string[] = []
  const elsewhere: string[] = []
  for (const key of uploaded as string[]) {
    if (key.startsWith(prefix) && key.length > prefix.length) inside.push(key.slice(prefix.length))
    else elsewhere.push(key)
  }
  return { uploaded: inside, elsewhere, truncated: record.truncated === true }
}
