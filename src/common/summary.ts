import { escapeText } from './untrusted.js'

// Formatting for job summaries and logs, shared by every action of the pack.

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`
}

/** At most `max` items, plus how many were left out, so a huge plan cannot blow up a summary. */
export function capList<T>(items: readonly T[], max: number): { shown: T[]; omitted: number } {
  return { shown: items.slice(0, max), omitted: Math.max(0, items.length - max) }
}

/**
 * Escapes text for a Markdown table cell or inline code span in a job summary. Any line break
 * (a lone CR is one in Markdown) becomes a space and other controls are shown escaped: a blank
 * line would end the code span and let what follows, `</details>` say, be read as HTML.
 */
export function markdownCode(text: string): string {
  const flat = text
    .replace(/\r\n|[\r\n\u2028\u2029]/g, ' ')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => escapeText(char))
  return '`' + flat.replace(/`/g, "'").replace(/\|/g, '\\|') + '`'
}
