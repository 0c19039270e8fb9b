import type { Socket } from 'node:net'
import type { RouteRuntime } from './route-runtime.js'
import type { UpstreamGroup, UpstreamGroupStats } from './upstream/upstream-group.js'
import type { ResolvedRoute } from './options/options-types.js'

/**
 * What a route runs with, from its resolved options (durations in ms), so
 * `ws-cluster status --json` shows the timeouts a config (or a translated
 * nginx one) really gave it.
 */
export interface RouteSettings {
  upstream: string
  connectTimeout: number
  handshakeTimeout: number
  idleTimeout: number
  sendTimeout: number
  finTimeout: number
  http: boolean
  upstreamPath: string | null
}

/** Per-route counters, and the route's settings. */
export interface RouteStats {
  /** Tunnels open now. */
  open: number
  /** Upgrades that became tunnels. */
  total: number
  /** Upgrades that did not: refused, relayed non-101 answers, upstream failures. */
  failed: number
  /** Of `failed`: upgrades answered by the application's hooks (a 401 from an auth hook, say) before the proxy saw them. */
  refusedByHooks: number
  /** Bytes read from clients / written to clients by this route's tunnels, open ones included (counted up to the moment of the snapshot). */
  bytesFromClients: number
  bytesToClients: number
  settings: RouteSettings
  /** Relay routes: messages received from clients / from upstreams (before hooks). */
  messagesFromClients: number
  messagesFromUpstreams: number
  /** Relay connections closed with 1009 because a message exceeded maxMessageSize. */
  messagesTooBig: number
  /** Relay connections closed with 1008 by the message rate limit. */
  rateLimited: number
  /** Relay connections closed with 1011 because the message hook threw or failed. */
  hookErrors: number
}

/** A route's figures before its first upgrade. */
export function emptyRouteStats (settings: RouteSettings): RouteStats {
  return {
    open: 0,
    total: 0,
    failed: 0,
    refusedByHooks: 0,
    bytesFromClients: 0,
    bytesToClients: 0,
    settings,
    messagesFromClients: 0,
    messagesFromUpstreams: 0,
    messagesTooBig: 0,
    rateLimited: 0,
    hookErrors: 0
  }
}

/** An open tunnel as the figures see it: its route, and the client socket whose counters Node keeps anyway. */
interface OpenTunnel {
  readonly client: Socket
  readonly meta: { readonly route: RouteRuntime }
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
    /** Upgrades refused with 429 by `limits.connectionRate`. */
    rateLimited: number
    /** Client keys the connection rate tracks now (idle ones are forgotten once their bucket is full again). */
    rateTracked: number
    /** Upgrades to the plugin's routes answered by the application's hooks instead of being proxied (every route together). */
    refusedByHooks: number
    /** Tunnels open now. */
    tunnelsOpen: number
    /** Upgrades waiting for an upstream answer now. */
    handshaking: number
  }
  routes: Record<string, RouteStats>
  upstreams: Record<string, UpstreamGroupStats>
}

/** Mutable counters owned by one plugin instance; `snapshot()` copies them out. */
export class ProxyCounters {
  active = 0
  accepted = 0
  dropped = 0
  reading = 0
  requests = 0
  refused = 0
  rateLimited = 0
  /** Read from the rate limiter at snapshot time. */
  rateTracked: () => number = () => 0
  refusedByHooks = 0
  tunnelsOpen = 0
  handshaking = 0
  readonly routes = new Map<string, RouteStats>()

  constructor (routes: readonly ResolvedRoute[]) {
    this.setRoutes(routes)
  }

  /**
   * The routes in effect, at start and after an update: each keeps its
   * figures and shows its current settings; a new one starts at zero; a
   * removed one is listed while it still has open tunnels.
   */
  setRoutes (routes: readonly ResolvedRoute[]): void {
    const paths = new Set<string>()
    for (const route of routes) {
      paths.add(route.path)
      const { upstream, connectTimeout, handshakeTimeout, idleTimeout, sendTimeout, finTimeout, http, upstreamPath } = route
      const settings = { upstream, connectTimeout, handshakeTimeout, idleTimeout, sendTimeout, finTimeout, http, upstreamPath }
      const stats = this.routes.get(route.path)
      if (stats === undefined) this.routes.set(route.path, emptyRouteStats(settings))
      else stats.settings = settings
    }
    for (const [path, stats] of this.routes) if (!paths.has(path) && stats.open === 0) this.routes.delete(path)
  }

  route (path: string): RouteStats {
    return this.routes.get(path) as RouteStats
  }

  /** An upgrade to `path` was answered by a hook before the plugin's handler ran. */
  hookRefused (path: string): void {
    const route = this.route(path)
    route.failed++
    route.refusedByHooks++
    this.refusedByHooks++
  }

  /**
   * The figures now. Closed tunnels added their bytes when they ended; open
   * ones are read from their client socket's counters here, at snapshot
   * time, so the tunnel's per-chunk path does no counting of its own.
   */
  snapshot (groups: ReadonlyMap<string, UpstreamGroup>, open: Iterable<OpenTunnel>): WsProxyStats {
    const routes: Record<string, RouteStats> = {}
    for (const [path, stats] of this.routes) routes[path] = { ...stats, settings: { ...stats.settings } }
    for (const tunnel of open) {
      const figures = routes[tunnel.meta.route.config.path]
      figures.bytesFromClients += tunnel.client.bytesRead
      figures.bytesToClients += tunnel.client.bytesWritten
    }
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
        rateLimited: this.rateLimited,
        rateTracked: this.rateTracked(),
        refusedByHooks: this.refusedByHooks,
        tunnelsOpen: this.tunnelsOpen,
        handshaking: this.handshaking
      },
      routes,
      upstreams
    }
  }
}
