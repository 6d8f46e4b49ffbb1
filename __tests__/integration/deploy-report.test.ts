// The bundled deploy-report, run as the GitHub runner runs it, against a local stand-in for
// GitHub's REST API (@actions/github follows GITHUB_API_URL): the sticky plan comment, the note
// after a merge, and GitHub's refusals (a fork's read-only token, a deleted pull request, rate
// limits).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  startGitHubApi,
  type GitHubApi,
  type RecordedRequest
} from '../../test-support/github-api.mjs'
import { runAction } from '../../test-support/runner.mjs'

const REPO = 'octo-org/airflow'
const TOKEN = 'ghs_runner_model_token'
const READ_ONLY = 'ghs_fork_read_only'
const SHA = 'ffac537e6cbbf934b08745a378932722df287a53'
const TARGET = 's3://dags-bucket/dags/'
const MARKER = `<!-- airflow-aws-deploy-actions:plan ${TARGET} -->`

let api: GitHubApi
let events: string

beforeAll(async () => {
  // Two comments a page, so every listing here is paginated.
  api = await startGitHubApi({
    maxPerPage: 2,
    tokens: {
      [TOKEN]: { login: 'github-actions[bot]', type: 'Bot' },
      [READ_ONLY]: { login: 'github-actions[bot]', type: 'Bot', readOnly: true }
    }
  })
  events = mkdtempSync(join(tmpdir(), 'events-'))
})
afterAll(async () => {
  await api?.stop()
  if (events) rmSync(events, { recursive: true, force: true })
})

