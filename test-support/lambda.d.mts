export function useLambdaWithoutDocker(endpoint: string): Promise<void>
export function createEchoFunction(
  endpoint: string,
  name: string,
  options?: { region?: string }
): Promise<{ name: string; arn: string }>
