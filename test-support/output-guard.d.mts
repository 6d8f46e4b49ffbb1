export function defuse(text: string): string
export function defuseLine(line: string): string
export function redactKeys(text: string): string
export function issuedCommands(stdout: string): { command: string; message: string }[]
export function unsafeLine(line: string): 'a workflow command' | 'key material' | undefined
export function guardStream(stream: { write: (...args: never[]) => unknown }): void
export function expectNoSecret(text: string, secret: string, check: string): void
