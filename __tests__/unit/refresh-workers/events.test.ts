import { describe, expect, it } from '@jest/globals'
import { readConfig, type RefreshConfig } from '../../../src/refresh-workers/config.js'
import {
  ACCEPTED_SHAPES,
  EventRefused,
  parseEvent,
  quote
} from '../../../src/refresh-workers/events.js'

const ssmEnv = {
  REFRESH_MODE: 'ssm',
  DAG_BUCKET: 'airflow-dags',
  DAG_PREFIX: 'dags',
  WORKER_GROUPS: 'workers-a,workers-b',
  WORKER_DAG_FOLDER: '/opt/airflow/dags',
  SSM_DOCUMENT_NAME: 'AirflowRefreshWorkers'
}
const config = readConfig(ssmEnv)
const rootConfig = readConfig({ ...ssmEnv, DAG_PREFIX: '/' })
const efsConfig = readConfig({
  REFRESH_MODE: 'efs',
  DAG_BUCKET: 'airflow-dags',
  EFS_MOUNT_PATH: '/mnt/dags'
})

const SHA = 'a'.repeat(40)

/** As deploy-dags.yml builds it with jq. */
function deployEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    repository: 'octo/airflow',
    sha: SHA,
    ref: 'refs/heads/main',
    bucket: 'airflow-dags',
    prefix: 'dags',
    runId: 1234567890,
    runAttempt: 1,
    changes: { uploaded: ['dags/b.py', 'dags/a.py'], deleted: ['dags/old/c.py'] },
    ...overrides
  }
}

/** As the Amazon EC2 Auto Scaling event reference shows it. */
function launchEvent(detail: Record<string, unknown> = {}, top: Record<string, unknown> = {}) {
  return {
    version: '0',
    id: '12345678-1234-1234-1234-123456789012',
    'detail-type': 'EC2 Instance-launch Lifecycle Action',
    source: 'aws.autoscaling',
    account: '123456789012',
    time: '2026-11-30T12:00:00Z',
    region: 'eu-west-1',
    resources: [
      'arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:x:autoScalingGroupName/workers-b'
    ],
    detail: {
      LifecycleActionToken: '87654321-4321-4321-4321-210987654321',
      AutoScalingGroupName: 'workers-b',
      LifecycleHookName: 'airflow-dags-ready',
      EC2InstanceId: 'i-0123456789abcdef0',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      NotificationMetadata: 'additional-info',
      Origin: 'EC2',
      Destination: 'AutoScalingGroup',
      ...detail
    },
    ...top
  }
}

function refusal(event: unknown, with_: RefreshConfig = config): string {
  try {
    parseEvent(event, with_)
  } catch (error) {
    expect(error).toBeInstanceOf(EventRefused)
    return (error as Error).message
  }
  throw new Error('parseEvent accepted the event')
}

