import type { LimitsOptions } from '../plugin/options-types.js'
import {
  checkBoolean, checkDuration, checkEnum, checkInteger, checkObject, checkRecord, checkString,
  got, indexPath, keyPath, type Problems
} from './config-field-checks.js'

/*
 * Structural checks of the plugin part of the config (upstreams, routes,
 * limits), so that `ws-cluster check` lists every problem with its path. The
 * plugin validates the same options again at registration; these checks only
 * need to agree with it on what is accepted.
 */

const UPSTREAM_KEYS = ['balance', 'hashKey', 'servers', 'keepalive'] as const
const SERVER_KEYS = ['url', 'weight', 'maxFails', 'failTimeout', 'maxConns', 'backup', 'down'] as const
const ROUTE_KEYS = [
  'path', 'upstream', 'mode', 'connectTimeout', 'handshakeTimeout', 'idleTimeout', 'sendTimeout', 'finTimeout',
  'forwardedHeaders', 'preserveHost', 'http'
] as const
const LIMIT_KEYS = ['maxConnections', 'maxConnectionsPerIp', 'maxUrlLength'] as const
const BALANCE = ['round-robin', 'least-conn', 'ip-hash', 'hash', 'random-two'] as const
const ROUTE_DURATIONS = ['connectTimeout', 'handshakeTimeout', 'idleTimeout', 'sendTimeout', 'finTimeout'] as const
const ROUTE_BOOLEANS = ['forwardedHeaders', 'preserveHost', 'http'] as const
const HASH_KEY_RE = /^(remote-addr|(header|query|cookie):.+)$/
/** Upper bounds shared with the plugin's validator (plugin/options-validate.ts). */
const COUNT_MAX = 10_000_000

/** Returns `protocol//host:port` of a good URL (the plugin's identity of a server), else undefined. */
function checkServerUrl (value: unknown, path: string, problems: Problems): string | undefined {
  const allowed = 'an absolute http:// or https:// URL such as "http://127.0.0.1:9001"'
  if (typeof value !== 'string') {
    problems.push({ path, message: got(value, allowed) })
    return undefined
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    problems.push({ path, message: got(value, allowed) })
    return undefined
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    problems.push({ path, message: got(value, allowed) })
    return undefined
  }
  return `${url.protocol}//${url.host}`
}

interface ServerSummary { url: string | undefined, standby: boolean }

function checkServer (value: unknown, path: string, problems: Problems): ServerSummary {
  if (typeof value === 'string') return { url: checkServerUrl(value, path, problems), standby: false }
  if (!checkObject(value, path, SERVER_KEYS, problems)) return { url: undefined, standby: false }
  let url: string | undefined
  if (value.url === undefined) problems.push({ path: keyPath(path, 'url'), message: 'is required (e.g. "http://127.0.0.1:9001")' })
  else url = checkServerUrl(value.url, keyPath(path, 'url'), problems)
  if (value.weight !== undefined) checkInteger(value.weight, keyPath(path, 'weight'), 1, 1000, problems)
  if (value.maxFails !== undefined) checkInteger(value.maxFails, keyPath(path, 'maxFails'), 0, 1000, problems)
  if (value.failTimeout !== undefined) checkDuration(value.failTimeout, keyPath(path, 'failTimeout'), problems)
  if (value.maxConns !== undefined) checkInteger(value.maxConns, keyPath(path, 'maxConns'), 0, COUNT_MAX, problems)
  if (value.backup !== undefined) checkBoolean(value.backup, keyPath(path, 'backup'), problems)
  if (value.down !== undefined) checkBoolean(value.down, keyPath(path, 'down'), problems)
  return { url, standby: value.backup === true || value.down === true }
}

function checkServers (servers: unknown[], path: string, problems: Problems): void {
  const seen = new Map<string, number>()
  const summaries = servers.map((server, i) => checkServer(server, indexPath(path, i), problems))
  summaries.forEach(({ url }, i) => {
    if (url === undefined) return
    const first = seen.get(url)
    if (first !== undefined) problems.push({ path: indexPath(path, i), message: `${url} is already listed as ${indexPath(path, first)}; list each server once per group` })
    else seen.set(url, i)
  })
  if (summaries.every(s => s.standby)) {
    problems.push({ path, message: 'every server is backup or down; at least one must take traffic' })
  }
}

function checkUpstream (value: unknown, path: string, problems: Problems): void {
  if (!checkObject(value, path, UPSTREAM_KEYS, problems)) return
  if (value.balance !== undefined) checkEnum(value.balance, keyPath(path, 'balance'), BALANCE, problems)
  if (value.hashKey !== undefined && (typeof value.hashKey !== 'string' || !HASH_KEY_RE.test(value.hashKey))) {
    problems.push({ path: keyPath(path, 'hashKey'), message: got(value.hashKey, '"remote-addr", "header:NAME", "query:NAME" or "cookie:NAME"') })
  } else if (value.hashKey !== undefined && value.balance !== 'hash') {
    problems.push({ path: keyPath(path, 'hashKey'), message: `is only used with "balance": "hash" (balance here is ${JSON.stringify(value.balance ?? 'round-robin')})` })
  }
  if (value.keepalive !== undefined) checkInteger(value.keepalive, keyPath(path, 'keepalive'), 0, 100_000, problems)
  const serversPath = keyPath(path, 'servers')
  if (value.servers === undefined) {
    problems.push({ path: serversPath, message: 'is required: a non-empty array of server URLs or { url, weight, ... } objects' })
  } else if (!Array.isArray(value.servers) || value.servers.length === 0) {
    problems.push({ path: serversPath, message: got(value.servers, 'a non-empty array of server URLs or { url, weight, ... } objects') })
  } else {
    checkServers(value.servers, serversPath, problems)
  }
}

