import Fastify, { type FastifyPluginAsync } from 'fastify'
import type { AddressInfo } from 'node:net'

/**
 * ws-cluster itself: Fastify plus the plugin in tunnel mode, one process. The
 * plugin is loaded by URL at run time so the bench still builds while the
 * plugin is absent (the path is then skipped). Run as
 * `node proxy-wsc-plugin.js BACKEND_PORT`.
 */

const backendPort = Number(process.argv[2])
const pluginUrl = new URL('../plugin/index.js', import.meta.url).href
const plugin = await import(pluginUrl) as { default: FastifyPluginAsync<Record<string, unknown>> }

const app = Fastify({ logger: false })
await app.register(plugin.default, {
  upstreams: { echo: { servers: [`http://127.0.0.1:${backendPort}`] } },
  routes: [{ path: '/', upstream: 'echo' }]
})
await app.listen({ port: 0, host: '127.0.0.1', backlog: 4096 })
process.send?.({ port: (app.server.address() as AddressInfo).port })
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
