import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { UpgradeRequiredError } from './errors.js'
import { createGroupAgents, registerHttpPassthrough } from './http-passthrough.js'
import type { ResolvedRoute } from './options/options-types.js'
import { kUpgradeClaim, type ProxyRuntime, type RouteRuntime, type UpgradeClaim } from './proxy-runtime.js'
import { requestShapeHook } from './request-checks.js'
import { proxyUpgrade } from './upgrade/upgrade-proxy.js'

const CONSTRAINT = 'wsClusterUpgrade'

type ClaimedRequest = FastifyRequest['raw'] & { [kUpgradeClaim]?: UpgradeClaim }

/** What the plugin needs from its routes after registration. */
export interface RouteRegistration {
  /** Re-reads the runtime's route table (after an update). */
  refresh: () => void
  /** Whether a route an update adds can take upgrades: no route of the app shadows its path. */
  routable: (route: ResolvedRoute) => boolean
}

/** Per server: the route tables the shared routes serve (an app may register the plugin more than once). */
interface ServerRoutes {
  owners: WeakMap<RouteRuntime, ProxyRuntime>
  /** Route tables holding routes an update added, which have no Fastify route of their own. */
  late: Set<{ runtime: ProxyRuntime, registered: ReadonlySet<string> }>
}
const byServer = new WeakMap<object, ServerRoutes>()

/**
 * Claimed upgrades carry the claim; a plain request to an upgrade-only route
 * an update added is told apart here, as the router has no route of its own
 * for it. Both constrained routes live under `/*`, so they only ever see
 * requests this derives a value for.
 */
function deriveConstraint (shared: ServerRoutes, req: ClaimedRequest): string | undefined {
  if (req[kUpgradeClaim] !== undefined) return 'claimed'
  for (const { runtime, registered } of shared.late) {
    const route = runtime.match(req.url ?? '/')
    if (route !== undefined && !route.config.http && !registered.has(route.config.path)) return 'ws-only'
  }
  return undefined
}

function addUpgradeConstraint (fastify: FastifyInstance, shared: ServerRoutes): void {
  if (fastify.hasConstraintStrategy(CONSTRAINT)) return
  // Lets the upgrade route and a plain-HTTP route share a path: the router
  // picks ours only for upgrades the dispatcher claimed.
  fastify.addConstraintStrategy({
    name: CONSTRAINT,
    storage () {
      const handlers = new Map<string, unknown>()
      return {
        get: (value: string) => handlers.get(value) ?? null,
        set: (value: string, handler: unknown) => { handlers.set(value, handler) }
      }
    },
    deriveConstraint: (req: ClaimedRequest) => deriveConstraint(shared, req) as string,
    mustMatchWhenDerived: false
  } as unknown as Parameters<FastifyInstance['addConstraintStrategy']>[0])
}

/**
 * Registers the plugin's Fastify routes. Fastify takes no routes once ready,
 * so an update could not add any; instead every route of the options at
 * registration gets its own (the claimed upgrade route, and a 426 answer or
 * the plain-HTTP passthrough), and two catch-all routes, matched only by the
 * constraint, serve upgrade-only routes an update adds: claimed upgrades go
 * to the route the runtime's table names, and plain GETs get the 426.
 * Routes an update removes answer 404 on their old Fastify route.
 *
 * @example
 * const registration = await registerRoutes(fastify, runtime)
 * // after runtime.routes changed: registration.refresh()
 */
export async function registerRoutes (fastify: FastifyInstance, runtime: ProxyRuntime): Promise<{ registration: RouteRegistration, agents: Array<ReturnType<typeof createGroupAgents>> }> {
  let shared = byServer.get(fastify.server)
  const firstOnServer = shared === undefined
  if (shared === undefined) {
    shared = { owners: new WeakMap(), late: new Set() }
    byServer.set(fastify.server, shared)
  }
  const routes = shared
  addUpgradeConstraint(fastify, routes)
  const shapeHook = requestShapeHook(() => runtime.options.limits.maxUrlLength)
  const serveClaim = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const claim = (request.raw as ClaimedRequest)[kUpgradeClaim] as UpgradeClaim
    claim.handled = true
    await proxyUpgrade(routes.owners.get(claim.route) ?? runtime, claim, request, reply)
  }
  // Runs for every answer sent through the reply; one sent before the handler took over came from a hook.
  const countHookRefusal = async (request: FastifyRequest): Promise<void> => {
    const claim = (request.raw as ClaimedRequest)[kUpgradeClaim]
    if (claim === undefined || claim.handled) return
    const owner = routes.owners.get(claim.route) ?? runtime
    owner.counters.hookRefused(claim.route.config.path)
  }
  const upgradeRequired = (runtimes: () => Iterable<ProxyRuntime>) => async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    for (const owner of runtimes()) {
      const route = owner.match(request.url)
      if (route === undefined || route.config.http) continue
      // nginx would pass a plain request on; an upgrade-only route says what it expects instead.
      const protocols = route.config.upgradeProtocols.join(', ')
      return await reply.code(426).header('Upgrade', protocols).header('Connection', 'Upgrade')
        .send(new UpgradeRequiredError(route.config.path, protocols))
    }
    reply.callNotFound()
    return reply
  }

  // Every claimed route serves the claim's own route, so one that is there already (a `/*` route and
  // the catch-all, or another registration of the plugin on this server) serves this one's claims too.
  const claimRoute = (url: string): void => {
    if (fastify.hasRoute({ method: 'GET', url, constraints: { [CONSTRAINT]: 'claimed' } })) return
    fastify.route({ method: 'GET', url, constraints: { [CONSTRAINT]: 'claimed' }, onRequest: shapeHook, onResponse: countHookRefusal, handler: serveClaim })
  }
  const registered = new Set<string>()
  const agents = new Map<string, ReturnType<typeof createGroupAgents>>()
  for (const route of runtime.routes) {
    const { config } = route
    registered.add(config.path)
    claimRoute(config.path)
    if (config.http) {
      let pool = agents.get(config.upstream)
      if (pool === undefined) agents.set(config.upstream, pool = createGroupAgents(route.group))
      const current = (): RouteRuntime => runtime.routes.find(r => r.config.path === config.path) ?? route
      await registerHttpPassthrough(fastify, current, pool, shapeHook, runtime.warnings)
    } else {
      fastify.get(config.path, { onRequest: shapeHook }, upgradeRequired(() => [runtime]))
    }
  }
  if (firstOnServer) {
    // One pair per server: a second registration of the plugin shares them (its claims name their own route).
    claimRoute('/*')
    fastify.route({
      method: 'GET',
      url: '/*',
      constraints: { [CONSTRAINT]: 'ws-only' },
      onRequest: shapeHook,
      handler: upgradeRequired(() => [...routes.late].map(entry => entry.runtime))
    })
  }
  const entry = { runtime, registered }
  const refresh = (): void => {
    for (const route of runtime.routes) routes.owners.set(route, runtime)
    if (runtime.routes.some(route => !registered.has(route.config.path))) routes.late.add(entry)
    else routes.late.delete(entry)
  }
  refresh()
  const routable = (route: ResolvedRoute): boolean =>
    registered.has(route.path) || !fastify.hasRoute({ method: 'GET', url: route.path })
  return { registration: { refresh, routable }, agents: [...agents.values()] }
}
