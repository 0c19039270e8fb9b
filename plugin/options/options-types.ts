import type { ConnectionRate } from '../connection-rate.js'
import type { OriginRule } from '../origin-policy.js'
import type { Duration } from './duration.js'
import type { ResolvedRouteHeaders } from './header-template.js'
import type { RelayOptions, ResolvedRelay } from './relay-types.js'

/** How a route carries a WebSocket once the upstream switched protocols: raw bytes, or whole messages (relay). */
export type RouteMode = 'tunnel' | 'relay'

/** Load-balancing methods, named after their nginx counterparts. */
export type BalanceMethod = 'round-robin' | 'least-conn' | 'ip-hash' | 'hash' | 'random-two'

/** One upstream server: `server 127.0.0.1:9001 weight=2 max_fails=1 fail_timeout=10s;` in nginx. */
export interface UpstreamServerOptions {
  /** `http://host:port` (or `https://`); the path part is ignored. */
  url: string
  /** Relative share of new connections (nginx `weight`). Default 1. */
  weight?: number
  /** Failures within `failTimeout` that mark the server unavailable (nginx `max_fails`). Default 1; 0 disables. */
  maxFails?: number
  /** Window for counting failures and how long a failed server is skipped (nginx `fail_timeout`). Default 10 s. */
  failTimeout?: Duration
  /** Most open connections to this server; 0 = unlimited (nginx `max_conns`). */
  maxConns?: number
  /** Only used when every primary server is unavailable (nginx `backup`). */
  backup?: boolean
  /** Never used (nginx `down`). */
  down?: boolean
  /**
   * The URL's host is a DNS SRV name (`http://_ws._tcp.chat.example`, no
   * port): its records give the addresses, ports and weights; the lowest
   * priority are primaries, the others backups (nginx `service=`). Default false.
   */
  srv?: boolean
}

/** How `https://` servers of a group are verified (nginx `proxy_ssl_trusted_certificate`, `proxy_ssl_name`, `proxy_ssl_verify`). */
export interface UpstreamTlsOptions {
  /** CA certificates to trust instead of Node's bundled list: PEM text or a PEM file path, or several. */
  ca?: string | string[]
  /** The name sent as SNI and checked against the certificate. Default: the server's host when it is a name. */
  servername?: string
  /** Verify the server's certificate and name. Default true; false accepts any certificate (say why in a comment). */
  rejectUnauthorized?: boolean
}

/** An upstream group: nginx `upstream NAME { ... }`. */
export interface UpstreamOptions {
  /** Default `round-robin` (smooth weighted, as nginx). */
  balance?: BalanceMethod
  /** For `hash`: `remote-addr` (default), `header:NAME`, `query:NAME` or `cookie:NAME`. */
  hashKey?: string
  servers: Array<string | UpstreamServerOptions>
  /** Idle keep-alive connections kept per group for plain HTTP passthrough (nginx `keepalive`). Default 64. */
  keepalive?: number
  /**
   * How often servers given by host name are resolved again. Default 30 s;
   * a shorter DNS TTL (known when `resolver` is set) brings it forward, but
   * never below 1 s. (nginx `resolver ... valid=`)
   */
  resolveInterval?: Duration
  /**
   * DNS servers to ask for this group's host names (`"10.96.0.10"`,
   * `"10.96.0.10:53"`, `"[fd00::10]:53"`), with TTLs (nginx `resolver`).
   * Default: the system resolver (getaddrinfo: /etc/hosts, search domains), which gives no TTLs.
   */
  resolver?: string[]
  /** How `https://` servers are verified; verified against Node's bundled CAs by default. */
  tls?: UpstreamTlsOptions
}

