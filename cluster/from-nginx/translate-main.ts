import { reasonFor } from './directive-reasons.js'
import { directiveText, type NginxDirective } from './nginx-parser.js'
import { formatDuration, parseCount, parseNginxTime, soleVariable } from './nginx-values.js'
import { applyProxyDirective, rootScope } from './proxy-settings.js'
import { translateLimitDirective } from './translate-limits.js'
import { collectListenDirective, emptyListenDirectives } from './translate-listen.js'
import { reportSkippedServer, serverProxies, translateServer, type HttpLevel } from './translate-server.js'
import { translateUpstream } from './translate-upstream.js'
import type { TranslationState } from './translation-state.js'

/*
 * The main, events and http contexts. A file that starts with `server` or
 * `upstream` (a conf.d / sites-enabled file that nginx.conf includes inside
 * http) is read as if it were inside http.
 */

/** Directives that only make sense inside http; at the top of a file they mean the file is an included one. */
const HTTP_LEVEL = new Set(['server', 'upstream', 'map', 'limit_conn_zone', 'limit_conn', 'set_real_ip_from', 'real_ip_header',
  'ssl_certificate', 'ssl_certificate_key'])
/** Definitions that other directives refer to, translated before everything else in http. */
const DEFINITIONS = new Set(['map', 'upstream', 'limit_conn_zone'])
const SERVER_ONLY = new Set(['location', 'listen', 'server_name'])

const INCLUDE_WHY = 'not followed: from-nginx reads one file; paste the included file in its place, or translate it on its own'

function translateMap (state: TranslationState, directive: NginxDirective): void {
  const [source, target] = directive.args.map(a => a.value)
  const variable = target === undefined ? null : soleVariable(target)
  if (directive.block !== null && source === '$http_upgrade' && variable !== null && directive.args.length === 2) {
    state.upgradeMapVariables.add(variable)
    state.notes.markTree(directive, 'built in')
    state.notes.note(directive.line, `${directiveText(directive)} { ... } — built in: ws-cluster sends "Connection: upgrade" on WebSocket upgrades itself; nothing to write`)
    return
  }
  state.notes.notTranslated(directive, 'ws-cluster has no variables; only the "map $http_upgrade $connection_upgrade" idiom is recognised (and built in)')
}

function translateHttp (state: TranslationState, directives: readonly NginxDirective[]): void {
  const http: HttpLevel = { scope: rootScope(), listen: emptyListenDirectives() }
  const ordered = [...directives.filter(d => DEFINITIONS.has(d.name)), ...directives.filter(d => !DEFINITIONS.has(d.name))]
  const servers: NginxDirective[] = []
  for (const directive of ordered) {
    if (directive.name === 'server') servers.push(directive)
    else if (directive.name === 'map') translateMap(state, directive)
    else if (directive.name === 'upstream') translateUpstream(state, directive)
    else if (directive.name === 'include') state.notes.notTranslated(directive, INCLUDE_WHY)
    else if (collectListenDirective(directive, http.listen)) continue
    else if (applyProxyDirective(state, http.scope, directive)) continue
    else if (translateLimitDirective(state, directive, 'http')) continue
    else state.notes.notTranslated(directive, reasonFor(directive.name))
  }
  const chosen = servers.find(serverProxies) ?? null
  for (const server of servers) {
    if (server === chosen) translateServer(state, server, http)
    else reportSkippedServer(state, server, chosen)
  }
  if (chosen === null) {
    state.notes.add('not translated', null, 'no server block has a location with proxy_pass, so there is nothing for ws-cluster to route')
    for (const directive of [...http.listen.certificates, ...http.listen.keys, ...http.listen.realIpFrom]) {
      state.notes.notTranslated(directive, 'no server was translated to use it')
    }
  }
}

function translateWorkers (state: TranslationState, directive: NginxDirective): void {
  const value = directive.args[0]?.value
  const count = value === undefined ? null : parseCount(value)
  if (directive.args.length === 1 && value === 'auto') state.workers = 'auto'
  else if (directive.args.length === 1 && count !== null && count >= 1 && count <= 1024) state.workers = count
  else {
    state.notes.notTranslated(directive, 'expected "worker_processes auto" or a count from 1 to 1024')
    return
  }
  state.notes.mark(directive, 'translated')
}

function translateShutdownTimeout (state: TranslationState, directive: NginxDirective): void {
  const ms = directive.args.length === 1 ? parseNginxTime(directive.args[0].value) : null
  if (ms === null) {
    state.notes.notTranslated(directive, 'not an nginx time interval')
    return
  }
  state.shutdownTimeout = formatDuration(ms)
  state.notes.mark(directive, 'translated')
}

/**
 * Translates a parsed nginx file, starting at its main context, into
 * `state`: workers, limits, upstreams, and the first server that proxies.
 */
export function translateMain (state: TranslationState, tree: readonly NginxDirective[]): void {
  const httpDirectives: NginxDirective[] = []
  const topLevelHttp = tree.filter(d => HTTP_LEVEL.has(d.name) || d.name.startsWith('proxy_'))
  if (topLevelHttp.length > 0) {
    state.notes.note(topLevelHttp[0].line, `"${topLevelHttp[0].name}" at the top of the file: read as if inside http { } (as nginx does when nginx.conf includes this file there)`)
  }
  for (const directive of tree) {
    if (topLevelHttp.includes(directive)) httpDirectives.push(directive)
    else if (directive.name === 'http' && directive.block !== null) {
      state.notes.mark(directive, 'translated')
      httpDirectives.push(...directive.block)
    } else if (directive.name === 'events' && directive.block !== null) {
      state.notes.mark(directive, 'translated')
      for (const child of directive.block) {
        if (!translateLimitDirective(state, child, 'events')) state.notes.notTranslated(child, reasonFor(child.name))
      }
    } else if (directive.name === 'worker_processes') translateWorkers(state, directive)
    else if (directive.name === 'worker_shutdown_timeout') translateShutdownTimeout(state, directive)
    else if (directive.name === 'include') state.notes.notTranslated(directive, INCLUDE_WHY)
    else if (SERVER_ONLY.has(directive.name)) state.notes.notTranslated(directive, 'outside a server block; wrap it in "http { server { ... } }"')
    else if (!translateLimitDirective(state, directive, 'main')) state.notes.notTranslated(directive, reasonFor(directive.name))
  }
  translateHttp(state, httpDirectives)
}
