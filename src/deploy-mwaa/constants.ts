import type { FileRole } from '../common/mwaa.js'

export const Input = {
  Environment: 'environment',
  Bucket: 'bucket',
  Requirements: 'requirements',
  RequirementsKey: 'requirements-key',
  Plugins: 'plugins',
  PluginsZip: 'plugins-zip',
  PluginsKey: 'plugins-key',
  StartupScript: 'startup-script',
  StartupScriptKey: 'startup-script-key',
  Wait: 'wait',
  Timeout: 'timeout',
  PollInterval: 'poll-interval',
  DryRun: 'dry-run',
  DagChanges: 'dag-changes',
  DagSource: 'dag-source',
  ConfirmTimeout: 'confirm-timeout',
  SyncWait: 'sync-wait',
  Region: 'region',
  EndpointUrl: 'endpoint-url'
} as const

export const Output = {
  Updated: 'updated',
  RequirementsVersion: 'requirements-version',
  PluginsVersion: 'plugins-version',
  StartupScriptVersion: 'startup-script-version',
  Status: 'status',
  DurationSeconds: 'duration-seconds',
  ImportErrors: 'import-errors',
  Unconfirmed: 'unconfirmed'
} as const

/** The key input of each file, and the key used when neither it nor the environment names one. */
export const KEY_INPUT: Record<FileRole, { input: string; fallback: string }> = {
  requirements: { input: Input.RequirementsKey, fallback: 'requirements.txt' },
  plugins: { input: Input.PluginsKey, fallback: 'plugins.zip' },
  'startup-script': { input: Input.StartupScriptKey, fallback: 'startup.sh' }
}

export const VERSION_OUTPUT: Record<FileRole, string> = {
  requirements: Output.RequirementsVersion,
  plugins: Output.PluginsVersion,
  'startup-script': Output.StartupScriptVersion
}

/** How the summary and the log name each file. */
export const ROLE_NAME: Record<FileRole, string> = {
  requirements: 'requirements',
  plugins: 'plugins.zip',
  'startup-script': 'startup script'
}