/** A proxied location: nginx `location PATH { proxy_pass http://UPSTREAM; ... }`. */
export interface RouteOptions {
  /** A literal path (`/ws`), or a prefix ending in `/*` (`/chat/*` matches `/chat/` and below). */
  path: string
  /** Name of a group in `upstreams`. */
  upstream: string
  /** `tunnel` (default): raw byte tunnel after the 101. `relay`: the proxy reads whole messages (hooks, limits, heartbeats). */
  mode?: RouteMode
  /** Relay mode's hook, limits, heartbeats and compression; only with `mode: 'relay'`. */
  relay?: RelayOptions
  /** TCP connect timeout per attempt (nginx `proxy_connect_timeout`). Default 10 s. */
  connectTimeout?: Duration
  /** Time the upstream has to answer the upgrade request. Default 10 s. */
  handshakeTimeout?: Duration
  /** Closes a tunnel with no traffic in either direction (nginx `proxy_read_timeout`). Default 1 h. */
  idleTimeout?: Duration
  /** Closes a tunnel whose writes cannot progress (nginx `proxy_send_timeout`). Default 60 s. */
  sendTimeout?: Duration
  /** After one side closed its half, the tunnel is fully closed at most this much later. Default 30 s. */
  finTimeout?: Duration
  /** Adds X-Forwarded-For/-Proto/-Host and X-Real-IP. Default true. */
  forwardedHeaders?: boolean
  /** Sends the client's Host upstream (default true); false sends the upstream's host:port. */
  preserveHost?: boolean
  /** Also proxy non-upgrade requests on this route (Socket.IO polling, health checks). Default false. */
  http?: boolean
  /** Upstream request headers (nginx `proxy_set_header`); see {@link RouteHeadersOptions}. */
  headers?: RouteHeadersOptions
  /**
   * Replaces the part of the path the route matched, as the URI of nginx's
   * `proxy_pass http://b/uri` does: route `/ws/*` with `'/'` sends `/ws/chat?x=1`
   * upstream as `/chat?x=1`; route `/ws` with `'/socket'` sends `/socket`.
   */
  upstreamPath?: string
  /** Protocols an `Upgrade` may switch to on this route. Default `['websocket']`; others are handled as plain requests. */
  upgradeProtocols?: string[]
  /** Origins (`https://app.example.com`, `https://*.example.com`) whose pages may open WebSockets here; others get 403. Default: any. */
  allowedOrigins?: string[]
  /** Refuse upgrades without an Origin header (403). Default false: clients that are not browsers send none. */
  requireOrigin?: boolean
}

/**
 * Upstream request headers of a route. Values are literals or use nginx
 * variables: `$host`, `$http_host`, `$server_port`, `$remote_addr`, `$scheme`,
 * `$request_uri`, `$http_<name>` (or `${name}`). A value that comes out empty
 * is not sent. Upgrade, Connection, Sec-WebSocket-* and hop-by-hop headers
 * belong to the proxy.
 *
 * @example
 * { set: { Host: '$host:$server_port', 'X-Tenant': '$http_x_tenant' }, append: { Via: '1.1 ws-cluster' }, remove: ['X-Debug'] }
 */
export interface RouteHeadersOptions {
  /** Replace every copy the client sent, and the built-in Host, X-Forwarded-* and X-Real-IP. */
  set?: Record<string, string>
  /** Add a value after the copies sent anyway. */
  append?: Record<string, string>
  /** Never send these upstream (names ignore case); Host cannot be removed. */
  remove?: string[]
}

/** Connection and request limits (nginx `worker_connections`, `limit_conn`, `large_client_header_buffers`). */
export interface LimitsOptions {
  /** Most open tunnels plus handshakes in progress; beyond it new upgrades get 503. 0 = unlimited (default). */
  maxConnections?: number
  /** Most open tunnels plus handshakes per client address; beyond it 503 for that address. 0 = unlimited (default). */
  maxConnectionsPerIp?: number
  /** Longest request target (path and query) accepted; longer gets 414. Default 8192. */
  maxUrlLength?: number
  /** New upgrades per client address: a token bucket; beyond it 429 with Retry-After. Default: off. */
  connectionRate?: { perSecond: number, burst?: number } | false
  /** IPv6 clients count per network of this prefix length for every per-IP limit (64 groups a /64). Default 128: per address. */
  ipv6Prefix?: number
}

