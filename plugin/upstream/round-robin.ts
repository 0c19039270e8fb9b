import type { UpstreamServer } from './upstream-server.js'
import { isUsable, type Balancer, type PeerTier, type PickContext } from './balancer.js'

/**
 * nginx's smooth weighted round-robin (R21): every usable server gains its
 * effective weight, the one with the highest running weight wins and pays
 * back the sum. Weights 5,1,1 give `A A B A C A A`, spreading the light
 * servers instead of sending them bursts.
 *
 * The running weights live on the servers, so the hash balancers' fallback
 * and least-conn's tie-break continue the same sequence.
 *
 * @example
 * const rr = new RoundRobinBalancer(tier)
 * rr.pick({ clientAddress: '127.0.0.1', hashKey: '' }, new Set(), Date.now())
 */
export class RoundRobinBalancer implements Balancer {
  readonly tier: PeerTier

  constructor (tier: PeerTier) {
    this.tier = tier
  }

  pick (_ctx: PickContext, tried: ReadonlySet<UpstreamServer>, now: number): UpstreamServer | undefined {
    return pickSmoothWeighted(this.tier, tried, now)
  }
}

/** One smooth weighted round-robin step over the usable servers of `tier`. */
export function pickSmoothWeighted (
  tier: PeerTier,
  tried: ReadonlySet<UpstreamServer>,
  now: number
): UpstreamServer | undefined {
  let best: UpstreamServer | undefined
  let total = 0
  for (const server of tier.servers) {
    if (!isUsable(server, tier, tried, now)) continue
    step(server)
    total += server.effectiveWeight
    if (best === undefined || server.currentWeight > best.currentWeight) best = server
  }
  if (best !== undefined) best.currentWeight -= total
  return best
}

/** Adds the effective weight, and lets a weight lowered by failures recover by one. */
function step (server: UpstreamServer): void {
  server.currentWeight += server.effectiveWeight
  if (server.effectiveWeight < server.config.weight) server.effectiveWeight++
}

/**
 * The round-robin step nginx applies to the one server a consistent-hash
 * point names: it keeps effective weights recovering, with no net change of
 * the running weight.
 */
export function touchSmoothWeighted (server: UpstreamServer): void {
  const before = server.effectiveWeight
  step(server)
  server.currentWeight -= before
}
