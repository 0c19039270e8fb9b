import { isIPv4, isIPv6 } from 'node:net'
import type { UpstreamServer } from './upstream-server.js'
import { isUsable, serverIndexAtWeight, type Balancer, type PeerTier, type PickContext } from './balancer.js'
import { pickSmoothWeighted } from './round-robin.js'

/** nginx gives up rehashing after this many unusable picks and goes round-robin. */
const MAX_REHASH = 20

/**
 * nginx `ip_hash` (R26), bit for bit: the first three octets of an IPv4
 * client (so a /24 sticks together) or all 16 bytes of an IPv6 one feed
 * `h = (h * 113 + byte) % 6271` from h = 89; `h % totalWeight` walks the
 * servers by weight. An unusable pick feeds the same bytes again, up to 20
 * times, then round-robin takes over. Clients without an IP address
 * (unix sockets) go round-robin.
 *
 * Each pick recomputes from h = 89 instead of keeping per-request state:
 * servers already tried come up again in the same order and are skipped, so
 * a retry lands where nginx's continued hash would.
 *
 * @example
 * const ipHash = new IpHashBalancer(tier)
 * ipHash.pick({ clientAddress: '127.0.0.1', hashKey: '' }, new Set(), Date.now())
 */
export class IpHashBalancer implements Balancer {
  readonly tier: PeerTier
  // Reused across picks: parsing an address must not allocate.
  private readonly bytes = new Uint8Array(16)

  constructor (tier: PeerTier) {
    this.tier = tier
  }

  pick (ctx: PickContext, tried: ReadonlySet<UpstreamServer>, now: number): UpstreamServer | undefined {
    const { tier, bytes } = this
    if (tier.servers.length < 2 || tier.totalWeight === 0) return pickSmoothWeighted(tier, tried, now)
    const length = ipHashBytes(ctx.clientAddress, bytes)
    if (length === 0) return pickSmoothWeighted(tier, tried, now)

    let hash = 89
    for (let tries = 0; tries <= MAX_REHASH; tries++) {
      for (let i = 0; i < length; i++) hash = (hash * 113 + bytes[i]) % 6271
      const server = tier.servers[serverIndexAtWeight(tier, hash % tier.totalWeight)]
      if (isUsable(server, tier, tried, now)) return server
    }
    return pickSmoothWeighted(tier, tried, now)
  }
}

/**
 * Writes the bytes nginx hashes for `address` into `out`: 3 for IPv4, 16 for
 * IPv6, and returns how many (0 when `address` is not an IP).
 */
function ipHashBytes (address: string, out: Uint8Array): number {
  if (isIPv4(address)) {
    let octet = 0
    let index = 0
    for (let i = 0; i < address.length && index < 3; i++) {
      const code = address.charCodeAt(i)
      if (code === 46) { // '.'
        out[index++] = octet
        octet = 0
      } else {
        octet = octet * 10 + code - 48
      }
    }
    return 3
  }
  const zone = address.indexOf('%')
  const ip = zone === -1 ? address : address.slice(0, zone)
  if (!isIPv6(ip)) return 0
  return parseIPv6(ip, out) ? 16 : 0
}

/** Fills `out` with the 16 bytes of a valid IPv6 text form (`::`, embedded IPv4 allowed). */
function parseIPv6 (ip: string, out: Uint8Array): boolean {
  out.fill(0)
  const gap = ip.indexOf('::')
  const head = gap === -1 ? ip : ip.slice(0, gap)
  const tail = gap === -1 ? '' : ip.slice(gap + 2)
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === '' ? [] : tail.split(':')

  const tailBytes = groupsToBytes(tailGroups)
  const headBytes = groupsToBytes(headGroups)
  if (headBytes === null || tailBytes === null) return false
  out.set(headBytes, 0)
  out.set(tailBytes, 16 - tailBytes.length)
  return true
}

function groupsToBytes (groups: string[]): number[] | null {
  const bytes: number[] = []
  for (const group of groups) {
    if (group.includes('.')) {
      for (const part of group.split('.')) bytes.push(Number(part))
    } else {
      const value = parseInt(group, 16)
      bytes.push(value >> 8, value & 0xFF)
    }
  }
  return bytes.every(b => Number.isInteger(b) && b >= 0 && b <= 255) ? bytes : null
}
