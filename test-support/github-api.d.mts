export interface GitHubUser {
  login: string
  type?: 'Bot' | 'User'
  /** Writes are refused with 403, as for a fork's pull request. */
  readOnly?: boolean
}
export interface RecordedRequest {
  method: string
  path: string
  query: URLSearchParams
  headers: Record<string, string | string[] | undefined>
  /** The JSON the client sent, parsed; undefined when it sent none. */
  body: ({ body?: string } & Record<string, unknown>) | undefined
  status: number
  /** owner/repo#number of the issue a comment request was about, when the stand-in knows it. */
  issue?: string
  /** Date.now() when the request arrived. */
  at: number
}
export interface IssueComment {
  id: number
  html_url: string
  body: string
  user: { login: string; id: number; type: string }
  created_at: string
  updated_at: string
}
export interface Answer {
  status: number
  headers?: Record<string, string>
  body?: unknown
  message?: string
}
export interface GitHubApi {
  url: string
  requests: RecordedRequest[]
  addPullRequest(repository: string, number: number): void
  removePullRequest(repository: string, number: number): void
  deleteComment(id: number): void
  addComment(
    repository: string,
    issue: number,
    comment: { body: string; login: string; type?: 'Bot' | 'User' }
  ): IssueComment
  commentsOn(repository: string, issue: number): IssueComment[]
  setCommitPulls(sha: string, pulls: Record<string, unknown>[]): void
  fail(match: (request: RecordedRequest) => boolean, answer: Answer, times?: number): void
  waitFor(match: (request: RecordedRequest) => boolean): Promise<RecordedRequest>
  stop(): Promise<void>
}
export function startGitHubApi(options?: {
  tokens?: Record<string, GitHubUser>
  maxPerPage?: number
}): Promise<GitHubApi>
