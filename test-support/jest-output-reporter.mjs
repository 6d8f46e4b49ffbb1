// Listed before Jest's default reporters: it defuses what they are about to print for a test
// file (failure messages, which quote the action output or the value a matcher received, and the
// console output the tests captured), so that no workflow command and no key block reaches the log.
import { defuse } from './output-guard.mjs'

export default class OutputGuardReporter {
  onTestResult(_test, result) {
    if (result.failureMessage) result.failureMessage = defuse(result.failureMessage)
    for (const assertion of result.testResults ?? []) {
      assertion.failureMessages = assertion.failureMessages.map(defuse)
    }
    for (const entry of result.console ?? []) entry.message = defuse(String(entry.message))
    if (result.testExecError?.message) {
      result.testExecError.message = defuse(result.testExecError.message)
    }
  }
}
