import { isIP } from 'node:net'
import type { RouteOptions } from '../../plugin/index.js'
import { reasonFor } from './directive-reasons.js'
import { parseProxyPass, type ProxyPassTarget } from './nginx-addresses.js'
import { directiveText, walkDirectives, type NginxDirective } from './nginx-parser.js'
import { formatDuration } from './nginx-values.js'
import { applyProxyDirective, childScope, reportShadowedHeaders, type ProxyScope } from './proxy-settings.js'
import { translateLimitDirective } from './translate-limits.js'
import { reportHeaderDefaults, routeHeaderOptions } from './translate-proxy-headers.js'
import type { TranslationState, UpstreamDraft } from './translation-state.js'

export type LocationMatch =
  | { ok: true, exact: boolean, path: string }
  | { ok: false, reason: string }

/**
 * What a `location` matches, for the forms ws-cluster routes can express:
 * `location /x`, `location /x/`, `location = /x`, `location ^~ /x/`.
 */
export function locationMatch (directive: NginxDirective): LocationMatch {
  const args = directive.args.map(a => a.value)
  let [modifier, path] = args.length === 2 ? args : ['', args[0] ?? '']
  // nginx also accepts the modifier glued to the path: `location =/ws`.
  const glued = args.length === 1 ? /^(=|\^~|~\*|~)(\/.*)$/.exec(path) : null
  if (glued !== null) [modifier, path] = [glued[1], glued[2]]
  if (args.length === 0 || args.length > 2) return { ok: false, reason: 'expected "location [=|^~] PATH { ... }"' }
  if (modifier === '~' || modifier === '~*') {
    return { ok: false, reason: 'a regular-expression location; ws-cluster routes are a literal path or a "/prefix/*", so rewrite it as a prefix location if you can' }
  }
  if (path.startsWith('@')) return { ok: false, reason: 'a named location, reached only through try_files or error_page, which ws-cluster does not have' }
  if (modifier !== '' && modifier !== '=' && modifier !== '^~') return { ok: false, reason: `unknown location modifier "${modifier}"` }
  if (!path.startsWith('/')) return { ok: false, reason: `"${path}" does not start with "/"` }
  const bad = ['*', ':', '?', '#'].find(c => path.includes(c))
  if (bad !== undefined) return { ok: false, reason: `ws-cluster route paths cannot contain "${bad}"` }
  return { ok: true, exact: modifier === '=', path }
}

/** The exact and prefix paths of every location in a server, so overlapping locations resolve the way nginx's longest match does. */
export interface LocationIndex {
  exact: Set<string>
  prefix: Set<string>
}

interface RoutePath {
  path: string
  /** The part of the request path the route matches and `upstreamPath` replaces. */
  matched: string
}

function routePaths (state: TranslationState, match: { exact: boolean, path: string }, index: LocationIndex, line: number): RoutePath[] {
  const { path } = match
  if (match.exact) return [{ path, matched: path }]
  if (path.endsWith('/')) return [{ path: `${path}*`, matched: path }]
  const paths: RoutePath[] = []
  if (!index.exact.has(path)) paths.push({ path, matched: path })
  if (!index.prefix.has(`${path}/`)) paths.push({ path: `${path}/*`, matched: `${path}/` })
  if (paths.length === 0) {
    state.notes.note(line, `location ${path}: the locations "= ${path}" and "${path}/" already take everything it would route`)
    return paths
  }
  state.notes.note(line, `location ${path} → routes ${paths.map(p => `"${p.path}"`).join(' and ')}: nginx's prefix ${path} matches ${path} and everything below it ` +
    `(also ${path}-anything, which ws-cluster does not route)`)
  return paths
}

function upstreamPathFor (uri: string | null, locationPath: string, route: RoutePath, state: TranslationState, line: number): string | undefined {
  if (uri === null) return undefined
  let upstreamPath = uri
  if (route.matched !== locationPath) {
    // Route /x/* of `location /x`: nginx replaced "/x" in "/x/chat", so the slash after it stays.
    if (uri.endsWith('/')) state.notes.note(line, `proxy_pass URI "${uri}" on location ${locationPath}: nginx sent "${locationPath}/chat" upstream as "${uri}/chat" (a double slash); ws-cluster sends "${uri}chat"`)
    else upstreamPath = `${uri}/`
  }
  return upstreamPath === route.matched ? undefined : upstreamPath
}

function resolveUpstream (state: TranslationState, target: ProxyPassTarget, directive: NginxDirective): UpstreamDraft | string {
  const named = target.port === null ? state.upstreams.get(target.host) : undefined
  let draft: UpstreamDraft
  if (named !== undefined && !named.generated) draft = named
  else {
    const port = target.port ?? (target.scheme === 'https' ? 443 : 80)
    draft = state.generatedUpstream(target.host, port, target.port !== null, directive.line)
    if (target.port === null && isIP(target.host) === 0) {
      state.notes.warn(directive.line, `no upstream named "${target.host}" in this file (an include that was not followed?): treated as the host ${target.host}, port ${port}, in upstream group "${draft.name}"`)
    } else {
      state.notes.note(directive.line, `${directiveText(directive)} → upstream group "${draft.name}" with that one server`)
    }
  }
  if (draft.scheme !== undefined && draft.scheme !== target.scheme) {
    return `upstream ${draft.name} is already used with ${draft.scheme}://; ws-cluster servers have one scheme`
  }
  draft.scheme = target.scheme
  return draft
}

