import { afterAll, describe, expect, it } from '@jest/globals'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..', '..')
const folders: string[] = []
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
})

/**
 * Runs `npm run demo`'s script with its own empty temporary folder (TMPDIR), so that whatever it
 * leaves behind is found there; `interruptAt` sends it SIGINT once that text is printed.
 */
function runDemo(interruptAt?: string, env: Record<string, string> = {}) {
  const tmp = mkdtempSync(join(tmpdir(), 'demo-tmp-'))
  folders.push(tmp)
  const demo = spawn(process.execPath, ['scripts/demo.mjs'], {
    cwd: root,
    env: { ...process.env, ...env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  let interrupted = false
  demo.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    if (interruptAt !== undefined && !interrupted && stdout.includes(interruptAt)) {
      interrupted = true
      demo.kill('SIGINT')
    }
  })
  demo.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return new Promise<{ code: number | null; stdout: string; stderr: string; tmp: string }>(
    (resolvePromise, reject) => {
      demo.on('error', reject)
      demo.on('close', (code) => resolvePromise({ code, stdout, stderr, tmp }))
    }
  )
}

/** Processes still running with the demo's TMPDIR in their environment: all it started inherit it. */
function processesUsing(tmp: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`TMPDIR=${tmp}`)) {
        found.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`)
      }
    } catch {
      // gone meanwhile, or another user's
    }
  }
  return found
}

// The demo runs the whole pack end to end, a few times longer than one test usually takes; the
// bound is for a hang, and is generous so a busy machine does not hit it.
const DEMO_BOUND_MS = 240_000

describe('npm run demo', () => {
  it(
    'runs every step of the local pipeline green and leaves nothing behind',
    async () => {
      const demo = await runDemo()
      expect(demo.code).toBe(0)
      expect(demo.stdout).toContain('━━ invoke-lambda: have the workers pull the new DAGs')
      // The real refresh function ran, and both stand-in workers hold the DAGs, twice over.
      expect(demo.stdout).toContain('Stand-ins: moto_server plays S3, EC2, Auto Scaling and Lambda')
      expect(demo.stdout).toContain('"counts":{"refreshed":2,"failed":0,"timed-out":0,"offline":0}')
      expect(
        demo.stdout.match(
          /worker i-[0-9a-f]+ holds 5 files: \.airflowignore, helpers\/__init__\.py, helpers\/naming\.py, orders_daily\.py, sql\/load_orders\.sql\n/g
        )
      ).toHaveLength(4)
      expect(demo.stdout).toContain('━━ ephemeral-sg-ssh: open the group to this runner')
      expect(demo.stdout).toContain('serving release ffac537e')
      expect(demo.stdout).toContain('━━ examples/workflows/deploy-dags.yml')
      expect(demo.stdout).toMatch(/job validate: success\n\s+job deploy: success/)
      expect(demo.stdout).toContain('refreshed = true')
      expect(demo.stdout).toContain('demo: every step succeeded')
      expect(demo.stdout).not.toContain('step failed')
      // No key, no folder, no file left in its temporary folder, and no server still running.
      expect(readdirSync(demo.tmp)).toEqual([])
      expect(processesUsing(demo.tmp)).toEqual([])
    },
    DEMO_BOUND_MS
  )

  it(
    'leaves nothing behind when interrupted in the middle of the SSH deploy',
    async () => {
      const demo = await runDemo('━━ ephemeral-sg-ssh')
      expect(demo.code).toBe(130)
      expect(demo.stderr).toContain('demo: SIGINT received; stopping after the current step')
      expect(demo.stdout).toContain('demo: interrupted; moto_server and sshd stopped')
      expect(demo.stdout).not.toContain('━━ examples/workflows/deploy-dags.yml')
      expect(readdirSync(demo.tmp)).toEqual([])
      expect(processesUsing(demo.tmp)).toEqual([])
    },
    DEMO_BOUND_MS
  )

  it(
    'leaves nothing behind when a step fails midway',
    async () => {
      // A jq that always fails: the example workflow, the last part of the demo, needs it.
      const bin = mkdtempSync(join(tmpdir(), 'demo-bin-'))
      folders.push(bin)
      writeFileSync(join(bin, 'jq'), '#!/bin/sh\nexit 3\n', { mode: 0o755 })
      const demo = await runDemo(undefined, { PATH: `${bin}:${process.env.PATH}` })
      expect(demo.code).toBe(1)
      expect(demo.stdout).toContain('━━ ephemeral-sg-ssh: open the group to this runner')
      expect(demo.stdout).toContain('step failed: the workflow ended in failure')
      expect(demo.stdout).toContain('demo: a step failed; moto_server and sshd stopped')
      expect(readdirSync(demo.tmp)).toEqual([])
      expect(processesUsing(demo.tmp)).toEqual([])
    },
    DEMO_BOUND_MS
  )
})
