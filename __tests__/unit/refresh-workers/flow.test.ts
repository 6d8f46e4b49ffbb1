// The refresh flow over SSM and Auto Scaling, with the SDK answered by aws-sdk-client-mock and a
// clock whose sleeps move time on at once, so deadlines and backoffs are decided, not waited for.
import { beforeEach, describe, expect, it } from '@jest/globals'
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
import { mockClient } from 'aws-sdk-client-mock'
import { newManifest, type Manifest } from '../../../src/deploy-dags/plan.js'
import { readConfig, type SsmConfig } from '../../../src/refresh-workers/config.js'
import { DocumentParameter } from '../../../src/refresh-workers/document.js'
import { parseEvent } from '../../../src/refresh-workers/events.js'
import { autoScalingLifecycle, ssmFleet } from '../../../src/refresh-workers/fleet.js'
import {
  HEARTBEAT_EVERY_MS,
  refresh,
  type Dependencies
} from '../../../src/refresh-workers/main.js'
import type { Clock } from '../../../src/refresh-workers/run-command.js'
import type { ParseOutcome } from '../../../src/refresh-workers/airflow.js'
import { manifestTree } from '../../../src/refresh-workers/tree.js'

const ssmMock = mockClient(SSMClient)
const asgMock = mockClient(AutoScalingClient)

const config = readConfig({
  REFRESH_MODE: 'ssm',
  DAG_BUCKET: 'airflow-dags',
  DAG_PREFIX: 'dags',
  WORKER_GROUPS: 'airflow-workers',
  WORKER_DAG_FOLDER: '/opt/airflow/dags',
  WORKER_START_COMMAND: 'systemctl start airflow-worker',
  SSM_DOCUMENT_NAME: 'airflow-sync-dags'
}) as SsmConfig

const hash = (char: string) => char.repeat(64)
const deployed: Manifest = Object.assign(newManifest(), {
  'etl.py': { sha256: hash('a'), size: 10, etag: '"e1"' },
  'sql/load.sql': { sha256: hash('b'), size: 20, etag: '"e2"' }
})

/** What sync-dags.sh prints when the folder holds exactly `manifest`. */
function syncOutput(
  manifest: Manifest,
  // What a worker holding `deployed` reports for the deploy event's paths.
  hashes: Record<string, string | null> = { 'etl.py': hash('a'), 'old.py': null }
): string {
  return [
    'downloaded "etl.py"',
    '1 downloaded, 0 deleted, 1 unchanged, 0 failed',
    `SYNC-RESULT ${JSON.stringify({ deleted: 0, downloaded: 1, failed: 0, failedKeys: [], hashes, tree: manifestTree(manifest), unchanged: 1 })}`
  ].join('\n')
}

function fakeClock(): Clock & { slept: number[] } {
  let now = 1_000_000
  const slept: number[] = []
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms)
      now += ms
    },
    random: () => 0.5
  }
}

let clock: ReturnType<typeof fakeClock>
let logged: string[]
function deps(manifest: Manifest = deployed): Dependencies {
  return {
    clock,
    log: (line) => logged.push(line),
    readManifest: async () => manifest,
    fleet: ssmFleet(
      new SSMClient({ region: 'eu-west-1' }),
      new AutoScalingClient({ region: 'eu-west-1' }),
      config.ssmDocumentName
    ),
    lifecycle: autoScalingLifecycle(new AutoScalingClient({ region: 'eu-west-1' }))
  }
}

const ids = (count: number) =>
  Array.from({ length: count }, (_, index) => `i-${String(index).padStart(17, '0')}`)

function groupWith(instanceIds: string[], states: Record<string, string> = {}) {
  asgMock.on(DescribeAutoScalingGroupsCommand).resolves({
    AutoScalingGroups: [
      {
        AutoScalingGroupName: 'airflow-workers',
        Instances: instanceIds.map((InstanceId) => ({
          InstanceId,
          LifecycleState: (states[InstanceId] ?? 'InService') as 'InService',
          AvailabilityZone: 'eu-west-1a',
          HealthStatus: 'Healthy',
          ProtectedFromScaleIn: false
        })),
        MinSize: 0,
        MaxSize: 100,
        DesiredCapacity: instanceIds.length,
        DefaultCooldown: 300,
        AvailabilityZones: ['eu-west-1a'],
        HealthCheckType: 'EC2',
        CreatedTime: new Date()
      }
    ]
  })
}

