import type { JobResolution, StepResolution } from './workflow.mjs'
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
