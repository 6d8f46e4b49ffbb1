// How `uses:` resolves, on this machine, for workflows that call this pack pinned to a commit:
// the reusable workflows and actions come from this checkout (as `$/` and a pinned call do on
// GitHub), checkout and setup-* have nothing to do on a machine already set up,
// configure-aws-credentials is a stand-in that checks what it was given and points every later
// AWS call at moto_server, and upload-artifact / download-artifact keep artifacts in the run's
// folder, losing file modes and links as their zip does.
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'

const repoRoot = resolve(import.meta.dirname, '..')
// A caller's pinned reference, or the pack's own CI calling its workflows by path.
const WORKFLOW_CALL =
  /^(?:octo-org\/airflow-aws-deploy-actions\/|\.\/|\$\/)(\.github\/workflows\/[\w-]+\.yml)(?:@<full-commit-sha>)?$/

/**
 * @param {{ endpoint: string, packSha: string, credentialRequests?: object[] }} options
 * `credentialRequests` collects what each configure-aws-credentials step was given.
 */
export function packResolver({ endpoint, packSha, credentialRequests = [] }) {
  return (uses, kind) => {
    if (kind === 'job') {
      const called = uses.match(WORKFLOW_CALL)
      return called ? { file: join(repoRoot, called[1]), sha: packSha } : undefined
    }
    const action =
      uses.match(/^(?:\$\/|\.\/)actions\/([\w-]+)$/) ??
      // A caller's step using one of the pack's actions, pinned like the workflow calls.
      uses.match(/^octo-org\/airflow-aws-deploy-actions\/actions\/([\w-]+)@<full-commit-sha>$/)
    if (action) return { action: action[1] }
    const composite = uses.match(/^\$\/(\.github\/actions\/[\w-]+)$/)
    if (composite) return { composite: join(repoRoot, composite[1]) }
    if (/^actions\/(checkout|setup-node)@[0-9a-f]{40}$/.test(uses)) return { run: () => ({}) }
    if (/^actions\/setup-python@[0-9a-f]{40}$/.test(uses)) {
      return {
        run: ({ with: given }) => {
          if (!/^3\.\d+$/.test(given['python-version'] ?? ''))
            throw new Error(`setup-python: python-version '${given['python-version']}'`)
        }
      }
    }
    if (/^aws-actions\/configure-aws-credentials@[0-9a-f]{40}$/.test(uses)) {
      return {
        run: ({ with: given }) => configureAwsCredentials(given, endpoint, credentialRequests)
      }
    }
    if (/^actions\/upload-artifact@[0-9a-f]{40}$/.test(uses)) return { run: uploadArtifact }
    if (/^actions\/download-artifact@[0-9a-f]{40}$/.test(uses)) return { run: downloadArtifact }
    return undefined
  }
}

/** The steps that check the repository out, for runWorkflow's `checkout` option. */
export const checksOut = (step) => /^actions\/checkout@/.test(String(step.uses ?? ''))

