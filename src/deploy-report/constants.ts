export const Input = {
  Mode: 'mode',
  Target: 'target',
  Changes: 'changes',
  Validation: 'validation',
  PlanOutcome: 'plan-outcome',
  Refusal: 'refusal',
  MwaaEnvironment: 'mwaa-environment',
  MwaaUpdated: 'mwaa-updated',
  RefreshResponse: 'refresh-response',
  FunctionName: 'function-name',
  FunctionError: 'function-error',
  MwaaStatus: 'mwaa-status',
  Comment: 'comment',
  GithubToken: 'github-token'
} as const

export const Output = {
  Result: 'result',
  CommentId: 'comment-id',
  CommentUrl: 'comment-url',
  PullRequest: 'pull-request'
} as const

export const MODES = ['plan', 'deployed'] as const
export type Mode = (typeof MODES)[number]

/** A job's or step's result as `needs.<job>.result` and `steps.<id>.outcome` give it. */
export const CHECK_RESULTS = ['success', 'failure', 'cancelled', 'skipped'] as const
export type CheckResult = (typeof CHECK_RESULTS)[number]

/** What the step did with the comment, as the `result` output says it. */
export type ReportResult = 'created' | 'updated' | 'summary-only' | 'not-found' | 'no-pull-request'

/** Every marker starts with this, so comments of this pack are told from anyone else's. */
export const MARKER_PREFIX = 'airflow-aws-deploy-actions'
