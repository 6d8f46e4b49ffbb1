import { escapeText, hasControlCharacter } from './untrusted.js'

// Where the DAGs live in S3, checked the same way wherever it is named: by deploy-dags' inputs and
// by the refresh function's environment, so both sides always mean the same folder.

/** Why `value` cannot be a bucket name, or undefined when it can. */
export function bucketNameProblem(value: string): string | undefined {
  if (/^s3:\/\//i.test(value)) {
    return `give the bucket name only (not '${escapeText(value)}'); put the folder in prefix`
  }
  // AWS names are 3-63 lowercase characters; older us-east-1 buckets and S3-compatible stores
  // allow uppercase and underscores up to 255, so accept that wider set but never a path.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/.test(value)) {
    return `'${escapeText(value)}' is not a bucket name (letters, digits, dots, hyphens and underscores; no slashes)`
  }
  return undefined
}

/**
 * A prefix is a folder: surrounding slashes are dropped, and `/` alone is the bucket root (''). The
 * root must be asked for explicitly, so an unset variable cannot turn a sync with delete into one
 * against the whole bucket; callers give an empty value their default instead.
 */
export function normalisePrefix(value: string): { prefix: string } | { problem: string } {
  if (hasControlCharacter(value)) {
    return {
      problem: `'${escapeText(value)}' (shown escaped) holds a control character or line break; write it like dags or airflow/dags`
    }
  }
  const trimmed = value.trim()
  if (/^\/+$/.test(trimmed)) return { prefix: '' }
  const prefix = trimmed.replace(/^\/+|\/+$/g, '')
  const segments = prefix.split('/')
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return {
      problem: `'${escapeText(value)}' has an empty, '.' or '..' segment; write it like dags or airflow/dags (/ for the bucket root)`
    }
  }
  if (prefix.includes('\\')) {
    return { problem: `'${escapeText(value)}' contains a backslash; S3 folders are separated by /` }
  }
  return { prefix }
}

/**
 * A key from a listing asked for with `EncodingType: 'url'` (XML 1.0 cannot carry every character
 * a key may hold: a CR comes back as a LF). S3 encodes listed keys as HTML forms do: `+` is a
 * space, `%2B` a plus.
 */
export function decodeListedKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '))
}
