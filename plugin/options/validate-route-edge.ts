import { compileOriginRule, type OriginRule } from '../origin-policy.js'
import type { ResolvedRoute } from './options-types.js'
import { checkBoolean, got, indexPath, keyPath, type Problems } from './option-checks.js'
import { ROUTE_DEFAULTS } from './option-defaults.js'

/** The route keys checked here: who may upgrade, and to what. */
export const ROUTE_EDGE_KEYS = ['upgradeProtocols', 'allowedOrigins', 'requireOrigin'] as const

type RouteEdge = Pick<ResolvedRoute, 'upgradeProtocols' | 'allowedOrigins' | 'requireOrigin'>

// RFC 9110 token characters, an optional "/version" as in "TLS/1.0".
const PROTOCOL_RE = /^[!#$%&'*+.^_`|~0-9a-z-]+(?:\/[!#$%&'*+.^_`|~0-9a-z-]+)?$/i
const PROTOCOLS_ALLOWED = 'a non-empty array of protocol names as the Upgrade header carries them, e.g. ["websocket"] or ["websocket", "h2c"]'
const ORIGINS_ALLOWED = 'a non-empty array of origins such as "https://app.example.com" or "https://*.example.com"; leave the option out to allow any origin'

function resolveProtocols (value: unknown, path: string, problems: Problems): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    problems.push({ path, message: got(value, PROTOCOLS_ALLOWED) })
    return undefined
  }
  const before = problems.length
  const names: string[] = []
  value.forEach((entry, i) => {
    if (typeof entry !== 'string' || !PROTOCOL_RE.test(entry)) {
      problems.push({ path: indexPath(path, i), message: got(entry, 'a protocol name (an HTTP token such as "websocket" or "h2c")') })
      return
    }
    const name = entry.toLowerCase()
    if (names.includes(name)) problems.push({ path: indexPath(path, i), message: got(entry, 'each protocol once') })
    names.push(name)
  })
  return problems.length > before ? undefined : names
}

function resolveOrigins (value: unknown, path: string, problems: Problems): OriginRule[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    problems.push({ path, message: got(value, ORIGINS_ALLOWED) })
    return undefined
  }
  const before = problems.length
  const rules: OriginRule[] = []
  value.forEach((entry, i) => {
    const at = indexPath(path, i)
    if (entry === '*' || entry === 'null') {
      const why = entry === '*' ? 'leave allowedOrigins out to allow any origin' : '"null" is the origin of sandboxed frames and local files, which any site can create'
      problems.push({ path: at, message: got(entry, `an origin such as "https://app.example.com" (${why})`) })
      return
    }
    const rule = typeof entry === 'string' ? compileOriginRule(entry) : 'not a string'
    if (typeof rule === 'string') problems.push({ path: at, message: got(entry, `scheme://host[:port] such as "https://app.example.com" or "https://*.example.com" (${rule})`) })
    else rules.push(rule)
  })
  return problems.length > before ? undefined : rules
}

/**
 * `upgradeProtocols`, `allowedOrigins` and `requireOrigin` of one route
 * (`path` is the route's option path, such as `routes[0]`).
 */
export function resolveRouteEdge (value: Record<string, unknown>, path: string, problems: Problems): RouteEdge | undefined {
  const before = problems.length
  const upgradeProtocols = value.upgradeProtocols === undefined
    ? [...ROUTE_DEFAULTS.upgradeProtocols]
    : resolveProtocols(value.upgradeProtocols, keyPath(path, 'upgradeProtocols'), problems)
  const allowedOrigins = value.allowedOrigins === undefined ? null : resolveOrigins(value.allowedOrigins, keyPath(path, 'allowedOrigins'), problems)
  const requireOrigin = value.requireOrigin === undefined ? ROUTE_DEFAULTS.requireOrigin : checkBoolean(value.requireOrigin, keyPath(path, 'requireOrigin'), problems)
  if (problems.length > before || upgradeProtocols === undefined || allowedOrigins === undefined || requireOrigin === undefined) return undefined
  return { upgradeProtocols, allowedOrigins, requireOrigin }
}