describe('the deploy event', () => {
  it('becomes a deploy request with paths relative to the prefix', () => {
    expect(parseEvent(deployEvent(), config)).toEqual({
      kind: 'deploy',
      repository: 'octo/airflow',
      sha: SHA,
      ref: 'refs/heads/main',
      runId: 1234567890,
      runAttempt: 1,
      changes: { listed: true, uploaded: ['a.py', 'b.py'], deleted: ['old/c.py'] }
    })
  })

  it.each(['dags', 'dags/', '/dags', '/dags/'])(
    'matches prefix %j to the configured dags',
    (prefix) => {
      expect(parseEvent(deployEvent({ prefix }), config)).toMatchObject({ kind: 'deploy' })
    }
  )

  it.each(['', '/'])('takes prefix %j as the bucket root', (prefix) => {
    const request = parseEvent(
      deployEvent({ prefix, changes: { uploaded: ['a.py', 'sub/b.py'], deleted: [] } }),
      rootConfig
    )
    expect(request).toMatchObject({ changes: { uploaded: ['a.py', 'sub/b.py'], deleted: [] } })
    expect(refusal(deployEvent({ prefix }))).toBe(
      "The deploy event names prefix '/'; this function refreshes from prefix dags only"
    )
  })

  it('refuses another bucket, quoting it escaped', () => {
    expect(refusal(deployEvent({ bucket: 'other-bucket' }))).toBe(
      "The deploy event names bucket 'other-bucket'; this function refreshes from airflow-dags only"
    )
    expect(refusal(deployEvent({ bucket: 'x\n::error::y' }))).toContain("'x\\n:\\x3aerror:\\x3ay'")
  })

  it.each(['dags2', 'dags/sub', 'Dags', 'other'])('refuses prefix %j', (prefix) => {
    expect(refusal(deployEvent({ prefix }))).toContain(
      'this function refreshes from prefix dags only'
    )
  })

  it('refuses the root when a prefix is configured, and a prefix when the root is', () => {
    expect(refusal(deployEvent({ prefix: 'dags' }), rootConfig)).toBe(
      "The deploy event names prefix 'dags'; this function refreshes from the bucket root (/) only"
    )
  })

  it('keeps only the counts of a truncated change list', () => {
    const changes = {
      uploaded: [],
      deleted: [],
      truncated: true,
      uploadedCount: 9000,
      deletedCount: 0
    }
    expect(parseEvent(deployEvent({ changes }), config)).toMatchObject({
      changes: { listed: false, uploadedCount: 9000, deletedCount: 0 }
    })
    expect(refusal(deployEvent({ changes: { ...changes, uploadedCount: -1 } }))).toContain(
      'changes.uploadedCount is not a count'
    )
    expect(
      refusal(deployEvent({ changes: { uploaded: [], deleted: [], truncated: 'yes' } }))
    ).toContain('changes.truncated must be true or false')
  })

  it('takes truncated: false and repeated keys as a plain list', () => {
    const changes = { uploaded: ['dags/a.py', 'dags/a.py'], deleted: [], truncated: false }
    expect(parseEvent(deployEvent({ changes }), config)).toMatchObject({
      changes: { listed: true, uploaded: ['a.py'], deleted: [] }
    })
  })

  it('ignores fields it does not use, which a newer workflow may add', () => {
    expect(
      parseEvent(deployEvent({ workflow: 'deploy', extra: { any: 1 } }), config)
    ).toMatchObject({
      kind: 'deploy'
    })
  })

  it.each([
    [{ sha: 'abc123' }, "sha 'abc123' is not a full commit SHA"],
    [{ sha: 'A'.repeat(40) }, 'is not a full commit SHA'],
    [{ repository: 'octo' }, "repository 'octo' is not an owner/name pair"],
    [{ ref: 'main' }, "ref 'main' is not a git ref"],
    [{ ref: 'refs/heads/a b' }, 'is not a git ref'],
    [{ runId: '12' }, 'runId is not a positive whole number'],
    [{ runAttempt: 0 }, 'runAttempt is not a positive whole number'],
    [{ runAttempt: 1.5 }, 'runAttempt is not a positive whole number'],
    [{ bucket: undefined, sha: SHA }, 'The deploy event has no bucket.'],
    [{ prefix: 7 }, 'The deploy event has no prefix string'],
    [{ changes: undefined }, 'The deploy event has no changes object'],
    [
      { changes: { uploaded: 'dags/a.py', deleted: [] } },
      'changes.uploaded is not a list of object keys'
    ],
    [
      { changes: { uploaded: [], deleted: [3] } },
      'changes.deleted holds a value that is not a string'
    ],
    [
      { changes: { uploaded: ['etc/passwd'], deleted: [] } },
      "changes.uploaded holds 'etc/passwd', not an object key under prefix dags"
    ],
    [
      { changes: { uploaded: ['dags/'], deleted: [] } },
      "holds 'dags/', not an object key under prefix dags"
    ],
    [{ changes: { uploaded: ['dagsx/a.py'], deleted: [] } }, 'not an object key under prefix dags'],
    [
      { changes: { uploaded: ['dags/../etc/passwd'], deleted: [] } },
      "whose path has an empty, '.' or '..' part"
    ],
    [
      { changes: { uploaded: ['dags//a.py'], deleted: [] } },
      "whose path has an empty, '.' or '..' part"
    ]
  ])('refuses %j', (overrides, message) => {
    expect(refusal(deployEvent(overrides))).toContain(message)
  })

  it('caps a long value it quotes', () => {
    const message = refusal(deployEvent({ sha: 'x'.repeat(5000) }))
    expect(message).toContain(`'${'x'.repeat(120)}'… (4880 more characters)`)
    expect(message.length).toBeLessThan(300)
  })
})

