export function useLambdaWithoutDocker(endpoint: string): Promise<void>
export function createEchoFunction(
  endpoint: string,
  name: string
): Promise<{ name: string; arn: string }>
