import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { RelayOptions, RouteOptions } from '../../plugin/index.js'
import { startEchoBackend, type EchoBackend, type EchoBackendOptions } from './backends.js'
import { assertNoFdLeak, openFdCount } from './fd-leak.js'
import { startProxy, type ProxyUnderTest } from './plugin-harness.js'
import { collectMessages, type Message } from './ws-clients.js'

/** A relay route `/ws` in front of real `ws` echo backends, with the proxy's log lines captured. */
export interface RelayUnderTest {
  proxy: ProxyUnderTest
  backends: EchoBackend[]
  /** `ws://127.0.0.1:PORT/ws` */
  url: string
  /** Server-side sockets of the first backend, oldest first, with what each received. */
  upstreamSockets: WebSocket[]
  upstreamReceived: Map<WebSocket, Message[]>
  /** Client connections as the proxy accepted them, to look at what it buffers per client. */
  clientSockets: Socket[]
}

export interface RelayFixtureOptions {
  relay?: RelayOptions
  /** Route options besides path, upstream and mode. */
  route?: Omit<RouteOptions, 'path' | 'upstream' | 'mode' | 'relay'>
  /** One echo backend per entry (default one). */
  backends?: EchoBackendOptions[]
  /** Upstream URLs in front of the started backends' (a dead port, say). */
  extraServers?: string[]
  shutdownTimeout?: number
}

/**
 * Runs `body` against a relay route, then closes the proxy and the backends
 * and checks that no descriptor leaked (R38); the check is skipped when
 * `body` failed, so its error is the one reported.
 *
 * @example
 * await withRelay({ relay: { maxMessageSize: 1024 } }, async ({ url }) => { ... })
 */
export async function withRelay (options: RelayFixtureOptions, body: (relay: RelayUnderTest) => Promise<void>): Promise<void> {
  const baseline = openFdCount()
  const upstreamSockets: WebSocket[] = []
  const upstreamReceived = new Map<WebSocket, Message[]>()
  const backends: EchoBackend[] = []
  let proxy: ProxyUnderTest | null = null
  const clientSockets: Socket[] = []
  try {
    for (const [i, spec] of (options.backends ?? [{}]).entries()) {
      backends.push(await startEchoBackend({
        ...spec,
        onConnection: (ws, req) => {
          if (i === 0) {
            upstreamSockets.push(ws)
            upstreamReceived.set(ws, collectMessages(ws))
          }
          spec.onConnection?.(ws, req)
        }
      }))
    }
    proxy = await startProxy({
      upstreams: { main: { servers: [...options.extraServers ?? [], ...backends.map(b => b.url)] } },
      routes: [{ ...options.route, path: '/ws', upstream: 'main', mode: 'relay', relay: options.relay }],
      shutdownTimeout: options.shutdownTimeout ?? 500
    }, { before: (app) => { app.server.on('connection', (socket: Socket) => clientSockets.push(socket)) } })
    await body({ proxy, backends, url: `${proxy.wsBase}/ws`, upstreamSockets, upstreamReceived, clientSockets })
  } finally {
    await proxy?.close()
    for (const backend of backends) await backend.close()
  }
  await assertNoFdLeak(baseline)
}

/** The access-log lines ("relay closed") written so far. */
export function relayLogs (logs: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return logs.filter(line => line.msg === 'relay closed')
}

/** The code and reason of `ws`'s close, once it closes; rejects after `timeoutMs` so a close that never comes fails the test. */
export async function closeEvent (ws: WebSocket, timeoutMs = 10_000): Promise<[number, string]> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms`)), timeoutMs)
    ws.once('close', (code: number, reason: Buffer) => {
      clearTimeout(timer)
      resolve([code, String(reason)])
    })
  })
}
