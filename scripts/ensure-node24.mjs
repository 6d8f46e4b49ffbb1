// Fetches the Node 24 runtime that action.yml declares (`runs.using: node24`) from the npm
// registry, so the runner-fidelity tests can run every bundle under the runner's own Node major.
// The binary lives in .cache/ and is never committed.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const cacheDir = join(root, '.cache')
const node24Path = join(cacheDir, 'node24', 'bin', 'node')

function installedVersion() {
  if (!existsSync(node24Path)) return undefined
  try {
    return execFileSync(node24Path, ['--version'], { encoding: 'utf8' }).trim()
  } catch {
    return undefined
  }
}

const current = installedVersion()
if (current?.startsWith('v24.')) {
  console.log(`Node 24 for the runner-fidelity tests: ${current}`)
} else {
  const pkg = `node-${process.platform}-${process.arch}@24`
  mkdirSync(cacheDir, { recursive: true })
  const staging = join(cacheDir, 'node24-download')
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging)
  execFileSync('npm', ['pack', pkg, '--silent', '--pack-destination', staging], {
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const tarball = readdirSync(staging).find((f) => f.endsWith('.tgz'))
  if (!tarball) throw new Error(`npm pack ${pkg} produced no tarball`)
  execFileSync('tar', ['-xzf', join(staging, tarball), '-C', staging])
  rmSync(join(cacheDir, 'node24'), { recursive: true, force: true })
  execFileSync('mv', [join(staging, 'package'), join(cacheDir, 'node24')])
  rmSync(staging, { recursive: true, force: true })
  console.log(`Node 24 for the runner-fidelity tests: ${installedVersion()} (${pkg})`)
}
