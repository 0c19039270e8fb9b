import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { UpgradeRequiredError } from './errors.js'
import { createGroupAgents, registerHttpPassthrough } from './http-passthrough.js'
import type { WsProxyOptions } from './options/options-types.js'
import { resolveOptions } from './options/options-validate.js'
import { normalizeRequestUrl } from './path-normalization.js'
import { kUpgradeClaim, ProxyRuntime, type UpgradeClaim } from './proxy-runtime.js'
import type { WsProxyStats } from './proxy-stats.js'
import { requestShapeHook } from './request-checks.js'
import { installUpgradeDispatcher } from './upgrade/upgrade-dispatch.js'
import { proxyUpgrade } from './upgrade/upgrade-proxy.js'

export type { WsProxyOptions, RouteOptions, RouteHeadersOptions, UpstreamOptions, UpstreamServerOptions, LimitsOptions, BalanceMethod, RouteMode } from './options/options-types.js'
export type { RelayOptions, MessageHook, MessageVerdict, RelayMessage, RelayConnectionInfo, MessageDirection } from './options/relay-types.js'
export type { WsProxyStats, RouteStats, RouteSettings } from './proxy-stats.js'
export type { Duration } from './options/duration.js'
export { parseDuration } from './options/duration.js'
export { resolveOptions } from './options/options-validate.js'
export { setClientAddress, clientAddressOf, normalizeAddress } from './client-identity.js'
export { wsProxyClientErrorHandler } from './request-checks.js'
export * as errors from './errors.js'

/** What `fastify.wsProxy` offers at run time. */
export interface WsProxyDecorator {
  /** Live figures per route and upstream server, as a plain object (see {@link WsProxyStats}). */
  stats: () => WsProxyStats
}

declare module 'fastify' {
  interface FastifyInstance {
    wsProxy: WsProxyDecorator
  }
}

const CONSTRAINT = 'wsClusterUpgrade'

type ClaimedRequest = FastifyRequest['raw'] & { [kUpgradeClaim]?: UpgradeClaim }

function addUpgradeConstraint (fastify: FastifyInstance): void {
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
    deriveConstraint: (req: ClaimedRequest) => (req[kUpgradeClaim] === undefined ? undefined : 'claimed') as string,
    mustMatchWhenDerived: false
  } as unknown as Parameters<FastifyInstance['addConstraintStrategy']>[0])
}

const wsProxyPlugin: FastifyPluginAsync<WsProxyOptions> = async (fastify, rawOptions) => {
  const options = resolveOptions(rawOptions)
  const runtime = new ProxyRuntime(options, fastify.log)
  // A relay route's hook module must load (in its pool) before anything is served.
  try {
    await runtime.startRelays()
  } catch (err) {
    await runtime.closeRelays()
    throw err
  }
  const agents = new Map([...runtime.groups].map(([name, group]) => [name, createGroupAgents(group)]))
  addUpgradeConstraint(fastify)

  const { admission } = runtime
  // A TLS server emits 'connection' for the TCP socket too (before 'secureConnection'), so this counts every client once.
  fastify.server.on('connection', admission.onConnection)
  fastify.server.on('request', admission.onRequest)
  // R82: before Fastify's own listener routes the request, so the router, every hook and the upstream read one path.
  const normalizeUrl = (req: FastifyRequest['raw']): void => { normalizeRequestUrl(req, path => runtime.match(path) !== undefined) }
  fastify.server.prependListener('request', normalizeUrl)
  runtime.rate?.start()
  warnAboutUnverifiedTls(fastify, runtime)

  const shapeHook = requestShapeHook(options.limits.maxUrlLength)
  for (const route of runtime.routes) {
    const { config } = route
    fastify.route({
      method: 'GET',
      url: config.path,
      constraints: { [CONSTRAINT]: 'claimed' },
      onRequest: shapeHook,
      // Runs for every answer sent through the reply; one sent before the handler took over came from a hook.
      onResponse: async (request: FastifyRequest) => {
        if ((request.raw as ClaimedRequest)[kUpgradeClaim]?.handled === false) runtime.counters.hookRefused(config.path)
      },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const claim = (request.raw as ClaimedRequest)[kUpgradeClaim] as UpgradeClaim
        claim.handled = true
        await proxyUpgrade(runtime, claim, request, reply)
      }
    })
    if (config.http) {
      await registerHttpPassthrough(fastify, route, agents.get(config.upstream) as ReturnType<typeof createGroupAgents>, shapeHook, runtime.warnings)
    } else {
      const protocols = config.upgradeProtocols.join(', ')
      fastify.get(config.path, { onRequest: shapeHook }, async (_request, reply) => {
        // nginx would pass a plain request on; an upgrade-only route says what it expects instead.
        return reply.code(426).header('Upgrade', protocols).header('Connection', 'Upgrade')
          .send(new UpgradeRequiredError(config.path, protocols))
      })
    }
  }

  fastify.decorate('wsProxy', {
    stats: () => runtime.counters.snapshot(runtime.groups, [...runtime.tunnels, ...runtime.relays])
  })

  let uninstall: (() => void) | null = null
  fastify.addHook('onReady', async () => {
    uninstall = installUpgradeDispatcher(fastify, runtime)
    // R44: host-name servers are resolved before the first client (the wait is bounded).
    await Promise.all(runtime.dns.map(async dns => await dns.start()))
  })

  const drainBudget = closeHookBudget(fastify, options.shutdownTimeout, (rawOptions as { shutdownTimeout?: unknown }).shutdownTimeout !== undefined)
  fastify.addHook('preClose', async () => {
    runtime.closing = true
    uninstall?.()
    // Relays can end like a WebSocket server would: a 1001 close frame to both sides now, not a cut later.
    for (const relay of runtime.relays) relay.closeDeliberately(1001, 'server shutting down', 'shutdown')
    await drainTunnels(runtime, drainBudget)
  })

  fastify.addHook('onClose', async () => {
    for (const dns of runtime.dns) dns.stop()
    fastify.server.removeListener('connection', admission.onConnection)
    fastify.server.removeListener('request', admission.onRequest)
    fastify.server.removeListener('request', normalizeUrl)
    runtime.rate?.stop()
    for (const attempt of runtime.attempts) attempt.abort()
    for (const tunnel of runtime.tunnels) tunnel.destroy('shutdown')
    for (const relay of runtime.relays) relay.destroy('shutdown')
    await tunnelsFinished(runtime, Date.now() + CUT_SETTLE_MS)
    await runtime.closeRelays()
    for (const pair of agents.values()) {
      pair['http:'].destroy()
      pair['https:'].destroy()
    }
  })
}

