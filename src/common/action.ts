import * as core from '@actions/core'
import { InputError, SafetyError, errorMessage } from './errors.js'

/** The one top-level catch of every entry point: the step fails with a single clear message. */
export async function runAction(main: () => Promise<void>): Promise<void> {
  try {
    await main()
  } catch (error) {
    if (!(error instanceof InputError || error instanceof SafetyError) && error instanceof Error) {
      core.debug(error.stack ?? error.message)
    }
    core.setFailed(errorMessage(error))
  }
}
