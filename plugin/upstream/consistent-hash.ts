import type { UpstreamServer } from './upstream-server.js'
import { isUsable, type Balancer, type PeerTier, type PickContext } from './balancer.js'
import { crc32, crc32OfText } from './crc32.js'
import { pickSmoothWeighted, touchSmoothWeighted } from './round-robin.js'

/** Ketama points per unit of weight, as nginx and Cache::Memcached::Fast. */
const POINTS_PER_WEIGHT = 160
/** nginx walks at most this many further points before going round-robin. */
const MAX_STEPS = 20

/**
 * nginx `hash KEY consistent` (R27), point for point: each server gets
 * `weight * 160` points, `crc32(HOST "\0" PORT ‖ prev)` chained from prev = 0
 * (prev as 4 little-endian bytes); a key goes to the first point at or above
 * its crc32, wrapping. Adding or removing a server moves only the keys on its
 * own points. An unusable server moves on to the next point (up to 20), then
 * round-robin; an empty key goes round-robin.
 *
 * Points are built once, as sorted typed arrays, so a pick is a binary search.
 *
 * @example
 * const chash = new ConsistentHashBalancer(tier)
 * chash.pick({ clientAddress: '127.0.0.1', hashKey: 'user:42' }, new Set(), Date.now())
 */
export class ConsistentHashBalancer implements Balancer {
  readonly tier: PeerTier
  /** Sorted, duplicate-free point hashes. */
  readonly pointHashes: Uint32Array
  /** Index into `tier.servers` of each point. */
  readonly pointServers: Uint32Array

  constructor (tier: PeerTier) {
    this.tier = tier
    const points = buildPoints(tier.servers)
    this.pointHashes = points.hashes
    this.pointServers = points.servers
  }

  pick (ctx: PickContext, tried: ReadonlySet<UpstreamServer>, now: number): UpstreamServer | undefined {
    const { tier, pointHashes, pointServers } = this
    const count = pointHashes.length
    if (tier.single || ctx.hashKey === '' || count === 0) return pickSmoothWeighted(tier, tried, now)

    let point = findPoint(pointHashes, crc32OfText(ctx.hashKey))
    for (let steps = 0; steps <= MAX_STEPS; steps++, point++) {
      const server = tier.servers[pointServers[point % count]]
      if (isUsable(server, tier, tried, now)) {
        touchSmoothWeighted(server)
        return server
      }
    }
    return pickSmoothWeighted(tier, tried, now)
  }
}

/**
 * Splits a server's `host:port` as nginx splits the `server` directive's
 * text: the port is the digits after the last ':'; without them, the whole
 * text is the host and the port is empty.
 */
export function ketamaHostPort (url: string): { host: string, port: string } {
  const schemeEnd = url.indexOf('://')
  let authority = schemeEnd === -1 ? url : url.slice(schemeEnd + 3)
  const end = authority.search(/[/?#]/)
  if (end !== -1) authority = authority.slice(0, end)
  const at = authority.lastIndexOf('@')
  if (at !== -1) authority = authority.slice(at + 1)
  const colon = authority.lastIndexOf(':')
  if (colon !== -1 && /^[0-9]*$/.test(authority.slice(colon + 1))) {
    return { host: authority.slice(0, colon), port: authority.slice(colon + 1) }
  }
  return { host: authority, port: '' }
}

function buildPoints (servers: readonly UpstreamServer[]): { hashes: Uint32Array, servers: Uint32Array } {
  let total = 0
  for (const server of servers) total += server.config.weight * POINTS_PER_WEIGHT
  const rawHashes = new Uint32Array(total)
  const rawServers = new Uint32Array(total)
  const prev = new Uint8Array(4)
  const prevView = new DataView(prev.buffer)
  let n = 0
  for (let s = 0; s < servers.length; s++) {
    const { host, port } = ketamaHostPort(servers[s].config.url)
    const base = crc32(Buffer.from(`${host}\0${port}`, 'latin1'))
    prevView.setUint32(0, 0, true)
    for (let j = 0; j < servers[s].config.weight * POINTS_PER_WEIGHT; j++) {
      const hash = crc32(prev, base)
      rawHashes[n] = hash
      rawServers[n] = s
      n++
      prevView.setUint32(0, hash, true)
    }
  }

  // Stable order for equal hashes keeps the earlier server, like nginx's dedup keeps one.
  const order = Array.from({ length: total }, (_, i) => i)
  order.sort((a, b) => rawHashes[a] - rawHashes[b] || a - b)
  const hashes: number[] = []
  const owners: number[] = []
  for (const i of order) {
    if (hashes.length > 0 && hashes[hashes.length - 1] === rawHashes[i]) continue
    hashes.push(rawHashes[i])
    owners.push(rawServers[i])
  }
  return { hashes: Uint32Array.from(hashes), servers: Uint32Array.from(owners) }
}

/** First point >= hash; `hashes.length` when above all (the caller wraps). */
function findPoint (hashes: Uint32Array, hash: number): number {
  let lo = 0
  let hi = hashes.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (hashes[mid] < hash) lo = mid + 1
    else hi = mid
  }
  return lo
}
