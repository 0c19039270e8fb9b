import type { IncomingMessage } from 'node:http'
import { connectionTokens, isHopByHop } from '../hop-by-hop.js'
import { FORWARDED_NAMES, forwardedValues } from '../client-identity.js'
import type { ResolvedRoute, ResolvedServer } from '../options/options-types.js'

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
 * are set per R30; `Upgrade` carries the client's value and `Connection` is
 * exactly `upgrade`.
 */
export function buildUpgradeRequestHeaders (req: IncomingMessage, ctx: UpstreamHeaderContext): string[] {
  const raw = req.rawHeaders
  const tokens = connectionTokens(raw)
  const forwarded = ctx.route.forwardedHeaders
  const host = ctx.route.preserveHost && req.headers.host !== undefined ? req.headers.host : upstreamHostHeader(ctx.server)
  const out: string[] = ['Host', host]
  let upgrade = ''
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    if (name === 'upgrade') {
      upgrade = raw[i + 1]
      continue
    }
    if (name === 'host' || isHopByHop(name, tokens) || (forwarded && FORWARDED_NAMES.has(name))) continue
    out.push(raw[i], raw[i + 1])
  }
  if (forwarded) {
    const values = forwardedValues(req, ctx.clientAddress, ctx.encrypted)
    out.push('X-Forwarded-For', values['x-forwarded-for'], 'X-Real-IP', values['x-real-ip'],
      'X-Forwarded-Proto', values['x-forwarded-proto'])
    if (values['x-forwarded-host'] !== undefined) out.push('X-Forwarded-Host', values['x-forwarded-host'])
  }
  out.push('Upgrade', upgrade, 'Connection', 'upgrade')
  return out
}
