// What the test run prints must be safe in a GitHub runner's log: the pack's own CI runs the
// tests on one, and the runner obeys a line of a step's output that starts with `::` (after
// blanks) or holds `##[` as a workflow command (`::add-mask::`, `::error::`, `::stop-commands::`).
// Tests run the actions, which print such commands by design, and they handle private keys. These
// functions make captured output printable, and find what slipped through.

/** A line the runner would read as a workflow command. */
const COMMAND_LINE = /^\s*::|##\[/

/** A PEM or OpenSSH armoured block: a private key, or any other key material. */
const KEY_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)/g

/**
 * The text with every would-be command line shown, not obeyed (`::` becomes `:\x3a` at the start,
 * `##[` becomes `##\x5b`), and every key block replaced by a note.
 */
export function defuse(text) {
  return redactKeys(text)
    .split('\n')
    .map((line) => defuseLine(line))
    .join('\n')
}

export function defuseLine(line) {
  return line.replace(/^(\s*)::/, '$1:\\x3a').replace(/##\[/g, '##\\x5b')
}

export function redactKeys(text) {
  return text.replace(KEY_BLOCK, (block) => `[key block of ${block.length} characters left out]`)
}

/**
 * Every workflow command `stdout` issues, as the runner reads it: a line ends at CR, LF or CRLF,
 * leading blanks are allowed, and `::stop-commands::TOKEN` holds commands off until `::TOKEN::`.
 * Messages come back defused, so a failing check prints no raw command.
 */
export function issuedCommands(stdout) {
  const commands = []
  let stopToken
  for (const line of stdout.split(/\r\n|\r|\n/)) {
    if (stopToken !== undefined) {
      if (line.trim() === `::${stopToken}::`) stopToken = undefined
      continue
    }
    const match = /^\s*::([A-Za-z-]+)(?: [^:]*)?::(.*)$/.exec(line)
    if (!match) continue
    const [, command, message] = match
    if (command === 'stop-commands') stopToken = message
    else commands.push({ command, message: defuseLine(message).replace(/::/g, ':\\x3a') })
  }
  return commands
}

/** Why a line is unsafe to print, or undefined when it is safe. */
export function unsafeLine(line) {
  if (COMMAND_LINE.test(line)) return 'a workflow command'
  if (line.includes('-----BEGIN ')) return 'key material'
  return undefined
}

/**
 * Wraps a stream's `write` so that whatever goes through it is defused line by line; `atLineStart`
 * follows the stream across writes, as `::` only counts at the start of a line.
 */
export function guardStream(stream) {
  const marker = Symbol.for('output-guard')
  if (stream[marker]) return
  stream[marker] = true
  const write = stream.write.bind(stream)
  let atLineStart = true
  stream.write = (chunk, ...rest) => {
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) return write(chunk, ...rest)
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    const lines = redactKeys(text).split('\n')
    const safe = lines
      .map((line, index) =>
        index > 0 || atLineStart ? defuseLine(line) : line.replace(/##\[/g, '##\\x5b')
      )
      .join('\n')
    atLineStart = text.endsWith('\n')
    return write(safe, ...rest)
  }
}

/**
 * Throws when `text` holds `secret` or, for a multi-line secret such as a private key, any of its
 * longer lines; the message is `check` and where it was found, never the secret itself.
 */
export function expectNoSecret(text, secret, check) {
  const lines = secret.split('\n').map((line) => line.trim())
  const pieces = [secret, ...lines.filter((line) => line.length > 20 && !line.startsWith('-----'))]
  const at = pieces.map((piece) => text.indexOf(piece)).find((index) => index >= 0)
  if (at !== undefined) throw new Error(`${check} (at character ${at} of ${text.length})`)
}
