import { describeValue, parseDuration } from './duration.js'
import { InvalidOptionError } from './errors.js'
import type {
  BalanceMethod, ResolvedHashKey, ResolvedOptions, ResolvedRoute, ResolvedServer, ResolvedUpstream,
  RouteOptions, UpstreamOptions, UpstreamServerOptions, WsProxyOptions
} from './options-types.js'

const BALANCE_METHODS: readonly BalanceMethod[] = ['round-robin', 'least-conn', 'ip-hash', 'hash', 'random-two']
const SERVER_KEYS = ['url', 'weight', 'maxFails', 'failTimeout', 'maxConns', 'backup', 'down']
const UPSTREAM_KEYS = ['balance', 'hashKey', 'servers', 'keepalive']
const ROUTE_KEYS = ['path', 'upstream', 'mode', 'connectTimeout', 'handshakeTimeout', 'idleTimeout', 'sendTimeout',
  'finTimeout', 'forwardedHeaders', 'preserveHost', 'http']
const LIMIT_KEYS = ['maxConnections', 'maxConnectionsPerIp', 'maxUrlLength']
const TOP_KEYS = ['upstreams', 'routes', 'limits', 'shutdownTimeout', 'accessLog']
// Keys Fastify itself passes to every plugin.
const FASTIFY_REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers']

const ROUTE_DEFAULTS = {
  connectTimeout: 10_000,
  handshakeTimeout: 10_000,
  idleTimeout: 3_600_000,
  sendTimeout: 60_000,
  finTimeout: 30_000
}

function fail (path: string, value: unknown, allowed: string): never {
  throw new InvalidOptionError(path, describeValue(value), allowed)
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function rejectUnknownKeys (obj: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) fail(path === '' ? key : `${path}.${key}`, obj[key], `known keys here are ${allowed.join(', ')}`)
  }
}

function integer (value: unknown, path: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(path, value, `an integer from ${min} to ${max}`)
  }
  return value
}

function boolean (value: unknown, path: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(path, value, 'true or false')
  return value
}

function resolveServer (raw: unknown, path: string): ResolvedServer {
  const spec: UpstreamServerOptions = typeof raw === 'string' ? { url: raw } : (raw as UpstreamServerOptions)
  if (!isPlainObject(spec)) fail(path, raw, 'a URL string like "http://127.0.0.1:9001" or { url, weight, ... }')
  rejectUnknownKeys(spec as unknown as Record<string, unknown>, SERVER_KEYS, path)
  const urlPath = typeof raw === 'string' ? path : `${path}.url`
  let url: URL
  try {
    url = new URL(String(spec.url))
  } catch {
    fail(urlPath, spec.url, 'an absolute http:// or https:// URL with a host, like "http://127.0.0.1:9001"')
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    fail(urlPath, spec.url, 'an absolute http:// or https:// URL with a host, like "http://127.0.0.1:9001"')
  }
  const protocol = url.protocol
  const port = url.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(url.port)
  // URL keeps IPv6 literals in brackets; sockets want them bare.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  return {
    url: `${protocol}//${url.host}`,
    protocol,
    host,
    port,
    weight: integer(spec.weight, `${path}.weight`, 1, 1000, 1),
    maxFails: integer(spec.maxFails, `${path}.maxFails`, 0, 1000, 1),
    failTimeout: spec.failTimeout === undefined ? 10_000 : parseDuration(spec.failTimeout, `${path}.failTimeout`),
    maxConns: integer(spec.maxConns, `${path}.maxConns`, 0, 10_000_000, 0),
    backup: boolean(spec.backup, `${path}.backup`, false),
    down: boolean(spec.down, `${path}.down`, false)
  }
}

function resolveHashKey (value: unknown, path: string): ResolvedHashKey {
  if (value === undefined || value === 'remote-addr') return { source: 'remote-addr' }
  const allowed = '"remote-addr", "header:NAME", "query:NAME" or "cookie:NAME"'
  if (typeof value !== 'string') fail(path, value, allowed)
  const match = /^(header|query|cookie):(.+)$/.exec(value)
  if (match === null) fail(path, value, allowed)
  const source = match[1] as 'header' | 'query' | 'cookie'
  return { source, name: source === 'header' ? match[2].toLowerCase() : match[2] }
}

function resolveUpstream (name: string, raw: unknown): ResolvedUpstream {
  const path = `upstreams.${name}`
  if (!isPlainObject(raw)) fail(path, raw, 'an object { servers: [...], balance?, hashKey?, keepalive? }')
  rejectUnknownKeys(raw, UPSTREAM_KEYS, path)
  const spec = raw as unknown as UpstreamOptions
  const balance = spec.balance === undefined ? 'round-robin' : spec.balance
  if (!BALANCE_METHODS.includes(balance)) fail(`${path}.balance`, spec.balance, BALANCE_METHODS.join(', '))
  if (spec.hashKey !== undefined && balance !== 'hash') {
    fail(`${path}.hashKey`, spec.hashKey, 'only with balance: "hash"')
  }
  if (!Array.isArray(spec.servers) || spec.servers.length === 0) {
    fail(`${path}.servers`, spec.servers, 'a non-empty array of server URLs or { url, ... } objects')
  }
  const servers = spec.servers.map((server, i) => resolveServer(server, `${path}.servers[${i}]`))
  const seen = new Set<string>()
  for (const [i, server] of servers.entries()) {
    if (seen.has(server.url)) fail(`${path}.servers[${i}]`, server.url, 'each server once per group')
    seen.add(server.url)
  }
  if (servers.every(server => server.backup || server.down)) {
    fail(`${path}.servers`, spec.servers, 'at least one server that is neither backup nor down')
  }
  return {
    name,
    balance,
    hashKey: resolveHashKey(spec.hashKey, `${path}.hashKey`),
    servers,
    keepalive: integer(spec.keepalive, `${path}.keepalive`, 0, 100_000, 64)
  }
}

