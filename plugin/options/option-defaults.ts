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
  down: false
} as const

export const UPSTREAM_DEFAULTS = {
  balance: 'round-robin' as BalanceMethod,
  keepalive: 64
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
  http: false
} as const

export const LIMIT_DEFAULTS = {
  maxConnections: 0,
  maxConnectionsPerIp: 0,
  maxUrlLength: 8192
} as const

export const TOP_DEFAULTS = {
  shutdownTimeout: 10_000,
  /** Like HAProxy's `close-spread-time`: long enough that reconnects trickle in, short enough for a deploy. */
  closeSpread: 10_000,
  accessLog: true
} as const

/** Upper bound of every count option (connections, maxConns). */
export const COUNT_MAX = 10_000_000
