import type { JobResolution, StepResolution, WorkflowStep } from './workflow.mjs'
export interface CredentialsRequest {
  region: string
  role: string
  keyId: string
}
export function packResolver(options: {
  endpoint: string
  packSha: string
  credentialRequests?: CredentialsRequest[]
}): (uses: string, kind: 'step' | 'job') => StepResolution | JobResolution | undefined
/** The steps that check the repository out (actions/checkout), for runWorkflow's `checkout`. */
export function checksOut(step: WorkflowStep): boolean
