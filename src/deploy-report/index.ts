import { runAction } from '../common/action.js'
import { run } from './main.js'

await runAction(run)
