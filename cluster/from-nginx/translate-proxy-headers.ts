import type { RouteHeadersOptions } from '../../plugin/index.js'
import { isProxyOwnedHeader, PROXY_OWNED_HEADERS_TEXT, TEMPLATE_VARIABLES, TEMPLATE_VARIABLES_TEXT } from '../../plugin/internal.js'
import { directiveText, type NginxDirective } from './nginx-parser.js'
import { plainVariables, soleVariable, variablesIn } from './nginx-values.js'
import type { TranslationState } from './translation-state.js'

/** What one `proxy_set_header` becomes in ws-cluster. */
export type HeaderAction =
  | { kind: 'built in' }
  | { kind: 'set', name: string, value: string }
  | { kind: 'remove', name: string }
  | { kind: 'preserve-host-off' }
  | { kind: 'not translated' }

export interface HeaderEntry {
  /** Lower-cased header name. */
  name: string
  /** The value as written in nginx (empty means "do not send"). */
  value: string
  directive: NginxDirective
  action: HeaderAction
}

/** The variables the `headers` route option understands (besides `$http_<name>`): the plugin's own list. */
const SUPPORTED_VARIABLES = new Set<string>(TEMPLATE_VARIABLES)
const FORWARDED = 'forwardedHeaders (default true) sends X-Forwarded-For, X-Real-IP, X-Forwarded-Proto and X-Forwarded-Host itself'

/** Per header name: values that are exactly what ws-cluster already does, and what to say about them. */
const BUILT_IN_VALUES: Record<string, { values: readonly string[], why: string }> = {
  'x-real-ip': { values: ['$remote_addr'], why: FORWARDED },
  'x-forwarded-for': { values: ['$proxy_add_x_forwarded_for'], why: FORWARDED },
  'x-forwarded-proto': { values: ['$scheme'], why: FORWARDED },
  'x-forwarded-host': { values: ['$host', '$http_host'], why: FORWARDED }
}

function unsupportedVariables (value: string): string[] {
  // nginx variable names ignore case, as the headers option does.
  return variablesIn(value).filter(name => !SUPPORTED_VARIABLES.has(name.toLowerCase()) && !/^http_./i.test(name))
}

function setOrRemove (state: TranslationState, directive: NginxDirective, name: string, value: string): HeaderAction {
  const { notes } = state
  if (value === '') {
    notes.mark(directive, 'translated')
    return { kind: 'remove', name }
  }
  const unsupported = unsupportedVariables(value)
  if (unsupported.length > 0) {
    notes.notTranslated(directive, `uses ${unsupported.map(v => `$${v}`).join(', ')}; route headers can use literals and ${TEMPLATE_VARIABLES_TEXT}`)
    return { kind: 'not translated' }
  }
  notes.mark(directive, 'translated')
  return { kind: 'set', name, value: plainVariables(value) }
}

function classify (state: TranslationState, directive: NginxDirective, name: string, lower: string, value: string): HeaderAction {
  const { notes } = state
  const builtIn = (why: string): HeaderAction => {
    notes.mark(directive, 'built in')
    notes.note(directive.line, `${directiveText(directive)} — built in: ${why}; nothing to write`)
    return { kind: 'built in' }
  }
  const variable = soleVariable(value)
  if (lower === 'upgrade') return builtIn('ws-cluster forwards the client\'s Upgrade header on every WebSocket upgrade')
  if (lower === 'connection') {
    if (value === '') {
      return builtIn('ws-cluster sets Connection itself: "upgrade" on WebSocket upgrades and pooled keep-alive (the `keepalive` of the upstream) for plain HTTP. ' +
        'nginx\'s empty Connection only enables that pooling, and without "upgrade" it stops WebSockets')
    }
    if (variable !== null && !state.upgradeMapVariables.has(variable)) {
      notes.warn(directive.line, `$${variable} is not defined by a "map $http_upgrade $${variable}" in this file (an include that was not followed?); ws-cluster's built-in Connection handling is used`)
    }
    return builtIn('ws-cluster sends "Connection: upgrade" on WebSocket upgrades (the `map $http_upgrade` idiom is built in)')
  }
  if (isProxyOwnedHeader(lower)) {
    if (lower.startsWith('sec-websocket-') && variable === `http_${lower.replaceAll('-', '_')}`) {
      return builtIn(`ws-cluster forwards the client's ${name} on every WebSocket upgrade as it came`)
    }
    notes.notTranslated(directive, `${PROXY_OWNED_HEADERS_TEXT} (ws-cluster writes them itself), so a route cannot set or remove ${name}`)
    return { kind: 'not translated' }
  }
  if (lower === 'host') {
    if (variable === 'host' || variable === 'http_host') {
      return builtIn('preserveHost (default true) sends the client\'s Host header as the client sent it')
    }
    if (variable === 'proxy_host') {
      notes.mark(directive, 'translated')
      notes.note(directive.line, `${directiveText(directive)} → "preserveHost": false: ws-cluster then sends the chosen server's host:port (nginx sent the proxy_pass host, an upstream's name for a group)`)
      return { kind: 'preserve-host-off' }
    }
    if (value === '') {
      notes.notTranslated(directive, 'an HTTP/1.1 request needs a Host header; ws-cluster always sends one (preserveHost)')
      return { kind: 'not translated' }
    }
    return setOrRemove(state, directive, name, value)
  }
  const known = BUILT_IN_VALUES[lower]
  if (known !== undefined && known.values.includes(plainVariables(value))) return builtIn(known.why)
  return setOrRemove(state, directive, name, value)
}

