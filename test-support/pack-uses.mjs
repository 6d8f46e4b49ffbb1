// How `uses:` resolves, on this machine, for workflows that call this pack pinned to a commit:
// the reusable workflows and actions come from this checkout (as `$/` and a pinned call do on
// GitHub), checkout and setup-* have nothing to do on a machine already set up, and
// configure-aws-credentials is a stand-in that checks what it was given and points every later
// AWS call at moto_server.
import { join, resolve } from 'node:path'

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
    return undefined
  }
}

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
