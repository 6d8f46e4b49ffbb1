import { isIP } from 'node:net'
import { errorMessage } from '../common/errors.js'

export interface RunnerAddress {
  address: string
  family: 4 | 6
  /** Exactly this address: /32 for IPv4, /128 for IPv6. */
  cidr: string
}

export function parseAddress(text: string): RunnerAddress | undefined {
  const address = text.trim()
  const family = isIP(address)
  if (family === 4) return { address, family, cidr: `${address}/32` }
  if (family === 6) return { address, family, cidr: `${address.toLowerCase()}/128` }
  return undefined
}

/**
 * Asks each URL in turn for this runner's public address over HTTPS; the first answer that is
 * an IP address wins. Errors name every URL tried.
 */
export async function lookupPublicAddress(
  urls: readonly string[],
  timeoutMs = 5000
): Promise<{ address: RunnerAddress; source: string }> {
  const problems: string[] = []
  for (const url of urls) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
      const text = (await response.text()).trim()
      if (!response.ok) {
        problems.push(`${url}: HTTP ${response.status}`)
        continue
      }
      const address = parseAddress(text)
      if (address !== undefined) return { address, source: url }
      problems.push(`${url}: answered '${text.slice(0, 60)}', not an IP address`)
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code
      problems.push(`${url}: ${cause ?? errorMessage(error)}`)
    }
  }
  throw new Error(
    `could not find this runner's public IP (${problems.join('; ')}); set the ip input or ip-lookup-urls`
  )
}
