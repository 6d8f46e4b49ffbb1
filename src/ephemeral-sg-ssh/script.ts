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
 * The remote command: store the script in a private temporary file, open it, delete it at once
 * (so the `env` values in it cannot outlive the run, even if the script is killed), and run it
 * with bash from the open descriptor, stdin from /dev/null (a script reading stdin cannot swallow
 * anything). bash's exit code is the command's.
 */
export const RUN_SCRIPT_COMMAND =
  'umask 077; f=$(mktemp) || exit 125; cat > "$f"; exec 3<"$f"; rm -f -- "$f"; exec bash /dev/fd/3 </dev/null'

/** A remote path for a shell: quoted, with a leading `~/` meaning the user's home as people expect. */
export function remotePath(path: string): string {
  if (path === '~') return '"$HOME"'
  if (path.startsWith('~/')) return `"$HOME"/${shellQuote(path.slice(2))}`
  return shellQuote(path)
}

/**
 * The remote command that unpacks an upload stream into `remote` (created if missing). `-p` applies
 * the archive's modes as they are (the special bits were already dropped unless kept), not
 * narrowed by the remote umask; `--no-same-owner` makes the remote user own every file, so a
 * root login never takes owners from the archive (GNU tar and bsdtar both know the option).
 */
export function unpackCommand(remote: string): string {
  const dir = remotePath(remote)
  return `mkdir -p -- ${dir} && tar -x -p --no-same-owner -f - -C ${dir}`
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
