import type { UpstreamGroup } from './upstream/upstream-group.js'
import type { UpstreamServerStats } from './upstream/upstream-server.js'
import type { BalanceMethod } from './options/options-types.js'

/** Per-route counters. */
export interface RouteStats {
  /** Tunnels open now. */
  open: number
  /** Upgrades that became tunnels. */
  total: number
  /** Upgrades that did not: refused, relayed non-101 answers, upstream failures. */
  failed: number
  /** Bytes read from clients / written to clients by closed tunnels. */
  bytesFromClients: number
  bytesToClients: number
}

/**
 * The live figures behind `fastify.wsProxy.stats()`: a plain object, so the
 * cluster runtime can send it over IPC and add several workers together.
 * Connection counters follow nginx stub_status.
 */
export interface WsProxyStats {
  connections: {
    /** Client connections open now (HTTP and tunnels). */
    active: number
    /** Client connections accepted. */
    accepted: number
    /** Accepted connections served: accepted minus those closed at accept (`dropped`). */
    handled: number
    /** Connections closed at accept because too many had sent no request yet (see `limits`). */
    dropped: number
    /** Connections that have not sent a complete request head yet (nginx stub_status "Reading"). */
    reading: number
    /** HTTP requests, upgrades included. */
    requests: number
    /** Upgrades refused with 503 by maxConnections / maxConnectionsPerIp or shutdown. */
    refused: number
    /** Tunnels open now. */
    tunnelsOpen: number
    /** Upgrades waiting for an upstream answer now. */
    handshaking: number
  }
  routes: Record<string, RouteStats>
  upstreams: Record<string, { name: string, balance: BalanceMethod, servers: UpstreamServerStats[] }>
}

/** Mutable counters owned by one plugin instance; `snapshot()` copies them out. */
export class ProxyCounters {
  active = 0
  accepted = 0
  dropped = 0
  reading = 0
  requests = 0
  refused = 0
  tunnelsOpen = 0
  handshaking = 0
  readonly routes = new Map<string, RouteStats>()

  constructor (routePaths: readonly string[]) {
    for (const path of routePaths) this.route(path)
  }

  /** The figures of the route at `path`, created at zero for a route an update added. */
  route (path: string): RouteStats {
    let stats = this.routes.get(path)
    if (stats === undefined) {
      stats = { open: 0, total: 0, failed: 0, bytesFromClients: 0, bytesToClients: 0 }
      this.routes.set(path, stats)
    }
    return stats
  }

  snapshot (groups: ReadonlyMap<string, UpstreamGroup>): WsProxyStats {
    const routes: Record<string, RouteStats> = {}
    for (const [path, stats] of this.routes) routes[path] = { ...stats }
    const upstreams: WsProxyStats['upstreams'] = {}
    const now = Date.now()
    for (const [name, group] of groups) upstreams[name] = group.stats(now)
    return {
      connections: {
        active: this.active,
        accepted: this.accepted,
        handled: this.accepted - this.dropped,
        dropped: this.dropped,
        reading: this.reading,
        requests: this.requests,
        refused: this.refused,
        tunnelsOpen: this.tunnelsOpen,
        handshaking: this.handshaking
      },
      routes,
      upstreams
    }
  }
}