/** Tunnels, relays and upstream attempts still open. */
function openCount (runtime: ProxyRuntime): number {
  return runtime.tunnels.size + runtime.relays.size + runtime.attempts.size
}

/** R84: turning verification off is allowed, and said once at start, so nobody runs without it unknowingly. */
function warnAboutUnverifiedTls (fastify: FastifyInstance, runtime: ProxyRuntime): void {
  for (const group of runtime.groups.values()) {
    if (group.tls.config.rejectUnauthorized) continue
    fastify.log.warn({ upstream: group.name }, 'upstream TLS certificates are not verified for this group (tls.rejectUnauthorized: false): anyone on the path to its servers can read and change its traffic')
  }
}

/** Polls until every tunnel, relay and upstream attempt has finished (access-log lines written) or `deadline` passes. */
async function tunnelsFinished (runtime: ProxyRuntime, deadline: number): Promise<void> {
  while (openCount(runtime) > 0 && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))))
  }
}

// Destroyed sockets emit 'close' on a later tick; waiting this long at most
// lets the cut tunnels write their access-log lines before close resolves.
const CUT_SETTLE_MS = 1000

/**
 * Fastify runs close hooks under its `pluginTimeout` (10 s by default) and
 * makes close() reject when one takes longer, so the drain must end, cut
 * tunnels included, within it. A longer `shutdownTimeout` is shortened, with
 * a warning when it was set explicitly; `pluginTimeout: 0` lifts the bound.
 */
function closeHookBudget (fastify: FastifyInstance, shutdownTimeout: number, explicit: boolean): number {
  const pluginTimeout = fastify.initialConfig.pluginTimeout ?? 10_000
  if (pluginTimeout <= 0) return shutdownTimeout
  const budget = Math.max(0, pluginTimeout - CUT_SETTLE_MS - 500)
  if (shutdownTimeout <= budget) return shutdownTimeout
  if (explicit) {
    fastify.log.warn({ shutdownTimeout, pluginTimeout, effective: budget },
      'shutdownTimeout is longer than Fastify\'s pluginTimeout lets a close hook run: open tunnels will be cut earlier; raise pluginTimeout (or set it to 0) to give them the full time')
  }
  return budget
}

/** R39: open tunnels get until the shutdown timeout to finish on their own, then are cut. */
async function drainTunnels (runtime: ProxyRuntime, timeoutMs: number): Promise<void> {
  if (openCount(runtime) === 0) return
  runtime.log.info({ tunnels: runtime.tunnels.size, relays: runtime.relays.size, handshakes: runtime.attempts.size, timeoutMs }, 'waiting for open tunnels to close')
  await tunnelsFinished(runtime, Date.now() + timeoutMs)
  if (openCount(runtime) > 0) {
    runtime.log.warn({ tunnels: runtime.tunnels.size, relays: runtime.relays.size, handshakes: runtime.attempts.size }, 'shutdown timeout reached: closing open tunnels')
    // Handshakes still waiting for their upstream would otherwise keep the server open until handshakeTimeout.
    for (const attempt of runtime.attempts) attempt.abort()
    for (const tunnel of runtime.tunnels) tunnel.destroy('shutdown')
    for (const relay of runtime.relays) relay.destroy('shutdown')
    await tunnelsFinished(runtime, Date.now() + CUT_SETTLE_MS)
  }
}

/**
 * The ws-cluster Fastify plugin: turns routes into WebSocket proxy locations
 * in front of upstream groups (nginx `location` + `proxy_pass` + `upstream`).
 *
 * @example
 * import Fastify from 'fastify'
 * import wsProxy from 'ws-cluster'
 *
 * const app = Fastify({ logger: true })
 * await app.register(wsProxy, {
 *   upstreams: { chat: { balance: 'ip-hash', servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] } },
 *   routes: [{ path: '/ws', upstream: 'chat', idleTimeout: '1h' }]
 * })
 * await app.listen({ port: 8080 })
 */
export const wsProxy = fp(wsProxyPlugin, { fastify: '5.x', name: 'ws-cluster' })
export default wsProxy
