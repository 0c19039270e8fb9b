import type { FastifyBaseLogger } from 'fastify'
import { ConnectionRateLimiter } from '../connection-rate.js'
import type { OpenConnection } from '../open-connection.js'
import type { ResolvedRoute } from '../options/options-types.js'
import { resolveOptions } from '../options/options-validate.js'
import { buildRoutes, type ProxyRuntime } from '../proxy-runtime.js'
import type { UpstreamDns } from '../upstream/upstream-dns.js'
import { UpstreamGroup } from '../upstream/upstream-group.js'
import type { UpstreamServer } from '../upstream/upstream-server.js'
import { planUpdate, type UpdateChange } from './update-plan.js'

export type { UpdateChange } from './update-plan.js'

/** What `fastify.wsProxy.update()` did. */
export interface UpdateResult {
  /** Changes now in effect, e.g. `{ path: 'upstreams.chat.servers', change: 'removed http://10.0.0.12:3000' }`. */
  applied: UpdateChange[]
  /** Changes that need a new process (new workers in the cluster); those settings keep their running value. */
  notApplied: UpdateChange[]
  /** Open tunnels now being closed with 1012, spread over `closeSpread`, because their server left the config or was marked down. */
  closing: number
}

/**
 * Applies new plugin options to a running instance (R40): validated by the
 * one validator (a bad option throws `WS_CLUSTER_INVALID_OPTION` and nothing
 * changes), then routes, upstream groups, limits and the top-level settings
 * are replaced in place. Servers that stay keep their health and connection
 * counts. Open tunnels keep their route and timeouts; only those whose
 * server is gone from the options (its URL is in no group any more) or is
 * now `down` are closed, with 1012 at a frame boundary, spread over
 * `closeSpread`. `routable` says whether a route the update adds can take
 * upgrades here (no other Fastify route of the app shadows its path).
 *
 * @example
 * const result = await applyUpdate(runtime, newOptions, () => true, fastify.log)
 */
export async function applyUpdate (runtime: ProxyRuntime, raw: unknown, routable: (route: ResolvedRoute) => boolean, log: FastifyBaseLogger): Promise<UpdateResult> {
  const plan = planUpdate(runtime.options, resolveOptions(raw))
  const { options } = plan
  const running = new Set(runtime.options.routes.map(route => route.path))
  options.routes = options.routes.filter((route) => {
    if (running.has(route.path) || routable(route)) return true
    plan.notApplied.push({ path: 'routes', change: `${route.path} is also a route of the app: only a new process registers it` })
    plan.applied = plan.applied.filter(change => change.change !== `added ${route.path}`)
    return false
  })

  const leaving: UpstreamServer[] = []
  const resolvers: UpstreamDns[] = []
  for (const [name, config] of options.upstreams) {
    const group = runtime.groups.get(name)
    if (group !== undefined && JSON.stringify(group.config) === JSON.stringify(config)) continue
    if (group !== undefined) leaving.push(...group.reconfigure(config).removed)
    // A changed group gets a resolver for its new entries (a kept name keeps its addresses until it answers).
    const dns = runtime.addGroup(name, group ?? new UpstreamGroup(config))
    if (dns !== null) resolvers.push(dns)
  }
  for (const [name, group] of runtime.groups) {
    if (options.upstreams.has(name)) continue
    leaving.push(...group.servers)
    runtime.removeGroup(name)
  }
  // A server that moved to another group, or whose group was renamed, is not gone.
  const usable = new Set([...options.upstreams.values()].flatMap(group => group.servers).filter(server => !server.down).map(server => server.url))
  for (const server of leaving) if (!usable.has(server.id)) server.removed = true

  const previous = runtime.options
  runtime.options = options
  runtime.routes = buildRoutes(options, runtime.groups, runtime.routes)
  runtime.counters.setRoutes(options.routes)
  runtime.limits.setLimits(options.limits.maxConnections, options.limits.maxConnectionsPerIp)
  runtime.admission.setLimits(options.limits.maxConnections, options.limits.maxConnectionsPerIp)
  if (JSON.stringify(options.limits.connectionRate) !== JSON.stringify(previous.limits.connectionRate)) {
    // A new bucket per client under the new rate: the counts so far belong to the old one.
    runtime.rate?.stop()
    runtime.rate = options.limits.connectionRate === null ? null : new ConnectionRateLimiter(options.limits.connectionRate)
    runtime.rate?.start()
  }

  const removed: OpenConnection[] = []
  const down: OpenConnection[] = []
  for (const connection of runtime.openConnections()) {
    const why = connection.meta.server?.retired ?? null
    if (why === 'server-removed') removed.push(connection)
    else if (why === 'server-down') down.push(connection)
  }
  runtime.closeSpread(removed, 1012, 'server-removed', options.closeSpread)
  runtime.closeSpread(down, 1012, 'server-down', options.closeSpread)
  const closing = removed.length + down.length
  log.info({ applied: plan.applied.length, notApplied: plan.notApplied, closing, closeSpread: options.closeSpread }, 'wsProxy options updated in place')
  // Like at start: the first answers of new names, with a bounded wait.
  await Promise.all(resolvers.map(async (dns) => await dns.start()))
  return { applied: plan.applied, notApplied: plan.notApplied, closing }
}
