import type { BalanceMethod, ResolvedUpstream } from '../options/options-types.js'
import { UpstreamServer, type UpstreamServerStats } from './upstream-server.js'
import { createTier, type Balancer, type PeerTier, type PickContext } from './balancer.js'
import { ConsistentHashBalancer } from './consistent-hash.js'
import { IpHashBalancer } from './ip-hash.js'
import { LeastConnBalancer } from './least-conn.js'
import { RandomTwoBalancer, type RandomSource } from './random-two.js'
import { RoundRobinBalancer } from './round-robin.js'

export type { PickContext } from './balancer.js'

/**
 * Why {@link UpstreamGroup.pick} found nothing (R25): `max-conns` when some
 * server could have been used but every such one is at its `maxConns`;
 * `no-live-upstreams` when every server is down, failed or already tried.
 */
export type PickFailure = 'no-live-upstreams' | 'max-conns'

export interface UpstreamGroupOptions {
  /** Random source for `random-two` (default Math.random); tests inject a fixed sequence. */
  random?: RandomSource
}

export interface UpstreamGroupStats {
  name: string
  balance: BalanceMethod
  servers: UpstreamServerStats[]
}

/**
 * An upstream group (nginx `upstream NAME { ... }`): its servers, their
 * health and connection counts, and the balancer choosing among them.
 * Primaries are tried first; backups only when no primary is usable (R23);
 * `down` servers never. A group with a single server (no backups) keeps
 * using it whatever its failures (R22), as nginx does.
 *
 * The caller drives a connection's life: `pick` (with the servers already
 * tried for this request), `acquire` once connecting, `recordFailure` or
 * `recordSuccess` for the attempt, `release` when the connection ends.
 *
 * @example
 * const group = new UpstreamGroup(resolved.upstreams.get('chat')!)
 * const tried = new Set<UpstreamServer>()
 * const server = group.pick({ clientAddress: '127.0.0.1', hashKey: '' }, tried)
 * if (server === undefined) throw new NoLiveUpstreamError(group.name)
 * group.acquire(server)
 * // ... connect; on error: group.recordFailure(server); tried.add(server); pick again
 * group.release(server)
 */
export class UpstreamGroup {
  readonly name: string
  config: ResolvedUpstream
  /** Every server in configuration order, backups and `down` ones included. */
  servers: readonly UpstreamServer[]
  /** Why the last `pick` returned undefined; null after a successful pick. */
  lastPickFailure: PickFailure | null = null

  private primary!: Balancer
  private backup: Balancer | undefined
  private single = false
  private readonly random: RandomSource

  constructor (config: ResolvedUpstream, options: UpstreamGroupOptions = {}) {
    this.name = config.name
    this.config = config
    this.random = options.random ?? Math.random
    this.servers = config.servers.map(server => new UpstreamServer(server))
    this.buildBalancers()
  }

  /**
   * Applies new settings in place (an update): servers are matched by URL
   * and keep their connection counts and health, new ones are added, and the
   * balancers are rebuilt over the new list. Returns the servers that left
   * the group and those newly marked `down`: whether their open connections
   * end is the caller's decision (a server may have moved to another group).
   */
  reconfigure (config: ResolvedUpstream): { removed: UpstreamServer[], down: UpstreamServer[] } {
    const byUrl = new Map<string, UpstreamServer[]>()
    for (const server of this.servers) byUrl.set(server.id, [...(byUrl.get(server.id) ?? []), server])
    const down: UpstreamServer[] = []
    this.servers = config.servers.map(serverConfig => {
      const kept = byUrl.get(serverConfig.url)?.shift()
      if (kept === undefined) return new UpstreamServer(serverConfig)
      if (serverConfig.down && !kept.config.down) down.push(kept)
      kept.reconfigure(serverConfig)
      return kept
    })
    const removed = [...byUrl.values()].flat()
    this.config = config
    this.buildBalancers()
    return { removed, down }
  }

  private buildBalancers (): void {
    const primaries = this.servers.filter(server => !server.config.backup)
    const backups = this.servers.filter(server => server.config.backup)
    this.single = primaries.length === 1 && backups.length === 0
    this.primary = createBalancer(this.config.balance, createTier(primaries, this.single), this.random)
    this.backup = backups.length === 0
      ? undefined
      : createBalancer(this.config.balance, createTier(backups, false), this.random)
  }

  /**
   * Chooses a server, skipping those in `tried` (already attempted for this
   * request) and unavailable ones. Primaries first; backups only when no
   * primary is available; down never. undefined when none is left, with the
   * reason in {@link lastPickFailure}.
   */
  pick (ctx: PickContext, tried: ReadonlySet<UpstreamServer>, now: number = Date.now()): UpstreamServer | undefined {
    const server = this.primary.pick(ctx, tried, now) ?? this.backup?.pick(ctx, tried, now)
    if (server === undefined) {
      this.lastPickFailure = this.failureReason(tried, now)
      return undefined
    }
    this.lastPickFailure = null
    server.markPicked(now)
    return server
  }

  acquire (server: UpstreamServer): void {
    server.active++
    server.total++
  }

  release (server: UpstreamServer): void {
    if (server.active > 0) server.active--
  }

  /** A failed connect or handshake (R22): counts towards `maxFails` and lowers its round-robin share. */
  recordFailure (server: UpstreamServer, now: number = Date.now()): void {
    server.recordFailure(now)
  }

  /** A completed handshake: clears the failure count once its window has passed. */
  recordSuccess (server: UpstreamServer, _now: number = Date.now()): void {
    server.recordSuccess()
  }

  stats (now: number = Date.now()): UpstreamGroupStats {
    return {
      name: this.name,
      balance: this.config.balance,
      servers: this.servers.map(server => server.toJSON(now))
    }
  }

  private failureReason (tried: ReadonlySet<UpstreamServer>, now: number): PickFailure {
    for (const server of this.servers) {
      if (tried.has(server) || server.config.down) continue
      if (this.single || !server.isFailed(now)) return 'max-conns'
    }
    return 'no-live-upstreams'
  }
}

function createBalancer (method: BalanceMethod, tier: PeerTier, random: RandomSource): Balancer {
  switch (method) {
    case 'round-robin': return new RoundRobinBalancer(tier)
    case 'least-conn': return new LeastConnBalancer(tier)
    case 'ip-hash': return new IpHashBalancer(tier)
    case 'hash': return new ConsistentHashBalancer(tier)
    case 'random-two': return new RandomTwoBalancer(tier, random)
  }
}
