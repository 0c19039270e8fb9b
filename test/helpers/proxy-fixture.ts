import type { AddressInfo, Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import type { LimitsOptions, RouteOptions, UpstreamOptions } from '../../plugin/index.js'
import { wsProxy } from '../../plugin/index.js'
import { startEchoBackend, type EchoBackend, type EchoBackendOptions } from './backends.js'
import { assertNoFdLeak, openFdCount } from './fd-leak.js'

export interface ProxyFixtureOptions {
  /** Echo backends to start: a count, or one options object per backend. Default 1. */
  backends?: number | EchoBackendOptions[]
  /** Upstream URLs used instead of the started backends' (raw backends, say). */
  servers?: string[]
  /** Route settings besides path and upstream (`finTimeout`, `http`...). */
  route?: Omit<RouteOptions, 'path' | 'upstream'>
  upstream?: Omit<UpstreamOptions, 'servers'>
  limits?: LimitsOptions
}

/** Fastify + wsProxy on 127.0.0.1:0 with one route `/ws` to one group, and the backends behind it. */
export interface ProxyFixture {
  app: FastifyInstance
  port: number
  /** `ws://127.0.0.1:PORT/ws` */
  wsUrl: string
  /** `http://127.0.0.1:PORT/ws` */
  httpUrl: string
  backends: EchoBackend[]
  /** Client connections as the proxy accepted them, to look at what it buffers per client (R15). */
  clientSockets: Socket[]
  /** R38 while the proxy runs: as many fds open as right after it started listening (see plugin-harness). */
  assertIdleFds: (heldByStandIns?: () => number, timeoutMs?: number) => Promise<void>
  /** Closes the proxy, then every backend it started. */
  close: () => Promise<void>
}

/**
 * Starts the proxy under test with real echo backends. Logging is off so the
 * tests read bytes, not log lines; the shutdown grace is short because every
 * test closes its own clients before closing the fixture.
 */
export async function startProxyFixture (opts: ProxyFixtureOptions = {}): Promise<ProxyFixture> {
  const specs = typeof opts.backends === 'number'
    ? Array.from({ length: opts.backends }, (_, i) => ({ name: `b${i}` }))
    : opts.backends ?? [{ name: 'b0' }]
  const backends: EchoBackend[] = []
  let app: FastifyInstance | null = null
  try {
    for (const spec of specs) backends.push(await startEchoBackend(spec))
    const servers = opts.servers ?? backends.map(b => b.url)
    app = Fastify({ logger: false })
    const clientSockets: Socket[] = []
    app.server.on('connection', (socket: Socket) => clientSockets.push(socket))
    await app.register(wsProxy, {
      upstreams: { main: { ...opts.upstream, servers } },
      routes: [{ ...opts.route, path: '/ws', upstream: 'main' }],
      limits: opts.limits,
      shutdownTimeout: 500
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as AddressInfo).port
    const idleFds = openFdCount()
    const running = app
    let closed = false
    return {
      app: running,
      port,
      wsUrl: `ws://127.0.0.1:${port}/ws`,
      httpUrl: `http://127.0.0.1:${port}/ws`,
      backends,
      clientSockets,
      assertIdleFds: async (heldByStandIns = () => 0, timeoutMs = 3000) => { await assertNoFdLeak(() => idleFds + heldByStandIns(), timeoutMs) },
      close: async () => {
        if (closed) return
        closed = true
        await running.close()
        for (const backend of backends) await backend.close()
      }
    }
  } catch (err) {
    await app?.close()
    for (const backend of backends) await backend.close()
    throw err
  }
}
