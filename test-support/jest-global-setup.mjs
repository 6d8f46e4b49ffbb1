import { setup } from './jest-temp-folder.mjs'

export default setup
