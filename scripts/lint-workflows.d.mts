export const repoRoot: string
export const WORKFLOW_DIRS: string[]
export function workflowFiles(root?: string): string[]
export function lintWorkflows(files: string[], root?: string): Promise<string[]>
