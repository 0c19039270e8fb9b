import type { BalanceMethod } from './options-types.js'

/*
 * Every default of the plugin's options, in one place (the README's options
 * table lists the same values). The cluster's config file inherits these for
 * the options it passes to the plugin.
 */

export const BALANCE_METHODS: readonly BalanceMethod[] = ['round-robin', 'least-conn', 'ip-hash', 'hash', 'random-two']

export const SERVER_DEFAULTS = {
  weight: 1,
  maxFails: 1,
  failTimeout: 10_000,
  maxConns: 0,
  backup: false,
  down: false,
  srv: false
} as const

export const UPSTREAM_DEFAULTS = {
  balance: 'round-robin' as BalanceMethod,
  keepalive: 64,
  /** nginx Plus re-resolves at the TTL; without a TTL (system resolver) this is the pace. */
  resolveInterval: 30_000,
  resolver: null
} as const

/** How host-name servers are resolved (see upstream/upstream-dns.ts). */
export const DNS_DEFAULTS = {
  /** Bounds of `resolveInterval`. */
  resolveIntervalMin: 100,
  resolveIntervalMax: 86_400_000,
  /** Shortest wait between two resolutions of one name (TTL 0, failures in a loop), unless resolveInterval is shorter. */
  minInterval: 1_000,
  /** After a failed resolution (timeout, SERVFAIL, refused) or a name that does not exist, ask again this soon (at most resolveInterval). */
  retryInterval: 5_000,
  /** One query's timeout and tries when `resolver` is set (c-ares doubles the timeout per try). */
  queryTimeout: 1_000,
  queryTries: 2,
  /** Registration waits this long at most for the first answers before serving. */
  startWait: 5_000,
  /** SRV weights (0-65535) are capped at the largest server weight (ketama points grow with it). */
  maxWeight: 1000
} as const

export const ROUTE_DEFAULTS = {
  connectTimeout: 10_000,
  handshakeTimeout: 10_000,
  /** nginx's 60 s `proxy_read_timeout` is the classic "disconnects every minute". */
  idleTimeout: 3_600_000,
  sendTimeout: 60_000,
  finTimeout: 30_000,
  forwardedHeaders: true,
  preserveHost: true,
  http: false,
  /** Only WebSocket by default: tunnelling any protocol the upstream agrees to smuggles h2c past routes and hooks. */
  upgradeProtocols: ['websocket'] as readonly string[],
  requireOrigin: false
} as const

export const LIMIT_DEFAULTS = {
  maxConnections: 0,
  maxConnectionsPerIp: 0,
  maxUrlLength: 8192,
  connectionRate: null,
  /** 128: every IPv6 address is its own client, as nginx counts them. */
  ipv6Prefix: 128
} as const

export const UPSTREAM_TLS_DEFAULTS = {
  ca: null,
  servername: null,
  rejectUnauthorized: true
} as const

export const TOP_DEFAULTS = {
  shutdownTimeout: 10_000,
  /** Like HAProxy's `close-spread-time`: long enough that reconnects trickle in, short enough for a deploy. */
  closeSpread: 10_000,
  accessLog: true
} as const

/** Upper bound of every count option (connections, maxConns). */
export const COUNT_MAX = 10_000_000

/** Relay mode (routes with `mode: 'relay'`); the README's relay section lists the same values. */
export const RELAY_DEFAULTS = {
  /** Per route and per process: enough for one slow hook not to hold up every other connection's. */
  hookThreads: 2,
  /** The relay holds a whole message in memory; 16 MiB is what the tunnel is tested to carry in one message. */
  maxMessageSize: 16 * 1024 * 1024,
  heartbeatTimeout: 10_000,
  compression: false
} as const

/** Upper bounds of relay options: a message a 32-bit length can describe, a pool that still fits a small machine. */
export const RELAY_MAX = {
  hookThreads: 64,
  maxMessageSize: 1024 * 1024 * 1024,
  rateMessages: 1_000_000
} as const
