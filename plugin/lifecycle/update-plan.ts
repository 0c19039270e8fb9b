import type { ResolvedOptions, ResolvedRoute, ResolvedServer, ResolvedUpstream } from '../options/options-types.js'

/** One change an update found: the option path and what happened to it. */
export interface UpdateChange {
  path: string
  change: string
}

/** What an update will do with the running options: the options to apply, and what they leave out. */
export interface UpdatePlan {
  /** The options to run with: the new ones, except for what cannot change in place (kept as it was). */
  options: ResolvedOptions
  /** Changes applied in place. */
  applied: UpdateChange[]
  /** Changes that need a new process (new workers in the cluster); the running value stays. */
  notApplied: UpdateChange[]
}

const NEEDS_NEW_PROCESS = 'needs a new process: Fastify adds no routes once it is ready'

function show (value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** Field-by-field differences of two flat records, as `path.field: old → new`. */
function fieldChanges (path: string, before: object, after: object, skip: readonly string[] = []): UpdateChange[] {
  const changes: UpdateChange[] = []
  const a = before as Record<string, unknown>
  const b = after as Record<string, unknown>
  for (const key of Object.keys(b)) {
    if (skip.includes(key) || JSON.stringify(a[key]) === JSON.stringify(b[key])) continue
    changes.push({ path: `${path}.${key}`, change: `${show(a[key])} → ${show(b[key])}` })
  }
  return changes
}

function serverChanges (name: string, before: ResolvedServer[], after: ResolvedServer[]): UpdateChange[] {
  const path = `upstreams.${name}.servers`
  const changes: UpdateChange[] = []
  const left = [...before]
  for (const server of after) {
    const i = left.findIndex(old => old.url === server.url)
    if (i === -1) {
      changes.push({ path, change: `added ${server.url}` })
      continue
    }
    const [old] = left.splice(i, 1) as [ResolvedServer]
    changes.push(...fieldChanges(`${path}[${server.url}]`, old, server, ['url', 'protocol', 'host', 'port']))
  }
  for (const server of left) changes.push({ path, change: `removed ${server.url}` })
  return changes
}

function upstreamChanges (before: ResolvedOptions['upstreams'], after: ResolvedOptions['upstreams']): UpdateChange[] {
  const changes: UpdateChange[] = []
  for (const [name, upstream] of after) {
    const old = before.get(name)
    if (old === undefined) {
      changes.push({ path: `upstreams.${name}`, change: 'added' })
      continue
    }
    changes.push(...fieldChanges(`upstreams.${name}`, old, upstream, ['name', 'servers']))
    changes.push(...serverChanges(name, old.servers, upstream.servers))
  }
  for (const name of before.keys()) {
    if (!after.has(name)) changes.push({ path: `upstreams.${name}`, change: 'removed' })
  }
  return changes
}

const NEEDS_NEW_RELAY = 'needs a new process: a relay route\'s hook pool and client-side server are made at start'

/** Same relay settings: a hook given as a function must be the same function. */
function sameRelay (a: ResolvedRoute, b: ResolvedRoute): boolean {
  if (a.relay === null || b.relay === null) return a.relay === b.relay
  return a.relay.onMessage === b.relay.onMessage && JSON.stringify(a.relay) === JSON.stringify(b.relay) && a.finTimeout === b.finTimeout
}

/**
 * What a route of the new options becomes in place (`routes[i]`): itself,
 * the running route when the change needs a new process (listed in
 * `notApplied`), or null when it cannot be added in place at all.
 */
function routeInPlace (route: ResolvedRoute, old: ResolvedRoute | undefined, i: number, notApplied: UpdateChange[]): ResolvedRoute | null {
  const path = `routes[${i}]`
  if (route.http !== (old?.http ?? false)) {
    const change = old === undefined ? 'added' : route.http ? 'switched on' : 'switched off'
    notApplied.push({ path: `${path}.http`, change: `${route.path} with http ${change}; ${NEEDS_NEW_PROCESS}` })
    return old ?? null
  }
  if (route.mode !== (old?.mode ?? 'tunnel') || (old !== undefined && !sameRelay(old, route))) {
    const change = old === undefined ? 'added' : route.mode !== old.mode ? `switched from ${old.mode} to ${route.mode}` : 'with other relay settings'
    notApplied.push({ path: `${path}.${old?.mode === route.mode ? 'relay' : 'mode'}`, change: `${route.path} (relay) ${change}; ${NEEDS_NEW_RELAY}` })
    return old ?? null
  }
  if (route.http && old !== undefined && old.idleTimeout !== route.idleTimeout) {
    notApplied.push({ path: `${path}.idleTimeout`, change: `${old.idleTimeout} → ${route.idleTimeout} applies to upgrades; plain HTTP on ${route.path} keeps ${old.idleTimeout} ms until a new process` })
  }
  return route
}

/**
 * Compares running and new options and decides what an update applies in
 * place. Upgrade routes, upstream groups, timeouts, limits and the top-level
 * settings all change in place. Two kinds of route are made at start and
 * keep their running value, listed in `notApplied`: the plain-HTTP side of
 * `http: true` routes (Fastify routes with their own proxy: adding or
 * removing one, switching `http`, and what that proxy was built with, the
 * route's `idleTimeout` and the group's `keepalive`), and relay routes
 * (adding or removing one, switching `mode`, or changing `relay` or its
 * `finTimeout`; their other settings do change in place).
 *
 * @example
 * const plan = planUpdate(runtime.options, resolveOptions(raw))
 * if (plan.notApplied.length > 0) console.log('needs new workers:', plan.notApplied)
 */
export function planUpdate (current: ResolvedOptions, next: ResolvedOptions): UpdatePlan {
  const notApplied: UpdateChange[] = []
  const running = new Map(current.routes.map(route => [route.path, route]))
  const routes: ResolvedRoute[] = []
  next.routes.forEach((route, i) => {
    const inPlace = routeInPlace(route, running.get(route.path), i, notApplied)
    if (inPlace !== null) routes.push(inPlace)
  })
  const kept = new Set(next.routes.map(route => route.path))
  for (const old of current.routes) {
    if (kept.has(old.path) || (!old.http && old.mode !== 'relay')) continue
    notApplied.push({ path: 'routes', change: `${old.path} (${old.http ? 'http: true' : 'relay'}) removed; ${old.http ? NEEDS_NEW_PROCESS : NEEDS_NEW_RELAY}` })
    routes.push(old)
  }

  const upstreams = new Map(next.upstreams)
  for (const route of routes) {
    // A route kept as it was needs its group, even one the new options dropped.
    const group = current.upstreams.get(route.upstream)
    if (!upstreams.has(route.upstream) && group !== undefined) upstreams.set(route.upstream, group)
  }
  // The plain-HTTP agents of a group are built at start with its keep-alive pool size and TLS settings.
  const httpGroups = new Set([...current.routes, ...routes].filter(route => route.http).map(route => route.upstream))
  for (const name of httpGroups) {
    const old = current.upstreams.get(name)
    const now = upstreams.get(name)
    if (old === undefined || now === undefined) continue
    for (const key of ['keepalive', 'tls'] as const) {
      if (JSON.stringify(old[key]) === JSON.stringify(now[key])) continue
      notApplied.push({ path: `upstreams.${name}.${key}`, change: `${show(old[key])} → ${show(now[key])}; plain HTTP keeps ${show(old[key])} until a new process` })
    }
    upstreams.set(name, { ...now, keepalive: old.keepalive, tls: old.tls } satisfies ResolvedUpstream)
  }
  // Per-client slots are counted under a key made with this prefix: changing it would mix keys.
  const limits = { ...next.limits, ipv6Prefix: current.limits.ipv6Prefix }
  if (next.limits.ipv6Prefix !== current.limits.ipv6Prefix) {
    notApplied.push({ path: 'limits.ipv6Prefix', change: `${current.limits.ipv6Prefix} → ${next.limits.ipv6Prefix}; needs a new process: open connections are counted under the old key` })
  }

  const options: ResolvedOptions = { ...next, routes, upstreams, limits }
  const applied = [
    ...upstreamChanges(current.upstreams, upstreams),
    ...routeChanges(current.routes, routes),
    ...fieldChanges('limits', current.limits, limits),
    ...fieldChanges('', { shutdownTimeout: current.shutdownTimeout, closeSpread: current.closeSpread, accessLog: current.accessLog },
      { shutdownTimeout: next.shutdownTimeout, closeSpread: next.closeSpread, accessLog: next.accessLog }).map(c => ({ ...c, path: c.path.slice(1) }))
  ]
  return { options, applied, notApplied }
}

function routeChanges (before: ResolvedRoute[], after: ResolvedRoute[]): UpdateChange[] {
  const changes: UpdateChange[] = []
  const old = new Map(before.map(route => [route.path, route]))
  after.forEach((route, i) => {
    const was = old.get(route.path)
    if (was === undefined) changes.push({ path: `routes[${i}]`, change: `added ${route.path}` })
    else changes.push(...fieldChanges(`routes[${i}]`, was, route, ['path', 'prefix']))
  })
  const now = new Set(after.map(route => route.path))
  for (const route of before) if (!now.has(route.path)) changes.push({ path: 'routes', change: `removed ${route.path}` })
  return changes
}
