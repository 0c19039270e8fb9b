import type { UpstreamServer } from './upstream-server.js'

/** What a balancer may look at for one pick. */
export interface PickContext {
  /** The client address (normalized, `::ffff:` stripped); '' when not an IP (e.g. a unix socket). */
  clientAddress: string
  /** The value extracted per the group's `hashKey` ('' = none). */
  hashKey: string
}

/**
 * The servers one balancer chooses among: a group's primaries, or its
 * backups (nginx keeps backups as a second peer list with its own state).
 */
export interface PeerTier {
  readonly servers: readonly UpstreamServer[]
  /** Sum of configured weights, `down` servers included (nginx `total_weight`), so hashes stay stable. */
  readonly totalWeight: number
  /** The group's only server (nginx `peers->single`): never skipped for failures, hashing is pointless. */
  readonly single: boolean
}

/**
 * A load-balancing method over one tier. `pick` returns a server that is
 * usable (see {@link isUsable}) and not in `tried`, or undefined when the
 * tier has none. It may update round-robin weights on the servers but never
 * connection counts: the group's acquire/release does that.
 */
export interface Balancer {
  pick (ctx: PickContext, tried: ReadonlySet<UpstreamServer>, now: number): UpstreamServer | undefined
}

/** Not already tried for this request, not down, not failed (unless single), below maxConns. */
export function isUsable (
  server: UpstreamServer,
  tier: PeerTier,
  tried: ReadonlySet<UpstreamServer>,
  now: number
): boolean {
  return !tried.has(server) && server.isAvailable(now, tier.single)
}

/** Builds the tier description once; balancers keep it for their lifetime. */
export function createTier (servers: readonly UpstreamServer[], single: boolean): PeerTier {
  let totalWeight = 0
  for (const server of servers) totalWeight += server.config.weight
  return { servers, totalWeight, single }
}

/**
 * nginx walks the peer list subtracting weights to turn a number in
 * [0, totalWeight) into a peer; shared by ip-hash and random.
 */
export function serverIndexAtWeight (tier: PeerTier, w: number): number {
  const { servers } = tier
  let i = 0
  while (i < servers.length - 1 && w >= servers[i].config.weight) {
    w -= servers[i].config.weight
    i++
  }
  return i
}