/** Options of `fastify.register(wsProxy, options)`. */
export interface WsProxyOptions {
  upstreams: Record<string, UpstreamOptions>
  routes: RouteOptions[]
  limits?: LimitsOptions
  /**
   * On close, open tunnels get a 1001 close frame, spread over `closeSpread`
   * (or half of this when shorter); what is still open after this long is cut. Default 10 s.
   */
  shutdownTimeout?: Duration
  /**
   * When ws-cluster closes many tunnels at once (stop, drain deadline, a server
   * removed by `update`), their close frames are spread evenly over this window
   * so clients do not all reconnect in the same second. Default 10 s; 0 closes all at once.
   */
  closeSpread?: Duration
  /** One log line per tunnel at close. Default true. */
  accessLog?: boolean
}

/** A server after validation: every field present, durations in ms. */
export interface ResolvedServer {
  url: string
  protocol: 'http:' | 'https:'
  host: string
  port: number
  weight: number
  maxFails: number
  failTimeout: number
  maxConns: number
  backup: boolean
  down: boolean
  /** `host` is an SRV name whose records give the servers (the validator always sets it; absent = false). */
  srv?: boolean
  /** Set on a server found through DNS: where it came from (see {@link ResolvedServerOrigin}). */
  dns?: ResolvedServerOrigin
}

/** Where a server found through DNS came from. */
export interface ResolvedServerOrigin {
  /** The configured URL (`http://chat.default.svc.cluster.local:9000`), for logs and status. */
  entry: string
  /** The host name this address stands for (the URL's host, or an SRV record's target): sent as TLS SNI and in Host when preserveHost is false. */
  hostname: string
}

export type ResolvedHashKey =
  | { source: 'remote-addr' }
  | { source: 'header' | 'query' | 'cookie', name: string }

export interface ResolvedUpstream {
  name: string
  balance: BalanceMethod
  hashKey: ResolvedHashKey
  servers: ResolvedServer[]
  keepalive: number
  /** ms; the validator always sets it (absent = the default). */
  resolveInterval?: number
  /** DNS servers for host-name servers; null or absent = the system resolver. */
  resolver?: string[] | null
  tls: ResolvedUpstreamTls
}

/** Upstream TLS settings after validation: CA files read, PEM text only. */
export interface ResolvedUpstreamTls {
  ca: string[] | null
  servername: string | null
  rejectUnauthorized: boolean
}

export interface ResolvedRoute {
  path: string
  /** For `/x/*` routes, the prefix `/x/`; null for exact paths. */
  prefix: string | null
  upstream: string
  mode: RouteMode
  connectTimeout: number
  handshakeTimeout: number
  idleTimeout: number
  sendTimeout: number
  finTimeout: number
  forwardedHeaders: boolean
  preserveHost: boolean
  http: boolean
  /** The compiled `headers` option; null when the route has none. */
  headers: ResolvedRouteHeaders | null
  upstreamPath: string | null
  /** Present for relay routes, null for tunnels. */
  relay: ResolvedRelay | null
  /** Lower-cased protocol names. */
  upgradeProtocols: string[]
  /** null: any origin. */
  allowedOrigins: OriginRule[] | null
  requireOrigin: boolean
}

export interface ResolvedLimits {
  maxConnections: number
  maxConnectionsPerIp: number
  maxUrlLength: number
  /** null: no rate limit. */
  connectionRate: ConnectionRate | null
  ipv6Prefix: number
}

export interface ResolvedOptions {
  upstreams: Map<string, ResolvedUpstream>
  routes: ResolvedRoute[]
  limits: ResolvedLimits
  shutdownTimeout: number
  closeSpread: number
  accessLog: boolean
}
