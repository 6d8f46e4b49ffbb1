import * as core from '@actions/core'
import type { EC2Client } from '@aws-sdk/client-ec2'
import { randomUUID } from 'node:crypto'
import { errorMessage } from '../common/errors.js'
import { State } from './constants.js'
import { duplicateOwner, openRule, revokeRules, sessionRules } from './ec2.js'
import type { RunnerAddress } from './ip.js'
import {
  ingressPermission,
  ruleDescription,
  ruleTags,
  type OpenedRule,
  type RunContext
} from './rules.js'

/**
 * The rules to close: those we know by id, and any carrying our session tag whose id never
 * arrived. `complete` is false when the tag could not be looked up: a rule may then be missing.
 */
export async function rulesToClose(
  ec2: EC2Client,
  known: readonly OpenedRule[],
  groupIds: readonly string[],
  session: string | undefined
): Promise<{ rules: OpenedRule[]; complete: boolean }> {
  const all = [...known]
  let complete = true
  if (session) {
    const tagged = await sessionRules(ec2, groupIds, session).catch((error: unknown) => {
      core.warning(`Could not look up this run's rules by tag: ${errorMessage(error)}`)
      complete = false
      return []
    })
    for (const rule of tagged) if (!all.some((r) => r.ruleId === rule.ruleId)) all.push(rule)
  }
  return { rules: all, complete }
}

/**
 * The rules this run opened. A session id goes to the action state before the first rule is asked
 * for and onto every rule as a tag; each rule id goes to the state the moment EC2 returns it. So
 * the post step can close every rule even if this process is killed at any point.
 */
export class GroupAccess {
  readonly opened: OpenedRule[] = []
  readonly session = randomUUID()
  openedAt?: number
  closedAt?: number
  private closing?: Promise<{ rule: OpenedRule; reason: string }[]>
  private inFlight?: Promise<unknown>
  /** Authorize calls sent and not answered: a rule may still appear after a lookup. */
  private authorizing = 0

  constructor(
    private readonly ec2: EC2Client,
    private readonly closer: EC2Client,
    private readonly groupIds: readonly string[]
  ) {}

  async open(
    address: RunnerAddress,
    ports: readonly number[],
    context: RunContext,
    ttlSeconds: number
  ): Promise<void> {
    core.saveState(State.Session, this.session)
    for (const groupId of this.groupIds) {
      for (const port of ports) {
        if (this.closing) return
        const permission = ingressPermission(address, port, ruleDescription(context))
        const asked = Date.now()
        const tags = ruleTags(context, new Date(asked), ttlSeconds, this.session)
        const call = openRule(this.ec2, groupId, permission, tags)
        this.inFlight = call
        this.authorizing++
        let result: Awaited<typeof call>
        try {
          result = await call
        } finally {
          this.authorizing--
        }
        if ('ruleId' in result) {
          this.record({ groupId, ruleId: result.ruleId }, asked)
          core.info(`Opened ${groupId} to ${address.cidr} on port ${port} (${result.ruleId})`)
          continue
        }
        await this.explainDuplicate(groupId, address, port, asked)
      }
    }
  }

  /** InvalidPermission.Duplicate: maybe our own rule (the SDK retried after a lost answer). */
  private async explainDuplicate(
    groupId: string,
    address: RunnerAddress,
    port: number,
    asked: number
  ) {
    const owner = await duplicateOwner(this.ec2, groupId, address.cidr, port).catch(() => undefined)
    if (owner?.session === this.session) {
      for (const rule of await sessionRules(this.ec2, [groupId], this.session)) {
        if (!this.opened.some((known) => known.ruleId === rule.ruleId)) this.record(rule, asked)
      }
      core.info(`Opened ${groupId} to ${address.cidr} on port ${port}`)
    } else if (owner?.runId !== undefined) {
      core.warning(
        `${groupId} already allows ${address.cidr} on port ${port} through a rule of run ${owner.runId} of this action; that run closes it when it ends, which can cut this deploy off. Give the two deploys one concurrency group.`
      )
    } else {
      core.info(
        `${groupId} already allows ${address.cidr} on port ${port}; using that rule and leaving it in place`
      )
    }
  }

  private record(rule: OpenedRule, asked: number): void {
    this.opened.push(rule)
    this.openedAt ??= asked
    core.saveState(State.Rules, JSON.stringify(this.opened))
  }

  /** Revokes every rule opened, once, however many times it is asked (finally, signals). */
  close(): Promise<{ rule: OpenedRule; reason: string }[]> {
    this.closing ??= (async () => {
      // A cancel can arrive while EC2 is creating a rule: wait for its id (briefly) so that
      // rule is closed too; the session tag finds it if the id never comes.
      if (this.inFlight) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([
          this.inFlight.catch(() => undefined),
          new Promise((resolve) => (timer = setTimeout(resolve, 3000)))
        ])
        clearTimeout(timer)
      }
      if (this.openedAt === undefined && this.inFlight === undefined) {
        this.confirmClosed()
        return []
      }
      // Looked up only once no authorize is unanswered, the lookup finds every rule of this run.
      const settled = this.authorizing === 0
      const { rules, complete } = await rulesToClose(
        this.closer,
        this.opened,
        this.groupIds,
        this.session
      )
      if (rules.length === 0) {
        if (complete && settled) this.confirmClosed()
        return []
      }
      const { revoked, failed } = await revokeRules(this.closer, rules)
      this.closedAt = Date.now()
      core.saveState(State.Revoked, JSON.stringify(revoked))
      if (revoked.length > 0) core.info(`Closed ${revoked.join(', ')}`)
      if (complete && settled && failed.length === 0) this.confirmClosed()
      return failed
    })()
    return this.closing
  }

  /**
   * Tells the post step that nothing of this run can be open: every rule it knew of and every
   * rule carrying its session tag is confirmed gone, and no authorize call is unanswered.
   */
  private confirmClosed(): void {
    core.saveState(State.Closed, 'true')
  }

  exposureSeconds(): number {
    if (this.openedAt === undefined) return 0
    return Math.round(((this.closedAt ?? Date.now()) - this.openedAt) / 100) / 10
  }
}