describe('the launch lifecycle event', () => {
  it('becomes a launch request', () => {
    expect(parseEvent(launchEvent(), config)).toEqual({
      kind: 'launch',
      group: 'workers-b',
      instanceId: 'i-0123456789abcdef0',
      hookName: 'airflow-dags-ready',
      token: '87654321-4321-4321-4321-210987654321',
      intoWarmPool: false
    })
  })

  it('marks a launch into the warm pool, and reads an event without Origin and Destination', () => {
    expect(parseEvent(launchEvent({ Destination: 'WarmPool' }), config)).toMatchObject({
      intoWarmPool: true
    })
    expect(
      parseEvent(launchEvent({ Origin: undefined, Destination: undefined }), config)
    ).toMatchObject({
      intoWarmPool: false
    })
  })

  it('refuses a group that is not configured', () => {
    expect(refusal(launchEvent({ AutoScalingGroupName: 'other-group' }))).toBe(
      "The lifecycle event is for Auto Scaling group 'other-group', which is not one of this function's worker groups (workers-a, workers-b)"
    )
  })

  it.each([
    [
      {},
      { 'detail-type': 'EC2 Instance-terminate Lifecycle Action' },
      "The EventBridge event is 'EC2 Instance-terminate Lifecycle Action' from 'aws.autoscaling'"
    ],
    [
      {},
      { source: 'aws.ec2' },
      'from \'aws.ec2\'; only "EC2 Instance-launch Lifecycle Action" from aws.autoscaling is handled'
    ],
    [{}, { detail: 'x' }, 'The lifecycle event has no detail object'],
    [
      { LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' },
      {},
      "transition is 'autoscaling:EC2_INSTANCE_TERMINATING'"
    ],
    [
      { EC2InstanceId: 'i-0123; reboot' },
      {},
      "EC2InstanceId 'i-0123; reboot' is not an EC2 instance id"
    ],
    [{ LifecycleHookName: 'hook name' }, {}, 'is not a lifecycle hook name'],
    [{ LifecycleActionToken: 'short' }, {}, 'is not a lifecycle action token'],
    [{ AutoScalingGroupName: undefined }, {}, 'The lifecycle event has no AutoScalingGroupName']
  ])('refuses detail %j with %j', (detail, top, message) => {
    expect(refusal(launchEvent(detail, top))).toContain(message)
  })

  it('refuses a launch event in efs mode', () => {
    expect(refusal(launchEvent(), efsConfig)).toContain('reached a function in efs mode')
  })
})

describe('the resync event', () => {
  it('becomes a resync request, with its reason escaped and capped', () => {
    expect(parseEvent({ resync: true }, config)).toEqual({ kind: 'resync' })
    expect(parseEvent({ resync: true, reason: 'disk replaced\n::warning::x' }, efsConfig)).toEqual({
      kind: 'resync',
      reason: 'disk replaced\\n:\\x3awarning:\\x3ax'
    })
    const long = parseEvent({ resync: true, reason: 'r'.repeat(500) }, config)
    expect(long).toEqual({ kind: 'resync', reason: `${'r'.repeat(200)}…` })
  })

  it.each([
    [{ resync: 'true' }, 'must say "resync": true'],
    [{ resync: false }, 'must say "resync": true'],
    [{ resync: true, reason: 5 }, '"reason" must be a string'],
    [{ resync: true, bucket: 'other' }, "has fields it does not take ('bucket')"],
    [{ resync: true, prefx: 'x' }, '(\'prefx\'); it is {"resync": true} with an optional "reason"']
  ])('refuses %j', (event, message) => {
    expect(refusal(event)).toContain(message)
  })
})

describe('anything else', () => {
  it.each([null, 'resync', 42, [], [{ resync: true }]])('refuses %j as not an object', (event) => {
    expect(refusal(event)).toBe(`The event is not a JSON object. Accepted: ${ACCEPTED_SHAPES}`)
  })

  it('refuses an unknown object, listing the accepted shapes', () => {
    expect(refusal({ hello: 'world', 'x\ny': 1 })).toBe(
      `The event is not one this function accepts (its fields: 'hello', 'x\\ny'). Accepted: ${ACCEPTED_SHAPES}`
    )
    expect(refusal({})).toContain('(its fields: none)')
  })
})

describe('quote', () => {
  it('escapes and caps by characters, not UTF-16 units', () => {
    expect(quote('😀'.repeat(3), 2)).toBe("'😀😀'… (1 more character)")
    expect(quote('a::b')).toBe("'a:\\x3ab'")
  })
})
