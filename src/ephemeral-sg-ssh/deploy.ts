import * as core from '@actions/core'
import { forEachBounded } from '../common/concurrency.js'
import { errorMessage } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { shareableArchive, type SharedArchive } from './shared-archive.js'
import { connect, runScript, upload, type Connection, type Endpoint } from './ssh.js'
import type { SshSettings } from './settings.js'

export type HostStatus = 'succeeded' | 'failed' | 'skipped' | 'cancelled'

export interface HostResult {
  host: string
  status: HostStatus
  exitCode: number | null
  durationMs: number
  error?: string
}

const open = new Set<Connection>()
let stopping = false

/** Drops every SSH connection at once: on cancellation, and for fail-fast. */
export function closeAllConnections(): void {
  stopping = true
  for (const connection of open) connection.close()
  open.clear()
}

/**
 * Uploads and runs the script on every host, in parallel or one after the other. Every host runs
 * and reports unless fail-fast asks to stop at the first failure.
 */
export async function deployToHosts(settings: SshSettings): Promise<HostResult[]> {
  const labelled = settings.hosts.length > 1
  const archives = settings.hosts.length > 1 ? sharedArchives(settings) : undefined
  const deployOne = (endpoint: Endpoint) =>
    deployToHost(settings, endpoint, labelled ? `[${endpoint.target.label}] ` : '', archives)
  const skipped = (endpoint: Endpoint): HostResult => ({
    host: endpoint.target.label,
    status: 'skipped',
    exitCode: null,
    durationMs: 0
  })
  if (!settings.parallel) {
    const results: HostResult[] = []
    for (const endpoint of settings.hosts) {
      const failedBefore = results.some((result) => result.status === 'failed')
      results.push(
        settings.failFast && failedBefore ? skipped(endpoint) : await deployOne(endpoint)
      )
    }
    return results
  }
  const results: HostResult[] = new Array(settings.hosts.length)
  await forEachBounded(
    settings.hosts.map((endpoint, index) => ({ endpoint, index })),
    settings.maxParallel,
    async ({ endpoint, index }) => {
      const result = stopping ? skipped(endpoint) : await deployOne(endpoint)
      results[index] = result
      if (result.status === 'failed' && settings.failFast) closeAllConnections()
    }
  )
  return results
}

/**
 * Each upload's archive, made the first time a host asks for it and then replayed to every other
 * host: the tree is walked and read once, not once per host.
 */
function sharedArchives(
  settings: SshSettings
): (pair: SshSettings['uploads'][number]) => Promise<SharedArchive | undefined> {
  const made = new Map<SshSettings['uploads'][number], Promise<SharedArchive | undefined>>()
  return (pair) => {
    let archive = made.get(pair)
    if (archive === undefined) {
      archive = shareableArchive(pair, pair.localPath, {
        keepSpecialBits: settings.keepSpecialBits
      })
      made.set(pair, archive)
    }
    return archive
  }
}

async function deployToHost(
  settings: SshSettings,
  endpoint: Endpoint,
  prefix: string,
  archives?: ReturnType<typeof sharedArchives>
): Promise<HostResult> {
  const started = Date.now()
  const host = endpoint.target.label
  const credentials = {
    privateKey: settings.privateKey,
    ...(settings.passphrase !== undefined ? { passphrase: settings.passphrase } : {})
  }
  const commandTimeoutMs = settings.commandTimeoutSeconds * 1000
  let connection: Connection | undefined
  try {
    connection = await connect(
      endpoint,
      credentials,
      started + settings.connectTimeoutSeconds * 1000,
      settings.jump,
      (message) => core.info(`${prefix}${message}`),
      () => stopping
    )
    if (stopping) throw new Error('stopped')
    open.add(connection)
    for (const pair of settings.uploads) {
      const uploadStarted = Date.now()
      const archive = await archives?.(pair)
      await upload(connection.client, pair, pair.localPath, commandTimeoutMs, {
        keepSpecialBits: settings.keepSpecialBits,
        ...(archive !== undefined ? { archive: archive.reader() } : {})
      })
      core.info(
        `${prefix}uploaded ${pair.local} → ${pair.remote} in ${Date.now() - uploadStarted} ms`
      )
    }
    let exitCode: number | null = 0
    if (settings.script !== undefined) {
      const result = await runScript(
        connection.client,
        settings.script,
        settings.env,
        (line) => core.info(`${prefix}${line}`),
        commandTimeoutMs
      )
      exitCode = result.exitCode
      if (stopping) throw new Error('stopped')
      if (result.timedOut)
        throw Object.assign(
          new Error(`script timed out after ${settings.commandTimeoutSeconds} s`),
          { exitCode }
        )
      if (exitCode !== 0) {
        const how =
          exitCode === null ? `ended by signal ${result.signal ?? '?'}` : `exited with ${exitCode}`
        return {
          host,
          status: 'failed',
          exitCode,
          durationMs: Date.now() - started,
          error: `script ${how}`
        }
      }
    }
    return { host, status: 'succeeded', exitCode, durationMs: Date.now() - started }
  } catch (error) {
    const status: HostStatus = stopping ? 'cancelled' : 'failed'
    return {
      host,
      status,
      exitCode: (error as { exitCode?: number | null }).exitCode ?? null,
      durationMs: Date.now() - started,
      // A connection or upload error can quote the server: one escaped line.
      error: stopping
        ? 'stopped before it finished (fail-fast or cancel)'
        : escapeText(errorMessage(error))
    }
  } finally {
    if (connection) {
      open.delete(connection)
      connection.close()
    }
  }
}
