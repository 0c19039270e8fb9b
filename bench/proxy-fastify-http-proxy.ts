import Fastify from 'fastify'
import fastifyHttpProxy from '@fastify/http-proxy'
import type { AddressInfo } from 'node:net'

/**
 * Peer: `@fastify/http-proxy` with `websocket: true` — what a Fastify user reaches
 * for today. It terminates the WebSocket and relays messages through `ws` on
 * both sides. Run as `node proxy-fastify-http-proxy.js BACKEND_PORT`.
 */

const backendPort = Number(process.argv[2])
const app = Fastify({ logger: false })
await app.register(fastifyHttpProxy, {
  upstream: `http://127.0.0.1:${backendPort}`,
  websocket: true
})
await app.listen({ port: 0, host: '127.0.0.1', backlog: 4096 })
process.send?.({ port: (app.server.address() as AddressInfo).port })
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
