import type { Duration, LimitsOptions, RouteOptions, UpstreamOptions } from '../../plugin/internal.js'

/** TLS termination in the workers (nginx `listen 443 ssl` + `ssl_certificate`). Paths are relative to the config file. */
export interface TlsOptions {
  cert: string
  key: string
}

/** Where the cluster accepts client connections (nginx `listen`). */
export interface ListenOptions {
  /** Default 8080; 0 lets the OS pick a free port. */
  port?: number
  /** Default `'0.0.0.0'`. */
  host?: string
  tls?: TlsOptions
  /** Expect a PROXY protocol v1/v2 header on every connection (nginx `listen ... proxy_protocol`). */
  proxyProtocol?: boolean
  /**
   * Peers whose PROXY header is believed (nginx `set_real_ip_from`): addresses or CIDR ranges.
   * Default `[]`; with `proxyProtocol` on and no list, only loopback (`127.0.0.0/8`, `::1`) is trusted.
   */
  trustedProxies?: string[]
  /**
   * With `proxyProtocol`: most connections that may be waiting for their PROXY header at
   * once; more are closed at once (each waits at most 5 s). Default 1024.
   */
  maxPendingProxyHeaders?: number
}

/** The admin listener of the primary: /livez, /readyz, /status, /metrics. */
export interface AdminOptions {
  /** Default 9090. */
  port?: number
  /** Default `'127.0.0.1'`: the admin endpoints are not meant for the internet. */
  host?: string
}

export interface LogOptions {
  /** Default `'info'`. */
  level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Human-readable instead of NDJSON. Default false. */
  pretty?: boolean
}

/** The `ws-cluster.config.json` file, or what `defineConfig()` receives. */
export interface ClusterConfigInput {
  upstreams: Record<string, UpstreamOptions>
  routes: RouteOptions[]
  listen?: ListenOptions
  /** `'auto'` (default) = os.availableParallelism() (nginx `worker_processes auto`), or a count from 1 to 1024. */
  workers?: 'auto' | number
  limits?: LimitsOptions
  /** `false` turns the admin listener off. */
  admin?: AdminOptions | false
  /**
   * On stop: open WebSockets get a 1001 close frame, spread over `closeSpread`
   * (or half of this when shorter); what is still open after this long is cut. Default `'30s'`.
   */
  shutdownTimeout?: Duration
  /**
   * On a reload that replaces workers: the old workers keep their open
   * WebSockets until they end or this passes, then close them with 1012
   * spread over `closeSpread` (nginx `worker_shutdown_timeout`). Default `'4h'`.
   */
  drainTimeout?: Duration
  /**
   * When ws-cluster closes many WebSockets at once (stop, drainTimeout, servers
   * removed by a reload), the close frames are spread evenly over this window
   * (HAProxy `close-spread-time`). Default `'10s'`; 0 closes all at once.
   */
  closeSpread?: Duration
  /**
   * A client must send a complete request head within this time of connecting
   * (or of starting a new request on a kept-alive connection), else it gets 408
   * and is closed (nginx `client_header_timeout`). Default `'60s'`.
   */
  headersTimeout?: Duration
  /**
   * A worker that has not answered the primary's heartbeat for this long (a stuck event
   * loop: SIGSTOP, an endless loop, a blocked stdout) is killed and replaced in its slot.
   * Default `'10s'`; at least `'1s'`; 0 turns the check off (e.g. to debug a worker).
   */
  heartbeatTimeout?: Duration
  log?: LogOptions
  /** Path (relative to the config file) of a Fastify plugin registered in every worker. */
  app?: string
}

/** The validated config with defaults applied and paths made absolute. */
export interface ClusterConfig {
  upstreams: Record<string, UpstreamOptions>
  routes: RouteOptions[]
  listen: {
    port: number
    host: string
    tls: { cert: string, key: string } | null
    proxyProtocol: boolean
    trustedProxies: string[]
    maxPendingProxyHeaders: number
  }
  workers: number
  limits: LimitsOptions
  admin: { port: number, host: string } | null
  shutdownTimeout: number
  drainTimeout: number
  closeSpread: number
  headersTimeout: number
  heartbeatTimeout: number
  log: { level: NonNullable<LogOptions['level']>, pretty: boolean }
  app: string | null
  /** Absolute path of the file it came from, or null when built from flags alone. */
  file: string | null
}

/** Flags given on the command line; they override the config file and the environment. */
export interface CliFlags {
  config?: string
  port?: number
  host?: string
  workers?: 'auto' | number
  prettyLogs?: boolean
  json?: boolean
  help?: boolean
  version?: boolean
}
