import { reasonFor } from './directive-reasons.js'
import { walkDirectives, type NginxDirective } from './nginx-parser.js'
import { applyProxyDirective, childScope, reportShadowedHeaders, type ProxyScope } from './proxy-settings.js'
import { translateLimitDirective } from './translate-limits.js'
import { collectListenDirective, emptyListenDirectives, translateListenDirectives, type ListenDirectives } from './translate-listen.js'
import { locationMatch, translateLocation, type LocationIndex } from './translate-location.js'
import type { TranslationState } from './translation-state.js'

/** What a server inherits from the http level. */
export interface HttpLevel {
  scope: ProxyScope
  listen: ListenDirectives
}

/** True when some location in the server proxies: only such a server has anything for ws-cluster. */
export function serverProxies (server: NginxDirective): boolean {
  return [...walkDirectives(server.block ?? [])].some(d => d.name === 'proxy_pass')
}

function locationIndex (server: NginxDirective): LocationIndex {
  const index: LocationIndex = { exact: new Set(), prefix: new Set() }
  for (const directive of walkDirectives(server.block ?? [])) {
    if (directive.name !== 'location') continue
    const match = locationMatch(directive)
    if (match.ok) (match.exact ? index.exact : index.prefix).add(match.path)
  }
  return index
}

function listenText (server: NginxDirective): string {
  const listens = (server.block ?? []).filter(d => d.name === 'listen').map(d => d.args.map(a => a.value).join(' '))
  return listens.length === 0 ? 'no listen' : `listen ${listens.join(', ')}`
}

/**
 * Reports a server block that is not translated: ws-cluster has one
 * listener, so only the first server that proxies anything becomes the
 * config; the others are named here with why.
 */
export function reportSkippedServer (state: TranslationState, server: NginxDirective, chosen: NginxDirective | null): void {
  if (!serverProxies(server)) {
    const inside = [...new Set((server.block ?? []).map(d => d.name))].join(', ')
    state.notes.notTranslated(server, `this server (${listenText(server)}) proxies nothing (it has ${inside === '' ? 'nothing' : inside}); ` +
      'ws-cluster only proxies (a redirect to https or static files belong in the `app` plugin or in front of ws-cluster)')
    return
  }
  const paths = [...walkDirectives(server.block ?? [])].filter(d => d.name === 'location').map(d => d.args.map(a => a.value).join(' '))
  state.notes.notTranslated(server, `ws-cluster has one listener per cluster and the server on line ${chosen?.line ?? '?'} was translated; ` +
    `this one (${listenText(server)}; locations ${paths.join(', ')}) needs a config of its own: cut it into a file of its own and run from-nginx on that`)
}

/**
 * Translates the chosen server block: its listen (with TLS and PROXY
 * protocol), its proxy settings (inherited by its locations) and its
 * locations, into `state`.
 */
export function translateServer (state: TranslationState, server: NginxDirective, http: HttpLevel): void {
  const scope = childScope(http.scope)
  const own = emptyListenDirectives()
  const locations: NginxDirective[] = []
  for (const child of server.block ?? []) {
    if (child.name === 'location') locations.push(child)
    else if (collectListenDirective(child, own)) continue
    else if (applyProxyDirective(state, scope, child)) continue
    else if (translateLimitDirective(state, child, 'server')) continue
    else if (child.name === 'real_ip_recursive') state.notes.notTranslated(child, 'ws-cluster takes the address of the PROXY header; there is no chain of addresses to walk')
    else state.notes.notTranslated(child, reasonFor(child.name))
  }
  state.notes.mark(server, 'translated')
  translateListenDirectives(state, own, http.listen, server.line)
  reportShadowedHeaders(state, scope, server.line, 'the server')
  const index = locationIndex(server)
  for (const location of locations) translateLocation(state, location, scope, index)
}
