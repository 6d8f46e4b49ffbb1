import * as core from '@actions/core'
import { randomUUID } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * The most a step output should carry inline. Outputs often become another step's `with:`
 * input, which reaches that action as one environment variable, and Linux refuses to start a
 * process with a variable over 128 KiB (E2BIG). Anything larger goes to a file as well.
 */
export const INLINE_OUTPUT_LIMIT = 64 * 1024

export async function writeJobSummary(markdown: string): Promise<void> {
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown, true).write()
}

/**
 * Switches workflow commands off until `end()`, for text someone else wrote (a function's log, a
 * remote script's output): a line such as `::add-mask::` or `::error::` in it is shown, not
 * obeyed. The token is random, so that text cannot switch them back on.
 */
export function untrustedOutput(): { print: (line: string) => void; end: () => void } {
  const token = randomUUID()
  let open = true
  process.stdout.write(`::stop-commands::${token}\n`)
  return {
    print: (line) => process.stdout.write(`${line}\n`),
    end: () => {
      if (open) process.stdout.write(`::${token}::\n`)
      open = false
    }
  }
}

export async function printUntrusted(
  write: (print: (line: string) => void) => void | Promise<void>
): Promise<void> {
  const output = untrustedOutput()
  try {
    await write(output.print)
  } finally {
    output.end()
  }
}

/** Writes a file under RUNNER_TEMP (emptied by the runner after the job) and returns its path. */
export async function writeRunnerTempFile(
  folder: string,
  name: string,
  content: string
): Promise<string> {
  const dir = join(process.env.RUNNER_TEMP || tmpdir(), folder)
  await mkdir(dir, { recursive: true })
  const path = join(dir, name.replace(/[^\w.-]/g, '_'))
  await writeFile(path, content)
  return path
}
