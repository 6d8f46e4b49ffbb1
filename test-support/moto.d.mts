export interface Moto {
  endpoint: string
  port: number
  stop(): Promise<void>
}
export function motoAvailable(): boolean
export function startMoto(options?: { env?: Record<string, string> }): Promise<Moto>
