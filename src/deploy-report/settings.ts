import * as core from '@actions/core'
import { InputError } from '../common/errors.js'
import { booleanInput, choiceInput, optionalString, requiredString } from '../common/inputs.js'
import { bucketNameProblem, normalisePrefix } from '../common/s3-location.js'
import { escapeText } from '../common/untrusted.js'
import type { RunLink } from './body.js'
import { parseChanges, type Changes } from './changes.js'
import { CHECK_RESULTS, Input, MODES, type CheckResult, type Mode } from './constants.js'
import { parseRefreshResponse, type RefreshSummary } from './refresh.js'

export interface ReportSettings {
  mode: Mode
  /** s3://bucket/prefix/, written one way whatever form was given, so its marker is stable. */
  target: string
  changes: Changes
  validation?: CheckResult
  planOutcome?: CheckResult
  refusal?: string
  mwaa?: { environment: string; updated?: boolean }
  refresh?: RefreshSummary
  /** The refresh function's answer as given, for the picture of the chain. */
  refreshResponse: string
  /** deployed mode: the refresh step and the environment's status, for the picture of the chain. */
  functionName?: string
  functionError?: string
  mwaaStatus?: string
  /** false: the job summary only. */
  comment: boolean
  token: string
  repository: { owner: string; repo: string }
  run: RunLink
  sha: string
}

/** Reads and checks every input before any call to GitHub. */
export function readSettings(): ReportSettings {
  const token = requiredString(
    Input.GithubToken,
    'the default is the job token, ${{ github.token }}'
  )
  core.setSecret(token)
  const mode = choiceInput(Input.Mode, MODES) ?? 'plan'
  const target = readTarget()
  const changes = parseChanges(core.getInput(Input.Changes))
  if ('problem' in changes) throw new InputError(Input.Changes, changes.problem)
  const validation = choiceInput(Input.Validation, CHECK_RESULTS)
  const planOutcome = choiceInput(Input.PlanOutcome, CHECK_RESULTS)
  const refusal = optionalString(Input.Refusal)
  const environment = optionalString(Input.MwaaEnvironment)
  const updated = choiceInput(Input.MwaaUpdated, ['true', 'false'] as const)
  if (updated !== undefined && environment === undefined) {
    throw new InputError(Input.MwaaUpdated, 'is given without mwaa-environment; give both')
  }
  const refreshText = core.getInput(Input.RefreshResponse)
  const functionError = optionalString(Input.FunctionError)
  const functionName = optionalString(Input.FunctionName)
  const mwaaStatus = optionalString(Input.MwaaStatus)
  const comment = booleanInput(Input.Comment, true)
  const refresh = parseRefreshResponse(refreshText, functionError)
  if (refresh === undefined && refreshText.trim() !== '') {
    // A result that is not JSON is still a deploy to report: the note says nothing of workers.
    core.warning(
      `${Input.RefreshResponse} is not the refresh function's JSON result; workers are not reported`
    )
  }
  return {
    mode,
    target,
    changes,
    ...(validation !== undefined ? { validation } : {}),
    ...(planOutcome !== undefined ? { planOutcome } : {}),
    ...(refusal !== undefined ? { refusal } : {}),
    ...(environment !== undefined
      ? {
          mwaa: {
            environment,
            ...(updated !== undefined ? { updated: updated === 'true' } : {})
          }
        }
      : {}),
    ...(refresh !== undefined ? { refresh } : {}),
    ...(functionName !== undefined ? { functionName } : {}),
    ...(functionError !== undefined ? { functionError } : {}),
    ...(mwaaStatus !== undefined ? { mwaaStatus } : {}),
    refreshResponse: refreshText,
    comment,
    token,
    repository: readRepository(),
    run: {
      serverUrl: (process.env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, ''),
      repository: process.env.GITHUB_REPOSITORY ?? '',
      runId: process.env.GITHUB_RUN_ID ?? '',
      attempt: process.env.GITHUB_RUN_ATTEMPT ?? ''
    },
    sha: process.env.GITHUB_SHA ?? ''
  }
}

function readTarget(): string {
  const value = requiredString(Input.Target, 'give the deploy target as s3://bucket/prefix/')
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(value)
  if (match === null) {
    throw new InputError(Input.Target, `must be s3://bucket/prefix/, got '${escapeText(value)}'`)
  }
  const bucket = match[1] as string
  const problem = bucketNameProblem(bucket)
  if (problem !== undefined) throw new InputError(Input.Target, problem)
  const rest = match[2] ?? ''
  const prefix = rest === '' ? { prefix: '' } : normalisePrefix(rest)
  if ('problem' in prefix) throw new InputError(Input.Target, prefix.problem)
  return `s3://${bucket}/${prefix.prefix === '' ? '' : `${prefix.prefix}/`}`
}

function readRepository(): { owner: string; repo: string } {
  const [owner, repo, ...rest] = (process.env.GITHUB_REPOSITORY ?? '').split('/')
  if (!owner || !repo || rest.length > 0) {
    throw new Error('GITHUB_REPOSITORY is not owner/name; this action runs in a GitHub workflow')
  }
  return { owner, repo }
}
