import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { applyUpdate, type UpdateResult } from './lifecycle/apply-update.js'
import { closeForShutdown, closeHookBudget, CUT_SETTLE_MS, drainConnections, warnIfShortened } from './lifecycle/shutdown.js'
import { parseDuration, type Duration } from './options/duration.js'
import type { WsProxyOptions } from './options/options-types.js'
import { resolveOptions } from './options/options-validate.js'
import { normalizeRequestUrl } from './path-normalization.js'
import { ProxyRuntime } from './proxy-runtime.js'
import type { WsProxyStats } from './proxy-stats.js'
import { registerRoutes } from './route-registration.js'
import { installUpgradeDispatcher } from './upgrade/upgrade-dispatch.js'

export type { WsProxyOptions, RouteOptions, RouteHeadersOptions, UpstreamOptions, UpstreamServerOptions, LimitsOptions, BalanceMethod, RouteMode } from './options/options-types.js'
export type { RelayOptions, MessageHook, MessageVerdict, RelayMessage, RelayConnectionInfo, MessageDirection } from './options/relay-types.js'
export type { WsProxyStats, RouteStats, RouteSettings } from './proxy-stats.js'
export type { UpdateResult, UpdateChange } from './lifecycle/apply-update.js'
export type { CloseCause, CloseCode, OpenConnection } from './open-connection.js'
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
  /**
   * Applies new options without a restart (R40): routes, upstream groups,
   * timeouts, limits, `shutdownTimeout`, `closeSpread`, `accessLog`. Open
   * tunnels stay, except those whose server is gone or now `down` (1012,
   * spread over `closeSpread`). Throws `WS_CLUSTER_INVALID_OPTION` (and
   * changes nothing) when an option is wrong; what needs a new process is
   * listed in `notApplied`.
   *
   * @example
   * const { applied, notApplied, closing } = await app.wsProxy.update({ ...options, routes: [...options.routes, { path: '/v2', upstream: 'chat' }] })
   */
  update: (options: WsProxyOptions) => Promise<UpdateResult>
  /**
   * For a process being replaced (R40): open tunnels run until they end or
   * `timeout` passes, then the rest get a 1012 close frame, spread over
   * `closeSpread`. Resolves once none is left; close the app after it.
   *
   * @example
   * await app.wsProxy.drain('4h')
   * await app.close()
   */
  drain: (timeout: Duration) => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    wsProxy: WsProxyDecorator
  }
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
  const { registration, agents } = await registerRoutes(fastify, runtime)

  const { admission } = runtime
  // A TLS server emits 'connection' for the TCP socket too (before 'secureConnection'), so this counts every client once.
  fastify.server.on('connection', admission.onConnection)
  fastify.server.on('request', admission.onRequest)
  // R82: before Fastify's own listener routes the request, so the router, every hook and the upstream read one path.
  const normalizeUrl = (req: FastifyRequest['raw']): void => { normalizeRequestUrl(req, path => runtime.match(path) !== undefined) }
  fastify.server.prependListener('request', normalizeUrl)
  runtime.rate?.start()
  warnAboutUnverifiedTls(fastify, runtime)

  fastify.decorate('wsProxy', {
    stats: () => runtime.counters.snapshot(runtime.groups, [...runtime.tunnels, ...runtime.relays]),
    update: async (next: WsProxyOptions) => {
      const result = await applyUpdate(runtime, next, registration.routable, fastify.log)
      registration.refresh()
      return result
    },
    drain: async (timeout: Duration) => { await drainConnections(runtime, parseDuration(timeout, 'drain(timeout)')) }
  } satisfies WsProxyDecorator)

  let uninstall: (() => void) | null = null
  fastify.addHook('onReady', async () => {
    uninstall = installUpgradeDispatcher(fastify, runtime)
    // R44: host-name servers are resolved before the first client (the wait is bounded).
    await Promise.all([...runtime.dns.values()].map(async dns => await dns.start()))
  })

  if ((rawOptions as { shutdownTimeout?: unknown }).shutdownTimeout !== undefined) warnIfShortened(fastify, options.shutdownTimeout)
  fastify.addHook('preClose', async () => {
    runtime.closing = true
    uninstall?.()
    // Tunnels and relays alike: 1001 close frames, spread (R39).
    await closeForShutdown(runtime, closeHookBudget(fastify, runtime.options.shutdownTimeout))
  })

  fastify.addHook('onClose', async () => {
    for (const dns of runtime.dns.values()) dns.stop()
    fastify.server.removeListener('connection', admission.onConnection)
    fastify.server.removeListener('request', admission.onRequest)
    fastify.server.removeListener('request', normalizeUrl)
    runtime.rate?.stop()
    runtime.cancelSchedules()
    for (const attempt of runtime.attempts) attempt.abort()
    for (const connection of runtime.openConnections()) connection.destroy('shutdown')
    await runtime.settled(Date.now() + CUT_SETTLE_MS)
    await runtime.closeRelays()
    for (const pair of agents) {
      pair['http:'].destroy()
      pair['https:'].destroy()
    }
  })
}

/** R84: turning verification off is allowed, and said once at start, so nobody runs without it unknowingly. */
function warnAboutUnverifiedTls (fastify: FastifyInstance, runtime: ProxyRuntime): void {
  for (const group of runtime.groups.values()) {
    if (group.tls.config.rejectUnauthorized) continue
    fastify.log.warn({ upstream: group.name }, 'upstream TLS certificates are not verified for this group (tls.rejectUnauthorized: false): anyone on the path to its servers can read and change its traffic')
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
