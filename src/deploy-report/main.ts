import * as core from '@actions/core'
import { context } from '@actions/github'
import { deployChainMarkdown } from '../common/deploy-chain.js'
import { writeJobSummary } from '../common/runner.js'
import { deployedBody, deployedMarker, planBody, planMarker } from './body.js'
import { Output, type ReportResult } from './constants.js'
import { createClient, GitHubRefused, mergedPullRequest, upsertSticky } from './github.js'
import { readSettings, type ReportSettings } from './settings.js'

/** deploy-report: the plan on the pull request, or the deploy on the merged pull request. */
export async function run(): Promise<void> {
  const settings = readSettings()
  if (settings.mode === 'plan') await reportPlan(settings)
  else await reportDeployed(settings)
}

async function reportPlan(settings: ReportSettings): Promise<void> {
  const pull = context.payload.pull_request as
    { number?: unknown; head?: { sha?: unknown } } | undefined
  const headSha = typeof pull?.head?.sha === 'string' ? pull.head.sha : undefined
  const build = (previous: string | undefined) =>
    planBody(
      {
        target: settings.target,
        changes: settings.changes,
        ...pick(settings, 'validation', 'planOutcome', 'refusal', 'mwaa'),
        run: settings.run,
        ...(headSha !== undefined ? { sha: headSha } : {})
      },
      previous
    )
  const issue = typeof pull?.number === 'number' ? pull.number : undefined
  if (!settings.comment) {
    core.info('comment is false: the plan is in the job summary only')
    await finish(build(undefined), { result: 'summary-only' })
    return
  }
  if (issue === undefined) {
    core.info(
      `No pull request in this ${context.eventName || 'unknown'} event: the plan is in the job summary only`
    )
    await finish(build(undefined), { result: 'no-pull-request' })
    return
  }
  await post(settings, issue, planMarker(settings.target), build, 'plan')
}

async function reportDeployed(settings: ReportSettings): Promise<void> {
  if (!/^[0-9a-f]{7,64}$/i.test(settings.sha)) {
    throw new Error(
      'GITHUB_SHA is not a commit id; the deployed mode reports the commit it runs for'
    )
  }
  const body = deployedBody({
    target: settings.target,
    sha: settings.sha,
    changes: settings.changes,
    ...pick(settings, 'refresh', 'mwaa'),
    run: settings.run
  })
  const chain = chainSection(settings)
  if (!settings.comment) {
    core.info('comment is false: the deploy is in the job summary only')
    await finish(body, { result: 'summary-only' }, chain)
    return
  }
  const client = createClient(settings.token)
  let issue: number | undefined
  try {
    issue = await mergedPullRequest(client, settings.repository, settings.sha)
  } catch (error) {
    if (!(error instanceof GitHubRefused) || ![403, 404, 422].includes(error.status)) throw error
    core.warning(`${error.message}; the deploy is in the job summary only`)
    await finish(body, { result: error.status === 403 ? 'summary-only' : 'not-found' }, chain)
    return
  }
  if (issue === undefined) {
    core.info(
      `No merged pull request for commit ${settings.sha}: the deploy is in the job summary only`
    )
    await finish(body, { result: 'no-pull-request' }, chain)
    return
  }
  await post(
    settings,
    issue,
    deployedMarker(settings.target, settings.sha),
    () => body,
    'deploy note',
    client,
    chain
  )
}

/** The deploy as a picture, from the repository to the workers or the MWAA environment. */
function chainSection(settings: ReportSettings): string {
  const [, bucket = '', prefix = ''] = /^s3:\/\/([^/]+)\/(.*?)\/?$/.exec(settings.target) ?? []
  const { mwaa } = settings
  const picture = deployChainMarkdown({
    repository: `${settings.repository.owner}/${settings.repository.repo}`,
    sha: settings.sha,
    bucket,
    prefix,
    uploaded: settings.changes.uploadedCount,
    deleted: settings.changes.deletedCount,
    ...(mwaa !== undefined
      ? {
          mwaa: {
            environment: mwaa.environment,
            updated: mwaa.updated === true,
            status: settings.mwaaStatus ?? ''
          }
        }
      : settings.functionName !== undefined
        ? {
            refresh: {
              functionName: settings.functionName,
              response: settings.refreshResponse,
              ...(settings.functionError !== undefined
                ? { functionError: settings.functionError }
                : {})
            }
          }
        : {})
  })
  return `\n\n#### The deploy chain\n\n${picture}\n`
}

/** Posts or updates the marked comment; a refusal GitHub gives for a reason leaves the step green. */
async function post(
  settings: ReportSettings,
  issue: number,
  marker: string,
  build: (previous: string | undefined) => string,
  what: string,
  client = createClient(settings.token),
  summaryExtra = ''
): Promise<void> {
  try {
    const written = await upsertSticky(client, settings.repository, issue, marker, build)
    core.info(`The ${what} comment on #${issue} was ${written.result}: ${written.url}`)
    await finish(
      written.body,
      { result: written.result, id: written.id, url: written.url, issue },
      summaryExtra
    )
  } catch (error) {
    if (!(error instanceof GitHubRefused)) throw error
    if (error.status === 403) {
      // A pull request from a fork runs with a read-only token, whatever the workflow asks for.
      core.notice(
        `The ${what} is in the job summary, not on pull request #${issue}: the token may not comment there ` +
          `(a fork's pull request gets a read-only token; otherwise give the job pull-requests: write). ${error.message}`
      )
      await finish(build(undefined), { result: 'summary-only', issue }, summaryExtra)
      return
    }
    if (error.status === 404) {
      core.warning(
        `The ${what} was not posted: pull request #${issue} or its comment is gone. ${error.message}`
      )
      await finish(build(undefined), { result: 'not-found', issue }, summaryExtra)
      return
    }
    throw error
  }
}

async function finish(
  body: string,
  outcome: { result: ReportResult; id?: number; url?: string; issue?: number },
  summaryExtra = ''
): Promise<void> {
  await writeJobSummary(body + summaryExtra)
  core.setOutput(Output.Result, outcome.result)
  core.setOutput(Output.CommentId, outcome.id === undefined ? '' : String(outcome.id))
  core.setOutput(Output.CommentUrl, outcome.url ?? '')
  core.setOutput(Output.PullRequest, outcome.issue === undefined ? '' : String(outcome.issue))
}

function pick<T extends object, K extends keyof T>(source: T, ...keys: K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {}
  for (const key of keys) if (source[key] !== undefined) picked[key] = source[key]
  return picked
}
