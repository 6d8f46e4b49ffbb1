import * as core from '@actions/core'
import { getOctokit } from '@actions/github'
import { escapeText } from '../common/untrusted.js'
import { formatDuration } from '../common/summary.js'
import { RATE_LIMIT_BUDGET_MS, rateLimitWait } from './rate-limit.js'
import { hasMarker } from './body.js'

export type GitHubClient = ReturnType<typeof getOctokit>
export interface Repository {
  owner: string
  repo: string
}

/** What GitHub answered when it refused a call: the status and its message, escaped. */
export class GitHubRefused extends Error {
  constructor(
    readonly status: number,
    readonly call: string,
    detail: string
  ) {
    super(`GitHub answered ${status} to ${call}: ${escapeText(detail)}`)
    this.name = 'GitHubRefused'
  }
}

/**
 * A rate limit that asks for more waiting than the step may do. Not a GitHubRefused: a 403 limit
 * must not read as a read-only token (a fork), whose report quietly stays in the summary.
 */
export class RateLimited extends Error {
  constructor(status: number, call: string, waitMs: number, budgetMs: number) {
    super(
      `GitHub's rate limit answered ${status} to ${call} and asks for ${formatDuration(waitMs)} more, past the ${formatDuration(budgetMs)} this step waits in all; run the job again later`
    )
    this.name = 'RateLimited'
  }
}

interface RequestFailure {
  status: number
  message: string
  response?: { headers?: Record<string, string | number | undefined> }
}

function asRequestFailure(error: unknown): RequestFailure | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const status = (error as { status?: unknown }).status
  return typeof status === 'number' ? (error as RequestFailure) : undefined
}

/**
 * A client on GITHUB_API_URL that waits out GitHub's rate limits as GitHub asks, within
 * RATE_LIMIT_BUDGET_MS for the whole step; past that the limit is reported as the refusal it is.
 */
export function createClient(token: string, budgetMs = RATE_LIMIT_BUDGET_MS): GitHubClient {
  const client = getOctokit(token)
  let waitedMs = 0
  client.hook.wrap('request', async (request, options) => {
    for (;;) {
      try {
        return await request(options)
      } catch (error) {
        const failure = asRequestFailure(error)
        const wait =
          failure === undefined
            ? undefined
            : rateLimitWait(failure.status, failure.response?.headers ?? {}, Date.now())
        if (wait === undefined) throw error
        if (waitedMs + wait > budgetMs) {
          throw new RateLimited(
            failure?.status ?? 0,
            `${options.method} ${options.url}`,
            wait,
            budgetMs
          )
        }
        core.info(
          `GitHub's rate limit answered ${failure?.status} to ${options.method} ${options.url}; trying again in ${formatDuration(wait)}`
        )
        await new Promise((resolve) => setTimeout(resolve, wait))
        waitedMs += wait
      }
    }
  })
  return client
}

/** Runs a call, turning GitHub's refusal into a GitHubRefused that names the call. */
async function call<T>(name: string, act: () => Promise<T>): Promise<T> {
  try {
    return await act()
  } catch (error) {
    const failure = asRequestFailure(error)
    if (failure === undefined) throw error
    throw new GitHubRefused(failure.status, name, failure.message)
  }
}

export interface MarkedComment {
  id: number
  body: string
  url: string
}

/**
 * The comments on the issue or pull request that begin with `marker`, oldest first. Only
 * comments by bots (the job token's github-actions[bot], a GitHub App) count: a person's comment
 * quoting the marker is never edited or deleted.
 */
export async function markedComments(
  client: GitHubClient,
  repository: Repository,
  issue: number,
  marker: string
): Promise<MarkedComment[]> {
  const found: MarkedComment[] = []
  await call(`the comments of #${issue}`, async () => {
    const pages = client.paginate.iterator(client.rest.issues.listComments, {
      ...repository,
      issue_number: issue,
      per_page: 100
    })
    for await (const page of pages) {
      for (const comment of page.data) {
        if (comment.user?.type === 'Bot' && hasMarker(comment.body, marker)) {
          found.push({ id: comment.id, body: comment.body ?? '', url: comment.html_url })
        }
      }
    }
  })
  return found
}

export interface StickyResult {
  result: 'created' | 'updated'
  id: number
  url: string
  body: string
}

/**
 * One comment per marker: the oldest marked comment is updated in place (or one is created) with
 * the body `build` makes from what it said before, and any other marked comment is deleted.
 */
export async function upsertSticky(
  client: GitHubClient,
  repository: Repository,
  issue: number,
  marker: string,
  build: (previousBody: string | undefined) => string
): Promise<StickyResult> {
  const [keep, ...duplicates] = await markedComments(client, repository, issue, marker)
  const body = build(keep?.body)
  let written: StickyResult | undefined
  if (keep !== undefined) {
    try {
      const { data } = await call(`the update of comment ${keep.id}`, () =>
        client.rest.issues.updateComment({ ...repository, comment_id: keep.id, body })
      )
      written = { result: 'updated', id: data.id, url: data.html_url, body }
    } catch (error) {
      // Deleted since it was listed: a new one takes its place.
      if (!(error instanceof GitHubRefused && error.status === 404)) throw error
    }
  }
  if (written === undefined) {
    const { data } = await call(`a new comment on #${issue}`, () =>
      client.rest.issues.createComment({ ...repository, issue_number: issue, body })
    )
    written = { result: 'created', id: data.id, url: data.html_url, body }
  }
  for (const duplicate of duplicates) {
    await call(`the deletion of duplicate comment ${duplicate.id}`, () =>
      client.rest.issues.deleteComment({ ...repository, comment_id: duplicate.id })
    ).catch((error: unknown) => {
      if (!(error instanceof GitHubRefused && error.status === 404)) throw error
    })
  }
  return written
}

/**
 * The pull request merged as `sha`: the one whose merge commit it is, else a merged one that
 * holds it (a rebase merge), or undefined when the commit came without a pull request.
 */
export async function mergedPullRequest(
  client: GitHubClient,
  repository: Repository,
  sha: string
): Promise<number | undefined> {
  const { data } = await call(`the pull requests of commit ${sha}`, () =>
    client.rest.repos.listPullRequestsAssociatedWithCommit({ ...repository, commit_sha: sha })
  )
  const merged = data.filter((pull) => pull.merged_at !== null && pull.merged_at !== undefined)
  return (merged.find((pull) => pull.merge_commit_sha === sha) ?? merged[0])?.number
}
