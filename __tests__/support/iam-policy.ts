// IAM's evaluation of identity and trust policies, for what moto_server does not evaluate: moto
// checks EC2 and Lambda calls against Resource "*" only, and evaluates no condition but
// StringEquals on keys it knows (sts:ExternalId). This follows the documented logic for one
// account without boundaries or session policies: an explicit Deny wins, otherwise every resource
// of the request needs an Allow, otherwise the request is denied. An operator it does not know
// fails the test rather than being skipped.

export interface PolicyDocument {
  Version?: string
  Statement: Statement | Statement[]
}

export interface Statement {
  Sid?: string
  Effect: 'Allow' | 'Deny'
  Principal?: string | Record<string, string | string[]>
  Action?: string | string[]
  NotAction?: string | string[]
  Resource?: string | string[]
  NotResource?: string | string[]
  Condition?: Record<string, Record<string, string | string[]>>
}

export interface IamRequest {
  action: string
  /** Every resource the call touches; each must be allowed. Trust policies take none. */
  resources: string[]
  context?: Record<string, string>
  /** For trust policies: the principal that asks, as `Federated:<arn>` or `AWS:<arn>`. */
  principal?: string
}

export type Decision = 'allowed' | 'implicitly denied' | 'explicitly denied'

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value]

/** IAM's wildcards: `*` any run of characters, `?` one; case-sensitive unless told otherwise. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .split('')
    .map((char) =>
      char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')
    )
    .join('')
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value)
}

type Operator = (expected: string[], actual: string | undefined) => boolean

// A key the request does not have matches no positive operator (IAM's rule without IfExists).
const OPERATORS: Record<string, Operator> = {
  StringEquals: (expected, actual) => actual !== undefined && expected.includes(actual),
  StringNotEquals: (expected, actual) => actual === undefined || !expected.includes(actual),
  StringLike: (expected, actual) =>
    actual !== undefined && expected.some((pattern) => wildcardMatch(pattern, actual)),
  StringNotLike: (expected, actual) =>
    actual === undefined || !expected.some((pattern) => wildcardMatch(pattern, actual)),
  ArnEquals: (expected, actual) => actual !== undefined && expected.includes(actual),
  ArnLike: (expected, actual) =>
    actual !== undefined && expected.some((pattern) => wildcardMatch(pattern, actual)),
  Bool: (expected, actual) => actual !== undefined && expected.includes(actual.toLowerCase())
}

function conditionsHold(statement: Statement, context: Record<string, string>): boolean {
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    const test = OPERATORS[operator]
    if (test === undefined) throw new Error(`condition operator ${operator} is not modelled`)
    for (const [key, expected] of Object.entries(keys)) {
      // Condition keys are case-insensitive; their values are not.
      const actualKey = Object.keys(context).find(
        (name) => name.toLowerCase() === key.toLowerCase()
      )
      if (!test(list(expected), actualKey === undefined ? undefined : context[actualKey]))
        return false
    }
  }
  return true
}

function actionMatches(statement: Statement, action: string): boolean {
  if (statement.NotAction !== undefined)
    return !list(statement.NotAction).some((pattern) => wildcardMatch(pattern, action, true))
  return list(statement.Action).some((pattern) => wildcardMatch(pattern, action, true))
}

function resourceMatches(statement: Statement, resource: string | undefined): boolean {
  // Trust policies name no resource: the role itself is the resource.
  if (resource === undefined) return true
  if (statement.NotResource !== undefined)
    return !list(statement.NotResource).some((pattern) => wildcardMatch(pattern, resource))
  return list(statement.Resource).some((pattern) => wildcardMatch(pattern, resource))
}

function principalMatches(statement: Statement, principal: string | undefined): boolean {
  if (statement.Principal === undefined) return principal === undefined
  if (principal === undefined) return false
  if (statement.Principal === '*') return true
  const [kind, id] = [
    principal.slice(0, principal.indexOf(':')),
    principal.slice(principal.indexOf(':') + 1)
  ]
  return list((statement.Principal as Record<string, string | string[]>)[kind]).some(
    (pattern) => pattern === '*' || pattern === id
  )
}

/** The decision for one resource (or, in a trust policy, for the role). */
function decideOne(
  statements: readonly Statement[],
  request: IamRequest,
  resource: string | undefined
): Decision {
  const context = request.context ?? {}
  const applying = statements.filter(
    (statement) =>
      actionMatches(statement, request.action) &&
      resourceMatches(statement, resource) &&
      principalMatches(statement, request.principal) &&
      conditionsHold(statement, context)
  )
  if (applying.some((statement) => statement.Effect === 'Deny')) return 'explicitly denied'
  return applying.some((statement) => statement.Effect === 'Allow')
    ? 'allowed'
    : 'implicitly denied'
}

/** IAM's answer to `request` under the identity policies (or the trust policy) given. */
export function evaluate(documents: readonly PolicyDocument[], request: IamRequest): Decision {
  const statements = documents.flatMap((document) =>
    Array.isArray(document.Statement) ? document.Statement : [document.Statement]
  )
  const resources = request.resources.length === 0 ? [undefined] : request.resources
  const decisions = resources.map((resource) => decideOne(statements, request, resource))
  if (decisions.includes('explicitly denied')) return 'explicitly denied'
  if (decisions.includes('implicitly denied')) return 'implicitly denied'
  return 'allowed'
}
