import { teardown } from './jest-temp-folder.mjs'

export default teardown
