// First, so that loading the bundle already runs under the smaller heap.
import '../common/small-heap.js'
import { runAction } from '../common/action.js'
import { run } from './main.js'

await runAction(run)
