// Loads a workflow file the way GitHub does before it runs anything, with GitHub's own parser
// (@actions/workflow-parser, behind its Actions language service): the workflow schema (every
// key, where each context and function may stand), then the conversion to a workflow template
// (job graph, `uses:` references, reusable workflow inputs). A key GitHub would reject fails here.
import { registerHooks } from 'node:module'

// The parser imports its JSON schema without `with { type: 'json' }`, which Node refuses. Under
// plain Node a load hook supplies the attribute. Jest loads modules itself and refuses Node's
// hooks (import.meta.jest tells it is there): jest.config.js maps that import to
// workflow-schema.mjs instead.
if (import.meta.jest === undefined) {
  registerHooks({
    load(url, context, nextLoad) {
      if (/\/@actions\/workflow-parser\/dist\/[\w.-]+\.json$/.test(url)) {
        const importAttributes = { ...context.importAttributes, type: 'json' }
        return nextLoad(url, { ...context, importAttributes })
      }
      return nextLoad(url, context)
    }
  })
}
const { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } =
  await import('@actions/workflow-parser')

/**
 * Every problem GitHub's parser finds in a workflow, each as `name (Line: l, Col: c): message`;
 * none for a workflow GitHub would run.
 */
export async function workflowProblems(name, content) {
  const parsed = parseWorkflow({ name, content }, new NoOperationTraceWriter())
  if (parsed.value !== undefined && parsed.context.errors.count === 0) {
    await convertWorkflowTemplate(parsed.context, parsed.value)
  }
  return parsed.context.errors.getErrors().map((error) => error.message)
}
