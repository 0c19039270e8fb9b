import type { IncomingMessage } from 'node:http'
import { connectionTokens, isHopByHop } from '../hop-by-hop.js'
import { FORWARDED_NAMES, forwardedValues } from '../client-identity.js'
import type { ResolvedRoute, ResolvedServer } from '../options/options-types.js'
import { pushRouteHeaders, routeHost } from '../route-headers.js'

/** The identity headers as sent upstream: name as written, key in {@link forwardedValues}. */
const FORWARDED_ORDER = [
  ['X-Forwarded-For', 'x-forwarded-for'], ['X-Real-IP', 'x-real-ip'], ['X-Forwarded-Proto', 'x-forwarded-proto'], ['X-Forwarded-Host', 'x-forwarded-host']
] as const

export interface UpstreamHeaderContext {
  route: ResolvedRoute
  server: ResolvedServer
  clientAddress: string
  encrypted: boolean
}

/**
 * `host:port` of an upstream server as a Host header value (IPv6 in brackets,
 * default ports omitted); a server found through DNS goes by its name.
 */
export function upstreamHostHeader (server: ResolvedServer): string {
  const name = server.dns?.hostname ?? server.host
  const host = name.includes(':') ? `[${name}]` : name
  const defaultPort = server.protocol === 'https:' ? 443 : 80
  return server.port === defaultPort ? host : `${host}:${server.port}`
}

/**
 * The header list (rawHeaders layout: name, value, name, value...) of the
 * upgrade request sent upstream. Client headers keep their order, case and
 * duplicates (R5: the whole Sec-WebSocket-* offer passes unmodified); hop-by-hop
 * headers are dropped (R6); Host follows `preserveHost` (R31); identity headers
 * are set per R30; the route's `headers` replace, remove and add to all of
 * these (R51-R54); `Upgrade` carries the client's value and `Connection` is
 * exactly `upgrade`.
 */
export function buildUpgradeRequestHeaders (req: IncomingMessage, ctx: UpstreamHeaderContext): string[] {
  const raw = req.rawHeaders
  const tokens = connectionTokens(raw)
  const { forwardedHeaders: forwarded, headers: rules } = ctx.route
  const replaced = rules?.replaced
  const source = { req, clientAddress: ctx.clientAddress, encrypted: ctx.encrypted }
  const builtInHost = ctx.route.preserveHost && req.headers.host !== undefined ? req.headers.host : upstreamHostHeader(ctx.server)
  const out: string[] = ['Host', routeHost(rules, builtInHost, source)]
  let upgrade = ''
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    if (name === 'upgrade') {
      upgrade = raw[i + 1]
      continue
    }
    if (name === 'host' || isHopByHop(name, tokens) || (forwarded && FORWARDED_NAMES.has(name)) || replaced?.has(name) === true) continue
    out.push(raw[i], raw[i + 1])
  }
  if (forwarded) {
    const values = forwardedValues(req, ctx.clientAddress, ctx.encrypted)
    for (const [name, key] of FORWARDED_ORDER) {
      const value = values[key]
      if (value !== undefined && replaced?.has(key) !== true) out.push(name, value)
    }
  }
  if (rules !== null) pushRouteHeaders(out, rules, source)
  out.push('Upgrade', upgrade, 'Connection', 'upgrade')
  return out
}
