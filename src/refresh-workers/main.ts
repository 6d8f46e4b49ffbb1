import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { newManifest, type Manifest } from '../deploy-dags/plan.js'
import { agentOfflineReason, backoffMs, stopWaitingAt, waitWithinDeadline } from './commands.js'
import { ConfigError, Env, type EfsConfig, type RefreshConfig, type SsmConfig } from './config.js'
import { documentParameters, reportPathsFitting } from './document.js'
import type { LaunchRequest, RefreshRequest } from './events.js'
import type { Fleet, Lifecycle, LifecycleAction } from './fleet.js'
import {
  judgeReport,
  judgeWorker,
  outputTail,
  refreshResult,
  type RefreshResult,
  type SyncOutcome,
  type WorkerResult
} from './result.js'
import { DeadlinePassed, runOnWorkers, withBackoff, type Clock } from './run-command.js'
import type { SyncReport } from './sync-report.js'
import { importErrorLine, type ParseOutcome } from './airflow.js'

/** What the EFS convergence tells the flow (efs.ts). */
export interface FolderOutcome {
  report?: SyncReport
  output: string
  ok: boolean
  reason?: string
}

/** The edges of the flow; index.ts builds the real ones, a test or the demo its own. */
export interface Dependencies {
  clock: Clock
  log: (line: string) => void
  /** The manifest deploy-dags wrote under the configured prefix; throws when it cannot be read. */
  readManifest: () => Promise<Manifest>
  /** ssm mode */
  fleet?: Fleet
  /** ssm mode */
  lifecycle?: Lifecycle
  /** efs mode: converges the mounted folder and reports the given paths. */
  convergeFolder?: (reportPaths: readonly string[], deadlineMs: number) => Promise<FolderOutcome>
  /**
   * With the Airflow confirmation on: waits until Airflow has parsed the changed paths (relative
   * to the prefix) after `since`, within `deadlineMs` (airflow.ts).
   */
  confirmParsed?: (
    changedPaths: readonly string[],
    since: Date,
    deadlineMs: number
  ) => Promise<ParseOutcome>
}

/**
 * The whole refresh: decide which workers and which files, sync them, verify each against the
 * manifest, and return the result. The caller turns a result that is not ok into the function
 * error.
 */
export async function refresh(
  request: RefreshRequest,
  remainingMs: number,
  config: RefreshConfig,
  deps: Dependencies
): Promise<RefreshResult> {
  const deadlineMs = stopWaitingAt(deps.clock.now(), remainingMs, config.deadlineMarginMs)
  const reportPaths = pathsToReport(request)
  const workers =
    config.mode === 'efs'
      ? [await refreshFolder(config, reportPaths, deadlineMs, deps)]
      : request.kind === 'launch'
        ? [await prepareLaunchedWorker(request, config, deadlineMs, deps)].filter(
            (worker) => worker !== undefined
          )
        : await refreshFleet(config, reportPaths, deadlineMs, deps)
  // A parse before this moment may have seen the old files.
  const synced = new Date(deps.clock.now())
  const result = refreshResult({
    kind: request.kind,
    bucket: config.bucket,
    prefix: config.prefix,
    ...(request.kind === 'deploy' ? { sha: request.sha } : {}),
    workers,
    // A launched worker must be Online to be synced at all: tolerating that would let it join bare.
    tolerateOffline: config.mode === 'ssm' && request.kind !== 'launch' && config.tolerateOffline
  })
  if (!result.ok || request.kind !== 'deploy' || deps.confirmParsed === undefined) return result
  const uploaded = request.changes.listed ? request.changes.uploaded : []
  if (uploaded.length === 0) return result
  return confirmWithAirflow(result, uploaded, synced, deadlineMs, deps.confirmParsed, deps.log)
}

/**
 * The workers hold the deployed bytes; Airflow still has to import them. A changed file that
 * fails to import fails the refresh; import errors the deploy did not cause, and files Airflow
 * never showed as parsed (a module without a DAG), are logged as warnings in the result.
 */
async function confirmWithAirflow(
  result: RefreshResult,
  uploaded: readonly string[],
  since: Date,
  deadlineMs: number,
  confirm: NonNullable<Dependencies['confirmParsed']>,
  log: (line: string) => void
): Promise<RefreshResult> {
  let airflow: ParseOutcome
  try {
    airflow = await confirm(uploaded, since, deadlineMs)
  } catch (error) {
    const reason = `Airflow could not confirm the deploy: ${escapeText(errorMessage(error))}`
    return { ...result, ok: false, error: reason }
  }
  for (const { path, message } of airflow.preexisting) {
    log(`warning: ${path} already failed to import before this deploy: ${message}`)
  }
  if (airflow.unconfirmed.length > 0) {
    log(
      `warning: Airflow showed no parse of ${airflow.unconfirmed.join(', ')} in time (a module without a DAG is never shown)`
    )
  }
  const failure = importErrorLine(airflow)
  return { ...result, airflow, ...(failure !== undefined ? { ok: false, error: failure } : {}) }
}

