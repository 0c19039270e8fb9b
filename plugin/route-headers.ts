import type { IncomingMessage } from 'node:http'
import type { HeaderTemplate, ResolvedRouteHeaders } from './options/header-template.js'

/*
 * The `headers` route option at request time, for the upgrade request
 * (a rawHeaders-style list) and for plain-HTTP passthrough (a header
 * object) alike. Values were compiled at registration; here they are only
 * concatenated from what the request already holds.
 */

/** What a request offers to the variables of a header value. */
export interface HeaderVariableSource {
  req: IncomingMessage
  /** `$remote_addr`: the client address ws-cluster uses (the PROXY protocol source when trusted). */
  clientAddress: string
  /** `$scheme`: https when the client's connection is TLS. */
  encrypted: boolean
}

/**
 * nginx's `$host`: the Host header without its port, lower-cased (`[::1]`
 * keeps its brackets); empty without a Host, as nginx with no server_name.
 */
function hostWithoutPort (host: string | undefined): string {
  if (host === undefined) return ''
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.lastIndexOf(':')
  return (end <= 0 ? host : host.slice(0, end)).toLowerCase()
}

/** A request header as nginx's `$http_<name>` gives it: every copy joined, empty when absent. */
function headerValue (req: IncomingMessage, lower: string): string {
  const value = req.headers[lower]
  if (value === undefined) return ''
  return Array.isArray(value) ? value.join(', ') : value
}

/** The value of a compiled header value for one request. */
export function renderTemplate (template: HeaderTemplate, source: HeaderVariableSource): string {
  let out = ''
  for (const part of template.parts) {
    if (typeof part === 'string') out += part
    else if ('header' in part) out += headerValue(source.req, part.header)
    else if (part.variable === 'host') out += hostWithoutPort(source.req.headers.host)
    // The port the client connected to; a socket handed over by the cluster primary keeps its accepted address.
    else if (part.variable === 'server_port') out += String(source.req.socket.localPort ?? '')
    else if (part.variable === 'remote_addr') out += source.clientAddress
    else if (part.variable === 'scheme') out += source.encrypted ? 'https' : 'http'
    else out += source.req.url ?? ''
  }
  return out
}

/** The Host to send: a `set` Host when it has a value for this request, else the built-in one (preserveHost). */
export function routeHost (rules: ResolvedRouteHeaders | null, builtIn: string, source: HeaderVariableSource): string {
  if (rules === null || rules.host === null) return builtIn
  const value = renderTemplate(rules.host, source)
  return value === '' ? builtIn : value
}

/**
 * Appends the route's `set` and `append` headers to a rawHeaders-style list
 * (name, value, ...). The caller has already left out every name in
 * `rules.replaced`; a value that comes out empty is not sent (nginx).
 */
export function pushRouteHeaders (out: string[], rules: ResolvedRouteHeaders, source: HeaderVariableSource): void {
  for (const rule of rules.set) {
    const value = renderTemplate(rule.value, source)
    if (value !== '') out.push(rule.name, value)
  }
  for (const rule of rules.append) {
    const value = renderTemplate(rule.value, source)
    if (value !== '') out.push(rule.name, value)
  }
}

/**
 * Applies the route's headers to a header object with lower-cased names
 * (what @fastify/reply-from hands to `rewriteRequestHeaders`), after the
 * built-in Host and forwarded headers were put in.
 */
export function applyRouteHeaders (headers: Record<string, string | string[] | undefined>, rules: ResolvedRouteHeaders, source: HeaderVariableSource): void {
  for (const lower of rules.replaced) delete headers[lower]
  if (rules.host !== null) headers.host = routeHost(rules, headers.host as string, source)
  for (const rule of rules.set) {
    const value = renderTemplate(rule.value, source)
    if (value !== '') headers[rule.lower] = value
  }
  for (const rule of rules.append) {
    const value = renderTemplate(rule.value, source)
    if (value === '') continue
    const existing = headers[rule.lower]
    headers[rule.lower] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value]
  }
}
