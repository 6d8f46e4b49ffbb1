import { describe, expect, it, jest } from '@jest/globals'
import { makeHandler } from '../../../src/refresh-workers/handler.js'
import type { LifecycleAction } from '../../../src/refresh-workers/fleet.js'

const launch = {
  source: 'aws.autoscaling',
  'detail-type': 'EC2 Instance-launch Lifecycle Action',
  detail: {
    LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
    AutoScalingGroupName: 'airflow-workers',
    EC2InstanceId: 'i-0123456789abcdef0',
    LifecycleHookName: 'airflow-refresh-workers-sync-dags',
    LifecycleActionToken: '01234567-89ab-cdef-0123-456789abcdef'
  }
}
// Everything a working ssm-mode function has, and one setting out of its range.
const broken = {
  REFRESH_MODE: 'ssm',
  DAG_BUCKET: 'airflow-dags',
  WORKER_GROUPS: 'airflow-workers',
  WORKER_DAG_FOLDER: '/opt/airflow/dags',
  SSM_DOCUMENT_NAME: 'airflow-sync-dags',
  DEADLINE_MARGIN_SECONDS: '900'
}
const context = { getRemainingTimeInMillis: () => 60_000 }
const build = () => {
  throw new Error('the flow must not be built with a broken configuration')
}

describe('the handler with a configuration it cannot read', () => {
  it('abandons a launch at once, so scale-out does not wait out the hook, and fails naming the variable', async () => {
    const abandoned: LifecycleAction[] = []
    const handler = makeHandler(build, broken, async (action) => {
      abandoned.push(action)
    })
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined)
    try {
      await expect(handler(launch, context)).rejects.toThrow(/^DEADLINE_MARGIN_SECONDS: /)
    } finally {
      quiet.mockRestore()
    }
    expect(abandoned).toEqual([
      {
        group: 'airflow-workers',
        hookName: 'airflow-refresh-workers-sync-dags',
        instanceId: 'i-0123456789abcdef0',
        token: '01234567-89ab-cdef-0123-456789abcdef'
      }
    ])
  })

  it('still fails with the configuration error when abandoning fails too', async () => {
    const handler = makeHandler(build, broken, async () => {
      throw new Error('AccessDenied')
    })
    const logged = jest.spyOn(console, 'error').mockImplementation(() => undefined)
    try {
      await expect(handler(launch, context)).rejects.toThrow(/^DEADLINE_MARGIN_SECONDS: /)
      expect(logged).toHaveBeenCalledWith(
        'i-0123456789abcdef0: completing its lifecycle action with ABANDON failed: AccessDenied'
      )
    } finally {
      logged.mockRestore()
    }
  })

  it('touches no lifecycle action for any other event, or a launch event it cannot read', async () => {
    const abandon = jest.fn(async () => undefined)
    const handler = makeHandler(build, broken, abandon)
    await expect(handler({ resync: true }, context)).rejects.toThrow(/^DEADLINE_MARGIN_SECONDS: /)
    const forged = { ...launch, detail: { ...launch.detail, LifecycleActionToken: 'x; rm -rf /' } }
    await expect(handler(forged, context)).rejects.toThrow(/^DEADLINE_MARGIN_SECONDS: /)
    expect(abandon).not.toHaveBeenCalled()
  })
})
