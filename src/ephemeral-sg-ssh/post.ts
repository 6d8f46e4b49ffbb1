import * as core from '@actions/core'
import { readAwsTarget } from '../common/aws.js'
import { rulesToClose } from './access.js'
import { Input, State } from './constants.js'
import { createClosingEc2Client, revokeRules } from './ec2.js'
import type { OpenedRule } from './rules.js'
import { parseGroupIds } from './targets.js'

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
  const session = core.getState(State.Session)
  if (!session) {
    core.info('No rule was opened.')
    return
  }
  const opened = stateList<OpenedRule>(State.Rules)
  const revoked = new Set(stateList<string>(State.Revoked))
  const groups = parseGroupIds(core.getInput(Input.SecurityGroupIds))
  const groupIds = 'ids' in groups ? groups.ids : [...new Set(opened.map((rule) => rule.groupId))]
  const ec2 = createClosingEc2Client(readAwsTarget())
  try {
    // Known ids, plus any rule of this run whose id the killed main step never received.
    const { rules: candidates } = await rulesToClose(ec2, opened, groupIds, session)
    const pending = candidates.filter((rule) => !revoked.has(rule.ruleId))
    if (pending.length === 0) {
      core.info(
        candidates.length === 0
          ? 'No rule was opened.'
          : 'Every rule was already closed by the main step.'
      )
      return
    }
    core.info(
      `Closing ${pending.length} rule(s) the main step left open: ${pending.map((rule) => rule.ruleId).join(', ')}`
    )
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
