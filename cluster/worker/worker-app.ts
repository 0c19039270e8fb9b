import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import wsProxy, { wsProxyClientErrorHandler, type WsProxyOptions } from '../../plugin/index.js'
import type { ClusterConfig } from '../config/config-types.js'

/**
 * The Fastify app of one worker: the user's `app` plugin first, then the
 * wsProxy plugin with the config's upstreams, routes and limits. It never
 * listens: the worker feeds it sockets the primary accepted.
 *
 * The user's plugin runs in the root context, as if it were wrapped with
 * fastify-plugin (R61): a plain `async function (app) { app.addHook(…) }`
 * would otherwise be encapsulated, and an auth hook it adds would silently
 * guard nothing of the proxy. What it registers inside its own child
 * contexts stays encapsulated as usual.
 *
 * @example
 * const app = await createProxyApp(config, log, null)
 * await app.ready()
 * app.server.emit('connection', socket)
 */
export async function createProxyApp (config: ClusterConfig, log: Logger, userApp: FastifyPluginAsync | null): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log,
    // The plugin writes one access-log line per tunnel; a line per request on top would double the log.
    logController: new LogController({ disableRequestLogging: true }),
    // R36/R37: parser errors answered with the status nginx would send.
    clientErrorHandler: wsProxyClientErrorHandler,
    // Fastify would bound close hooks (the plugin's shutdown) by pluginTimeout, and a reload can change
    // shutdownTimeout in place; the primary bounds a worker's start and stop itself.
    pluginTimeout: 0
  }) as unknown as FastifyInstance
  if (userApp !== null) await app.register(fp(userApp, { name: 'ws-cluster-app' }))
  await app.register(wsProxy, proxyOptionsOf(config))
  return app
}

/** The wsProxy options a worker runs with for `config`, at start and on every reload in place. */
export function proxyOptionsOf (config: ClusterConfig): WsProxyOptions {
  return {
    upstreams: config.upstreams,
    routes: config.routes,
    limits: config.limits,
    shutdownTimeout: config.shutdownTimeout,
    closeSpread: config.closeSpread,
    accessLog: true
  }
}