/**
 * Classifies one `proxy_set_header NAME VALUE` once, where it is written
 * (notes go to its line even when many locations inherit it): built into
 * ws-cluster, a `headers.set`/`headers.remove` entry, `preserveHost: false`,
 * or not translatable.
 */
export function classifyHeader (state: TranslationState, directive: NginxDirective): HeaderEntry | null {
  if (directive.args.length !== 2) {
    state.notes.notTranslated(directive, 'proxy_set_header takes exactly a header name and a value')
    return null
  }
  const [name, value] = directive.args.map(a => a.value)
  const lower = name.toLowerCase()
  return { name: lower, value, directive, action: classify(state, directive, name, lower, value) }
}

/** The route options the effective header list adds: `headers` and `preserveHost: false`. */
export function routeHeaderOptions (entries: readonly HeaderEntry[]): { headers?: RouteHeadersOptions, preserveHost?: false } {
  const set: Record<string, string> = {}
  const remove: string[] = []
  let preserveHost: false | undefined
  for (const { action } of entries) {
    if (action.kind === 'set') set[action.name] = action.value
    else if (action.kind === 'remove' && !remove.includes(action.name)) remove.push(action.name)
    else if (action.kind === 'preserve-host-off') preserveHost = false
  }
  const headers: RouteHeadersOptions = {}
  if (Object.keys(set).length > 0) headers.set = set
  if (remove.length > 0) headers.remove = remove
  return {
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...(preserveHost === false ? { preserveHost } : {})
  }
}

/**
 * Points out, for one location, the header settings whose nginx defaults
 * differ from ws-cluster's: WebSockets that nginx never passed on (no
 * Upgrade/Connection), the Host nginx sent when none was set, and the
 * client address headers ws-cluster adds.
 */
export function reportHeaderDefaults (state: TranslationState, entries: readonly HeaderEntry[], line: number, where: string): void {
  const has = (name: string): HeaderEntry | undefined => entries.find(e => e.name === name)
  const upgrade = has('upgrade')
  const connection = has('connection')
  const connectionVariable = connection === undefined ? null : soleVariable(connection.value)
  const upgrades = connection !== undefined && (/upgrade/i.test(connection.value) || (connectionVariable !== null && state.upgradeMapVariables.has(connectionVariable)))
  const missing = [upgrade === undefined || upgrade.value === '' ? 'Upgrade' : null, upgrades ? null : 'Connection "upgrade"']
    .filter((m): m is string => m !== null)
  if (missing.length > 0) {
    state.notes.warn(line, `${where} does not forward ${missing.join(' or ')} (proxy_set_header), so nginx never passed WebSocket upgrades here; ws-cluster does (built in)`)
  }
  if (has('host') === undefined) {
    state.notes.note(line, `${where} sets no Host, so nginx sent "Host: $proxy_host" (the proxy_pass host); ws-cluster sends the client's Host (preserveHost: true); set "preserveHost": false if the backend needs the old one`)
  }
  if (has('x-forwarded-for') === undefined && has('x-real-ip') === undefined) {
    state.notes.note(line, `${where} sent neither X-Forwarded-For nor X-Real-IP under nginx; ws-cluster adds them (forwardedHeaders: true), so the backend sees the client address`)
  }
}
