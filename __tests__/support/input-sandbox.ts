import { afterEach, beforeEach } from '@jest/globals'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { inputVariable } from '../../test-support/runner.mjs'

/**
 * For tests of input readers: each test runs in a fresh working folder holding `files`, sees only
 * the INPUT_* variables it sets (named as the runner names them), and no AWS region from the
 * machine; the environment and the working folder are restored afterwards.
 */
export function useInputSandbox(files: Record<string, string> = {}) {
  let saved: NodeJS.ProcessEnv
  let previousCwd: string
  let workdir = ''
  beforeEach(() => {
    saved = { ...process.env }
    delete process.env.AWS_REGION
    delete process.env.AWS_DEFAULT_REGION
    previousCwd = process.cwd()
    workdir = mkdtempSync(join(tmpdir(), 'inputs-'))
    for (const [path, content] of Object.entries(files)) {
      if (path.endsWith('/')) {
        mkdirSync(join(workdir, path), { recursive: true })
      } else {
        mkdirSync(dirname(join(workdir, path)), { recursive: true })
        writeFileSync(join(workdir, path), content)
      }
    }
    process.chdir(workdir)
  })
  afterEach(() => {
    process.chdir(previousCwd)
    rmSync(workdir, { recursive: true, force: true })
    process.env = saved
  })
  return {
    setInputs(inputs: Record<string, string>): void {
      for (const key of Object.keys(process.env))
        if (key.startsWith('INPUT_')) delete process.env[key]
      for (const [name, value] of Object.entries(inputs)) process.env[inputVariable(name)] = value
    },
    /** The working folder of the running test. */
    workdir: () => workdir
  }
}