/** Validates `upstreams` and returns the names defined (for checking route references). */
export function checkUpstreams (value: unknown, problems: Problems): string[] {
  if (value === undefined) {
    problems.push({ path: 'upstreams', message: 'is required: an object of named upstream groups, e.g. { "app": { "servers": ["http://127.0.0.1:9001"] } }' })
    return []
  }
  if (!checkRecord(value, 'upstreams', 'an object of named upstream groups', problems)) return []
  const names = Object.keys(value)
  if (names.length === 0) problems.push({ path: 'upstreams', message: 'defines no upstream group; at least one is needed' })
  for (const name of names) checkUpstream(value[name], keyPath('upstreams', name), problems)
  return names
}

const PATH_ALLOWED = 'a path starting with "/", either literal ("/ws") or a prefix ending in "/*" ("/chat/*")'

function checkRoutePath (value: unknown, path: string, problems: Problems): string | undefined {
  if (typeof value !== 'string' || !value.startsWith('/')) {
    problems.push({ path, message: got(value, PATH_ALLOWED) })
    return undefined
  }
  const body = value.endsWith('/*') ? value.slice(0, -1) : value
  if (body.includes('*')) {
    problems.push({ path, message: got(value, `${PATH_ALLOWED}; "*" is only allowed as the final "/*"`) })
    return undefined
  }
  const bad = [':', '?', '#'].find(c => body.includes(c))
  if (bad !== undefined) {
    problems.push({ path, message: got(value, `${PATH_ALLOWED}, without "${bad}" (no parameters, query or fragment)`) })
    return undefined
  }
  return value
}

function checkRoute (value: unknown, path: string, upstreamNames: string[], problems: Problems): string | undefined {
  if (!checkObject(value, path, ROUTE_KEYS, problems)) return undefined
  let routePath: string | undefined
  if (value.path === undefined) problems.push({ path: keyPath(path, 'path'), message: `is required: ${PATH_ALLOWED}` })
  else routePath = checkRoutePath(value.path, keyPath(path, 'path'), problems)
  const upstreamPath = keyPath(path, 'upstream')
  const defined = upstreamNames.length === 0 ? '(none)' : upstreamNames.join(', ')
  if (value.upstream === undefined) {
    problems.push({ path: upstreamPath, message: `is required: the name of an upstream group; defined upstreams: ${defined}` })
  } else if (checkString(value.upstream, upstreamPath, `the name of an upstream group; defined upstreams: ${defined}`, problems) !== undefined &&
    !upstreamNames.includes(value.upstream as string)) {
    problems.push({ path: upstreamPath, message: `"${value.upstream as string}" is not defined; defined upstreams: ${defined}` })
  }
  if (value.mode !== undefined) checkEnum(value.mode, keyPath(path, 'mode'), ['tunnel'], problems)
  for (const key of ROUTE_DURATIONS) {
    if (value[key] === undefined) continue
    const ms = checkDuration(value[key], keyPath(path, key), problems)
    // A zero connect or handshake timeout would fail every attempt at once.
    if (ms === 0 && (key === 'connectTimeout' || key === 'handshakeTimeout')) problems.push({ path: keyPath(path, key), message: got(value[key], 'a duration above 0') })
  }
  for (const key of ROUTE_BOOLEANS) {
    if (value[key] !== undefined) checkBoolean(value[key], keyPath(path, key), problems)
  }
  return routePath
}

export function checkRoutes (value: unknown, upstreamNames: string[], problems: Problems): void {
  if (value === undefined) {
    problems.push({ path: 'routes', message: 'is required: an array of { path, upstream } routes, e.g. [{ "path": "/ws", "upstream": "app" }]' })
    return
  }
  if (!Array.isArray(value) || value.length === 0) {
    problems.push({ path: 'routes', message: got(value, 'a non-empty array of { path, upstream } routes') })
    return
  }
  const seen = new Map<string, number>()
  value.forEach((route, i) => {
    const routePath = checkRoute(route, indexPath('routes', i), upstreamNames, problems)
    if (routePath === undefined) return
    const first = seen.get(routePath)
    if (first !== undefined) problems.push({ path: `routes[${i}].path`, message: `"${routePath}" is already used by routes[${first}]` })
    else seen.set(routePath, i)
  })
}

export function checkLimits (value: unknown, problems: Problems): LimitsOptions {
  if (value === undefined) return {}
  if (!checkObject(value, 'limits', LIMIT_KEYS, problems)) return {}
  if (value.maxConnections !== undefined) checkInteger(value.maxConnections, 'limits.maxConnections', 0, COUNT_MAX, problems)
  if (value.maxConnectionsPerIp !== undefined) checkInteger(value.maxConnectionsPerIp, 'limits.maxConnectionsPerIp', 0, COUNT_MAX, problems)
  if (value.maxUrlLength !== undefined) checkInteger(value.maxUrlLength, 'limits.maxUrlLength', 16, 1_048_576, problems)
  return value as LimitsOptions
}
