import { isUtf8 } from 'node:buffer'

// Text that came from outside the workflow (a file name in the repository, an object key in the
// bucket, an answer from a remote host) is shown, never obeyed. The runner reads a log line as a
// workflow command when it starts with `::` (after blanks) and, in the legacy form, wherever
// `##[` appears in it; a line break inside the text would start a new line. `escapeText` makes a
// string safe to put anywhere in a log line or a message; long output from someone else goes
// through `untrustedOutput` in runner.ts, which switches commands off altogether.

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' }

/** C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

/** True when the text holds a character that would break or hide a line in a log. */
export function hasControlCharacter(text: string): boolean {
  return CONTROL.test(text)
}

/**
 * One line, readable, that no runner can take for a workflow command: controls become `\n`,
 * `\xNN` or `\uNNNN`, a backslash `\\` (so the escaped form is unambiguous), `::` becomes
 * `:\x3a` and `##[` becomes `##\x5b`.
 */
export function escapeText(text: string): string {
  let out = ''
  for (const char of text) {
    const code = char.codePointAt(0) as number
    if (NAMED[char] !== undefined) out += NAMED[char]
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) out += `\\x${hex(code, 2)}`
    else if (code === 0x2028 || code === 0x2029) out += `\\u${hex(code, 4)}`
    else out += char
  }
  return out.replace(/::/g, ':\\x3a').replace(/##\[/g, '##\\x5b')
}

/**
 * A name read as raw bytes (a file name that may not be valid UTF-8), escaped: valid UTF-8 is
 * shown as text, every byte that is not part of a valid sequence as `\xNN`.
 */
export function escapeBytes(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return escapeText(Buffer.from(bytes).toString('utf8'))
  let out = ''
  let run = 0 // start of the current stretch of valid UTF-8
  let index = 0
  const flush = (end: number) => {
    out += escapeText(Buffer.from(bytes.subarray(run, end)).toString('utf8'))
  }
  while (index < bytes.length) {
    const length = sequenceLength(bytes[index] as number)
    const sequence = bytes.subarray(index, index + length)
    if (length > 0 && sequence.length === length && isUtf8(sequence)) {
      index += length
      continue
    }
    flush(index)
    out += `\\x${hex(bytes[index] as number, 2)}`
    index += 1
    run = index
  }
  flush(index)
  return out
}

function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1
  if (lead >= 0xc2 && lead <= 0xdf) return 2
  if (lead >= 0xe0 && lead <= 0xef) return 3
  if (lead >= 0xf0 && lead <= 0xf4) return 4
  return 0
}

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0')
}
