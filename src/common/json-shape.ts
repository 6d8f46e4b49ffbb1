// Reading JSON that came from outside (an API's answer, a workflow output): its shape is checked,
// never assumed. It needs nothing of the runner, so the refresh function reads with it too.

/** A JSON object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
