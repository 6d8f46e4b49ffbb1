import { StringDecoder } from 'node:string_decoder'

/** Quotes a value for a POSIX shell: single quotes, with embedded ones closed and escaped. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`
}

/**
 * The file the remote shell runs: strict mode, the `env` exports, then the user's script. It is
 * sent over the channel's stdin, never on a command line, so values do not show up in `ps`.
 */
export function scriptFile(
  script: string,
  env: readonly { name: string; value: string }[]
): string {
  return [
    'set -euo pipefail',
    ...env.map(({ name, value }) => `export ${name}=${shellQuote(value)}`),
    script,
    ''
  ].join('\n')
}

/**
 * The remote command: store the script in a private temporary file, run it with bash and stdin
 * from /dev/null (a script reading stdin cannot swallow anything), remove the file, keep the code.
 */
export const RUN_SCRIPT_COMMAND =
  'umask 077; f=$(mktemp) || exit 125; cat > "$f"; bash "$f" </dev/null; rc=$?; rm -f "$f"; exit $rc'

/** The remote command that unpacks an upload stream into `remote` (created if missing). */
export function unpackCommand(remote: string): string {
  const dir = shellQuote(remote)
  return `mkdir -p -- ${dir} && tar -x -p -f - -C ${dir}`
}

/**
 * Splits a byte stream into lines, calling `emit` per complete line; `flush` emits the rest.
 * Output of several hosts interleaves line by line, never mid-line.
 */
export function lineSplitter(emit: (line: string) => void) {
  let pending = ''
  // A multi-byte character can be split across two chunks of channel data.
  const decoder = new StringDecoder('utf8')
  return {
    push(chunk: Buffer | string) {
      pending += typeof chunk === 'string' ? chunk : decoder.write(chunk)
      let newline = pending.indexOf('\n')
      while (newline >= 0) {
        emit(pending.slice(0, newline).replace(/\r$/, ''))
        pending = pending.slice(newline + 1)
        newline = pending.indexOf('\n')
      }
    },
    flush() {
      pending += decoder.end()
      if (pending !== '') emit(pending)
      pending = ''
    }
  }
}
