import cluster from 'node:cluster'
import { Socket } from 'node:net'
import { TLSSocket } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import { setClientAddress } from '../../plugin/internal.js'
import { registerWorkerMetrics } from './worker-metrics.js'
import { isClusterMessage, type ConnMessage, type PrimaryToWorker, type SetupMessage, type WorkerStats, type WorkerToPrimary } from '../ipc-messages.js'
import { createLogger } from '../logger.js'
import { armRequestHeadTimeout } from './request-head-timeout.js'
import { createProxyApp } from './worker-app.js'
import { applyReload, secureContextOf, WorkerExit, type Serving } from './worker-lifecycle.js'
import { loadUserApp } from './user-app.js'
import type { ClusterConfig } from '../config/config-types.js'

/**
 * A worker process: serves the sockets the primary hands over with a Fastify
 * app running the wsProxy plugin (and the user's `app` plugin), plain or
 * TLS-terminated (R43). The primary owns the lifecycle: it sends the config,
 * waits for "ready", routes connections, sends reloaded configs to apply in
 * place, and asks for a drain when a reload replaces the worker or on stop;
 * a worker whose primary vanished stops by itself.
 */

/** Like nginx `ssl_handshake_timeout` (60 s there); shorter, because a stalled handshake only costs us. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000

const PONG = Object.freeze({ type: 'ws-cluster:pong' }) as WorkerToPrimary

let serving: Serving | null = null
const exit = new WorkerExit(() => serving)

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
    const secureContext = secureContextOf(config)
    const userApp = config.app === null ? null : await loadUserApp(config.app)
    const app = await createProxyApp(config, log, userApp)
    await app.ready()
    armRequestHeadTimeout(app.server, config.headersTimeout)
    registerWorkerMetrics(() => statsOf(app), () => exit.draining)
    serving = { app, server: app.server, secureContext, log, config }
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

async function update (id: number, config: ClusterConfig): Promise<void> {
  if (serving === null) {
    send({ type: 'ws-cluster:update-result', id, error: 'the worker is not serving yet' })
    return
  }
  try {
    send({ type: 'ws-cluster:update-result', id, result: await applyReload(serving, config) })
  } catch (err) {
    serving.log.error({ err }, 'reload in place failed; this worker keeps its previous config')
    send({ type: 'ws-cluster:update-result', id, error: (err as Error).message })
  }
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
      exit.drain(msg.mode)
      break
    case 'ws-cluster:update':
      update(msg.id, msg.config).catch(() => {})
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
  process.on('disconnect', () => { exit.drain('stop') })
  send({ type: 'ws-cluster:hello' })
}