/**
 * The deploy's changed paths, for per-file verdicts in a failure; the tree digest checks every
 * file whatever this holds, so a resync, a launch or a truncated change list asks for none.
 */
function pathsToReport(request: RefreshRequest): string[] {
  if (request.kind !== 'deploy' || !request.changes.listed) return []
  return reportPathsFitting([...request.changes.uploaded, ...request.changes.deleted])
}

async function refreshFleet(
  config: SsmConfig,
  reportPaths: string[],
  deadlineMs: number,
  deps: Dependencies
): Promise<WorkerResult[]> {
  const fleet = required(deps.fleet, 'fleet')
  const { clock } = deps
  const { instanceIds, missingGroups } = await withBackoff(
    () => fleet.inService(config.workerGroups),
    clock,
    deadlineMs,
    'listing the worker groups'
  )
  // Auto Scaling answers a name it does not know with nothing: without this, a misspelt group
  // would be a refresh of no workers, reported as a success.
  if (missingGroups.length > 0) {
    throw new ConfigError(
      Env.WorkerGroups,
      `names ${missingGroups.map((group) => `'${escapeText(group)}'`).join(', ')}, which Auto Scaling does not know in this account and Region`
    )
  }
  deps.log(
    `${instanceIds.length} InService worker${instanceIds.length === 1 ? '' : 's'} in ${config.workerGroups.join(', ')}`
  )
  if (instanceIds.length === 0) return []
  const statuses = await withBackoff(
    () => fleet.agentStatus(instanceIds),
    clock,
    deadlineMs,
    'reading the SSM agents'
  )
  const offline: WorkerResult[] = []
  const online: string[] = []
  for (const id of instanceIds) {
    const reason = agentOfflineReason(statuses.get(id))
    if (reason === undefined) online.push(id)
    else
      offline.push({
        instanceId: id,
        status: 'offline',
        durationMs: 0,
        filesVerified: 0,
        outputTail: '',
        reason
      })
  }
  const outcomes = await runOnWorkers(fleet, online, documentParameters(reportPaths, false), {
    clock,
    deadlineMs,
    log: deps.log
  })
  const manifest = await manifestOrProblem(deps)
  return [
    ...offline,
    ...[...outcomes.values()].map((outcome) => judge(outcome, manifest, reportPaths))
  ]
}

/** Lifecycle heartbeats keep the hook from timing out while the function waits; every minute is plenty for any HeartbeatTimeout the template allows. */
export const HEARTBEAT_EVERY_MS = 60_000
/** Looking for the new instance's SSM agent: 2 s, doubling up to 10 s. */
const AGENT_SCHEDULE = { firstMs: 2000, maxMs: 10_000 }

/**
 * A worker launched by scale-out waits in Pending:Wait until this completes its lifecycle action:
 * CONTINUE once its DAGs are in place and verified and its worker started, ABANDON otherwise, so
 * an instance without DAGs never joins the group. Whatever happens, the action is completed.
 */
async function prepareLaunchedWorker(
  request: LaunchRequest,
  config: SsmConfig,
  deadlineMs: number,
  deps: Dependencies
): Promise<WorkerResult | undefined> {
  const fleet = required(deps.fleet, 'fleet')
  const lifecycle = required(deps.lifecycle, 'lifecycle')
  const { clock } = deps
  const action: LifecycleAction = {
    group: request.group,
    hookName: request.hookName,
    instanceId: request.instanceId,
    token: request.token
  }
  const started = clock.now()
  if (request.intoWarmPool) {
    // A warm-pool instance is stopped until it is needed; it is synced on its way into service.
    await withBackoff(
      () => lifecycle.complete(action, 'CONTINUE'),
      clock,
      deadlineMs,
      'completing the lifecycle action'
    )
    deps.log(
      `${request.instanceId} goes into the warm pool: lifecycle action continued; it is synced when it enters service`
    )
    return undefined
  }
  let lastBeat = clock.now()
  const heartbeat = async () => {
    if (clock.now() - lastBeat < HEARTBEAT_EVERY_MS) return
    lastBeat = clock.now()
    await withBackoff(
      () => lifecycle.heartbeat(action),
      clock,
      deadlineMs,
      'recording a lifecycle heartbeat'
    )
  }
  let worker: WorkerResult
  try {
    worker = await syncLaunched(request.instanceId, config, deadlineMs, deps, fleet, heartbeat)
  } catch (error) {
    worker = {
      instanceId: request.instanceId,
      status: error instanceof DeadlinePassed ? 'timed-out' : 'failed',
      durationMs: clock.now() - started,
      filesVerified: 0,
      outputTail: '',
      reason: escapeText(errorMessage(error))
    }
  }
  const result = worker.status === 'refreshed' ? 'CONTINUE' : 'ABANDON'
  await withBackoff(
    () => lifecycle.complete(action, result),
    clock,
    Math.max(deadlineMs, clock.now() + 10_000),
    'completing the lifecycle action'
  )
  deps.log(`${request.instanceId}: lifecycle action completed with ${result}`)
  return worker
}

