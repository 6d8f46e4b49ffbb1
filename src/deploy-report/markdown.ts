import { markdownCode } from '../common/summary.js'
import { cap } from '../common/one-line.js'

// Comment bodies are Markdown with HTML: text from outside (object keys, a refusal, an
// environment name) must neither become markup nor mention anyone.

/** Longest key shown; longer ones are cut, so a hostile key cannot fill the body. */
export const KEY_DISPLAY_LIMIT = 200

/** A key or name as inline code: one line, no backtick to close the span, cut to `limit`. */
export function code(text: string, limit = KEY_DISPLAY_LIMIT): string {
  return markdownCode(cap(text, limit))
}

const MARKDOWN_SPECIAL = /[\\`*_{}[\]()#+!|~]/g
const HTML_ENTITY: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  '"': '&quot;',
  // An entity keeps "@team" and "#123" from becoming a mention or a link to an issue.
  '@': '&#64;'
}

/**
 * Text from outside shown as prose: one line, controls flattened, HTML and Markdown markup shown
 * as the characters they are, cut to `limit` characters first.
 */
export function plainText(text: string, limit = 2000): string {
  return (
    cap(text, limit)
      .replace(/\r\n|[\r\n\u2028\u2029]/g, ' ')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ')
      .replace(MARKDOWN_SPECIAL, (char) => `\\${char}`)
      // After the backslashes: the entities' own # must stay as it is.
      .replace(/[<>&"@]/g, (char) => HTML_ENTITY[char] as string)
  )
}