function locationTrapWarnings (state: TranslationState, scope: ProxyScope, line: number, where: string): void {
  if (scope.httpVersion === null) {
    state.notes.warn(line, `${where} has no "proxy_http_version 1.1": nginx sent HTTP/1.0 (its default), which cannot upgrade, so WebSockets never passed here; ws-cluster always talks HTTP/1.1`)
  }
  if (scope.readTimeout === null) {
    state.notes.warn(line, `${where} has no proxy_read_timeout: nginx closed WebSockets idle for 60 s (its default, the classic "disconnects every minute"); ` +
      'ws-cluster\'s idleTimeout defaults to 1h, so idle connections now stay open')
  }
  reportShadowedHeaders(state, scope, line, where)
  reportHeaderDefaults(state, scope.headers, line, where)
}

interface ProxyPass {
  directive: NginxDirective
  target: ProxyPassTarget
}

function addRoutes (state: TranslationState, directive: NginxDirective, match: { exact: boolean, path: string }, scope: ProxyScope, proxyPass: ProxyPass, index: LocationIndex): void {
  const { target } = proxyPass
  const upstream = resolveUpstream(state, target, proxyPass.directive)
  const where = `location ${match.exact ? '= ' : ''}${match.path}`
  if (typeof upstream === 'string') {
    state.notes.notTranslated(directive, upstream)
    return
  }
  state.notes.mark(directive, 'translated')
  state.notes.mark(proxyPass.directive, 'translated')
  const timeouts = {
    ...(scope.connectTimeout === null ? {} : { connectTimeout: formatDuration(scope.connectTimeout.ms) }),
    ...(scope.readTimeout === null ? {} : { idleTimeout: formatDuration(scope.readTimeout.ms) }),
    ...(scope.sendTimeout === null ? {} : { sendTimeout: formatDuration(scope.sendTimeout.ms) })
  }
  for (const routePath of routePaths(state, match, index, directive.line)) {
    const taken = state.routes.find(r => r.path === routePath.path)
    if (taken !== undefined) {
      state.notes.add('not translated', directive.line, `${where}: route "${routePath.path}" is already taken by an earlier location`)
      continue
    }
    const upstreamPath = upstreamPathFor(target.uri, match.path, routePath, state, proxyPass.directive.line)
    const route: RouteOptions = {
      path: routePath.path,
      upstream: upstream.name,
      ...timeouts,
      ...routeHeaderOptions(scope.headers),
      ...(upstreamPath === undefined ? {} : { upstreamPath }),
      http: true
    }
    state.routes.push(route)
  }
  if (target.uri !== null && target.uri === match.path) {
    state.notes.note(proxyPass.directive.line, `the URI "${target.uri}" of proxy_pass equals the location, so the path goes upstream unchanged: no upstreamPath`)
  }
  state.notes.note(directive.line, `${where}: "http": true, because nginx proxied plain HTTP requests here as well as WebSocket upgrades; remove it if only WebSockets arrive`)
  locationTrapWarnings(state, scope, directive.line, where)
}

function hasProxyPass (directive: NginxDirective): boolean {
  return [...walkDirectives(directive.block ?? [])].some(d => d.name === 'proxy_pass')
}

/**
 * Translates one `location` (and the locations nested in it) into routes,
 * with the proxy settings it inherits from `parent`. Reports whatever it
 * cannot translate, the location as a whole when it proxies nothing.
 */
export function translateLocation (state: TranslationState, directive: NginxDirective, parent: ProxyScope, index: LocationIndex): void {
  const match = locationMatch(directive)
  if (!match.ok) {
    state.notes.notTranslated(directive, match.reason)
    return
  }
  const block = directive.block ?? []
  const proxyPasses = block.filter(d => d.name === 'proxy_pass')
  if (directive.block === null || (proxyPasses.length === 0 && !hasProxyPass(directive))) {
    const inside = [...new Set(block.map(d => d.name))].join(', ')
    state.notes.notTranslated(directive, `no proxy_pass here${inside === '' ? '' : ` (it has ${inside})`}: ws-cluster only proxies; serve this from the \`app\` Fastify plugin`)
    return
  }
  const proxyPass = proxyPasses[0]
  const target = proxyPass === undefined ? null : proxyPass.args.length === 1 ? parseProxyPass(proxyPass.args[0].value) : { ok: false as const, reason: 'not one URL ("proxy_pass URL")' }
  if (target !== null && !target.ok) {
    state.notes.notTranslated(directive, `${directiveText(proxyPass)} (line ${proxyPass.line}) is ${target.reason}`)
    return
  }
  const scope = childScope(parent)
  const nested: NginxDirective[] = []
  for (const child of block) {
    if (child.name === 'location') nested.push(child)
    else if (child === proxyPass) continue
    else if (child.name === 'proxy_pass') state.notes.notTranslated(child, `a second proxy_pass in this location (nginx refuses that); the one on line ${proxyPass.line} is used`)
    else if (!applyProxyDirective(state, scope, child) && !translateLimitDirective(state, child, 'location')) {
      state.notes.notTranslated(child, reasonFor(child.name))
    }
  }
  if (proxyPass === undefined || target === null) state.notes.mark(directive, 'translated')
  else addRoutes(state, directive, match, scope, { directive: proxyPass, target: target.value }, index)
  for (const child of nested) translateLocation(state, child, scope, index)
}