async function syncLaunched(
  instanceId: string,
  config: SsmConfig,
  deadlineMs: number,
  deps: Dependencies,
  fleet: Fleet,
  heartbeat: () => Promise<void>
): Promise<WorkerResult> {
  const { clock } = deps
  const started = clock.now()
  for (let attempt = 1; ; attempt += 1) {
    const statuses = await withBackoff(
      () => fleet.agentStatus([instanceId]),
      clock,
      deadlineMs,
      'waiting for the SSM agent'
    )
    const reason = agentOfflineReason(statuses.get(instanceId))
    if (reason === undefined) break
    const wait = waitWithinDeadline(
      clock.now(),
      deadlineMs,
      backoffMs(attempt, AGENT_SCHEDULE, () => clock.random())
    )
    if (wait === undefined) {
      return {
        instanceId,
        status: 'offline',
        durationMs: clock.now() - started,
        filesVerified: 0,
        outputTail: '',
        reason: `${reason}, still at the deadline`
      }
    }
    await clock.sleep(wait)
    await heartbeat()
  }
  deps.log(
    `${instanceId}: SSM agent Online; syncing the DAGs${config.workerStartCommand !== undefined ? ' and starting the worker' : ''}`
  )
  const outcomes = await runOnWorkers(
    fleet,
    [instanceId],
    documentParameters([], config.workerStartCommand !== undefined),
    {
      clock,
      deadlineMs,
      betweenPolls: heartbeat,
      log: deps.log
    }
  )
  const outcome = outcomes.get(instanceId)
  if (outcome === undefined) throw new Error(`no outcome for ${instanceId}`)
  const judged = judge(outcome, await manifestOrProblem(deps), [])
  return { ...judged, durationMs: clock.now() - started }
}

async function refreshFolder(
  config: EfsConfig,
  reportPaths: string[],
  deadlineMs: number,
  deps: Dependencies
): Promise<WorkerResult> {
  const converge = required(deps.convergeFolder, 'convergeFolder')
  const started = deps.clock.now()
  const outcome = await converge(reportPaths, deadlineMs)
  const base = {
    instanceId: config.efsMountPath,
    durationMs: deps.clock.now() - started,
    outputTail: outputTail(outcome.output)
  }
  if (!outcome.ok || outcome.report === undefined) {
    return {
      ...base,
      // Stopped by the deadline, not by a fault: reported as the SSM workers' would be.
      status: deps.clock.now() >= deadlineMs ? 'timed-out' : 'failed',
      filesVerified: 0,
      reason: outcome.reason ?? 'the sync of the folder failed'
    }
  }
  const manifest = await manifestOrProblem(deps)
  if ('problem' in manifest) {
    return { ...base, status: 'failed', filesVerified: 0, reason: manifest.problem }
  }
  return judgeReport(base, outcome.report, manifest.manifest, reportPaths)
}

/**
 * Read after the syncs: the manifest is the truth even when a later deploy changed it meanwhile.
 * Without it nothing can be verified, so no worker counts as refreshed.
 */
async function manifestOrProblem(
  deps: Dependencies
): Promise<{ manifest: Manifest } | { problem: string }> {
  try {
    return { manifest: await deps.readManifest() }
  } catch (error) {
    return {
      problem: `the manifest could not be read to verify against: ${escapeText(errorMessage(error))}`
    }
  }
}

/** A sync that ran cannot count as refreshed when there is no manifest to verify it against. */
function judge(
  outcome: SyncOutcome,
  manifest: { manifest: Manifest } | { problem: string },
  reportPaths: readonly string[]
): WorkerResult {
  if ('manifest' in manifest) return judgeWorker(outcome, manifest.manifest, reportPaths)
  const judged = judgeWorker(outcome, newManifest(), reportPaths)
  if (outcome.state !== 'succeeded') return judged
  return { ...judged, status: 'failed', filesVerified: 0, reason: manifest.problem }
}

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new Error(`the refresh flow was built without its ${name}`)
  return value
}
