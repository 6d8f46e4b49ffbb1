import * as core from '@actions/core'
import type { EC2Client } from '@aws-sdk/client-ec2'
import { State } from './constants.js'
import { openRule, revokeRules } from './ec2.js'
import type { RunnerAddress } from './ip.js'
import {
  ingressPermission,
  ruleDescription,
  ruleTags,
  type OpenedRule,
  type RunContext
} from './rules.js'

/**
 * The rules this run opened. Each rule id is written to the action state the moment EC2 returns
 * it, so the post step can close it even if this process is killed right after.
 */
export class GroupAccess {
  readonly opened: OpenedRule[] = []
  openedAt?: number
  closedAt?: number
  private closing?: Promise<{ rule: OpenedRule; reason: string }[]>
  private inFlight?: Promise<unknown>

  constructor(private readonly ec2: EC2Client) {}

  async open(
    groupIds: readonly string[],
    address: RunnerAddress,
    port: number,
    context: RunContext
  ): Promise<void> {
    const permission = ingressPermission(address, port, ruleDescription(context))
    for (const groupId of groupIds) {
      if (this.closing) return
      this.openedAt ??= Date.now()
      core.saveState(State.OpenedAt, String(this.openedAt))
      const call = openRule(this.ec2, groupId, permission, ruleTags(context, new Date()))
      this.inFlight = call
      const result = await call
      if ('duplicate' in result) {
        core.info(
          `${groupId} already allows ${address.cidr} on port ${port}; using that rule and leaving it in place`
        )
        continue
      }
      this.opened.push({ groupId, ruleId: result.ruleId })
      core.saveState(State.Rules, JSON.stringify(this.opened))
      core.info(`Opened ${groupId} to ${address.cidr} on port ${port} (${result.ruleId})`)
    }
  }

  /** Revokes every rule opened, once, however many times it is asked (finally, signals). */
  close(): Promise<{ rule: OpenedRule; reason: string }[]> {
    this.closing ??= (async () => {
      // A cancel can arrive while EC2 is creating a rule: wait for its id (briefly) so that
      // rule is closed too, instead of being left to the post step or the sweep.
      if (this.inFlight) {
        await Promise.race([
          this.inFlight.catch(() => undefined),
          new Promise((r) => setTimeout(r, 3000))
        ])
      }
      if (this.opened.length === 0) return []
      const { revoked, failed } = await revokeRules(this.ec2, this.opened)
      this.closedAt = Date.now()
      core.saveState(State.Revoked, JSON.stringify(revoked))
      if (revoked.length > 0) core.info(`Closed ${revoked.join(', ')}`)
      return failed
    })()
    return this.closing
  }

  exposureSeconds(): number {
    if (this.openedAt === undefined) return 0
    return Math.round(((this.closedAt ?? Date.now()) - this.openedAt) / 100) / 10
  }
}
