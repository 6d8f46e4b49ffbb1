// The workflow schema of @actions/workflow-parser, for Jest: the parser imports it without
// `with { type: 'json' }`, which Jest only warns about for now (an error in its next major), so
// jest.config.js maps that import here (test-support/workflow-validation.mjs explains both ways).
import { readFileSync } from 'node:fs'

const schema = new URL(
  '../node_modules/@actions/workflow-parser/dist/workflow-v1.0.min.json',
  import.meta.url
)
export default JSON.parse(readFileSync(schema, 'utf8'))
