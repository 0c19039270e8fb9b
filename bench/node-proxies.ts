import type { AddressInfo, Server } from 'node:net'
import { fileURLToPath } from 'node:url'

/**
 * The Node proxies under test, one per process: `node node-proxies.js KIND PORT[,PORT…]`
 * (the echo backends) listens on 127.0.0.1 port 0 and reports `{ port }` over IPC. Each kind loads
 * only its own modules (dynamic imports), so `netpipe` stays a bare `net`
 * process and no proxy's memory figure carries another's libraries.
 *
 * - netpipe: the Node floor, `c.pipe(u); u.pipe(c)` with no HTTP parsing at all.
 * - wsc-plugin: Fastify + the ws-cluster plugin, tunnel mode (loaded by URL so the
 *   bench builds while the plugin is absent; the path is then skipped).
 * - wsc-plugin-untracked: the same with frame-boundary tracking switched off
 *   (`WS_CLUSTER_BENCH_FRAME_TRACKING=off`, read when the tunnel module loads), to
 *   measure what the tracking costs (target: at most 3% CPU per round trip).
 * - wsc-relay, wsc-relay-inline, wsc-relay-pool: the plugin in relay mode without a
 *   hook, with a no-op hook as a function, and the same no-op hook as a module in
 *   the thread pool.
 * - fastify-http-proxy: `@fastify/http-proxy` with `websocket: true` (relays messages through `ws`).
 * - http-proxy: `http-proxy` with `ws: true` in its documented shape.
 *
 * Given more than one backend, netpipe and http-proxy take them in turn per
 * connection with no health tracking (what a bare pipe and http-proxy's
 * documented shape do), the plugin kinds balance over an upstream with every
 * backend, and fastify-http-proxy, which takes one upstream, uses the first.
 */

export const NODE_PROXY_KINDS = ['netpipe', 'wsc-plugin', 'wsc-plugin-untracked', 'wsc-relay', 'wsc-relay-inline', 'wsc-relay-pool', 'fastify-http-proxy', 'http-proxy'] as const
export type NodeProxyKind = typeof NODE_PROXY_KINDS[number]

const BACKLOG = 4096

/** Each call the next port of `ports`, round and round. */
function roundRobin (ports: readonly number[]): () => number {
  let next = 0
  return () => ports[next++ % ports.length]
}

async function netpipe (backendPorts: readonly number[]): Promise<Server> {
  const net = await import('node:net')
  const pick = roundRobin(backendPorts)
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: pick(), host: '127.0.0.1', noDelay: true })
    client.setNoDelay(true)
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: BACKLOG }, resolve))
  return server
}

async function fastifyApp (register: (app: import('fastify').FastifyInstance) => Promise<void>): Promise<Server> {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  await register(app)
  await app.listen({ port: 0, host: '127.0.0.1', backlog: BACKLOG })
  return app.server
}

async function httpProxy (backendPorts: readonly number[]): Promise<Server> {
  const http = await import('node:http')
  const { default: httpProxyLib } = await import('http-proxy')
  const pick = roundRobin(backendPorts)
  const target = (): string => `http://127.0.0.1:${pick()}`
  const proxy = httpProxyLib.createProxyServer({ ws: true })
  proxy.on('error', (_err, _req, res) => {
    // For upgrades `res` is the client socket; a failed tunnel must not crash the peer.
    if ('destroy' in res && typeof res.destroy === 'function') res.destroy()
  })
  const server = http.createServer((req, res) => proxy.web(req, res, { target: target() }))
  server.on('upgrade', (req, socket, head) => proxy.ws(req, socket, head, { target: target() }))
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: BACKLOG }, resolve))
  return server
}

export async function startNodeProxy (kind: NodeProxyKind, backendPorts: readonly number[]): Promise<Server> {
  if (kind === 'netpipe') return await netpipe(backendPorts)
  if (kind === 'http-proxy') return await httpProxy(backendPorts)
  if (kind === 'fastify-http-proxy') {
    const { default: fastifyHttpProxy } = await import('@fastify/http-proxy')
    return await fastifyApp(async (app) => {
      await app.register(fastifyHttpProxy, { upstream: `http://127.0.0.1:${backendPorts[0]}`, websocket: true })
    })
  }
  if (kind === 'wsc-plugin-untracked') process.env.WS_CLUSTER_BENCH_FRAME_TRACKING = 'off'
  const plugin = await import(new URL('../plugin/index.js', import.meta.url).href) as {
    default: import('fastify').FastifyPluginAsync<Record<string, unknown>>
  }
  const hooks: Record<string, unknown> = {
    'wsc-relay-inline': () => undefined,
    'wsc-relay-pool': fileURLToPath(new URL('./relay-noop-hook.js', import.meta.url))
  }
  const route = kind === 'wsc-plugin' || kind === 'wsc-plugin-untracked'
    ? { path: '/', upstream: 'echo' }
    : { path: '/', upstream: 'echo', mode: 'relay', relay: hooks[kind] === undefined ? {} : { onMessage: hooks[kind] } }
  return await fastifyApp(async (app) => {
    await app.register(plugin.default, {
      upstreams: { echo: { servers: backendPorts.map((p) => `http://127.0.0.1:${p}`) } },
      routes: [route]
    })
  })
}

if (process.send !== undefined && process.argv[2] !== undefined) {
  const kind = process.argv[2] as NodeProxyKind
  if (!NODE_PROXY_KINDS.includes(kind)) throw new Error(`unknown proxy kind ${kind}; allowed: ${NODE_PROXY_KINDS.join(', ')}`)
  const server = await startNodeProxy(kind, (process.argv[3] ?? '').split(',').map(Number))
  process.send({ port: (server.address() as AddressInfo).port })
  process.on('disconnect', () => process.exit(0))
  process.on('SIGTERM', () => process.exit(0))
}
