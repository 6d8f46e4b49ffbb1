// Runs in every test file before its tests. Code under test prints with @actions/core, as it does
// on a runner: `::add-mask::`, `::error::`, `::save-state::`. Printed as they are, the runner that
// runs this test suite in CI would obey them, so they are shown defused. And a runner's own
// file-command files (GITHUB_OUTPUT, GITHUB_STATE, ...) are not for tests to write into.
import { guardStream } from './output-guard.mjs'

guardStream(process.stdout)
guardStream(process.stderr)
for (const name of [
  'GITHUB_OUTPUT',
  'GITHUB_STATE',
  'GITHUB_ENV',
  'GITHUB_PATH',
  'GITHUB_STEP_SUMMARY'
]) {
  delete process.env[name]
}
