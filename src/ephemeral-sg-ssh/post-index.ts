import { State } from './constants.js'

// Nothing to close: the main step opened nothing, or confirmed every rule of this run closed.
// Then the post step does not even load the AWS SDK, whose loading is most of its time.
if (!process.env[`STATE_${State.Session}`]) {
  process.stdout.write('No rule was opened.\n')
} else if (process.env[`STATE_${State.Closed}`] === 'true') {
  process.stdout.write('Every rule was already closed by the main step.\n')
} else {
  const { runAction } = await import('../common/action.js')
  const { runPost } = await import('./post.js')
  await runAction(runPost)
}
