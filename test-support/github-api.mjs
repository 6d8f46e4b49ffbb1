// A local stand-in for the part of GitHub's REST API the pack's reports use, on 127.0.0.1:
// issue comments (list with Link pagination, create, update, delete), the pull requests of a
// commit, and token checks. It records every request, lets a test wait for one, and can be told
// to answer as GitHub does when it refuses: 403 for a read-only token (a fork's pull request),
// 404 for a pull request or comment that is gone, 403/429 with retry-after for a rate limit.
import { createServer } from 'node:http'

/**
 * @param {{
 *   tokens?: Record<string, { login: string, type?: 'Bot' | 'User', readOnly?: boolean }>,
 *   maxPerPage?: number
 * }} options
 */
export async function startGitHubApi(options = {}) {
  // The job tokens of the runner model (runner.mjs) and the workflow model (workflow.mjs).
  const tokens = options.tokens ?? {
    ghs_runner_model_token: { login: 'github-actions[bot]', type: 'Bot' },
    ghs_workflow_model_token: { login: 'github-actions[bot]', type: 'Bot' }
  }
  const maxPerPage = options.maxPerPage ?? 100
  /** @type {Map<string, Set<number>>} owner/repo → pull request numbers that exist */
  const pulls = new Map()
  /** @type {Map<number, any>} comment id → comment (with its issue key) */
  const comments = new Map()
  /** @type {Map<string, any[]>} sha → pull requests associated with the commit */
  const commitPulls = new Map()
  const faults = []
  const requests = []
  const waiters = []
  let nextId = 1000
  let url = ''

  const json = (res, status, body, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    res.end(body === undefined ? '' : JSON.stringify(body))
  }
  const publicComment = (comment) => {
    const rest = { ...comment }
    delete rest.issueKey
    return rest
  }

  function route(entry, res) {
    const auth = String(entry.headers.authorization ?? '')
    const token = auth.replace(/^(token|bearer)\s+/i, '')
    const user = tokens[token]
    if (user === undefined) {
      return json(res, 401, { message: 'Bad credentials', status: '401' })
    }
    const fault = faults.find((candidate) => candidate.times > 0 && candidate.match(entry))
    if (fault !== undefined) {
      fault.times -= 1
      return json(
        res,
        fault.status,
        fault.body ?? { message: fault.message ?? 'refused' },
        fault.headers
      )
    }
    const writes = entry.method !== 'GET'
    if (writes && user.readOnly) {
      return json(res, 403, {
        message: 'Resource not accessible by integration',
        documentation_url: 'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
        status: '403'
      })
    }
    let match
    if ((match = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(entry.path))) {
      const [, owner, repo, number] = match
      const repository = `${owner}/${repo}`
      const issue = Number(number)
      if (!pulls.get(repository)?.has(issue)) return json(res, 404, { message: 'Not Found' })
      const issueKey = `${repository}#${issue}`
      entry.issue = issueKey
      if (entry.method === 'GET') {
        const all = [...comments.values()].filter((c) => c.issueKey === issueKey)
        const perPage = Math.min(Number(entry.query.get('per_page') ?? 30) || 30, maxPerPage)
        const page = Math.max(1, Number(entry.query.get('page') ?? 1) || 1)
        const last = Math.max(1, Math.ceil(all.length / perPage))
        const links = []
        const pageUrl = (n) =>
          `<${url}/repos/${repository}/issues/${issue}/comments?per_page=${perPage}&page=${n}>`
        if (page < last)
          links.push(`${pageUrl(page + 1)}; rel="next"`, `${pageUrl(last)}; rel="last"`)
        if (page > 1) links.push(`${pageUrl(1)}; rel="first"`, `${pageUrl(page - 1)}; rel="prev"`)
        const slice = all.slice((page - 1) * perPage, page * perPage).map(publicComment)
        return json(res, 200, slice, links.length > 0 ? { link: links.join(', ') } : {})
      }
      if (entry.method === 'POST') {
        if (typeof entry.body?.body !== 'string')
          return json(res, 422, { message: 'body is missing' })
        const comment = addComment(repository, issue, { body: entry.body.body, ...user })
        return json(res, 201, publicComment(comment))
      }
    }
    if ((match = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(entry.path))) {
      const comment = comments.get(Number(match[3]))
      if (comment === undefined) return json(res, 404, { message: 'Not Found' })
      entry.issue = comment.issueKey
      if (entry.method === 'PATCH') {
        if (typeof entry.body?.body !== 'string')
          return json(res, 422, { message: 'body is missing' })
        comment.body = entry.body.body
        comment.updated_at = new Date().toISOString()
        return json(res, 200, publicComment(comment))
      }
      if (entry.method === 'DELETE') {
        comments.delete(comment.id)
        res.writeHead(204)
        return res.end()
      }
    }
    if ((match = /^\/repos\/([^/]+)\/([^/]+)\/commits\/([^/]+)\/pulls$/.exec(entry.path))) {
      if (entry.method === 'GET') return json(res, 200, commitPulls.get(match[3]) ?? [])
    }
    return json(res, 404, {
      message: `Not Found (the stand-in has no ${entry.method} ${entry.path})`
    })
  }

  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      const parsed = new URL(req.url ?? '/', 'http://127.0.0.1')
      const text = Buffer.concat(chunks).toString('utf8')
      let body
      try {
        body = text === '' ? undefined : JSON.parse(text)
      } catch {
        body = text
      }
      const entry = {
        method: req.method ?? 'GET',
        path: parsed.pathname,
        query: parsed.searchParams,
        headers: req.headers,
        body,
        status: 0,
        at: Date.now()
      }
      const originalWriteHead = res.writeHead.bind(res)
      res.writeHead = (status, ...rest) => {
        entry.status = status
        return originalWriteHead(status, ...rest)
      }
      try {
        route(entry, res)
      } catch (error) {
        json(res, 500, { message: `the stand-in failed: ${error}` })
      }
      requests.push(entry)
      for (const waiter of waiters.splice(0)) {
        if (waiter.match(entry)) waiter.resolve(entry)
        else waiters.push(waiter)
      }
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${server.address().port}`

  function addPullRequest(repository, number) {
    if (!pulls.has(repository)) pulls.set(repository, new Set())
    pulls.get(repository).add(number)
  }

  function addComment(repository, issue, { body, login, type = 'User' }) {
    const id = nextId++
    const now = new Date().toISOString()
    const comment = {
      id,
      node_id: `IC_${id}`,
      url: `${url}/repos/${repository}/issues/comments/${id}`,
      html_url: `https://github.com/${repository}/pull/${issue}#issuecomment-${id}`,
      issue_url: `${url}/repos/${repository}/issues/${issue}`,
      body,
      user: { login, id: login.length, type },
      created_at: now,
      updated_at: now,
      issueKey: `${repository}#${issue}`
    }
    comments.set(id, comment)
    return comment
  }

  return {
    url,
    requests,
    addPullRequest,
    addComment: (repository, issue, comment) =>
      publicComment(addComment(repository, issue, comment)),
    removePullRequest: (repository, number) => pulls.get(repository)?.delete(number),
    /** Deletes a comment, as someone on GitHub may at any moment. */
    deleteComment: (id) => comments.delete(id),
    /** The comments on an issue, oldest first, as GitHub lists them. */
    commentsOn: (repository, issue) =>
      [...comments.values()]
        .filter((c) => c.issueKey === `${repository}#${issue}`)
        .map(publicComment),
    setCommitPulls: (sha, list) => commitPulls.set(sha, list),
    /** The next `times` requests matching `match` get this answer instead of the normal one. */
    fail: (match, answer, times = 1) => faults.push({ match, times, ...answer }),
    /** Resolves with the first request (already seen or still to come) that matches. */
    waitFor: (match) => {
      const seen = requests.find(match)
      if (seen !== undefined) return Promise.resolve(seen)
      return new Promise((resolve) => waiters.push({ match, resolve }))
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(() => resolve())
      })
  }
}
