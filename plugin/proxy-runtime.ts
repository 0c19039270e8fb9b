import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { ConnectionAdmission } from './connection-admission.js'
import { ConnectionLimits } from './connection-limits.js'
import type { ResolvedOptions, ResolvedRoute } from './options/options-types.js'
import { ProxyCounters } from './proxy-stats.js'
import { Tunnel, type TunnelTimeouts } from './tunnel/tunnel.js'
import { UpstreamGroup } from './upstream/upstream-group.js'
import type { UpstreamServer } from './upstream/upstream-server.js'

/** An upgrade the dispatcher claimed for a route of ours: what Node's 'upgrade' event handed over. */
export interface UpgradeClaim {
  socket: Socket
  head: Buffer
  route: RouteRuntime
  res: ServerResponse
}

/** A route with what it needs at connect time, computed once at registration. */
export interface RouteRuntime {
  config: ResolvedRoute
  group: UpstreamGroup
  timeouts: TunnelTimeouts
}

/** Claims ride on the raw request from the 'upgrade' event to the Fastify route handler. */
export const kUpgradeClaim = Symbol('ws-cluster.upgrade-claim')

/** What a tunnel carries for its access-log line and its accounting. */
export interface TunnelMeta {
  route: RouteRuntime
  server: UpstreamServer
  clientAddress: string
  reqId: string
}

export type ProxiedTunnel = Tunnel<TunnelMeta>

/** Everything one plugin instance shares between its routes. */
export class ProxyRuntime {
  readonly routes: RouteRuntime[]
  readonly groups = new Map<string, UpstreamGroup>()
  readonly counters: ProxyCounters
  readonly limits: ConnectionLimits
  readonly admission: ConnectionAdmission
  readonly tunnels = new Set<ProxiedTunnel>()
  /** Upstream attempts in flight: shutdown waits for them like for tunnels, then aborts them. */
  readonly attempts = new Set<{ abort: () => void }>()
  /** Set by preClose: new upgrades are refused while open tunnels drain. */
  closing = false

  constructor (readonly options: ResolvedOptions, readonly log: FastifyBaseLogger) {
    for (const [name, upstream] of options.upstreams) this.groups.set(name, new UpstreamGroup(upstream))
    this.routes = options.routes.map(config => ({
      config,
      group: this.groups.get(config.upstream) as UpstreamGroup,
      timeouts: { idleTimeout: config.idleTimeout, sendTimeout: config.sendTimeout, finTimeout: config.finTimeout }
    }))
    this.counters = new ProxyCounters(options.routes.map(route => route.path))
    this.limits = new ConnectionLimits(options.limits.maxConnections, options.limits.maxConnectionsPerIp)
    this.admission = new ConnectionAdmission(this.counters, options.limits.maxConnections, options.limits.maxConnectionsPerIp, log)
  }

  /**
   * Joins a client and an upstream that switched protocols. `switchBytes` is
   * the 101 for the client plus any upstream bytes that followed it (R10);
   * `clientHead` are client bytes read with its request (R9).
   */
  openTunnel (client: Socket, upstream: Socket, switchBytes: Buffer, clientHead: Buffer, meta: TunnelMeta): void {
    client.setNoDelay(true)
    client.setKeepAlive(true, 60_000)
    client.write(switchBytes)
    const tunnel = new Tunnel(client, upstream, meta.route.timeouts, meta, this.onTunnelFinished)
    const routeStats = this.counters.route(meta.route.config.path)
    this.tunnels.add(tunnel)
    this.counters.tunnelsOpen++
    routeStats.open++
    routeStats.total++
    tunnel.start(clientHead)
  }

  private readonly onTunnelFinished = (tunnel: ProxiedTunnel): void => {
    const { route, server, clientAddress, reqId } = tunnel.meta
    const { client } = tunnel
    const routeStats = this.counters.route(route.config.path)
    this.tunnels.delete(tunnel)
    this.counters.tunnelsOpen--
    routeStats.open--
    routeStats.bytesFromClients += client.bytesRead
    routeStats.bytesToClients += client.bytesWritten
    route.group.release(server)
    this.limits.release(clientAddress)
    if (this.options.accessLog) {
      this.log.info({
        reqId,
        route: route.config.path,
        upstream: server.id,
        client: clientAddress,
        status: 101,
        durationMs: Date.now() - tunnel.startedAt,
        bytesFromClient: client.bytesRead,
        bytesToClient: client.bytesWritten,
        closedBy: tunnel.cause ?? 'client',
        error: tunnel.errorCode ?? undefined
      }, 'tunnel closed')
    }
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
