export function freePort(): Promise<number>
export function waitFor(url: string, timeoutMs: number): Promise<void>
