import * as core from '@actions/core'
import { readAwsTarget } from '../common/aws.js'
import { State } from './constants.js'
import { createEc2Client, revokeRules } from './ec2.js'
import type { OpenedRule } from './rules.js'

function stateList<T>(name: string): T[] {
  try {
    const value = JSON.parse(core.getState(name) || '[]') as unknown
    return Array.isArray(value) ? (value as T[]) : []
  } catch {
    return []
  }
}

/**
 * The post step (post-if: always()): closes whatever rule the main step opened and did not
 * confirm closed: it was cancelled, crashed or killed before its own cleanup finished.
 */
export async function runPost(): Promise<void> {
  const opened = stateList<OpenedRule>(State.Rules)
  const revoked = new Set(stateList<string>(State.Revoked))
  const pending = opened.filter((rule) => !revoked.has(rule.ruleId))
  if (pending.length === 0) {
    core.info(
      opened.length === 0
        ? 'No rule was opened.'
        : 'Every rule was already closed by the main step.'
    )
    return
  }
  core.info(
    `Closing ${pending.length} rule(s) the main step left open: ${pending.map((rule) => rule.ruleId).join(', ')}`
  )
  const ec2 = createEc2Client(readAwsTarget())
  try {
    const { revoked: closed, failed } = await revokeRules(ec2, pending, 5)
    if (closed.length > 0) core.info(`Closed ${closed.join(', ')}`)
    if (failed.length > 0) {
      core.setFailed(
        `Could not close ${failed.map(({ rule, reason }) => `${rule.ruleId} in ${rule.groupId} (${reason})`).join(', ')}. Revoke them by hand; later runs sweep them after rule-ttl.`
      )
    }
  } finally {
    ec2.destroy()
  }
}