function agents(statuses: Record<string, string>) {
  ssmMock.on(DescribeInstanceInformationCommand).callsFake((input) => {
    const wanted: string[] = input.Filters?.[0]?.Values ?? []
    return {
      InstanceInformationList: wanted
        .filter((id) => statuses[id] !== undefined)
        .map((id) => ({ InstanceId: id, PingStatus: statuses[id] }))
    }
  })
}

const online = (instanceIds: string[]) =>
  Object.fromEntries(instanceIds.map((id) => [id, 'Online']))

/** One InService worker whose agent is Online: the fleet of most tests. */
function oneOnlineWorker(): string {
  const [worker] = ids(1) as [string]
  groupWith([worker])
  agents(online([worker]))
  return worker
}

let commandCount = 0
function acceptCommands() {
  ssmMock
    .on(SendCommandCommand)
    .callsFake(() => ({ Command: { CommandId: `cmd-${++commandCount}` } }))
}

const deployEvent = {
  repository: 'acme/airflow',
  sha: 'f'.repeat(40),
  ref: 'refs/heads/main',
  bucket: 'airflow-dags',
  prefix: 'dags',
  runId: 7,
  runAttempt: 1,
  changes: { uploaded: ['dags/etl.py'], deleted: ['dags/old.py'] }
}

const run = (event: unknown, remainingMs = 600_000, manifest?: Manifest) =>
  refresh(parseEvent(event, config), remainingMs, config, deps(manifest))

beforeEach(() => {
  ssmMock.reset()
  asgMock.reset()
  clock = fakeClock()
  logged = []
  commandCount = 0
})

