export interface FunctionRun {
  event: unknown
  payload: unknown
  functionError?: string
  log: string[]
}
export interface RefreshStandIn {
  endpoint: string
  addWorker(instanceId: string, folder: string, agent?: string): void
  setAgent(instanceId: string, agent: string): void
  lifecycleCalls: Record<string, string>[]
  functionRuns: FunctionRun[]
  stop(): Promise<void>
}
export function startRefreshStandIn(options: {
  moto: string
  functionName: string
  functionEnv: Record<string, string>
  region?: string
  credentials?: { accessKeyId: string; secretAccessKey: string }
  timeoutMs?: number
}): Promise<RefreshStandIn>
export function createWorkerGroup(
  moto: string,
  options: {
    name: string
    size: number
    region?: string
    credentials?: { accessKeyId: string; secretAccessKey: string }
  }
): Promise<string[]>
