import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { Socket } from 'node:net'
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { setClientAddress } from '../../plugin/internal.js'
import { registerWorkerMetrics } from './worker-metrics.js'
import { isClusterMessage, type ConnMessage, type PrimaryToWorker, type SetupMessage, type WorkerStats, type WorkerToPrimary } from '../ipc-messages.js'
import { createLogger } from '../logger.js'
import { armRequestHeadTimeout } from './request-head-timeout.js'
import { createProxyApp } from './worker-app.js'
import { loadUserApp } from './user-app.js'

/**
 * A worker process: serves the sockets the primary hands over with a Fastify
 * app running the wsProxy plugin (and the user's `app` plugin), plain or
 * TLS-terminated (R43). The primary owns the lifecycle: it sends the config,
 * waits for "ready", routes connections, and asks for a drain on reload or
 * stop; a worker whose primary vanished drains by itself.
 */

/**
 * After a drain request, connections handed over just before it still get
 * to send their request: the primary already routes new clients elsewhere,
 * but a client that connected a moment ago must not be refused (R40).
 */
const DRAIN_GRACE_MS = 1000

/** Like nginx `ssl_handshake_timeout` (60 s there); shorter, because a stalled handshake only costs us. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000

interface Serving {
  app: FastifyInstance
  server: Server
  secureContext: SecureContext | null
  log: Logger
  shutdownTimeout: number
}

const PONG = Object.freeze({ type: 'ws-cluster:pong' }) as WorkerToPrimary

let serving: Serving | null = null
let draining = false

function send (message: WorkerToPrimary): void {
  if (process.connected) process.send?.(message)
}

function accept (socket: Socket, message: ConnMessage): void {
  if (serving === null) {
    socket.destroy()
    return
  }
  // Bytes the primary read past a PROXY header go back in front of the stream;
  // a TLSSocket picks up data already buffered on the socket it wraps.
  if (message.h !== undefined) socket.unshift(Buffer.from(message.h, 'base64'))
  let connection: Socket = socket
  if (serving.secureContext !== null) {
    const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext: serving.secureContext, ALPNProtocols: ['http/1.1'] })
    // A TLSSocket built outside a tls.Server has no handshake timeout of its own: a client
    // that connects and never finishes the handshake would hold the socket forever.
    const timer = setTimeout(() => tlsSocket.destroy(), TLS_HANDSHAKE_TIMEOUT_MS)
    tlsSocket.once('secure', () => clearTimeout(timer))
    tlsSocket.once('close', () => clearTimeout(timer))
    connection = tlsSocket
  }
  if (message.a !== undefined) setClientAddress(connection, message.a)
  serving.server.emit('connection', connection)
}

async function setup (message: SetupMessage): Promise<void> {
  const { config } = message
  const log = createLogger({ level: config.log.level, pretty: message.pretty }, { role: 'worker', slot: message.slot })
  try {
    const secureContext = config.listen.tls === null
      ? null
      : createSecureContext({ cert: readFileSync(config.listen.tls.cert), key: readFileSync(config.listen.tls.key) })
    const userApp = config.app === null ? null : await loadUserApp(config.app)
    const app = await createProxyApp(config, log, userApp)
    await app.ready()
    armRequestHeadTimeout(app.server, config.headersTimeout)
    registerWorkerMetrics(() => statsOf(app))
    serving = { app, server: app.server, secureContext, log, shutdownTimeout: config.shutdownTimeout }
    log.debug('worker ready')
    send({ type: 'ws-cluster:ready' })
  } catch (err) {
    log.error({ err }, 'worker failed to start')
    send({ type: 'ws-cluster:failed', error: (err as Error).message })
    process.exitCode = 1
    process.disconnect()
  }
}

function statsOf (app: FastifyInstance): WorkerStats {
  return app.wsProxy.stats()
}

async function drain (): Promise<void> {
  if (draining) return
  draining = true
  if (serving === null) process.exit()
  const { app, server, log, shutdownTimeout } = serving
  log.debug('worker draining')
  // Whatever happens in close hooks, the worker is gone shortly after shutdownTimeout.
  setTimeout(() => process.exit(0), DRAIN_GRACE_MS + shutdownTimeout + 2000).unref()
  await new Promise((resolve) => setTimeout(resolve, DRAIN_GRACE_MS))
  try {
    await app.close()
  } catch (err) {
    log.warn({ err }, 'error while closing the worker app')
  }
  server.closeAllConnections()
  process.exit(0)
}

function onMessage (message: unknown, handle: unknown): void {
  if (!isClusterMessage(message)) return
  const msg = message as PrimaryToWorker
  switch (msg.type) {
    case 'ws-cluster:conn':
      // A handle that did not survive the transfer arrives as undefined; there is nothing to serve.
      if (handle instanceof Socket) accept(handle, msg)
      break
    case 'ws-cluster:setup':
      setup(msg).catch(() => process.exit(1))
      break
    case 'ws-cluster:drain':
      drain().catch(() => process.exit(0))
      break
    case 'ws-cluster:ping':
      send(PONG)
      break
    case 'ws-cluster:stats-request':
      if (serving !== null) send({ type: 'ws-cluster:stats-response', id: msg.id, stats: statsOf(serving.app) })
      break
  }
}

if (cluster.isWorker) {
  process.on('message', onMessage)
  // Ctrl-C reaches the whole process group; the primary decides how workers stop.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {})
  // A primary that died (even by SIGKILL) closes the channel: do not linger as an orphan.
  process.on('disconnect', () => { drain().catch(() => process.exit(0)) })
  send({ type: 'ws-cluster:hello' })
}