describe('a deploy over SSM', () => {
  it('syncs every InService worker, verifies each against the manifest, and passes the typed parameters', async () => {
    const fleet = ids(2)
    groupWith([...fleet, 'i-0000000000000000f'], { 'i-0000000000000000f': 'Pending:Wait' })
    agents(online(fleet))
    acceptCommands()
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Success',
      StandardOutputContent: syncOutput(deployed, { 'etl.py': hash('a'), 'old.py': null })
    })

    const result = await run(deployEvent)

    expect(result).toMatchObject({
      ok: true,
      kind: 'deploy',
      source: 's3://airflow-dags/dags/',
      sha: 'f'.repeat(40)
    })
    expect(result.counts).toEqual({ refreshed: 2, failed: 0, 'timed-out': 0, offline: 0 })
    expect(result.workers.map((worker) => [worker.instanceId, worker.filesVerified])).toEqual([
      [fleet[0], 2],
      [fleet[1], 2]
    ])
    const sent = ssmMock.commandCalls(SendCommandCommand)
    expect(sent).toHaveLength(1)
    const input = sent[0]?.args[0].input
    expect(input?.DocumentName).toBe('airflow-sync-dags')
    expect(input?.InstanceIds).toEqual(fleet)
    const decode = (name: string) =>
      Buffer.from(input?.Parameters?.[name]?.[0] ?? '', 'base64').toString()
    // The bucket, prefix, folder and start command are the document's own, set at install.
    expect(Object.keys(input?.Parameters ?? {}).sort()).toEqual(['ReportPaths', 'StartWorker'])
    expect(decode(DocumentParameter.ReportPaths)).toBe('etl.py\nold.py')
    // A deploy never starts workers: that is for a launch.
    expect(input?.Parameters?.[DocumentParameter.StartWorker]).toEqual(['no'])
  })

  it('sends more than 50 workers in calls of at most 50, each worker once', async () => {
    const fleet = ids(120)
    groupWith(fleet)
    agents(online(fleet))
    acceptCommands()
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', StandardOutputContent: syncOutput(deployed) })

    const result = await run(deployEvent)

    const batches = ssmMock
      .commandCalls(SendCommandCommand)
      .map((call) => call.args[0].input.InstanceIds ?? [])
    expect(batches.map((batch) => batch.length)).toEqual([50, 50, 20])
    expect(batches.flat().sort()).toEqual(fleet)
    // DescribeInstanceInformation filters 50 ids at a time too.
    expect(ssmMock.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(3)
    expect(result.counts.refreshed).toBe(120)
  })

  it.each([
    ['Failed', undefined, 'failed', 'the sync failed on the worker'],
    ['TimedOut', 'ExecutionTimedOut', 'timed-out', 'did not finish within the command timeout'],
    ['TimedOut', 'DeliveryTimedOut', 'timed-out', 'never reached the worker'],
    ['Cancelled', undefined, 'failed', 'cancelled'],
    ['Undeliverable', undefined, 'failed', 'could not be delivered'],
    ['Terminated', undefined, 'failed', 'stopped on the worker']
  ])(
    'follows Pending and InProgress to %s (%s): the worker is %s and the deploy fails naming it',
    async (status, details, verdict, reason) => {
      const worker = oneOnlineWorker()
      acceptCommands()
      ssmMock
        .on(GetCommandInvocationCommand)
        .rejectsOnce(Object.assign(new Error('not yet'), { name: 'InvocationDoesNotExist' }))
        .resolvesOnce({ Status: 'Pending' })
        .resolvesOnce({ Status: 'InProgress' })
        .resolves({
          Status: status as 'Failed',
          ...(details ? { StatusDetails: details } : {}),
          StandardErrorContent: 'sync-dags: boom'
        })

      const result = await run(deployEvent)

      expect(ssmMock.commandCalls(GetCommandInvocationCommand)).toHaveLength(4)
      expect(result.ok).toBe(false)
      expect(result.workers[0]).toMatchObject({
        status: verdict,
        reason: expect.stringContaining(reason),
        outputTail: 'sync-dags: boom'
      })
      expect(result.error).toMatch(
        new RegExp(`^1 of 1 worker not refreshed: ${worker} (failed|timed out) \\(`)
      )
    }
  )

  it('fails a worker whose files are not the deployed ones, naming the file', async () => {
    const fleet = ids(2)
    groupWith(fleet)
    agents(online(fleet))
    acceptCommands()
    const stale = Object.assign(newManifest(), {
      ...deployed,
      'etl.py': { sha256: hash('0'), size: 10, etag: '"x"' }
    })
    ssmMock
      .on(GetCommandInvocationCommand, { InstanceId: fleet[0] })
      .resolves({
        Status: 'Success',
        StandardOutputContent: syncOutput(deployed, { 'etl.py': hash('a'), 'old.py': null })
      })
      .on(GetCommandInvocationCommand, { InstanceId: fleet[1] })
      .resolves({
        Status: 'Success',
        StandardOutputContent: syncOutput(stale, { 'etl.py': hash('0'), 'old.py': null })
      })

    const result = await run(deployEvent)

    expect(result.counts).toMatchObject({ refreshed: 1, failed: 1 })
    expect(result.error).toBe(
      `1 of 2 workers not refreshed: ${fleet[1]} failed (1 file not as deployed: etl.py mismatched)`
    )
  })

  it('fails a worker whose folder holds a file the deploy does not, though every asked path verifies', async () => {
    oneOnlineWorker()
    acceptCommands()
    const withStray = Object.assign(newManifest(), {
      ...deployed,
      'stray.py': { sha256: hash('c'), size: 1, etag: '"s"' }
    })
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Success',
      StandardOutputContent: syncOutput(withStray, { 'etl.py': hash('a'), 'old.py': null })
    })

    const result = await run(deployEvent)

    expect(result.workers[0]?.reason).toBe(
      'its DAG folder is not the deployed tree: 3 files against 2 deployed, and their digest differs'
    )
  })

  it('fails a worker whose sync succeeded without a report', async () => {
    oneOnlineWorker()
    acceptCommands()
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', StandardOutputContent: 'nothing to see' })
    const result = await run(deployEvent)
    expect(result.workers[0]).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('no SYNC-RESULT line')
    })
  })

  it('names workers whose agent is not Online, and fails unless the configuration tolerates them', async () => {
    const fleet = ids(3)
    groupWith(fleet)
    agents({ [fleet[0] as string]: 'Online', [fleet[1] as string]: 'ConnectionLost' })
    acceptCommands()
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', StandardOutputContent: syncOutput(deployed) })

    const strict = await run(deployEvent)
    expect(ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.InstanceIds).toEqual([
      fleet[0]
    ])
    expect(strict.counts).toMatchObject({ refreshed: 1, offline: 2 })
    expect(strict.error).toContain(
      `${fleet[1]} is not Online in SSM (its SSM agent lost its connection to SSM)`
    )
    expect(strict.error).toContain(`${fleet[2]} is not Online in SSM (not registered with SSM`)

    const tolerant = await refresh(
      parseEvent(deployEvent, config),
      600_000,
      { ...config, tolerateOffline: true },
      deps()
    )
    expect(tolerant.ok).toBe(true)
    expect(tolerant.counts).toMatchObject({ refreshed: 1, offline: 2 })
  })

  it('backs off while SSM throttles, then goes on', async () => {
    oneOnlineWorker()
    const throttled = () =>
      Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })
    ssmMock
      .on(SendCommandCommand)
      .rejectsOnce(throttled())
      .rejectsOnce(throttled())
      .resolves({ Command: { CommandId: 'cmd-1' } })
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejectsOnce(throttled())
      .resolves({ Status: 'Success', StandardOutputContent: syncOutput(deployed) })

    const result = await run(deployEvent)

    expect(result.ok).toBe(true)
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(3)
    // 0.5 s then 1 s with the jitter at its middle (0.75 of each ceiling), before the first poll.
    expect(clock.slept.slice(0, 2)).toEqual([375, 750])
  })

  it('reports what is still running at the deadline as timed out, within the function timeout', async () => {
    const worker = oneOnlineWorker()
    acceptCommands()
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' })
    const start = clock.now()

    const result = await run(deployEvent, 120_000)

    // 120 s left, 30 s kept back to report: the waiting ends at 90 s exactly.
    expect(clock.now() - start).toBe(90_000)
    expect(result.workers[0]).toMatchObject({
      status: 'timed-out',
      reason: expect.stringContaining('had not finished')
    })
    expect(result.error).toContain(`${worker} timed out`)
    expect(ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.TimeoutSeconds).toBe(90)
  })

  it('fails only the worker SendCommand refuses, sending the rest of its call one by one', async () => {
    const fleet = ids(51)
    const gone = fleet[7] as string
    groupWith(fleet)
    agents(online(fleet))
    ssmMock.on(SendCommandCommand).callsFake((input: { InstanceIds?: string[] }) => {
      if (input.InstanceIds?.includes(gone)) {
        throw Object.assign(new Error(`Instances [[${gone}]] not in a valid state`), {
          name: 'InvalidInstanceId'
        })
      }
      return { Command: { CommandId: `cmd-${++commandCount}` } }
    })
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', StandardOutputContent: syncOutput(deployed) })

    const result = await run(deployEvent)

    expect(result.counts).toMatchObject({ refreshed: 50, failed: 1 })
    expect(result.error).toBe(
      `1 of 51 workers not refreshed: ${gone} failed (SendCommand failed: Instances [[${gone}]] not in a valid state)`
    )
    // The call of 50 that held it, then each of those 50 alone, then the 51st worker's call.
    const sizes = ssmMock
      .commandCalls(SendCommandCommand)
      .map((call) => call.args[0].input.InstanceIds?.length)
    expect(sizes).toEqual([50, ...Array<number>(50).fill(1), 1])
  })

  it('without a readable manifest, no worker counts as refreshed', async () => {
    oneOnlineWorker()
    acceptCommands()
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', StandardOutputContent: syncOutput(deployed) })
    const result = await refresh(parseEvent(deployEvent, config), 600_000, config, {
      ...deps(),
      readManifest: async () => {
        throw new Error('Access Denied')
      }
    })
    expect(result.workers[0]).toMatchObject({
      status: 'failed',
      reason: 'the manifest could not be read to verify against: Access Denied'
    })
  })

  it('fails naming a configured group that Auto Scaling does not know, before any command', async () => {
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] })
    await expect(run(deployEvent)).rejects.toThrow(
      "WORKER_GROUPS: names 'airflow-workers', which Auto Scaling does not know in this account and Region"
    )
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(0)
  })

  it('a group with no InService worker is refreshed trivially', async () => {
    groupWith([])
    const result = await run({ resync: true, reason: 'after restore' })
    expect(result).toMatchObject({ ok: true, kind: 'resync', workers: [] })
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(0)
  })

  it('a resync asks for no paths: the tree digest verifies every file', async () => {
    oneOnlineWorker()
    acceptCommands()
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', StandardOutputContent: syncOutput(deployed) })
    const result = await run({ resync: true })
    expect(result.workers[0]).toMatchObject({ status: 'refreshed', filesVerified: 2 })
    expect(
      ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.Parameters?.[
        DocumentParameter.ReportPaths
      ]
    ).toEqual([''])
  })
})

