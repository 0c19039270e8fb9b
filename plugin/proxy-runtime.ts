import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { ConnectionAdmission } from './connection-admission.js'
import { ConnectionLimits } from './connection-limits.js'
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

/** Everything one plugin instance shares between its routes. */
export class ProxyRuntime {
  readonly routes: RouteRuntime[]
  readonly groups = new Map<string, UpstreamGroup>()
  /** One per group with servers given by host name: started on ready, stopped on close. */
  readonly dns: UpstreamDns[] = []
  readonly counters: ProxyCounters
  readonly limits: ConnectionLimits
  readonly admission: ConnectionAdmission
  readonly tunnels = new Set<ProxiedTunnel>()
  /** Upstream attempts in flight: shutdown waits for them like for tunnels, then aborts them. */
  readonly attempts = new Set<{ abort: () => void }>()
  /** Set by preClose: new upgrades are refused while open tunnels drain. */
  closing = false

  constructor (readonly options: ResolvedOptions, readonly log: FastifyBaseLogger) {
    for (const [name, upstream] of options.upstreams) {
      const group = new UpstreamGroup(upstream)
      this.groups.set(name, group)
      const dns = new UpstreamDns(group, log)
      if (dns.active) this.dns.push(dns)
    }
    this.routes = options.routes.map(config => ({
      config,
      group: this.groups.get(config.upstream) as UpstreamGroup,
      timeouts: { idleTimeout: config.idleTimeout, sendTimeout: config.sendTimeout, finTimeout: config.finTimeout }
    }))
    this.counters = new ProxyCounters(options.routes)
    this.limits = new ConnectionLimits(options.limits.maxConnections, options.limits.maxConnectionsPerIp)
    this.admission = new ConnectionAdmission(this.counters, options.limits.maxConnections, options.limits.maxConnectionsPerIp, log)
  }

  /**
   * Joins a client and an upstream that switched protocols. `switchBytes` is
   * the 101 for the client plus any upstream bytes that followed it (R10);
   * `clientHead` are client bytes read with its request (R9).
   */
  openTunnel (client: Socket, upstream: Socket, switchBytes: Buffer, clientHead: Buffer, session: UpgradeSession): void {
    client.setNoDelay(true)
    client.setKeepAlive(true, 60_000)
    client.write(switchBytes)
    const tunnel = new Tunnel(client, upstream, session.route.timeouts, session, this.onTunnelFinished)
    this.tunnels.add(tunnel)
    session.tunnelOpened()
    tunnel.start(clientHead)
  }

  private readonly onTunnelFinished = (tunnel: ProxiedTunnel): void => {
    this.tunnels.delete(tunnel)
    tunnel.meta.tunnelClosed(tunnel)
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
