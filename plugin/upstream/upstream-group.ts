import type { BalanceMethod, ResolvedServer, ResolvedUpstream } from '../options/options-types.js'
import { needsResolution } from '../options/validate-dns.js'
import type { DnsNameStatus } from './dns-status.js'
import { UpstreamServer, type UpstreamServerStats } from './upstream-server.js'
import { createTier, type Balancer, type PeerTier, type PickContext } from './balancer.js'
import { ConsistentHashBalancer } from './consistent-hash.js'
import { IpHashBalancer } from './ip-hash.js'
import { LeastConnBalancer } from './least-conn.js'
import { RandomTwoBalancer, type RandomSource } from './random-two.js'
import { RoundRobinBalancer } from './round-robin.js'
import { UpstreamTls } from './upstream-tls.js'

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
  /** The servers in use, then those DNS removed that still carry connections (`draining: true`). */
  servers: UpstreamServerStats[]
  /** One entry per server given by host name: its addresses, last resolution and last error. */
  dns?: DnsNameStatus[]
}

/** What a change of the server set did (R44). */
export interface ServerSetChange {
  added: UpstreamServer[]
  removed: UpstreamServer[]
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
  /** Replaced by {@link reconfigure} when an update changes the group. */
  config: ResolvedUpstream
  /** Why the last `pick` returned undefined; null after a successful pick. */
  lastPickFailure: PickFailure | null = null
  /** Set while the group has no server at all because its names resolved to nothing (or not yet): said in the 502's log line. */
  noServersReason: string | null = null
  /** Told about every failed attempt (DNS re-resolves the server's name early). */
  onFailure: ((server: UpstreamServer) => void) | null = null
  /** The DNS figures of the group's host-name servers, for stats. */
  dnsStatus: (() => DnsNameStatus[]) | null = null
  /** How its `https://` servers are verified (replaced when an update changes `tls`). */
  tls: UpstreamTls

  private current: UpstreamServer[] = []
  /** Servers DNS removed while connections still used them: shown in stats until those end. */
  private readonly draining = new Set<UpstreamServer>()
  /** Per configured entry, its servers now: itself for an IP literal, its addresses for a host name. */
  private entryServers: ResolvedServer[][]
  private readonly random: RandomSource
  private primary!: Balancer
  private backup: Balancer | undefined
  private single = false

  constructor (config: ResolvedUpstream, options: UpstreamGroupOptions = {}) {
    this.name = config.name
    this.config = config
    this.tls = new UpstreamTls(config.tls)
    this.random = options.random ?? Math.random
    this.entryServers = config.servers.map(server => needsResolution(server) ? [] : [server])
    this.rebuild()
  }

  /** Every server in use, in configuration order (a name's addresses in address order), backups and `down` ones included. */
  get servers (): readonly UpstreamServer[] {
    return this.current
  }

  /**
   * Replaces the servers of configured entry `index` (the addresses its name
   * resolved to). A server whose address and settings stay keeps its state
   * (health, failure window, connection counts); one that leaves gets no new
   * connections while its open ones go on (R45). Any change restarts the
   * round-robin sequence, so it is smooth over the new set from the start.
   */
  setEntryServers (index: number, servers: readonly ResolvedServer[]): ServerSetChange {
    const before = this.entryServers[index]
    // The usual answer is the same set: leave the balancers (and ketama points) as they are.
    if (before.length === servers.length && before.every((server, i) => server.url === servers[i].url && sameSettings(server, servers[i]))) {
      return { added: [], removed: [] }
    }
    this.entryServers[index] = [...servers]
    return this.rebuild()
  }

  /**
   * Applies new settings in place (an update, R99): servers are matched by
   * URL and keep their health and connection counts, even when their weight
   * or other settings change; new ones are added. A host-name entry that
   * stays keeps the addresses it resolved to until its name is resolved
   * again. Returns the servers that left the group (those with open
   * connections are listed as draining until they end) and those newly
   * marked `down`: whether their connections end is the caller's decision
   * (a server may have moved to another group).
   */
  reconfigure (config: ResolvedUpstream): { removed: UpstreamServer[], down: UpstreamServer[] } {
    const wasDown = new Map(this.current.map(server => [server.id, server.config.down]))
    if (JSON.stringify(config.tls) !== JSON.stringify(this.config.tls)) this.tls = new UpstreamTls(config.tls)
    const resolved = new Map(this.config.servers.map((entry, i) => [entry.url, this.entryServers[i] ?? []]))
    this.config = config
    this.entryServers = config.servers.map(entry => needsResolution(entry) ? [...(resolved.get(entry.url) ?? [])] : [entry])
    const { removed } = this.rebuild(true)
    const down = this.current.filter(server => server.config.down && wasDown.get(server.id) === false)
    return { removed, down }
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
    if (server.active === 0) this.draining.delete(server)
  }

