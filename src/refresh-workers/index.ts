// The Lambda entry (Handler: index.handler). makeHandler is exported for the local demo, which
// runs the same flow with folders standing in for workers.
import { makeHandler } from './handler.js'

export const handler = makeHandler()
export { makeHandler }
