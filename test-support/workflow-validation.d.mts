/**
 * Every problem GitHub's workflow parser finds in a workflow, each as
 * `name (Line: l, Col: c): message`; empty for a workflow GitHub would run.
 */
export function workflowProblems(name: string, content: string): Promise<string[]>