describe('a launch lifecycle event', () => {
  const instanceId = 'i-0123456789abcdef0'
  const launch = (detail: Record<string, unknown> = {}) => ({
    source: 'aws.autoscaling',
    'detail-type': 'EC2 Instance-launch Lifecycle Action',
    detail: {
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      AutoScalingGroupName: 'airflow-workers',
      EC2InstanceId: instanceId,
      LifecycleHookName: 'sync-dags-before-start',
      LifecycleActionToken: '01234567-89ab-cdef-0123-456789abcdef',
      ...detail
    }
  })
  const completions = () =>
    asgMock
      .commandCalls(CompleteLifecycleActionCommand)
      .map((call) => call.args[0].input.LifecycleActionResult)

  beforeEach(() => {
    asgMock.on(CompleteLifecycleActionCommand).resolves({})
    asgMock.on(RecordLifecycleActionHeartbeatCommand).resolves({})
  })

  it('waits for the agent with heartbeats, syncs and starts the worker, verifies, then CONTINUE', async () => {
    let looks = 0
    ssmMock.on(DescribeInstanceInformationCommand).callsFake(() => {
      looks += 1
      // The agent registers after a couple of minutes of boot.
      return {
        InstanceInformationList:
          clock.now() - 1_000_000 >= 150_000
            ? [{ InstanceId: instanceId, PingStatus: 'Online' }]
            : []
      }
    })
    acceptCommands()
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Success',
      StandardOutputContent: syncOutput(deployed) + '\nworker started'
    })

    const result = await run(launch())

    expect(looks).toBeGreaterThan(5)
    expect(asgMock.commandCalls(RecordLifecycleActionHeartbeatCommand).length).toBe(
      Math.floor(150_000 / HEARTBEAT_EVERY_MS)
    )
    const parameters = ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.Parameters
    expect(parameters).toEqual({
      [DocumentParameter.ReportPaths]: [''],
      [DocumentParameter.StartWorker]: ['yes']
    })
    expect(completions()).toEqual(['CONTINUE'])
    expect(asgMock.commandCalls(CompleteLifecycleActionCommand)[0]?.args[0].input).toMatchObject({
      AutoScalingGroupName: 'airflow-workers',
      LifecycleHookName: 'sync-dags-before-start',
      InstanceId: instanceId,
      LifecycleActionToken: '01234567-89ab-cdef-0123-456789abcdef'
    })
    expect(result).toMatchObject({
      ok: true,
      kind: 'launch',
      workers: [{ instanceId, status: 'refreshed', filesVerified: 2 }]
    })
  })

  it('a launch without a configured start command asks the document not to start the worker', async () => {
    agents({ [instanceId]: 'Online' })
    acceptCommands()
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', StandardOutputContent: syncOutput(deployed) })
    const withoutStart: SsmConfig = { ...config }
    delete withoutStart.workerStartCommand
    const result = await refresh(parseEvent(launch(), config), 600_000, withoutStart, deps())
    expect(ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.Parameters).toEqual({
      [DocumentParameter.ReportPaths]: [''],
      [DocumentParameter.StartWorker]: ['no']
    })
    expect(completions()).toEqual(['CONTINUE'])
    expect(result.ok).toBe(true)
  })

  it('ABANDONs when the sync or the start command fails', async () => {
    agents({ [instanceId]: 'Online' })
    acceptCommands()
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StandardOutputContent: syncOutput(deployed),
      StandardErrorContent: 'worker start failed'
    })
    const result = await run(launch())
    expect(completions()).toEqual(['ABANDON'])
    expect(result.error).toContain(`${instanceId} failed`)
  })

  it('ABANDONs a worker whose folder does not verify', async () => {
    agents({ [instanceId]: 'Online' })
    acceptCommands()
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', StandardOutputContent: syncOutput(newManifest()) })
    const result = await run(launch())
    expect(completions()).toEqual(['ABANDON'])
    expect(result.workers[0]?.reason).toContain('not the deployed tree')
  })

  it('ABANDONs when the agent never comes Online, even where offline workers are tolerated', async () => {
    agents({})
    const result = await refresh(
      parseEvent(launch(), config),
      200_000,
      { ...config, tolerateOffline: true },
      deps()
    )
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(0)
    expect(completions()).toEqual(['ABANDON'])
    expect(result.ok).toBe(false)
    expect(result.workers[0]).toMatchObject({
      status: 'offline',
      reason: expect.stringContaining('still at the deadline')
    })
  })

  it('ABANDONs when anything throws on the way', async () => {
    ssmMock.on(DescribeInstanceInformationCommand).rejects(
      Object.assign(new Error('not authorized to perform ssm:DescribeInstanceInformation'), {
        name: 'AccessDeniedException'
      })
    )
    const result = await run(launch())
    expect(completions()).toEqual(['ABANDON'])
    expect(result.workers[0]?.reason).toContain('not authorized')
  })

  it('continues an instance going into the warm pool without syncing it', async () => {
    const result = await run(launch({ Destination: 'WarmPool' }))
    expect(completions()).toEqual(['CONTINUE'])
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(0)
    expect(result).toMatchObject({ ok: true, workers: [] })
  })
})

