import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { ConnectionAdmission } from './connection-admission.js'
import { ConnectionLimits } from './connection-limits.js'
import { CloseSchedule } from './lifecycle/close-schedule.js'
import type { CloseCause, CloseCode, OpenConnection } from './open-connection.js'
import type { ResolvedOptions } from './options/options-types.js'
import type { RouteRuntime } from './route-runtime.js'
import { ProxyCounters } from './proxy-stats.js'
import { Tunnel } from './tunnel/tunnel.js'
import { UpstreamDns } from './upstream/upstream-dns.js'
import { UpstreamGroup } from './upstream/upstream-group.js'
import type { UpgradeSession } from './upgrade/upgrade-session.js'

export { kUpgradeClaim, type RouteRuntime, type UpgradeClaim } from './route-runtime.js'

/** A tunnel carries its upgrade's session: the owner of its slot, server and figures. */
export type ProxiedTunnel = Tunnel<UpgradeSession>

/** What `openTunnel` joins: the two sockets and the bytes read around the 101. */
export interface TunnelSetup {
  client: Socket
  upstream: Socket
  /** The 101 head for the client. */
  switchHead: Buffer
  /** Upstream bytes that came with its 101 (R10). */
  upstreamHead: Buffer
  /** Client bytes read with its request (R9). */
  clientHead: Buffer
  /** A WebSocket upgrade: its frames are followed so it can be closed at a frame boundary. */
  webSocket: boolean
}

/** Builds the route table of `options` over `groups`. */
export function buildRoutes (options: ResolvedOptions, groups: ReadonlyMap<string, UpstreamGroup>): RouteRuntime[] {
  return options.routes.map(config => ({
    config,
    group: groups.get(config.upstream) as UpstreamGroup,
    timeouts: { idleTimeout: config.idleTimeout, sendTimeout: config.sendTimeout, finTimeout: config.finTimeout }
  }))
}

/**
 * Everything one plugin instance shares between its routes. Its route table,
 * groups and options are replaced in place by `wsProxy.update()`; open
 * connections keep the route and server they started with.
 */
export class ProxyRuntime {
  routes: RouteRuntime[]
  readonly groups = new Map<string, UpstreamGroup>()
  /** Per group with servers given by host name, its resolver: started on ready (or by an update), stopped on close. */
  readonly dns = new Map<string, UpstreamDns>()
  readonly counters: ProxyCounters
  readonly limits: ConnectionLimits
  readonly admission: ConnectionAdmission
  readonly tunnels = new Set<OpenConnection>()
  /** Upstream attempts in flight: shutdown waits for them like for tunnels, then aborts them. */
  readonly attempts = new Set<{ abort: () => void }>()
  /** Set by preClose: new upgrades are refused while open tunnels close. */
  closing = false
  /** Once a stop or a drain deadline began closing everything: tunnels that open later are closed at once. */
  closingAll: { code: CloseCode, cause: CloseCause } | null = null
  private readonly schedules = new Set<CloseSchedule>()

  constructor (public options: ResolvedOptions, readonly log: FastifyBaseLogger) {
    for (const [name, upstream] of options.upstreams) this.addGroup(name, new UpstreamGroup(upstream))
    this.routes = buildRoutes(options, this.groups)
    this.counters = new ProxyCounters(options.routes)
    this.limits = new ConnectionLimits(options.limits.maxConnections, options.limits.maxConnectionsPerIp)
    this.admission = new ConnectionAdmission(this.counters, options.limits.maxConnections, options.limits.maxConnectionsPerIp, log)
  }

  /**
   * Puts `group` in place under `name` with a resolver for its host-name
   * servers, replacing the resolver it had (an update changed its entries).
   * Returns the new resolver for the caller to start, or null.
   */
  addGroup (name: string, group: UpstreamGroup): UpstreamDns | null {
    this.dns.get(name)?.stop()
    this.dns.delete(name)
    group.dnsStatus = null
    group.onFailure = null
    group.noServersReason = null
    this.groups.set(name, group)
    const dns = new UpstreamDns(group, this.log)
    if (!dns.active) return null
    this.dns.set(name, dns)
    return dns
  }

  /** Takes the group `name` out (an update removed it), with its resolver. */
  removeGroup (name: string): void {
    this.dns.get(name)?.stop()
    this.dns.delete(name)
    this.groups.delete(name)
  }

  /** Joins a client and an upstream that switched protocols. */
  openTunnel (setup: TunnelSetup, session: UpgradeSession): void {
    const { client, upstream } = setup
    client.setNoDelay(true)
    client.setKeepAlive(true, 60_000)
    client.write(setup.switchHead)
    const tunnel = new Tunnel(client, upstream, session.route.timeouts, session, this.onTunnelFinished, setup.webSocket)
    this.tunnels.add(tunnel)
    session.tunnelOpened()
    tunnel.start(setup.clientHead, setup.upstreamHead)
    // Its handshake was under way when everything began closing, or its server left the config meanwhile.
    const retired = session.server?.retired ?? null
    if (this.closingAll !== null) tunnel.closeDeliberately(this.closingAll.code, this.closingAll.cause)
    else if (retired !== null) tunnel.closeDeliberately(1012, retired)
  }

  private readonly onTunnelFinished = (tunnel: ProxiedTunnel): void => {
    this.tunnels.delete(tunnel)
    tunnel.meta.tunnelClosed(tunnel)
  }

  /** Closes `connections` deliberately, spread evenly over `windowMs` (R39, R40). */
  closeSpread (connections: readonly OpenConnection[], code: CloseCode, cause: CloseCause, windowMs: number): void {
    if (connections.length === 0) return
    const schedule = new CloseSchedule(connections, code, cause, windowMs, (done) => { this.schedules.delete(done) })
    this.schedules.add(schedule)
    schedule.start()
  }

  /** Stops every close schedule (the plugin is closing for good). */
  cancelSchedules (): void {
    for (const schedule of this.schedules) schedule.cancel()
    this.schedules.clear()
  }

  /** Resolves true once no tunnel and no upstream attempt is left, or false at `deadline`. */
  async settled (deadline: number, pollMs = 50): Promise<boolean> {
    while (this.tunnels.size + this.attempts.size > 0) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise(resolve => setTimeout(resolve, Math.min(pollMs, left)))
    }
    return true
  }

  /** The route owning an upgrade to `url` (path and query), or undefined. */
  match (url: string): RouteRuntime | undefined {
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    for (const route of this.routes) {
      const { prefix } = route.config
      if (prefix === null ? path === route.config.path : path.startsWith(prefix)) return route
    }
    return undefined
  }
}
