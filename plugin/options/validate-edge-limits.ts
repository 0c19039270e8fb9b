import type { ConnectionRate } from '../connection-rate.js'
import { checkInteger, checkObject, got, type Problems } from './option-checks.js'

/** The limits checked here, beside the connection counts: the per-client rate of upgrades and who counts as one IPv6 client. */
export const EDGE_LIMIT_KEYS = ['connectionRate', 'ipv6Prefix'] as const

const RATE_KEYS = ['perSecond', 'burst'] as const
const RATE_SHAPE = 'an object { perSecond, burst? } (burst defaults to perSecond, at least 1), or false for no rate limit'
const MAX_RATE = 1_000_000

/** `limits.connectionRate`: null for none. */
export function resolveConnectionRate (value: unknown, problems: Problems): ConnectionRate | null | undefined {
  const path = 'limits.connectionRate'
  if (value === undefined || value === false) return null
  if (!checkObject(value, path, RATE_KEYS, problems, RATE_SHAPE)) return undefined
  const before = problems.length
  const perSecond = value.perSecond
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond < 0.001 || perSecond > MAX_RATE) {
    problems.push({ path: `${path}.perSecond`, message: got(perSecond, `a number of upgrades per second per client, from 0.001 to ${MAX_RATE} (0.5 is one every 2 s)`) })
  }
  const burst = value.burst === undefined
    ? Math.max(1, Math.ceil(typeof perSecond === 'number' ? perSecond : 1))
    : checkInteger(value.burst, `${path}.burst`, 1, MAX_RATE, problems)
  if (problems.length > before || burst === undefined) return undefined
  return { perSecond: perSecond as number, burst }
}

/** `limits.ipv6Prefix`: 128 counts each IPv6 address alone; 64 counts a /64 as one client. */
export function resolveIpv6Prefix (value: unknown, problems: Problems): number | undefined {
  return checkInteger(value, 'limits.ipv6Prefix', 16, 128, problems)
}
