export function embeddingProblem(text: string, heredocDelimiter?: string): string | undefined
export function buildTemplate(
  source: string,
  sourceName: string,
  readInclude: (path: string) => string
): string
export function buildInfra(): { output: string; text: string }[]
export function staleOutputs(): string[]
