/** A function reference as Lambda accepts it: a name, a full ARN or a partial ARN. */
export interface FunctionReference {
  name: string
  region?: string | undefined
  qualifier?: string | undefined
}

const NAME = '[a-zA-Z0-9_-]{1,64}'
const QUALIFIER = '(\\$LATEST|[a-zA-Z0-9_-]{1,128})'
const FULL_ARN = new RegExp(
  `^arn:aws[a-z-]*:lambda:([a-z]{2}(?:-[a-z]+)+-\\d+):(\\d{12}):function:(${NAME})(?::${QUALIFIER})?$`
)
const PARTIAL_ARN = new RegExp(`^(\\d{12}):function:(${NAME})(?::${QUALIFIER})?$`)
const PLAIN = new RegExp(`^(${NAME})(?::${QUALIFIER})?$`)
export const QUALIFIER_PATTERN = new RegExp(`^${QUALIFIER}$`)

export function parseFunctionReference(value: string): FunctionReference | undefined {
  let match = FULL_ARN.exec(value)
  if (match) return { region: match[1], name: match[3]!, qualifier: match[4] }
  match = PARTIAL_ARN.exec(value)
  if (match) return { name: match[2]!, qualifier: match[3] }
  match = PLAIN.exec(value)
  if (match) return { name: match[1]!, qualifier: match[2] }
  return undefined
}
