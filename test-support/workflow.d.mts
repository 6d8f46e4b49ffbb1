import type { WorkflowCommand } from './runner.mjs'

/** A step as written in the workflow or action.yml. */
export interface WorkflowStep {
  id?: string
  name?: string
  uses?: string
  run?: string
  with?: Record<string, unknown>
  env?: Record<string, unknown>
  [key: string]: unknown
}

/** The contexts an expression sees: github, inputs, env, steps, … (which ones depends on where). */
export type ExpressionContexts = Record<string, unknown>

export interface StandInArgs {
  /** The step's `with:`, evaluated, as the strings an action receives. */
  with: Record<string, string>
  /** The process environment the action would run with (env context, GITHUB_*, RUNNER_*). */
  env: Record<string, string>
  context: ExpressionContexts
  /**
   * The run's artifact storage: a folder shared by every job of the run and the workflows it
   * calls, removed with the run (GitHub keeps artifacts per run).
   */
  artifacts: string
}
export interface StandInResult {
  outputs?: Record<string, unknown>
  /** Exported to the job's later steps, as if written to GITHUB_ENV. */
  env?: Record<string, string>
  /** Prepended to PATH for later steps, as if written to GITHUB_PATH. */
  path?: string | string[]
  summary?: string
  log?: string
}

/**
 * What a step's `uses:` runs locally: one of this pack's bundled actions through runAction
 * (`actionDir` for an action.yml elsewhere), a JavaScript stand-in for a third-party action (it
 * fails the step by throwing), or a composite action's folder.
 */
export type StepResolution =
  | { action: string; actionDir?: string }
  | { run: (args: StandInArgs) => StandInResult | void | Promise<StandInResult | void> }
  | { composite: string }
/** The reusable workflow a job's `uses:` calls; `sha` is its job.workflow_sha. */
export interface JobResolution {
  file: string
  sha?: string
}

export interface WorkflowOptions {
  file: string
  /** github.event_name; with workflow_call (the default) the run is a call with `inputs`/`secrets`. */
  event?: string
  /** workflow_call or workflow_dispatch inputs, typed by their declarations. */
  inputs?: Record<string, unknown>
  secrets?: Record<string, string>
  /**
   * Overrides of the github context. `workflow_repository` and `workflow_sha` also give
   * job.workflow_repository / job.workflow_sha (default: the repository and sha).
   */
  github?: Record<string, unknown>
  vars?: Record<string, string>
  /** Base process environment of every step (PATH, HOME, LANG come from this process unless set). */
  env?: Record<string, string>
  /** GITHUB_WORKSPACE and the default working directory; a temporary folder when absent. */
  workspace?: string
  /**
   * The steps that check the repository out. When given, `workspace` is the checkout and only a
   * job with such a step works in it; every other job starts with an empty workspace of its own,
   * as on a fresh runner. Without it every job works in `workspace`.
   */
  checkout?: (step: WorkflowStep) => boolean
  /** Only these jobs, and the jobs they need. */
  jobs?: string[]
  resolveUses?: (uses: string, kind: 'step' | 'job') => StepResolution | JobResolution | undefined
  /** Node binary for bundled actions. */
  node?: string
  /** Steps that only provision the machine: they succeed without running. */
  skipStep?: (step: WorkflowStep) => boolean
  /** Bound on each step (default 120 s); exceeding it rejects runWorkflow. */
  timeoutMs?: number
}

export type StepOutcome = 'success' | 'failure' | 'skipped'
export interface StepRecord {
  outcome: StepOutcome
  conclusion: StepOutcome
  outputs: Record<string, string>
}
/** A `concurrency:` as evaluated when the workflow or job started. */
export interface Concurrency {
  group: string
  cancelInProgress: boolean
}
export interface JobRecord {
  /** 'cancelled' when it waited for a concurrency group held around it (GitHub's deadlock). */
  result: 'success' | 'failure' | 'skipped' | 'cancelled'
  outputs: Record<string, string>
  concurrency?: Concurrency
  /** The evaluated environment name, when the job has a non-empty one. */
  environment?: string
  /** By step id, or by the step's position in `steps:` (from 0) when it has none. */
  steps: Record<string, StepRecord>
  /** Each line prefixed with `step name | `, secrets masked. */
  log: string
  /** The ::error, ::warning and ::notice commands the steps printed. */
  annotations: WorkflowCommand[]
  summary: string
  /** For a job that calls a reusable workflow: that run. */
  workflow?: WorkflowRun
}
export interface WorkflowRun {
  result: 'success' | 'failure' | 'cancelled'
  /** on.workflow_call.outputs, when the run was a call. */
  outputs: Record<string, string>
  jobs: Record<string, JobRecord>
  /** The workflow-level `concurrency:`, evaluated. */
  concurrency?: Concurrency
  /** The run's own annotations (a concurrency deadlock), besides those of its jobs. */
  annotations: WorkflowCommand[]
  /** Every GITHUB_STEP_SUMMARY, in order. */
  summary: string
  /** Every job's log, each line prefixed with `job id / `. */
  log: string
}
export interface StatusFunctions {
  success(): boolean
  failure(): boolean
  cancelled(): boolean
}

/**
 * Runs a workflow file. It rejects, before any step runs, a workflow GitHub's workflow parser
 * rejects (each problem with its line and column), as GitHub does not start such a run.
 */
export function runWorkflow(options: WorkflowOptions): Promise<WorkflowRun>
/**
 * One expression, without `${{ }}`, evaluated by @actions/expressions: the result as JSON-like
 * data (objects, arrays, strings, numbers, booleans, null). `status` makes success(), failure(),
 * cancelled() and always() known; hashFiles() is an error.
 */
export function evaluateExpression(
  expression: string,
  contexts: ExpressionContexts,
  status?: StatusFunctions
): unknown
/** Substitutes each `${{ }}` of a string. */
export function interpolate(template: string, contexts: ExpressionContexts): string
/** How a value reads once interpolated: null is '', objects 'Object', arrays 'Array'. */
export function toExpressionString(value: unknown): string
