// Failures often reach a reader as one line (invoke-lambda shows the refresh function's error
// message; an action's error is one annotation): these keep such a line short while saying how
// much was left out.

/** The text cut to `limit` characters, with … where it was cut. */
export function cap(text: string, limit: number): string {
  const chars = [...text]
  return chars.length <= limit ? text : `${chars.slice(0, limit).join('')}…`
}

/**
 * `head`, then as many of `parts` as fit within `limit` characters, separated by "; ", and
 * "; and N more" counting the rest. The first part is always there: cap the parts so it fits.
 */
export function joinWithinLimit(head: string, parts: readonly string[], limit: number): string {
  let line = head
  for (const [index, part] of parts.entries()) {
    const separator = index === 0 ? '' : '; '
    const left = parts.length - index - 1
    // Room is kept for the count of the parts that do not fit.
    const tail = left > 0 ? `; and ${left} more` : ''
    if ((line + separator + part + tail).length > limit && index > 0) {
      return `${line}; and ${parts.length - index} more`
    }
    line += separator + part
  }
  return line
}
