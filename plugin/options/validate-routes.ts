import type { ResolvedRoute, RouteMode } from './options-types.js'
import { checkBoolean, checkDuration, checkEnum, checkObject, got, indexPath, keyPath, type Problems } from './option-checks.js'
import { ROUTE_DEFAULTS } from './option-defaults.js'
import { resolveRouteHeaders, resolveUpstreamPath } from './validate-route-headers.js'
import { PLUGIN_CONTEXT, resolveRelay, type ValidationContext } from './validate-relay.js'

import { resolveRouteEdge, ROUTE_EDGE_KEYS } from './validate-route-edge.js'

const ROUTE_KEYS = [
  'path', 'upstream', 'mode', 'connectTimeout', 'handshakeTimeout', 'idleTimeout', 'sendTimeout', 'finTimeout',
  'forwardedHeaders', 'preserveHost', 'http', 'headers', 'upstreamPath', 'relay', ...ROUTE_EDGE_KEYS
] as const
const ROUTE_MODES: readonly RouteMode[] = ['tunnel', 'relay']
const DURATIONS = ['connectTimeout', 'handshakeTimeout', 'idleTimeout', 'sendTimeout', 'finTimeout'] as const
const BOOLEANS = ['forwardedHeaders', 'preserveHost', 'http'] as const
/** A zero connect or handshake timeout would fail every attempt at once; zero idle/send/fin timeouts mean "none". */
const NON_ZERO = new Set<string>(['connectTimeout', 'handshakeTimeout'])
const PATH_ALLOWED = 'a path starting with "/", either literal ("/ws") or a prefix ending in "/*" ("/chat/*")'

function resolveRoutePath (value: unknown, path: string, problems: Problems): { path: string, prefix: string | null } | undefined {
  if (value === undefined) {
    problems.push({ path, message: `is required: ${PATH_ALLOWED}` })
    return undefined
  }
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
  return { path: value, prefix: value.endsWith('/*') ? body : null }
}

/** `relay` belongs to relay routes only: on a tunnel it would be silently ignored, so it is an error that says so. */
function resolveRouteRelay (value: Record<string, unknown>, mode: RouteMode | undefined, path: string, ctx: ValidationContext, problems: Problems): ResolvedRoute['relay'] | undefined {
  if (mode === 'relay') return resolveRelay(value.relay, keyPath(path, 'relay'), ctx, problems)
  if (value.relay !== undefined && mode === 'tunnel') {
    problems.push({
      path: keyPath(path, 'relay'),
      message: 'only applies to relay routes: a tunnel carries bytes and never sees a message; set "mode": "relay" on this route, or remove "relay"'
    })
  }
  return null
}

function resolveRoute (value: unknown, path: string, upstreamNames: readonly string[], ctx: ValidationContext, problems: Problems): ResolvedRoute | undefined {
  if (!checkObject(value, path, ROUTE_KEYS, problems, 'an object { path, upstream, ... }')) return undefined
  const before = problems.length
  const where = resolveRoutePath(value.path, keyPath(path, 'path'), problems)
  const defined = `the name of a defined upstream group (defined: ${upstreamNames.length === 0 ? 'none' : upstreamNames.join(', ')})`
  if (value.upstream === undefined) {
    problems.push({ path: keyPath(path, 'upstream'), message: `is required: ${defined}` })
  } else if (typeof value.upstream !== 'string' || !upstreamNames.includes(value.upstream)) {
    problems.push({ path: keyPath(path, 'upstream'), message: got(value.upstream, defined) })
  }
  const mode = value.mode === undefined ? 'tunnel' : checkEnum(value.mode, keyPath(path, 'mode'), ROUTE_MODES, problems)
  const timeouts: Record<(typeof DURATIONS)[number], number> = { ...ROUTE_DEFAULTS }
  for (const key of DURATIONS) {
    if (value[key] === undefined) continue
    const ms = checkDuration(value[key], keyPath(path, key), problems)
    if (ms === 0 && NON_ZERO.has(key)) problems.push({ path: keyPath(path, key), message: got(value[key], 'a duration above 0') })
    if (ms !== undefined) timeouts[key] = ms
  }
  const flags: Record<(typeof BOOLEANS)[number], boolean> = { ...ROUTE_DEFAULTS }
  for (const key of BOOLEANS) {
    if (value[key] === undefined) continue
    const flag = checkBoolean(value[key], keyPath(path, key), problems)
    if (flag !== undefined) flags[key] = flag
  }
  const headers = resolveRouteHeaders(value.headers, keyPath(path, 'headers'), problems)
  const upstreamPath = resolveUpstreamPath(value.upstreamPath, keyPath(path, 'upstreamPath'), problems)
  const relay = resolveRouteRelay(value, mode, path, ctx, problems)
  const edge = resolveRouteEdge(value, path, problems)
  if (problems.length > before || where === undefined || mode === undefined || relay === undefined || edge === undefined) return undefined
  return {
    ...edge,
    ...where,
    upstream: value.upstream as string,
    mode,
    connectTimeout: timeouts.connectTimeout,
    handshakeTimeout: timeouts.handshakeTimeout,
    idleTimeout: timeouts.idleTimeout,
    sendTimeout: timeouts.sendTimeout,
    finTimeout: timeouts.finTimeout,
    forwardedHeaders: flags.forwardedHeaders,
    preserveHost: flags.preserveHost,
    http: flags.http,
    headers,
    upstreamPath,
    relay
  }
}

/** `routes`: each route resolved against the defined upstream names; paths must be unique. */
export function resolveRoutes (value: unknown, upstreamNames: readonly string[], problems: Problems, ctx: ValidationContext = PLUGIN_CONTEXT): ResolvedRoute[] {
  if (value === undefined) {
    problems.push({ path: 'routes', message: 'is required: a non-empty array of { path, upstream } routes, e.g. [{ "path": "/ws", "upstream": "app" }]' })
    return []
  }
  if (!Array.isArray(value) || value.length === 0) {
    problems.push({ path: 'routes', message: got(value, 'a non-empty array of { path, upstream } routes') })
    return []
  }
  const routes: ResolvedRoute[] = []
  const seen = new Map<string, number>()
  value.forEach((raw, i) => {
    const path = indexPath('routes', i)
    const route = resolveRoute(raw, path, upstreamNames, ctx, problems)
    const routePath = (raw as { path?: unknown } | null)?.path
    if (typeof routePath === 'string') {
      const first = seen.get(routePath)
      if (first !== undefined) problems.push({ path: keyPath(path, 'path'), message: `got "${routePath}", already used by routes[${first}]; allowed: each path once` })
      else seen.set(routePath, i)
    }
    if (route !== undefined) routes.push(route)
  })
  return routes
}