  /** A failed connect or handshake (R22): counts towards `maxFails` and lowers its round-robin share. */
  recordFailure (server: UpstreamServer, now: number = Date.now()): void {
    server.recordFailure(now)
    this.onFailure?.(server)
  }

  /** A completed handshake: clears the failure count once its window has passed. */
  recordSuccess (server: UpstreamServer, _now: number = Date.now()): void {
    server.recordSuccess()
  }

  stats (now: number = Date.now()): UpstreamGroupStats {
    const servers = this.current.map(server => serverStats(server, now, false))
    for (const server of this.draining) servers.push(serverStats(server, now, true))
    const stats: UpstreamGroupStats = { name: this.name, balance: this.config.balance, servers }
    if (this.dnsStatus !== null) stats.dns = this.dnsStatus()
    return stats
  }

  /**
   * Builds the server list and balancers from the entries, reusing the
   * servers that stay: with the same settings (a DNS answer), or with any
   * settings when `reconfigured` (an update; the kept server takes the new ones).
   */
  private rebuild (reconfigured = false): ServerSetChange {
    const previous = new Map<string, UpstreamServer>()
    for (const server of this.draining) previous.set(server.id, server)
    for (const server of this.current) previous.set(server.id, server)
    const next: UpstreamServer[] = []
    const added: UpstreamServer[] = []
    const seen = new Set<string>()
    for (const entry of this.entryServers) {
      for (const config of entry) {
        // An address claimed by two entries is one server: the first entry's.
        if (seen.has(config.url)) continue
        seen.add(config.url)
        const kept = previous.get(config.url)
        if (kept !== undefined && (reconfigured || sameSettings(kept.config, config))) {
          previous.delete(config.url)
          this.draining.delete(kept)
          kept.reconfigure(config)
          next.push(kept)
        } else {
          const fresh = new UpstreamServer(config)
          added.push(fresh)
          next.push(fresh)
        }
      }
    }
    const removed = [...previous.values()].filter(server => !this.draining.has(server))
    for (const server of removed) if (server.active > 0) this.draining.add(server)
    if (added.length + removed.length > 0) for (const server of next) server.currentWeight = 0
    this.current = next
    const primaries = next.filter(server => !server.config.backup)
    const backups = next.filter(server => server.config.backup)
    this.single = primaries.length === 1 && backups.length === 0
    this.primary = createBalancer(this.config.balance, createTier(primaries, this.single), this.random)
    this.backup = backups.length === 0
      ? undefined
      : createBalancer(this.config.balance, createTier(backups, false), this.random)
    return { added, removed }
  }

  private failureReason (tried: ReadonlySet<UpstreamServer>, now: number): PickFailure {
    for (const server of this.servers) {
      if (tried.has(server) || server.config.down) continue
      if (this.single || !server.isFailed(now)) return 'max-conns'
    }
    return 'no-live-upstreams'
  }
}

/** A server's stats, with where DNS found it and whether it only finishes old connections. */
function serverStats (server: UpstreamServer, now: number, draining: boolean): UpstreamServerStats {
  const stats = server.toJSON(now)
  if (server.config.dns !== undefined) stats.name = server.config.dns.entry
  if (draining) stats.draining = true
  return stats
}

/** Same address and same options: the server may keep its state. */
function sameSettings (a: ResolvedServer, b: ResolvedServer): boolean {
  return a.weight === b.weight && a.maxFails === b.maxFails && a.failTimeout === b.failTimeout &&
    a.maxConns === b.maxConns && a.backup === b.backup && a.down === b.down &&
    a.dns?.entry === b.dns?.entry && a.dns?.hostname === b.dns?.hostname
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