function eventFile(name: string, payload: object): string {
  const path = join(events, `${name}-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(path, JSON.stringify(payload))
  return path
}

const pullRequestEvent = (number: number) => ({
  action: 'synchronize',
  number,
  pull_request: { number, head: { sha: 'abcdef0123456789abcdef0123456789abcdef01' } },
  repository: { full_name: REPO, name: 'airflow', owner: { login: 'octo-org' } }
})

const changes = (uploaded: string[], deleted: string[] = []) =>
  JSON.stringify({ uploaded, deleted })

function report(
  inputs: Record<string, string>,
  options: { pull?: number; event?: string; payload?: object; env?: Record<string, string> } = {}
) {
  const eventName = options.event ?? 'pull_request'
  const payload =
    options.payload ??
    (options.pull !== undefined ? pullRequestEvent(options.pull) : { ref: 'refs/heads/main' })
  return runAction({
    action: 'deploy-report',
    env: {
      GITHUB_API_URL: api.url,
      GITHUB_EVENT_NAME: eventName,
      GITHUB_EVENT_PATH: eventFile(eventName, payload),
      ...(options.env ?? {})
    },
    inputs: { target: TARGET, validation: 'success', 'plan-outcome': 'success', ...inputs },
    timeoutMs: 30_000
  })
}

const onIssue = (issue: number) => (request: RecordedRequest) =>
  request.path.startsWith(`/repos/${REPO}/issues/${issue}/`)
const writesTo = (issue: number) =>
  api.requests.filter((r) => r.method !== 'GET' && r.issue === `${REPO}#${issue}`)

describe('deploy-report plan', () => {
  it('posts the first plan comment with the marker, deletes first, and writes the summary', async () => {
    api.addPullRequest(REPO, 1)
    const run = await report({ changes: changes(['dags/new.py'], ['dags/gone.py']) }, { pull: 1 })
    expect(run.errors).toEqual([])
    expect(run.exitCode).toBe(0)
    expect(run.outputs.result).toBe('created')
    const [comment, ...others] = api.commentsOn(REPO, 1)
    expect(others).toEqual([])
    expect(comment?.body.split('\n')[0]).toBe(MARKER)
    expect(comment?.body).toContain('🗑️ **delete** `dags/gone.py`')
    expect(comment!.body.indexOf('dags/gone.py')).toBeLessThan(comment!.body.indexOf('dags/new.py'))
    expect(comment?.body).toContain('(https://github.com/octo-org/airflow/actions/runs/4242)')
    expect(run.outputs['comment-id']).toBe(String(comment?.id))
    expect(run.outputs['pull-request']).toBe('1')
    expect(run.summary).toContain(comment!.body)
    const post = await api.waitFor((r) => r.method === 'POST' && onIssue(1)(r))
    expect(post.headers.authorization).toBe(`token ${TOKEN}`)
  })

  it('updates the comment in place on the next push, and says "no changes" plainly', async () => {
    api.addPullRequest(REPO, 2)
    const first = await report({ changes: changes(['dags/a.py']) }, { pull: 2 })
    const second = await report({ changes: changes(['dags/b.py']) }, { pull: 2 })
    expect(second.outputs.result).toBe('updated')
    expect(second.outputs['comment-id']).toBe(first.outputs['comment-id'])
    let comments = api.commentsOn(REPO, 2)
    expect(comments).toHaveLength(1)
    expect(comments[0]?.body).toContain('`dags/b.py`')
    expect(comments[0]?.body).not.toContain('dags/a.py')
    const none = await report({ changes: '' }, { pull: 2 })
    expect(none.outputs.result).toBe('updated')
    comments = api.commentsOn(REPO, 2)
    expect(comments).toHaveLength(1)
    expect(comments[0]?.body).toContain('**No changes.**')
    expect(writesTo(2).map((r) => r.method)).toEqual(['POST', 'PATCH', 'PATCH'])
  })

  it('keeps one comment per target: two targets give two comments', async () => {
    api.addPullRequest(REPO, 3)
    await report({ changes: changes(['dags/a.py']) }, { pull: 3 })
    await report(
      { target: 's3://dags-bucket/staging/dags', changes: changes(['x.py']) },
      { pull: 3 }
    )
    await report(
      { target: 's3://dags-bucket/staging/dags/', changes: changes(['y.py']) },
      { pull: 3 }
    )
    const bodies = api.commentsOn(REPO, 3).map((c) => c.body.split('\n')[0])
    expect(bodies).toEqual([
      MARKER,
      '<!-- airflow-aws-deploy-actions:plan s3://dags-bucket/staging/dags/ -->'
    ])
  })

  it('keeps the oldest of duplicate plan comments, deletes the others, and leaves people’s comments alone', async () => {
    api.addPullRequest(REPO, 4)
    const human = api.addComment(REPO, 4, {
      body: `${MARKER}\nquoted by a person`,
      login: 'octocat'
    })
    const oldest = api.addComment(REPO, 4, {
      body: `${MARKER}\nold`,
      login: 'github-actions[bot]',
      type: 'Bot'
    })
    api.addComment(REPO, 4, { body: 'unrelated', login: 'github-actions[bot]', type: 'Bot' })
    api.addComment(REPO, 4, {
      body: `${MARKER}\nolder copy`,
      login: 'github-actions[bot]',
      type: 'Bot'
    })
    api.addComment(REPO, 4, {
      body: `${MARKER}\nnewest copy`,
      login: 'github-actions[bot]',
      type: 'Bot'
    })
    const run = await report({ changes: changes(['dags/a.py']) }, { pull: 4 })
    expect(run.outputs.result).toBe('updated')
    expect(run.outputs['comment-id']).toBe(String(oldest.id))
    const left = api.commentsOn(REPO, 4)
    expect(left.map((c) => c.id)).toEqual([human.id, oldest.id, expect.any(Number)])
    expect(left[0]?.body).toContain('quoted by a person')
    expect(left[1]?.body).toContain('`dags/a.py`')
    expect(left[2]?.body).toBe('unrelated')
    // Five comments at two a page: the third page was read.
    await api.waitFor((r) => onIssue(4)(r) && r.query.get('page') === '3')
  })

  it('posts a new comment when the one it found was deleted before the update', async () => {
    api.addPullRequest(REPO, 12)
    const first = await report({ changes: changes(['dags/a.py']) }, { pull: 12 })
    // Someone deletes it right after the step listed the comments, before its update.
    const id = Number(first.outputs['comment-id'])
    const before = api.requests.length
    void api
      .waitFor((r) => r.method === 'GET' && onIssue(12)(r) && api.requests.indexOf(r) >= before)
      .then(() => api.deleteComment(id))
    const second = await report({ changes: changes(['dags/b.py']) }, { pull: 12 })
    expect(second.exitCode).toBe(0)
    expect(second.outputs.result).toBe('created')
    expect(second.outputs['comment-id']).not.toBe(String(id))
    expect(
      api.requests
        .slice(before)
        .map((r) => `${r.method} ${r.path.replace(/\d+$/, 'N')} ${r.status}`)
    ).toEqual([
      `GET /repos/${REPO}/issues/12/comments 200`,
      `PATCH /repos/${REPO}/issues/comments/N 404`,
      `POST /repos/${REPO}/issues/12/comments 201`
    ])
    expect(api.commentsOn(REPO, 12).map((c) => c.body)).toEqual([
      expect.stringContaining('`dags/b.py`')
    ])
  })

  it('says the checks pass again after a failing plan', async () => {
    api.addPullRequest(REPO, 5)
    await report({ validation: 'failure', changes: changes(['dags/a.py']) }, { pull: 5 })
    expect(api.commentsOn(REPO, 5)[0]?.body).toContain('| DAG validation | ❌ failed |')
    await report({ validation: 'success', changes: changes(['dags/a.py']) }, { pull: 5 })
    const [comment] = api.commentsOn(REPO, 5)
    expect(comment?.body).toContain('✅ **The checks pass again.**')
    expect(comment?.body).toContain('| DAG validation | ✅ passed |')
  })

  it('leaves the plan in the job summary with a notice when the token is read-only (a fork)', async () => {
    api.addPullRequest(REPO, 6)
    const run = await report(
      { changes: changes(['dags/a.py']), 'github-token': READ_ONLY },
      { pull: 6 }
    )
    expect(run.exitCode).toBe(0)
    expect(run.errors).toEqual([])
    expect(run.outputs.result).toBe('summary-only')
    const notices = run.commands.filter((c) => c.command === 'notice').map((c) => c.message)
    expect(notices).toEqual([
      expect.stringContaining("a fork's pull request gets a read-only token")
    ])
    expect(notices[0]).toContain('GitHub answered 403')
    expect(run.summary).toContain('`dags/a.py`')
    expect(api.commentsOn(REPO, 6)).toEqual([])
  })

  it('warns, without failing, when the pull request is gone (404)', async () => {
    const run = await report({ changes: changes(['dags/a.py']) }, { pull: 404 })
    expect(run.exitCode).toBe(0)
    expect(run.outputs.result).toBe('not-found')
    expect(run.warnings).toEqual([
      expect.stringContaining('pull request #404 or its comment is gone')
    ])
    expect(run.summary).toContain('`dags/a.py`')
  })

  it('waits as long as a secondary rate limit asks (retry-after), then posts', async () => {
    api.addPullRequest(REPO, 7)
    api.fail(
      (r) => r.method === 'POST' && onIssue(7)(r),
      {
        status: 403,
        headers: { 'retry-after': '1' },
        message: 'You have exceeded a secondary rate limit.'
      },
      1
    )
    api.fail(
      (r) => r.method === 'GET' && onIssue(7)(r),
      { status: 429, headers: { 'retry-after': '1' }, message: 'too many requests' },
      1
    )
    const run = await report({ changes: changes(['dags/a.py']) }, { pull: 7 })
    expect(run.errors).toEqual([])
    expect(run.outputs.result).toBe('created')
    const lists = api.requests.filter((r) => r.method === 'GET' && onIssue(7)(r))
    const posts = api.requests.filter((r) => r.method === 'POST' && onIssue(7)(r))
    expect(lists.map((r) => r.status)).toEqual([429, 200])
    expect(posts.map((r) => r.status)).toEqual([403, 201])
    expect(lists[1]!.at - lists[0]!.at).toBeGreaterThanOrEqual(1000)
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(1000)
    expect(api.commentsOn(REPO, 7)).toHaveLength(1)
  })

  it('gives up on a rate limit that asks for more than the step may wait', async () => {
    api.addPullRequest(REPO, 8)
    api.fail(
      (r) => r.method === 'GET' && onIssue(8)(r),
      { status: 429, headers: { 'retry-after': '3600' }, message: 'too many requests' },
      1
    )
    const run = await report({ changes: changes(['dags/a.py']) }, { pull: 8 })
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([
      expect.stringMatching(
        /^GitHub's rate limit answered 429 to GET .*issues\/8\/comments.* past the 1 min 0 s this step waits in all/
      )
    ])
    expect(api.requests.filter((r) => onIssue(8)(r))).toHaveLength(1)
  })

  it('posts nothing in a push event', async () => {
    const before = api.requests.length
    const run = await report({ changes: changes(['dags/a.py']) }, { event: 'push' })
    expect(run.exitCode).toBe(0)
    expect(run.outputs.result).toBe('no-pull-request')
    expect(run.stdout).toContain('No pull request in this push event')
    expect(api.requests.length).toBe(before)
  })

  it('fails with GitHub’s message when the token is not accepted', async () => {
    api.addPullRequest(REPO, 9)
    const run = await report({ 'github-token': 'ghs_wrong' }, { pull: 9 })
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual(['GitHub answered 401 to the comments of #9: Bad credentials'])
    // The token is masked, and appears nowhere but in the mask command itself.
    expect(run.masks).toContain('ghs_wrong')
    const shown = (run.stdout + run.stderr).replace('::add-mask::ghs_wrong', '')
    expect(shown).not.toContain('ghs_wrong')
  })

  it('keeps hostile keys inert and still finds its comment afterwards', async () => {
    api.addPullRequest(REPO, 10)
    const hostile = [
      '</details><img src=x onerror=alert(1)>',
      `${MARKER.replace(TARGET, 's3://other/')}`,
      'dags/`tick`\n\n<script>alert(1)</script>',
      '@octo-org/admins fix #1'
    ]
    await report({ changes: changes(hostile, hostile) }, { pull: 10 })
    await report({ changes: changes(hostile, hostile) }, { pull: 10 })
    const [comment, ...others] = api.commentsOn(REPO, 10)
    expect(others).toEqual([])
    const lines = comment!.body.split('\n')
    expect(lines.filter((l) => l.includes('<img') || l.includes('<script>'))).toEqual([
      '- 🗑️ **delete** `</details><img src=x onerror=alert(1)>`',
      "- 🗑️ **delete** `dags/'tick'  <script>alert(1)</script>`",
      '- `</details><img src=x onerror=alert(1)>`',
      "- `dags/'tick'  <script>alert(1)</script>`"
    ])
    expect(lines.filter((l) => l.includes('@octo-org'))).toEqual([
      '- 🗑️ **delete** `@octo-org/admins fix #1`',
      '- `@octo-org/admins fix #1`'
    ])
    expect(lines[0]).toBe(MARKER)
    // A key that spells another target's marker does not make this comment that target's.
    await report({ target: 's3://other/', changes: changes(['x.py']) }, { pull: 10 })
    expect(api.commentsOn(REPO, 10).map((c) => c.body.split('\n')[0])).toEqual([
      MARKER,
      '<!-- airflow-aws-deploy-actions:plan s3://other/ -->'
    ])
  })
})

describe('deploy-report deployed', () => {
  const deployed = (extra: Record<string, string> = {}) =>
    report(
      {
        mode: 'deployed',
        changes: changes(['dags/a.py', 'dags/b.py'], ['dags/old.py']),
        'refresh-response': JSON.stringify({
          ok: true,
          workers: [
            { instanceId: 'i-0abc', status: 'refreshed', durationMs: 2100, filesVerified: 3 }
          ]
        }),
        ...extra
      },
      { event: 'push' }
    )

  it('leaves one note on the merged pull request, updated by a re-run', async () => {
    api.addPullRequest(REPO, 11)
    api.setCommitPulls(SHA, [
      { number: 3, merged_at: null, merge_commit_sha: null },
      { number: 11, merged_at: '2026-11-30T12:00:00Z', merge_commit_sha: SHA }
    ])
    const first = await deployed()
    expect(first.errors).toEqual([])
    expect(first.outputs.result).toBe('created')
    expect(first.outputs['pull-request']).toBe('11')
    const rerun = await deployed()
    expect(rerun.outputs.result).toBe('updated')
    const [note, ...others] = api.commentsOn(REPO, 11)
    expect(others).toEqual([])
    expect(note?.body.split('\n')[0]).toBe(
      `<!-- airflow-aws-deploy-actions:deployed ${TARGET} ${SHA} -->`
    )
    expect(note?.body).toContain('Commit `ffac537e6cbb`: 2 uploaded, 1 deleted.')
    expect(note?.body).toContain('- ✅ `i-0abc` refreshed (2.1 s; 3 files verified)')
    await api.waitFor((r) => r.path === `/repos/${REPO}/commits/${SHA}/pulls`)
  })

  it('draws the deploy chain in the job summary, and with comment false calls nothing', async () => {
    const before = api.requests.length
    const run = await deployed({ comment: 'false', 'function-name': 'airflow-refresh-workers' })
    expect(run.errors).toEqual([])
    expect(run.outputs.result).toBe('summary-only')
    expect(api.requests.slice(before)).toEqual([])
    expect(run.summary).toContain('#### The deploy chain')
    expect(run.summary).toContain('```mermaid')
    expect(run.summary).toContain('i-0abc')
    expect(run.summary).toContain('airflow-refresh-workers')
  })

  it('posts nothing when the commit came without a pull request', async () => {
    const sha = '0123456789abcdef0123456789abcdef01234567'
    const before = api.requests.length
    const run = await report({ mode: 'deployed' }, { event: 'push', env: { GITHUB_SHA: sha } })
    expect(run.exitCode).toBe(0)
    expect(run.outputs.result).toBe('no-pull-request')
    expect(run.stdout).toContain(`No merged pull request for commit ${sha}`)
    expect(api.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /repos/${REPO}/commits/${sha}/pulls`
    ])
  })
})
