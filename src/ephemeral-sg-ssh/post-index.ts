import { runAction } from '../common/action.js'
import { runPost } from './post.js'

await runAction(runPost)