describe('the Airflow confirmation after a deploy', () => {
  const parsed = (outcome: Partial<ParseOutcome> = {}): ParseOutcome => ({
    confirmed: ['etl.py'],
    unconfirmed: [],
    importErrors: [],
    preexisting: [],
    ...outcome
  })
  function withConfirmation(answer: () => Promise<ParseOutcome>) {
    const calls: { paths: readonly string[]; since: Date; deadlineMs: number }[] = []
    const base = deps()
    return {
      calls,
      deps: {
        ...base,
        confirmParsed: async (paths: readonly string[], since: Date, deadlineMs: number) => {
          calls.push({ paths, since, deadlineMs })
          return answer()
        }
      }
    }
  }
  beforeEach(() => {
    oneOnlineWorker()
    acceptCommands()
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Success',
      StandardOutputContent: syncOutput(deployed)
    })
  })

  it('asks about the uploaded paths once the workers are synced, and passes on a clean parse', async () => {
    const { calls, deps: confirming } = withConfirmation(async () => parsed())
    const result = await refresh(parseEvent(deployEvent, config), 600_000, config, confirming)
    expect(result).toMatchObject({ ok: true, airflow: { confirmed: ['etl.py'] } })
    expect(calls).toHaveLength(1)
    expect(calls[0]?.paths).toEqual(['etl.py'])
    // After the sync's polls, never before: a parse of the old file must not count.
    expect(calls[0]?.since.getTime()).toBeGreaterThan(1_000_000)
    expect(calls[0]?.deadlineMs).toBe(1_000_000 + 600_000 - 30_000)
  })

  it("fails with a changed file's import error, and only warns about older ones", async () => {
    const { deps: confirming } = withConfirmation(async () =>
      parsed({
        importErrors: [
          { path: 'etl.py', message: "ModuleNotFoundError: No module named 'pandas'" }
        ],
        preexisting: [{ path: 'legacy.py', message: 'SyntaxError: invalid syntax' }],
        unconfirmed: ['helpers.py']
      })
    )
    const result = await refresh(parseEvent(deployEvent, config), 600_000, config, confirming)
    expect(result.ok).toBe(false)
    expect(result.error).toBe(
      "Airflow failed to import 1 changed DAG file: etl.py (ModuleNotFoundError: No module named 'pandas')"
    )
    expect(result.error).not.toContain('legacy.py')
    expect(logged).toContainEqual(
      expect.stringContaining('warning: legacy.py already failed to import')
    )
    expect(logged).toContainEqual(
      expect.stringContaining('warning: Airflow showed no parse of helpers.py')
    )
  })

  it('fails when Airflow cannot be asked', async () => {
    const { deps: confirming } = withConfirmation(async () => {
      throw new Error('the Airflow API at AIRFLOW_API_URL did not answer')
    })
    const result = await refresh(parseEvent(deployEvent, config), 600_000, config, confirming)
    expect(result).toMatchObject({
      ok: false,
      error:
        'Airflow could not confirm the deploy: the Airflow API at AIRFLOW_API_URL did not answer'
    })
  })

  it('is not asked after a resync, a deploy that uploaded nothing, or a failed refresh', async () => {
    const { calls, deps: confirming } = withConfirmation(async () => parsed())
    await refresh(parseEvent({ resync: true }, config), 600_000, config, confirming)
    await refresh(
      parseEvent({ ...deployEvent, changes: { uploaded: [], deleted: ['dags/old.py'] } }, config),
      600_000,
      config,
      confirming
    )
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'Failed' })
    await refresh(parseEvent(deployEvent, config), 600_000, config, confirming)
    expect(calls).toHaveLength(0)
  })
})

