// The Lambda entry (Handler: index.handler). makeHandler and awsDependencies are exported for the
// local demo and tests, which run the same flow against local endpoints.
import { awsDependencies, makeHandler } from './handler.js'

export const handler = makeHandler()
export { awsDependencies, makeHandler }
