export interface NodeRuntime {
  label: string
  path: string
}
export interface WorkflowCommand {
  command: string
  properties: string
  message: string
}
export interface StepResult {
  exitCode: number | null
  signal: NodeJS.Signals | null
  cancelled: boolean
  stdout: string
  stderr: string
  durationMs: number
  commands: WorkflowCommand[]
  errors: string[]
  warnings: string[]
  masks: string[]
}
export interface ActionRun extends StepResult {
  status: 'success' | 'failure' | 'cancelled'
  outputs: Record<string, string>
  state: Record<string, string>
  summary: string
  /** What the main step wrote to GITHUB_ENV and GITHUB_PATH. */
  exportedEnv: Record<string, string>
  addedPath: string[]
  post?: StepResult & { outputs: Record<string, string>; summary: string }
  home: string
  workspace: string
  runnerTemp: string
}
export interface RunOptions {
  action: string
  /** Folder holding action.yml, instead of this pack's actions/<action>. */
  actionDir?: string
  inputs?: Record<string, string>
  env?: Record<string, string>
  node?: string
  workspace?: string
  /**
   * Cancels the main step as the runner does (SIGINT, SIGTERM 7.5 s later, then SIGKILL) once its
   * stdout so far satisfies the predicate, or once the promise settles (a request seen elsewhere).
   */
  cancelWhen?: ((stdout: string) => boolean) | Promise<unknown>
  /** Sends one signal to the main step at that moment (SIGTERM alone, or SIGKILL). */
  signalWhen?: { signal: NodeJS.Signals; when: ((stdout: string) => boolean) | Promise<unknown> }
  /** Called with the main step's stdout so far each time more of it arrives. */
  onStdout?: (stdout: string) => void
  timeoutMs?: number
  keepFiles?: boolean
}
export function nodeRuntimes(): NodeRuntime[]
export interface ActionMetadata {
  name: string
  inputs?: Record<string, { description?: string; required?: boolean; default?: string }>
  outputs?: Record<string, { description?: string }>
  runs: { using: string; main: string; post?: string; 'post-if'?: string }
}
export function loadAction(name: string, dir?: string): { dir: string; metadata: ActionMetadata }
export function inputVariable(name: string): string
export function parseFileCommands(text: string): Record<string, string>
export function parseWorkflowCommands(stdout: string): WorkflowCommand[]
export function runAction(options: RunOptions): Promise<ActionRun>
export function createFileCommandFiles(dir: string): {
  GITHUB_OUTPUT: string
  GITHUB_STATE: string
  GITHUB_ENV: string
  GITHUB_PATH: string
  GITHUB_STEP_SUMMARY: string
}
