import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  RecordLifecycleActionHeartbeatCommand
} from '@aws-sdk/client-auto-scaling'
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient
} from '@aws-sdk/client-ssm'
import { awsErrorCode } from '../common/aws-errors.js'

/** One worker's command as SSM reports it; `status` is undefined until SSM knows the invocation. */
export interface Invocation {
  status?: string
  details?: string
  output: string
  error: string
}

/**
 * Where the sync runs: the EC2 workers, reached through Auto Scaling and SSM Run Command. The flow
 * in sync.ts speaks only this interface, so the demo can stand two local folders in for workers.
 */
export interface Fleet {
  /** The InService instances of the groups, sorted, and the groups that do not exist. */
  inService(groups: readonly string[]): Promise<{ instanceIds: string[]; missingGroups: string[] }>
  /** Each instance's SSM PingStatus; absent when SSM does not know the instance. */
  agentStatus(instanceIds: readonly string[]): Promise<Map<string, string>>
  /** Sends the sync document to at most 50 instances; resolves to the command id. */
  send(
    instanceIds: readonly string[],
    parameters: Record<string, string[]>,
    timeoutSeconds: number
  ): Promise<string>
  invocation(commandId: string, instanceId: string): Promise<Invocation>
}

/** The launch lifecycle action of one instance. */
export interface LifecycleAction {
  group: string
  hookName: string
  instanceId: string
  token: string
}

export interface Lifecycle {
  heartbeat(action: LifecycleAction): Promise<void>
  complete(action: LifecycleAction, result: 'CONTINUE' | 'ABANDON'): Promise<void>
}

/** DescribeInstanceInformation filters by at most 50 ids a call. */
const DESCRIBE_IDS_LIMIT = 50

export function ssmFleet(
  ssm: SSMClient,
  autoScaling: AutoScalingClient,
  documentName: string
): Fleet {
  return {
    async inService(groups) {
      const ids = new Set<string>()
      const found = new Set<string>()
      let NextToken: string | undefined
      do {
        const page = await autoScaling.send(
          new DescribeAutoScalingGroupsCommand({
            AutoScalingGroupNames: [...groups],
            ...(NextToken !== undefined ? { NextToken } : {})
          })
        )
        for (const group of page.AutoScalingGroups ?? []) {
          if (group.AutoScalingGroupName !== undefined) found.add(group.AutoScalingGroupName)
          for (const instance of group.Instances ?? []) {
            // Pending instances are the launch hook's to sync; Terminating ones are leaving.
            if (instance.LifecycleState === 'InService' && instance.InstanceId !== undefined) {
              ids.add(instance.InstanceId)
            }
          }
        }
        NextToken = page.NextToken
      } while (NextToken !== undefined)
      return {
        instanceIds: [...ids].sort(),
        missingGroups: groups.filter((group) => !found.has(group))
      }
    },

    async agentStatus(instanceIds) {
      const statuses = new Map<string, string>()
      for (let start = 0; start < instanceIds.length; start += DESCRIBE_IDS_LIMIT) {
        const batch = instanceIds.slice(start, start + DESCRIBE_IDS_LIMIT)
        let NextToken: string | undefined
        do {
          const page = await ssm.send(
            new DescribeInstanceInformationCommand({
              Filters: [{ Key: 'InstanceIds', Values: [...batch] }],
              ...(NextToken !== undefined ? { NextToken } : {})
            })
          )
          for (const info of page.InstanceInformationList ?? []) {
            if (info.InstanceId !== undefined && info.PingStatus !== undefined) {
              statuses.set(info.InstanceId, info.PingStatus)
            }
          }
          NextToken = page.NextToken
        } while (NextToken !== undefined)
      }
      return statuses
    },

    async send(instanceIds, parameters, timeoutSeconds) {
      const response = await ssm.send(
        new SendCommandCommand({
          DocumentName: documentName,
          InstanceIds: [...instanceIds],
          Parameters: parameters,
          TimeoutSeconds: timeoutSeconds,
          Comment: 'Sync the Airflow DAG folder'
        })
      )
      const commandId = response.Command?.CommandId
      if (commandId === undefined) throw new Error('SendCommand answered without a command id')
      return commandId
    },

    async invocation(commandId, instanceId) {
      try {
        const answer = await ssm.send(
          new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })
        )
        return {
          ...(answer.Status !== undefined ? { status: answer.Status } : {}),
          ...(answer.StatusDetails !== undefined ? { details: answer.StatusDetails } : {}),
          output: answer.StandardOutputContent ?? '',
          error: answer.StandardErrorContent ?? ''
        }
      } catch (error) {
        // Right after SendCommand the invocation may not exist yet: still pending, not failed.
        if (awsErrorCode(error) === 'InvocationDoesNotExist') return { output: '', error: '' }
        throw error
      }
    }
  }
}

export function autoScalingLifecycle(autoScaling: AutoScalingClient): Lifecycle {
  return {
    async heartbeat(action) {
      await autoScaling.send(
        new RecordLifecycleActionHeartbeatCommand({
          AutoScalingGroupName: action.group,
          LifecycleHookName: action.hookName,
          InstanceId: action.instanceId,
          LifecycleActionToken: action.token
        })
      )
    },
    async complete(action, result) {
      await autoScaling.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: action.group,
          LifecycleHookName: action.hookName,
          InstanceId: action.instanceId,
          LifecycleActionToken: action.token,
          LifecycleActionResult: result
        })
      )
    }
  }
}
