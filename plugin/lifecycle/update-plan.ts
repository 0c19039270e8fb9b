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

/**
 * Compares running and new options and decides what an update applies in
 * place. Upgrade routes, upstream groups, timeouts, limits and the top-level
 * settings all change in place. The plain-HTTP side of `http: true` routes
 * does not: those are Fastify routes with their own proxy registered at
 * start, so adding or removing such a route, switching `http` on or off,
 * and the settings that proxy was built with (its request timeout, the
 * route's `idleTimeout`; its keep-alive pool, the group's `keepalive`) keep
 * their running value and are listed in `notApplied`.
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
    const old = running.get(route.path)
    if (route.http && old?.http !== true) {
      notApplied.push({ path: `routes[${i}].http`, change: `${route.path} with http: true ${old === undefined ? 'added' : 'switched on'}; ${NEEDS_NEW_PROCESS}` })
      if (old !== undefined) routes.push(old)
      return
    }
    if (!route.http && old?.http === true) {
      notApplied.push({ path: `routes[${i}].http`, change: `${route.path} switched http off; ${NEEDS_NEW_PROCESS}` })
      routes.push(old)
      return
    }
    if (route.http && old !== undefined && old.idleTimeout !== route.idleTimeout) {
      notApplied.push({ path: `routes[${i}].idleTimeout`, change: `${old.idleTimeout} → ${route.idleTimeout} applies to upgrades; plain HTTP on ${route.path} keeps ${old.idleTimeout} ms until a new process` })
    }
    routes.push(route)
  })
  const kept = new Set(next.routes.map(route => route.path))
  for (const old of current.routes) {
    if (kept.has(old.path) || !old.http) continue
    notApplied.push({ path: 'routes', change: `${old.path} with http: true removed; ${NEEDS_NEW_PROCESS}` })
    routes.push(old)
  }

  const upstreams = new Map(next.upstreams)
  for (const route of routes) {
    // A route kept as it was needs its group, even one the new options dropped.
    const group = current.upstreams.get(route.upstream)
    if (!upstreams.has(route.upstream) && group !== undefined) upstreams.set(route.upstream, group)
  }
  const httpGroups = new Set([...current.routes, ...routes].filter(route => route.http).map(route => route.upstream))
  for (const name of httpGroups) {
    const old = current.upstreams.get(name)
    const now = upstreams.get(name)
    if (old === undefined || now === undefined || old.keepalive === now.keepalive) continue
    notApplied.push({ path: `upstreams.${name}.keepalive`, change: `${old.keepalive} → ${now.keepalive}; the plain-HTTP keep-alive pool keeps ${old.keepalive} until a new process` })
    upstreams.set(name, { ...now, keepalive: old.keepalive } satisfies ResolvedUpstream)
  }

  const options: ResolvedOptions = { ...next, routes, upstreams }
  const applied = [
    ...upstreamChanges(current.upstreams, upstreams),
    ...routeChanges(current.routes, routes),
    ...fieldChanges('limits', current.limits, next.limits),
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
