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
 * Prints text that someone else wrote (a function's log, a remote script's output) with workflow
 * commands switched off, so a line such as `::add-mask::` or `::error::` in it is shown, not obeyed.
 */
export function printUntrusted(write: (print: (line: string) => void) => void | Promise<void>) {
  const token = randomUUID()
  process.stdout.write(`::stop-commands::${token}\n`)
  const resume = () => process.stdout.write(`::${token}::\n`)
  try {
    const done = write((line) => process.stdout.write(`${line}\n`))
    if (done instanceof Promise) return done.finally(resume)
    resume()
    return undefined
  } catch (error) {
    resume()
    throw error
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
