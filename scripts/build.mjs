// Bundles every action (actions/<name>/action.yml → src/<name>/index.ts) into dist/<name>/ with
// @vercel/ncc. With --check, builds into a temporary folder and fails when the committed dist/
// differs, so a stale bundle never reaches users. Names given as arguments (`deploy-dags`) build
// only those bundles, for a quicker round while working on one action.
import ncc from '@vercel/ncc'
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  mkdirSync,
  writeFileSync,
  existsSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const check = process.argv.includes('--check')
const only = process.argv.slice(2).filter((arg) => !arg.startsWith('--'))
const outRoot = check ? mkdtempSync(join(tmpdir(), 'dist-check-')) : join(root, 'dist')

/**
 * CommonJS modules in the bundle (ssh2's compiled crypto among them) read __dirname and
 * __filename, which ES modules do not define; the bundle's own location stands in for them.
 */
const COMMONJS_GLOBALS = [
  "import { fileURLToPath as __bundleFileURLToPath } from 'node:url'",
  "import { dirname as __bundleDirname } from 'node:path'",
  'const __filename = __bundleFileURLToPath(import.meta.url)',
  'const __dirname = __bundleDirname(__filename)',
  ''
].join('\n')

const actions = readdirSync(join(root, 'actions'), { withFileTypes: true })
  .filter(
    (entry) => entry.isDirectory() && existsSync(join(root, 'actions', entry.name, 'action.yml'))
  )
  .map((entry) => entry.name)
  .sort()

// An action's entry is src/<name>/index.ts; one with a post step also has src/<name>/post-index.ts,
// bundled on its own so a killed main step can never be mistaken for the post step.
const bundles = actions.flatMap((name) => [
  { name, entry: join(root, 'src', name, 'index.ts'), out: name },
  ...(existsSync(join(root, 'src', name, 'post-index.ts'))
    ? [{ name, entry: join(root, 'src', name, 'post-index.ts'), out: join(name, 'post') }]
    : [])
])

// Lambda functions shipped with the pack: src/<name>/index.ts → dist/<name>/, deployed by
// infra/ with `aws cloudformation package`. The package.json beside the bundle makes the Lambda
// runtime load it as an ES module.
const functions = ['refresh-workers']
for (const name of functions) {
  bundles.push({ name, entry: join(root, 'src', name, 'index.ts'), out: name, lambda: true })
}

const unknown = only.filter((name) => !bundles.some((b) => b.name === name))
if (unknown.length > 0) {
  console.error(`No such bundle: ${unknown.join(', ')}`)
  process.exit(1)
}
const chosen = only.length === 0 ? bundles : bundles.filter((b) => only.includes(b.name))

for (const { name, entry, out, lambda } of chosen) {
  const { code, assets } = await bundle(name, entry)
  const outDir = join(outRoot, out)
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'index.js'), COMMONJS_GLOBALS + code)
  if (lambda) {
    // The function runs in AWS, not on a runner: the Actions toolkit has no place in it.
    if (code.includes('@actions/core')) throw new Error(`dist/${out}: @actions/core was bundled`)
    writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n')
  }
  for (const [file, asset] of Object.entries(assets)) {
    if (file.endsWith('.node')) throw new Error(`${name}: native addon ${file} would be bundled`)
    // ssh2 ships a Windows helper for the PuTTY agent; no action of ours talks to an agent, and a
    // committed executable is not something to review in every bundle diff.
    if (file.endsWith('.exe')) continue
    mkdirSync(dirname(join(outDir, file)), { recursive: true })
    writeFileSync(join(outDir, file), asset.source)
  }
  console.log(`dist/${out}: ${Math.round(code.length / 1024)} KiB`)
}

async function bundle(name, entry) {
  try {
    return await ncc(entry, {
      // ESM output: @actions/core 3 and @actions/github 9 ship only as ES modules.
      esm: true,
      minify: false,
      sourceMap: false,
      license: 'licenses.txt',
      quiet: true,
      // ssh2 tries optional native addons (cpu-features, sshcrypto.node) and falls back to pure
      // JS; leaving them out keeps platform-specific binaries out of the committed bundle.
      externals: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
      target: 'es2023'
    })
  } catch (error) {
    // ncc's own stack points into its minified cache; the first lines are the useful part.
    console.error(
      `Building dist/${name} failed:\n${String(error?.message ?? error).slice(0, 4000)}`
    )
    process.exit(1)
  }
}

if (check) {
  const stale = []
  for (const name of new Set(chosen.map((b) => b.name))) {
    for (const file of listFiles(join(outRoot, name))) {
      const committed = join(root, 'dist', name, file)
      if (
        !existsSync(committed) ||
        !readFileSync(committed).equals(readFileSync(join(outRoot, name, file)))
      ) {
        stale.push(`dist/${name}/${file}`)
      }
    }
  }
  rmSync(outRoot, { recursive: true, force: true })
  if (stale.length > 0) {
    console.error(
      `The committed bundle is stale; run npm run build and commit dist/:\n  ${stale.join('\n  ')}`
    )
    process.exit(1)
  }
  console.log('dist/ matches a fresh build')
}

function listFiles(dir, base = '') {
  return readdirSync(join(dir, base), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(dir, join(base, entry.name)) : [join(base, entry.name)]
  )
}
