import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'

describe('npm run demo', () => {
  it('runs every step of the local pipeline green and stops its servers', () => {
    const root = resolve(import.meta.dirname, '..', '..')
    const demo = spawnSync(process.execPath, ['scripts/demo.mjs'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000
    })
    expect(demo.status).toBe(0)
    expect(demo.stdout).toContain('━━ invoke-lambda: have the workers pull the new DAGs')
    expect(demo.stdout).toContain('━━ ephemeral-sg-ssh: open the group to this runner')
    expect(demo.stdout).toContain('serving release ffac537e')
    expect(demo.stdout).toContain('━━ examples/workflows/deploy-dags.yml')
    expect(demo.stdout).toMatch(/job validate: success\n\s+job deploy: success/)
    expect(demo.stdout).toContain('refreshed = true')
    expect(demo.stdout).toContain('demo: every step succeeded; moto_server and sshd stopped')
    expect(demo.stdout).not.toContain('step failed')
  })
})
