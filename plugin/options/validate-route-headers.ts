import { compileHeaderTemplate, TEMPLATE_VARIABLES_TEXT, type HeaderTemplate, type ResolvedRouteHeaders, type RouteHeaderRule } from './header-template.js'
import { checkObject, checkRecord, got, indexPath, keyPath, type Problems } from './option-checks.js'

/*
 * The route options that shape the request sent upstream: `headers`
 * (nginx `proxy_set_header`) and `upstreamPath` (the URI part of
 * `proxy_pass http://b/uri`). Their own file, so the route validator only
 * gains two calls.
 */

const HEADERS_KEYS = ['set', 'append', 'remove'] as const

/**
 * Headers the proxy writes itself on every upgrade (R5, R6): a route that
 * could change them could break the handshake or the framing of the request.
 */
const OWNED = new Set(['upgrade', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'proxy-connection', 'content-length'])
/** The headers a route cannot touch, as error messages name them. */
export const PROXY_OWNED_HEADERS_TEXT = 'Upgrade, Connection, Sec-WebSocket-* and the hop-by-hop headers Keep-Alive, TE, Trailer, Transfer-Encoding, ' +
  'Proxy-Connection and Content-Length belong to the proxy'
// RFC 9110 §5.6.2 token: what Node's HTTP client accepts as a header name.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** True for a (lower-cased) header name that only the proxy writes; from-nginx asks too. */
export function isProxyOwnedHeader (lower: string): boolean {
  return OWNED.has(lower) || lower.startsWith('sec-websocket-')
}

/** Checks a header name used in `set`, `append` or `remove`; its lower-cased form when it is usable. */
function checkName (name: unknown, path: string, operation: 'set' | 'append' | 'remove', problems: Problems): string | undefined {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    problems.push({ path, message: got(name, 'a header name (letters, digits and !#$%&\'*+-.^_`|~)') })
    return undefined
  }
  const lower = name.toLowerCase()
  if (isProxyOwnedHeader(lower)) {
    problems.push({ path, message: got(name, `a header the proxy does not own: ${PROXY_OWNED_HEADERS_TEXT}, so a route cannot ${operation} them`) })
    return undefined
  }
  if (lower === 'host' && operation !== 'set') {
    problems.push({ path, message: got(name, `not Host here: a request carries exactly one Host, so it can be set (or chosen with preserveHost) but not ${operation === 'append' ? 'appended' : 'removed'}`) })
    return undefined
  }
  return lower
}

function checkValue (value: unknown, path: string, problems: Problems): HeaderTemplate | undefined {
  const allowed = `literal text and the variables ${TEMPLATE_VARIABLES_TEXT}`
  if (typeof value !== 'string') {
    problems.push({ path, message: got(value, `a string: ${allowed}`) })
    return undefined
  }
  const compiled = compileHeaderTemplate(value)
  if (typeof compiled !== 'string') return compiled
  problems.push({ path, message: `${got(value, allowed)}; ${compiled}` })
  return undefined
}

function resolveRules (value: unknown, path: string, operation: 'set' | 'append', problems: Problems): RouteHeaderRule[] {
  if (value === undefined || !checkRecord(value, path, 'an object of header name → value, e.g. { "X-Tenant": "$http_x_tenant" }', problems)) return []
  const rules: RouteHeaderRule[] = []
  const seen = new Map<string, string>()
  for (const [name, raw] of Object.entries(value)) {
    const where = keyPath(path, name)
    const lower = checkName(name, where, operation, problems)
    const template = checkValue(raw, where, problems)
    if (lower === undefined || template === undefined) continue
    if (lower === 'host' && template.parts.length === 0) {
      problems.push({ path: where, message: got(raw, 'a Host value that is not empty: an HTTP/1.1 request needs one') })
      continue
    }
    const first = seen.get(lower)
    if (first !== undefined) {
      problems.push({ path: where, message: got(name, `each header once (header names ignore case; "${first}" is already in ${path})`) })
      continue
    }
    seen.set(lower, name)
    rules.push({ name, lower, value: template })
  }
  return rules
}

function resolveRemove (value: unknown, path: string, problems: Problems): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) {
    problems.push({ path, message: got(value, 'an array of header names, e.g. ["X-Powered-By"]') })
    return []
  }
  const names: string[] = []
  value.forEach((name, i) => {
    const lower = checkName(name, indexPath(path, i), 'remove', problems)
    if (lower !== undefined && !names.includes(lower)) names.push(lower)
  })
  return names
}

/**
 * `routes[i].headers`: `{ set?, append?, remove? }`, resolved with every
 * value compiled; null when it changes nothing. A name may not be both
 * removed and set or appended (which one would win is a guess).
 */
export function resolveRouteHeaders (value: unknown, path: string, problems: Problems): ResolvedRouteHeaders | null {
  if (value === undefined) return null
  if (!checkObject(value, path, HEADERS_KEYS, problems, 'an object { set?, append?, remove? }')) return null
  const set = resolveRules(value.set, keyPath(path, 'set'), 'set', problems)
  const append = resolveRules(value.append, keyPath(path, 'append'), 'append', problems)
  const remove = resolveRemove(value.remove, keyPath(path, 'remove'), problems)
  for (const rule of [...set, ...append]) {
    if (!remove.includes(rule.lower)) continue
    const operation = set.includes(rule) ? 'set' : 'append'
    problems.push({ path: keyPath(keyPath(path, operation), rule.name), message: got(rule.name, `a header that is not also in ${keyPath(path, 'remove')}`) })
  }
  if (set.length + append.length + remove.length === 0) return null
  const host = set.find(rule => rule.lower === 'host')
  const others = set.filter(rule => rule !== host)
  return {
    set: others,
    append,
    replaced: new Set([...others.map(rule => rule.lower), ...remove]),
    host: host?.value ?? null
  }
}

const UPSTREAM_PATH_ALLOWED = 'a path starting with "/", without "?" or "#", URL-encoded (no spaces or control characters), e.g. "/" or "/socket"'

/**
 * `routes[i].upstreamPath`: what replaces the matched part of the path
 * upstream (nginx `proxy_pass http://b/uri`); null when not set. Dot
 * segments are refused: the backend would resolve them out of the path.
 */
export function resolveUpstreamPath (value: unknown, path: string, problems: Problems): string | null {
  if (value === undefined) return null
  if (typeof value !== 'string' || !value.startsWith('/') || /[^\x21-\x7e]/.test(value)) {
    problems.push({ path, message: got(value, UPSTREAM_PATH_ALLOWED) })
    return null
  }
  const bad = ['?', '#'].find(c => value.includes(c))
  if (bad !== undefined) {
    problems.push({ path, message: got(value, `${UPSTREAM_PATH_ALLOWED}; the query of the request is kept, so "${bad}" has no place here`) })
    return null
  }
  if (value.split('/').some(segment => segment === '.' || segment === '..')) {
    problems.push({ path, message: got(value, `${UPSTREAM_PATH_ALLOWED}, without "." or ".." segments`) })
    return null
  }
  return value
}