describe('efs mode', () => {
  const efsConfig = readConfig({
    REFRESH_MODE: 'efs',
    DAG_BUCKET: 'airflow-dags',
    EFS_MOUNT_PATH: '/mnt/dags'
  })
  const report = (manifest: Manifest) => ({
    downloaded: 1,
    deleted: 0,
    unchanged: 1,
    failed: 0,
    failedKeys: [],
    hashes: new Map<string, string | null>([
      ['etl.py', hash('a')],
      ['old.py', null]
    ]),
    tree: manifestTree(manifest)
  })
  const withFolder = (converge: NonNullable<Dependencies['convergeFolder']>): Dependencies => ({
    clock,
    log: (line) => logged.push(line),
    readManifest: async () => deployed,
    convergeFolder: converge
  })

  it('verifies the folder it converged against the manifest, asking about the changed paths', async () => {
    const asked: (readonly string[])[] = []
    const result = await refresh(
      parseEvent(deployEvent, efsConfig),
      600_000,
      efsConfig,
      withFolder(async (paths) => {
        asked.push(paths)
        return { ok: true, output: 'downloaded "etl.py"', report: report(deployed) }
      })
    )
    expect(asked).toEqual([['etl.py', 'old.py']])
    expect(result).toMatchObject({
      ok: true,
      workers: [{ instanceId: '/mnt/dags', status: 'refreshed', filesVerified: 2 }]
    })
  })

  it('fails a folder that is not the deployed tree, and one whose sync failed', async () => {
    const stale = Object.assign(newManifest(), { 'etl.py': deployed['etl.py'] })
    const drifted = await refresh(
      parseEvent({ resync: true }, efsConfig),
      600_000,
      efsConfig,
      withFolder(async () => ({ ok: true, output: '', report: report(stale) }))
    )
    expect(drifted.workers[0]).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('not the deployed tree')
    })
    const failed = await refresh(
      parseEvent({ resync: true }, efsConfig),
      600_000,
      efsConfig,
      withFolder(async () => ({
        ok: false,
        output: '',
        reason: 'cannot list s3://airflow-dags/dags/'
      }))
    )
    expect(failed.error).toBe(
      '1 of 1 worker not refreshed: /mnt/dags failed (cannot list s3://airflow-dags/dags/)'
    )
  })

  it('reports a sync stopped by the deadline as timed out', async () => {
    const result = await refresh(
      parseEvent({ resync: true }, efsConfig),
      60_000,
      efsConfig,
      withFolder(async (_, deadlineMs) => {
        await clock.sleep(deadlineMs - clock.now())
        return {
          ok: false,
          output: '',
          reason: '3 download(s) had not started when the deadline passed'
        }
      })
    )
    expect(result.workers[0]).toMatchObject({ status: 'timed-out' })
    expect(result.error).toContain('/mnt/dags timed out')
  })
})

describe('events the function refuses', () => {
  it('refuses a deploy event naming a foreign bucket before any AWS call', () => {
    expect(() => parseEvent({ ...deployEvent, bucket: 'attacker-bucket' }, config)).toThrow(
      "The deploy event names bucket 'attacker-bucket'; this function refreshes from airflow-dags only"
    )
    expect(ssmMock.calls()).toHaveLength(0)
  })
})