function resolveRoutePath (value: unknown, path: string): { path: string, prefix: string | null } {
  const allowed = 'a path starting with "/", literal ("/ws") or a prefix ending in "/*" ("/chat/*"), without ":" or other "*"'
  if (typeof value !== 'string' || !value.startsWith('/')) fail(path, value, allowed)
  const body = value.endsWith('/*') ? value.slice(0, -1) : value
  if (body.includes('*') || body.includes(':') || body.includes('?') || body.includes('#')) fail(path, value, allowed)
  return { path: value, prefix: value.endsWith('/*') ? body : null }
}

function resolveRoute (raw: unknown, i: number, upstreams: Map<string, ResolvedUpstream>): ResolvedRoute {
  const path = `routes[${i}]`
  if (!isPlainObject(raw)) fail(path, raw, 'an object { path, upstream, ... }')
  rejectUnknownKeys(raw, ROUTE_KEYS, path)
  const spec = raw as unknown as RouteOptions
  const where = resolveRoutePath(spec.path, `${path}.path`)
  if (typeof spec.upstream !== 'string' || !upstreams.has(spec.upstream)) {
    const defined = [...upstreams.keys()].join(', ')
    fail(`${path}.upstream`, spec.upstream, `the name of a defined upstream (defined: ${defined})`)
  }
  if (spec.mode !== undefined && spec.mode !== 'tunnel') fail(`${path}.mode`, spec.mode, '"tunnel"')
  const duration = (key: keyof typeof ROUTE_DEFAULTS): number =>
    spec[key] === undefined ? ROUTE_DEFAULTS[key] : parseDuration(spec[key], `${path}.${key}`)
  const route: ResolvedRoute = {
    ...where,
    upstream: spec.upstream,
    mode: 'tunnel',
    connectTimeout: duration('connectTimeout'),
    handshakeTimeout: duration('handshakeTimeout'),
    idleTimeout: duration('idleTimeout'),
    sendTimeout: duration('sendTimeout'),
    finTimeout: duration('finTimeout'),
    forwardedHeaders: boolean(spec.forwardedHeaders, `${path}.forwardedHeaders`, true),
    preserveHost: boolean(spec.preserveHost, `${path}.preserveHost`, true),
    http: boolean(spec.http, `${path}.http`, false)
  }
  for (const key of ['connectTimeout', 'handshakeTimeout'] as const) {
    if (route[key] === 0) fail(`${path}.${key}`, spec[key], 'a duration above 0')
  }
  return route
}

/**
 * Validates the plugin options and applies defaults. Throws
 * `WS_CLUSTER_INVALID_OPTION` naming the option path, the bad value and what
 * is allowed, so a typo fails at registration rather than at the first client.
 */
export function resolveOptions (raw: unknown): ResolvedOptions {
  if (!isPlainObject(raw)) fail('options', raw, 'an object { upstreams, routes, ... }')
  rejectUnknownKeys(raw, [...TOP_KEYS, ...FASTIFY_REGISTER_KEYS], '')
  if (raw.prefix !== undefined) fail('prefix', raw.prefix, 'no prefix: route paths are absolute')
  const spec = raw as unknown as WsProxyOptions
  if (!isPlainObject(spec.upstreams) || Object.keys(spec.upstreams).length === 0) {
    fail('upstreams', spec.upstreams, 'an object with at least one named upstream group')
  }
  const upstreams = new Map<string, ResolvedUpstream>()
  for (const [name, upstream] of Object.entries(spec.upstreams)) upstreams.set(name, resolveUpstream(name, upstream))
  if (!Array.isArray(spec.routes) || spec.routes.length === 0) {
    fail('routes', spec.routes, 'a non-empty array of { path, upstream, ... }')
  }
  const routes = spec.routes.map((route, i) => resolveRoute(route, i, upstreams))
  const paths = new Set<string>()
  for (const [i, route] of routes.entries()) {
    if (paths.has(route.path)) fail(`routes[${i}].path`, route.path, 'each path once')
    paths.add(route.path)
  }
  const limits = spec.limits === undefined ? {} : spec.limits
  if (!isPlainObject(limits)) fail('limits', limits, 'an object { maxConnections?, maxConnectionsPerIp?, maxUrlLength? }')
  rejectUnknownKeys(limits as Record<string, unknown>, LIMIT_KEYS, 'limits')
  return {
    upstreams,
    routes,
    limits: {
      maxConnections: integer(limits.maxConnections, 'limits.maxConnections', 0, 10_000_000, 0),
      maxConnectionsPerIp: integer(limits.maxConnectionsPerIp, 'limits.maxConnectionsPerIp', 0, 10_000_000, 0),
      maxUrlLength: integer(limits.maxUrlLength, 'limits.maxUrlLength', 16, 1_048_576, 8192)
    },
    shutdownTimeout: spec.shutdownTimeout === undefined ? 10_000 : parseDuration(spec.shutdownTimeout, 'shutdownTimeout'),
    accessLog: boolean(spec.accessLog, 'accessLog', true)
  }
}
