// Jest's globalSetup and globalTeardown: every test file, and every server and bundle it starts,
// makes its temporary files under one folder of this run (TMPDIR, which os.tmpdir() and mktemp
// follow and child processes inherit), and the folder goes when the run ends, whatever a test
// forgot to remove: keys, workspaces, sshd configs.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const KEY = Symbol.for('jest-temp-folder')

export function setup() {
  const folder = mkdtempSync(join(tmpdir(), 'jest-run-'))
  globalThis[KEY] = folder
  process.env.TMPDIR = folder
}

export function teardown() {
  const folder = globalThis[KEY]
  if (folder) rmSync(folder, { recursive: true, force: true })
}
