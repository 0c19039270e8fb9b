import type { IncomingMessage } from 'node:http'
import type { ResolvedHashKey } from '../options/options-types.js'

/**
 * The value a `hash` group hashes for one request, per its `hashKey`:
 * `remote-addr` → the client address; `header:NAME` → the first `NAME`
 * header; `query:NAME` → the `NAME` query parameter; `cookie:NAME` → the
 * `NAME` cookie. Missing → '' (which the balancer sends round-robin).
 *
 * Values are taken raw, not percent-decoded, and query and cookie names
 * match case-insensitively, as nginx's `$arg_NAME` and `$cookie_NAME` do —
 * so a key maps to the same server as behind nginx.
 *
 * @example
 * hashKeyOf({ source: 'cookie', name: 'sid' }, req, '127.0.0.1') // 'abc' for `Cookie: sid=abc`
 */
export function hashKeyOf (key: ResolvedHashKey, req: IncomingMessage, clientAddress: string): string {
  switch (key.source) {
    case 'remote-addr': return clientAddress
    case 'header': return firstHeader(req, key.name)
    case 'query': return queryParam(req.url ?? '', key.name)
    case 'cookie': return cookieValue(req.headers.cookie, key.name)
  }
}

/** First occurrence on the wire: Node joins repeated headers with ', ', which would change the key. */
function firstHeader (req: IncomingMessage, name: string): string {
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (equalsIgnoreCase(raw[i], name)) return raw[i + 1]
  }
  const value = req.headers[name.toLowerCase()]
  if (Array.isArray(value)) return value[0] ?? ''
  return value ?? ''
}

/** `NAME=value` in the query of a request target; the first match wins. */
export function queryParam (target: string, name: string): string {
  const start = target.indexOf('?')
  if (start === -1) return ''
  const hash = target.indexOf('#', start)
  const end = hash === -1 ? target.length : hash
  return findPair(target, start + 1, end, '&', name)
}

/** `NAME=value` in a Cookie header (several Cookie headers arrive joined by '; '). */
export function cookieValue (header: string | undefined, name: string): string {
  if (header === undefined) return ''
  return findPair(header, 0, header.length, ';', name)
}

function findPair (text: string, from: number, to: number, separator: string, name: string): string {
  let pos = from
  while (pos < to) {
    let next = text.indexOf(separator, pos)
    if (next === -1 || next > to) next = to
    while (pos < next && text.charCodeAt(pos) === 32) pos++ // cookie pairs follow '; '
    const eq = text.indexOf('=', pos)
    if (eq !== -1 && eq < next && eq - pos === name.length &&
        equalsIgnoreCase(text.slice(pos, eq), name)) {
      return text.slice(eq + 1, next).trim()
    }
    pos = next + 1
  }
  return ''
}

function equalsIgnoreCase (a: string, b: string): boolean {
  return a.length === b.length && (a === b || a.toLowerCase() === b.toLowerCase())
}
