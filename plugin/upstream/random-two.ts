import type { UpstreamServer } from './upstream-server.js'
import { isUsable, serverIndexAtWeight, type Balancer, type PeerTier, type PickContext } from './balancer.js'
import { compareLoad } from './least-conn.js'
import { pickSmoothWeighted } from './round-robin.js'

/** nginx stops drawing after this many unusable draws and goes round-robin. */
const MAX_DRAWS = 20

/** A source of uniform numbers in [0, 1); injectable so tests can be exact. */
export type RandomSource = () => number

/**
 * nginx `random two least_conn`: draw two different usable servers at
 * random (by weight) and take the one with the lower `active / weight`
 * (the second on a tie, as nginx). Two choices avoid least-conn's herd onto
 * one freshly restarted server when many proxies balance independently.
 *
 * @example
 * const r2 = new RandomTwoBalancer(tier, Math.random)
 * r2.pick({ clientAddress: '127.0.0.1', hashKey: '' }, new Set(), Date.now())
 */
export class RandomTwoBalancer implements Balancer {
  readonly tier: PeerTier
  private readonly random: RandomSource

  constructor (tier: PeerTier, random: RandomSource = Math.random) {
    this.tier = tier
    this.random = random
  }

  pick (_ctx: PickContext, tried: ReadonlySet<UpstreamServer>, now: number): UpstreamServer | undefined {
    const { tier } = this
    if (tier.single || tier.totalWeight === 0) return pickSmoothWeighted(tier, tried, now)

    let first: UpstreamServer | undefined
    for (let draws = 0; draws <= MAX_DRAWS; draws++) {
      const w = Math.floor(this.random() * tier.totalWeight)
      const server = tier.servers[serverIndexAtWeight(tier, w)]
      if (server === first || !isUsable(server, tier, tried, now)) continue
      if (first === undefined) {
        first = server
        continue
      }
      return compareLoad(server, first) > 0 ? first : server
    }
    return pickSmoothWeighted(tier, tried, now)
  }
}
