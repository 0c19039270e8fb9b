import type { ResolvedRoute } from './options/options-types.js'

/**
 * The request target sent upstream for `target` (path, and query if any) on
 * `route`: unchanged without `upstreamPath`; with it, the part the route
 * matched (`/ws` of an exact route, `/ws/` of `/ws/*`) is replaced by
 * `upstreamPath` and the rest, query included, is appended as it came —
 * plain concatenation, as nginx's `proxy_pass http://b/uri` does (R55).
 * Null when `target` does not begin with the matched part, which only a
 * router that normalizes paths (case, duplicate slashes) lets through.
 *
 * @example
 * upstreamTarget({ path: '/ws/*', prefix: '/ws/', upstreamPath: '/', ... }, '/ws/chat?x=1') // '/chat?x=1'
 */
export function upstreamTarget (route: Pick<ResolvedRoute, 'path' | 'prefix' | 'upstreamPath'>, target: string): string | null {
  if (route.upstreamPath === null) return target
  const matched = route.prefix ?? route.path
  if (!target.startsWith(matched)) return null
  return route.upstreamPath + target.slice(matched.length)
}
