import { isAbsolute } from 'node:path'
import type { ListenOptions } from '../config/config-types.js'
import { parseListenAddress } from './nginx-addresses.js'
import { directiveText, type NginxDirective } from './nginx-parser.js'
import type { TranslationState } from './translation-state.js'

/**
 * The directives of a server that make up ws-cluster's `listen`: `listen`,
 * `ssl_certificate`/`ssl_certificate_key` (which may come from the http
 * level), and `set_real_ip_from`/`real_ip_header` for the PROXY protocol.
 */
export interface ListenDirectives {
  listens: NginxDirective[]
  certificates: NginxDirective[]
  keys: NginxDirective[]
  sslOn: NginxDirective | null
  realIpFrom: NginxDirective[]
  realIpHeader: NginxDirective | null
}

/** Nothing collected yet: a level (http or server) starts with this. */
export function emptyListenDirectives (): ListenDirectives {
  return { listens: [], certificates: [], keys: [], sslOn: null, realIpFrom: [], realIpHeader: null }
}

/** Files these directives into `into`; false when the directive is none of them. */
export function collectListenDirective (directive: NginxDirective, into: ListenDirectives): boolean {
  switch (directive.name) {
    case 'listen': into.listens.push(directive); return true
    case 'ssl_certificate': into.certificates.push(directive); return true
    case 'ssl_certificate_key': into.keys.push(directive); return true
    case 'ssl': into.sslOn = directive; return true
    case 'set_real_ip_from': into.realIpFrom.push(directive); return true
    case 'real_ip_header': into.realIpHeader = directive; return true
    default: return false
  }
}

const PARAMETER_REASONS: Record<string, string> = {
  http2: 'ws-cluster talks HTTP/1.1 to clients',
  quic: 'ws-cluster talks HTTP/1.1 over TCP to clients',
  default_server: 'ws-cluster has no virtual hosts, so every request reaches its routes',
  default: 'ws-cluster has no virtual hosts, so every request reaches its routes',
  reuseport: 'the ws-cluster primary accepts on one socket and hands each connection to a worker',
  so_keepalive: 'ws-cluster turns TCP keep-alive on for every tunnel by itself'
}

function translateListen (state: TranslationState, listen: NginxDirective, others: NginxDirective[]): { listen: ListenOptions, ssl: boolean } | null {
  const address = parseListenAddress(listen.args[0]?.value ?? '')
  if (!address.ok) {
    state.notes.notTranslated(listen, address.reason)
    return null
  }
  state.notes.mark(listen, 'translated')
  const options: ListenOptions = { port: address.value.port, ...(address.value.host === null ? {} : { host: address.value.host }) }
  let ssl = false
  for (const arg of listen.args.slice(1)) {
    const name = arg.value.split('=')[0]
    if (arg.value === 'ssl') ssl = true
    else if (arg.value === 'proxy_protocol') options.proxyProtocol = true
    else state.notes.add('not translated', listen.line, `listen parameter "${arg.value}" — ${PARAMETER_REASONS[name] ?? 'a socket option ws-cluster does not set'}`)
  }
  for (const other of others) {
    const more = parseListenAddress(other.args[0]?.value ?? '')
    // `listen 80; listen [::]:80;` is one dual-stack listener in Node.
    if (more.ok && more.value.port === options.port && more.value.host === '::' && options.host === undefined) {
      options.host = '::'
      state.notes.mark(other, 'translated')
      state.notes.note(other.line, `${directiveText(other)} with ${directiveText(listen)} → host "::", which accepts IPv4 and IPv6 on one socket`)
      continue
    }
    state.notes.notTranslated(other, `ws-cluster listens on one address and port; the listen on line ${listen.line} is used`)
  }
  return { listen: options, ssl }
}

