import type { UpstreamServer } from './upstream-server.js'
import { isUsable, type Balancer, type PeerTier, type PickContext } from './balancer.js'
import { pickSmoothWeighted } from './round-robin.js'

/**
 * nginx `least_conn` (R24): the lowest `active / weight` wins, compared as
 * `a.active * b.weight < b.active * a.weight` to stay in integers; several
 * servers at that ratio share by smooth weighted round-robin. `active`
 * counts tunnels for their whole life, which is what makes this useful for
 * long-lived WebSockets.
 *
 * @example
 * const lc = new LeastConnBalancer(tier)
 * lc.pick({ clientAddress: '127.0.0.1', hashKey: '' }, new Set(), Date.now())
 */
export class LeastConnBalancer implements Balancer {
  readonly tier: PeerTier

  constructor (tier: PeerTier) {
    this.tier = tier
  }

  pick (_ctx: PickContext, tried: ReadonlySet<UpstreamServer>, now: number): UpstreamServer | undefined {
    const { tier } = this
    if (tier.single) return pickSmoothWeighted(tier, tried, now)

    const servers = tier.servers
    let best: UpstreamServer | undefined
    let bestIndex = 0
    let tied = false
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i]
      if (!isUsable(server, tier, tried, now)) continue
      if (best === undefined) {
        best = server
        bestIndex = i
        tied = false
        continue
      }
      const order = compareLoad(server, best)
      if (order < 0) {
        best = server
        bestIndex = i
        tied = false
      } else if (order === 0) {
        tied = true
      }
    }
    if (best === undefined || !tied) return best

    // Round-robin among the servers at the lowest ratio, as nginx does from the first of them.
    const lowest = best
    let total = 0
    for (let i = bestIndex; i < servers.length; i++) {
      const server = servers[i]
      if (!isUsable(server, tier, tried, now) || compareLoad(server, lowest) !== 0) continue
      server.currentWeight += server.effectiveWeight
      total += server.effectiveWeight
      if (server.effectiveWeight < server.config.weight) server.effectiveWeight++
      if (server.currentWeight > best.currentWeight) best = server
    }
    best.currentWeight -= total
    return best
  }
}

/** Sign of `a.active/a.weight - b.active/b.weight`, without division. */
export function compareLoad (a: UpstreamServer, b: UpstreamServer): number {
  return a.active * b.config.weight - b.active * a.config.weight
}
