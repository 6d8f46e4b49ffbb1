// The toolchain runs on the runtime the actions declare: npm, the build, the tests and the demo.
import { describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'

const root = resolve(import.meta.dirname, '../..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const runtimes = new Set(
  readdirSync(join(root, 'actions')).map(
    (name) => parseYaml(readFileSync(join(root, 'actions', name, 'action.yml'), 'utf8')).runs.using
  )
)

describe('the toolchain', () => {
  it('asks in engines for the Node major every action declares', () => {
    expect([...runtimes]).toEqual(['node24'])
    expect(pkg.engines).toEqual({ node: '>=24' })
  })

  it('runs every npm script through scripts/node24.sh', () => {
    const direct = Object.entries(pkg.scripts as Record<string, string>).filter(
      ([, command]) => !command.includes('sh scripts/node24.sh ')
    )
    expect(direct).toEqual([])
  })

  it('puts Node 24 first on the PATH of what scripts/node24.sh runs', () => {
    const version = execFileSync('sh', [join(root, 'scripts/node24.sh'), 'node', '--version'], {
      encoding: 'utf8'
    })
    expect(version).toMatch(/^v24\./)
  })

  it('runs npm itself on Node 24, so that npm ci checks engines against it', () => {
    const versions = JSON.parse(
      execFileSync('sh', [join(root, 'scripts/node24.sh'), 'npm', 'version', '--json'], {
        cwd: root,
        encoding: 'utf8'
      })
    )
    expect(versions.node).toMatch(/^24\./)
  })

  it('runs these tests on Node 24', () => {
    expect(process.version).toMatch(/^v24\./)
  })

  it('has .ci/run install with `npm run setup`, check the test output, and end with the count', () => {
    const ci = readFileSync(join(root, '.ci/run'), 'utf8')
    expect(ci).toMatch(/^npm run setup$/m)
    expect(ci).not.toMatch(/^npm ci/m)
    expect(ci).toContain('| node scripts/check-test-output.mjs')
    expect(ci).toContain('console.log(`${passed} passed, ${failed} failed`)')
  })
})