function translateTls (state: TranslationState, own: ListenDirectives, inherited: ListenDirectives, listen: ListenOptions, ssl: boolean, serverLine: number): void {
  const certificates = own.certificates.length > 0 ? own.certificates : inherited.certificates
  const keys = own.keys.length > 0 ? own.keys : inherited.keys
  const sslOn = own.sslOn ?? inherited.sslOn
  if (sslOn !== null) {
    if (sslOn.args[0]?.value === 'on') ssl = true
    state.notes.mark(sslOn, 'translated')
  }
  const unused = [...certificates.slice(1), ...keys.slice(1)]
  for (const extra of unused) state.notes.notTranslated(extra, 'ws-cluster takes one certificate and key; the first ones are used')
  const [cert, key] = [certificates[0], keys[0]]
  if (!ssl) {
    for (const directive of [cert, key]) if (directive !== undefined) state.notes.notTranslated(directive, 'no "listen ... ssl" in this server, so nginx did not use it either')
    return
  }
  if (cert === undefined || key === undefined) {
    state.notes.warn(serverLine, 'the server listens with ssl but has no ssl_certificate and ssl_certificate_key; without them ws-cluster serves plain HTTP (ws://)')
    return
  }
  const paths = [cert, key].map(d => d.args[0]?.value ?? '')
  if (paths.some(p => p.includes('$'))) {
    for (const directive of [cert, key]) state.notes.notTranslated(directive, 'a certificate path built from variables (one per SNI name); ws-cluster loads one fixed certificate')
    return
  }
  listen.tls = { cert: paths[0], key: paths[1] }
  state.notes.mark(cert, 'translated')
  state.notes.mark(key, 'translated')
  if (paths.some(p => !isAbsolute(p))) {
    state.notes.warn(cert.line, 'relative certificate paths: nginx reads them from its configuration folder, ws-cluster from the folder of its config file; check listen.tls')
  }
}

function translateRealIp (state: TranslationState, own: ListenDirectives, inherited: ListenDirectives, listen: ListenOptions): void {
  const from = own.realIpFrom.length > 0 ? own.realIpFrom : inherited.realIpFrom
  const header = own.realIpHeader ?? inherited.realIpHeader
  const trusted: string[] = []
  for (const directive of from) {
    const value = directive.args[0]?.value ?? ''
    if (value.startsWith('unix:')) state.notes.notTranslated(directive, 'ws-cluster accepts clients over TCP only')
    else {
      trusted.push(value)
      state.notes.mark(directive, 'translated')
    }
  }
  if (trusted.length > 0) listen.trustedProxies = trusted
  if (header !== null) {
    if (header.args[0]?.value === 'proxy_protocol') state.notes.mark(header, 'translated')
    else {
      state.notes.notTranslated(header, 'ws-cluster takes the client address only from a PROXY protocol header sent by one of listen.trustedProxies, never from a request header')
    }
  }
  if (trusted.length > 0 && listen.proxyProtocol !== true) {
    state.notes.warn(from[0].line, 'listen.trustedProxies only matters with the PROXY protocol ("listen ... proxy_protocol"), which this server does not use')
  }
  if (trusted.length === 0 && listen.proxyProtocol === true) {
    state.notes.note(null, 'listen.proxyProtocol without set_real_ip_from: ws-cluster then believes PROXY headers from loopback only (127.0.0.0/8, ::1)')
  }
}

/**
 * Sets `state.listen` from the chosen server's listen, TLS and real-IP
 * directives (TLS and real-IP ones may be inherited from http).
 */
export function translateListenDirectives (state: TranslationState, own: ListenDirectives, inherited: ListenDirectives, serverLine: number): void {
  const [first, ...rest] = own.listens
  let result: { listen: ListenOptions, ssl: boolean } | null = null
  if (first === undefined) {
    state.notes.note(serverLine, 'the server has no listen: nginx listened on port 80 (8000 when not run as root); ws-cluster\'s default port is 8080, so set listen.port')
  } else {
    result = translateListen(state, first, rest)
  }
  const listen = result?.listen ?? {}
  translateTls(state, own, inherited, listen, result?.ssl ?? false, serverLine)
  translateRealIp(state, own, inherited, listen)
  if (Object.keys(listen).length > 0) state.listen = listen
  const outer = [...inherited.certificates, ...inherited.keys, ...inherited.realIpFrom, inherited.realIpHeader, inherited.sslOn]
  for (const directive of outer) {
    if (directive !== null && !state.notes.outcomes.has(directive)) state.notes.notTranslated(directive, `the server on line ${serverLine} sets its own`)
  }
}