function configureAwsCredentials(given, endpoint, requests) {
  const request = {
    region: given['aws-region'] ?? '',
    role: given['role-to-assume'] ?? '',
    keyId: given['aws-access-key-id'] ?? ''
  }
  // The real action fails the same way without a region or any source of credentials.
  if (request.region === '') throw new Error('Input required and not supplied: aws-region')
  if (request.role === '' && request.keyId === '')
    throw new Error('Credentials could not be loaded')
  requests.push(request)
  return {
    env: {
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: request.region,
      AWS_DEFAULT_REGION: request.region,
      // Every SDK call of the later steps goes to moto.
      AWS_ENDPOINT_URL: endpoint
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Artifacts: upload-artifact v4+ and download-artifact v4+ for the inputs the pack uses.
// ---------------------------------------------------------------------------------------------

const INVALID_ARTIFACT_NAME = /[":<>|*?\r\n\\/]/
const NOT_MODELLED_UPLOAD = ['compression-level', 'overwrite', 'include-hidden-files', 'archive']
const NOT_MODELLED_DOWNLOAD = [
  'artifact-ids',
  'pattern',
  'merge-multiple',
  'github-token',
  'run-id'
]

function refuseUnmodelled(given, names, action) {
  for (const name of names) {
    if ((given[name] ?? '') !== '') {
      throw new Error(`${action} stand-in: input ${name} is not modelled`)
    }
  }
}

const artifactFolder = (store, name) => join(store, encodeURIComponent(name))

/**
 * Copies what upload-artifact would put in its zip: regular files' content, links followed, no
 * modes; hidden files and folders are left out, as `include-hidden-files: false` does.
 */
function copyContent(from, to) {
  const info = statSync(from)
  if (info.isDirectory()) {
    mkdirSync(to, { recursive: true })
    for (const entry of readdirSync(from)) {
      if (!entry.startsWith('.')) copyContent(join(from, entry), join(to, entry))
    }
  } else if (info.isFile()) {
    mkdirSync(dirname(to), { recursive: true })
    writeFileSync(to, readFileSync(from))
  }
}

function uploadArtifact({ with: given, env, artifacts }) {
  refuseUnmodelled(given, NOT_MODELLED_UPLOAD, 'upload-artifact')
  const name = given.name || 'artifact'
  if (INVALID_ARTIFACT_NAME.test(name)) {
    throw new Error(`The artifact name is not valid: ${name}`)
  }
  const ifNoFiles = given['if-no-files-found'] || 'warn'
  if (!['warn', 'error', 'ignore'].includes(ifNoFiles)) {
    throw new Error(
      `Unrecognized if-no-files-found input. Provided: ${ifNoFiles}. Available options: warn, error, ignore`
    )
  }
  const retention = Number(given['retention-days'] || '0')
  if (!Number.isInteger(retention) || retention < 0 || retention > 90) {
    throw new Error(
      `Invalid retention-days: ${given['retention-days']} (1 to 90, 0 for the default)`
    )
  }
  const paths = (given.path ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
  if (paths.length !== 1 || /[*?[\]!]/.test(paths[0])) {
    throw new Error('upload-artifact stand-in: one path without wildcards is modelled')
  }
  const source = resolve(env.GITHUB_WORKSPACE ?? '.', paths[0])
  if (!existsSync(source)) {
    const message = `No files were found with the provided path: ${paths[0]}. No artifacts will be uploaded.`
    if (ifNoFiles === 'error') throw new Error(message)
    return { log: ifNoFiles === 'warn' ? `Warning: ${message}` : message }
  }
  const folder = artifactFolder(artifacts, name)
  // upload-artifact v4+ refuses a second artifact of the same name in a run (overwrite: false).
  if (existsSync(folder)) {
    throw new Error(
      `Failed to CreateArtifact: an artifact with the name ${name} already exists on this run`
    )
  }
  const files = join(folder, 'files')
  // A single file is stored by its name; a folder by its content.
  copyContent(source, lstatSync(source).isDirectory() ? files : join(files, basename(source)))
  const id = readdirSync(artifacts).length
  writeFileSync(join(folder, 'artifact.json'), JSON.stringify({ id, name, retention }))
  return {
    outputs: { 'artifact-id': id, 'artifact-url': `https://github.com/artifacts/${id}` },
    log: `Artifact ${name} uploaded (id ${id}, kept ${retention || 'the default'} day(s))`
  }
}

function downloadArtifact({ with: given, env, artifacts }) {
  refuseUnmodelled(given, NOT_MODELLED_DOWNLOAD, 'download-artifact')
  const name = given.name ?? ''
  // Without a name the real action downloads every artifact of the run, each in a folder.
  if (name === '') throw new Error('download-artifact stand-in: a download by name is modelled')
  const folder = artifactFolder(artifacts, name)
  if (!existsSync(join(folder, 'artifact.json'))) {
    throw new Error(`Unable to download artifact(s): Artifact not found for name: ${name}`)
  }
  const workspace = env.GITHUB_WORKSPACE ?? '.'
  const wanted = (given.path ?? '').replace(/^~(?=$|\/)/, env.HOME ?? '~')
  const target =
    wanted === '' ? workspace : isAbsolute(wanted) ? wanted : resolve(workspace, wanted)
  mkdirSync(target, { recursive: true })
  cpSync(join(folder, 'files'), target, { recursive: true })
  return { outputs: { 'download-path': target }, log: `Artifact ${name} downloaded to ${target}` }
}
