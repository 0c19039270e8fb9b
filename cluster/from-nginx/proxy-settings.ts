import { directiveText, type NginxDirective } from './nginx-parser.js'
import { formatDuration, parseNginxTime } from './nginx-values.js'
import { classifyHeader, type HeaderEntry } from './translate-proxy-headers.js'
import type { TranslationState } from './translation-state.js'

/*
 * The proxy_* settings a location ends up with. nginx inherits them from
 * http to server to location, each level overriding the one above, except
 * proxy_set_header: a level with any proxy_set_header of its own inherits
 * none of the outer ones, a classic way to lose the Upgrade headers.
 */

export interface TimeSetting {
  ms: number
  directive: NginxDirective
}

export interface ProxyScope {
  httpVersion: NginxDirective | null
  headers: HeaderEntry[]
  /** This level wrote its own proxy_set_header, so the outer ones no longer apply. */
  ownHeaders: boolean
  /** Outer proxy_set_header entries that this level's own ones replaced. */
  shadowed: HeaderEntry[]
  connectTimeout: TimeSetting | null
  readTimeout: TimeSetting | null
  sendTimeout: TimeSetting | null
}

/** Below this, an idle timeout closes WebSockets that a heartbeat every minute or so would not keep open. */
const SHORT_IDLE_MS = 120_000
/** nginx's connect is bounded by the OS (about 75 s); ws-cluster waits the whole configured time. */
const LONG_CONNECT_MS = 75_000

/** The settings of the http level: nginx's defaults, nothing set. */
export function rootScope (): ProxyScope {
  return { httpVersion: null, headers: [], ownHeaders: false, shadowed: [], connectTimeout: null, readTimeout: null, sendTimeout: null }
}

/** A server or location level that starts with everything the enclosing level has. */
export function childScope (parent: ProxyScope): ProxyScope {
  return { ...parent, headers: [...parent.headers], ownHeaders: false, shadowed: [] }
}

function applyTimeout (state: TranslationState, scope: ProxyScope, directive: NginxDirective, key: 'connectTimeout' | 'readTimeout' | 'sendTimeout'): void {
  const ms = directive.args.length === 1 ? parseNginxTime(directive.args[0].value) : null
  if (ms === null) {
    state.notes.notTranslated(directive, 'not an nginx time interval (e.g. 60s, 5m, 1h)')
    return
  }
  if (ms === 0) {
    state.notes.notTranslated(directive, 'a zero timeout; ws-cluster needs a duration above 0 here')
    return
  }
  state.notes.mark(directive, 'translated')
  scope[key] = { ms, directive }
  const text = formatDuration(ms)
  if (key === 'readTimeout' && ms < SHORT_IDLE_MS) {
    state.notes.warn(directive.line, `idleTimeout ${text} closes a WebSocket after ${text} without a message in either direction (nginx's 60 s default is the classic "disconnects every minute"); ` +
      'unless clients or the backend ping more often than that, raise it (ws-cluster\'s default is 1h)')
  }
  if (key === 'connectTimeout' && ms > LONG_CONNECT_MS) {
    state.notes.warn(directive.line, `connectTimeout ${text}: nginx's connect gives up after about 75 s whatever this says, ws-cluster waits the whole ${text} ` +
      'for a server that does not answer before it tries the next one; 5s to 10s is usual')
  }
}

function builtIn (state: TranslationState, directive: NginxDirective, why: string): void {
  state.notes.mark(directive, 'built in')
  state.notes.note(directive.line, `${directiveText(directive)} — built in: ${why}; nothing to write`)
}

function applyHeader (state: TranslationState, scope: ProxyScope, directive: NginxDirective): void {
  const entry = classifyHeader(state, directive)
  if (!scope.ownHeaders) {
    scope.shadowed = scope.headers
    scope.headers = []
    scope.ownHeaders = true
  }
  if (entry !== null) scope.headers.push(entry)
}

function applySwitch (state: TranslationState, directive: NginxDirective, onWhy: string | null, offWhy: string | null, otherwise: string): void {
  const value = directive.args.length === 1 ? directive.args[0].value : ''
  const why = value === 'on' ? onWhy : value === 'off' ? offWhy : null
  if (why === null) state.notes.notTranslated(directive, otherwise)
  else builtIn(state, directive, why)
}

/**
 * Applies one proxy_* directive to `scope` and reports it. Returns false
 * for directives that are not proxy settings this translation knows, which
 * the caller reports.
 */
export function applyProxyDirective (state: TranslationState, scope: ProxyScope, directive: NginxDirective): boolean {
  switch (directive.name) {
    case 'proxy_http_version': {
      const version = directive.args[0]?.value
      scope.httpVersion = directive
      if (version === '1.1') builtIn(state, directive, 'ws-cluster always talks HTTP/1.1 to the upstream')
      else {
        state.notes.mark(directive, 'built in')
        state.notes.warn(directive.line, `${directiveText(directive)}: nginx cannot upgrade an HTTP/${version ?? '?'} request, so WebSockets never passed here; ws-cluster always talks HTTP/1.1 upstream`)
      }
      return true
    }
    case 'proxy_set_header':
      applyHeader(state, scope, directive)
      return true
    case 'proxy_connect_timeout':
      applyTimeout(state, scope, directive, 'connectTimeout')
      return true
    case 'proxy_read_timeout':
      applyTimeout(state, scope, directive, 'readTimeout')
      return true
    case 'proxy_send_timeout':
      applyTimeout(state, scope, directive, 'sendTimeout')
      return true
    case 'proxy_buffering':
      applySwitch(state, directive, null, 'the tunnel never buffers and plain HTTP is streamed', 'ws-cluster never buffers responses (the tunnel copies bytes as they come)')
      return true
    case 'proxy_redirect':
      applySwitch(state, directive, null, 'ws-cluster never rewrites Location or Refresh headers', 'ws-cluster does not rewrite Location or Refresh headers; the backend must send the public URL')
      return true
    case 'proxy_socket_keepalive':
      applySwitch(state, directive, 'TCP keep-alive is on for both sockets of every tunnel', null, 'ws-cluster always turns TCP keep-alive on, so dead peers are found')
      return true
    case 'proxy_next_upstream': {
      const values = directive.args.map(a => a.value)
      if (values.includes('off')) state.notes.notTranslated(directive, 'ws-cluster always tries the next server when a connect fails or times out, before anything reached the client')
      else builtIn(state, directive, 'ws-cluster tries the next server on connect errors and timeouts before anything reached the client, never after the 101 (HTTP status codes are not retried)')
      return true
    }
    default:
      return false
  }
}

/**
 * Says which outer proxy_set_header a level lost by writing its own: nginx
 * inherits them all or none, and the translation follows nginx.
 */
export function reportShadowedHeaders (state: TranslationState, scope: ProxyScope, line: number, where: string): void {
  if (!scope.ownHeaders) return
  const own = new Set(scope.headers.map(e => e.name))
  const lost = scope.shadowed.filter(e => !own.has(e.name))
  if (lost.length === 0) return
  const list = lost.map(e => `${e.directive.args[0].value} (line ${e.directive.line})`).join(', ')
  state.notes.warn(line, `${where} has proxy_set_header lines of its own, so nginx did not send the outer ones here: ${list}; the translation does the same`)
}
