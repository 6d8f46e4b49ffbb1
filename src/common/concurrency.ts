/**
 * Runs `work` over `items` with at most `limit` in flight. After the first failure no new item
 * starts (in-flight ones finish), so a failing run stops quickly and reports every failure seen.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>
): Promise<{ failures: { item: T; error: unknown }[] }> {
  const failures: { item: T; error: unknown }[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (failures.length === 0 && next < items.length) {
      const item = items[next++] as T
      try {
        await work(item)
      } catch (error) {
        failures.push({ item, error })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return { failures }
}

/** Runs tasks given to it with at most `limit` of them in flight; the others wait their turn. */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>

export function createLimiter(limit: number): Limiter {
  let running = 0
  const waiting: (() => void)[] = []
  return async (task) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve))
    else running++
    try {
      return await task()
    } finally {
      // The slot passes straight to the next task, so `running` counts it throughout.
      const next = waiting.shift()
      if (next !== undefined) next()
      else running--
    }
  }
}
