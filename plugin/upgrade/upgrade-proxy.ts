import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { relayAnswer } from './answer-relay.js'
import { clientAddressOf } from '../client-identity.js'
import {
  BadHandshakeError, ConnectionLimitError, NoLiveUpstreamError, UpstreamBadHandshakeError, UpstreamsAtMaxConnsError
} from '../errors.js'
import { hashKeyOf } from '../upstream/hash-key.js'
import type { ProxyRuntime, UpgradeClaim } from '../proxy-runtime.js'
import { UpstreamAttempt } from './upstream-attempt.js'
import { buildUpgradeRequestHeaders } from './upstream-request-headers.js'
import type { UpstreamServer } from '../upstream/upstream-server.js'
import { checkUpgradeAnswer, clientSwitchHead, isWebSocketUpgrade, validateUpgradeRequest } from './websocket-handshake.js'

type HttpError = Error & { statusCode?: number, code?: string }

// Client bytes buffered while the upstream is asked; beyond this the client
// is simply not read until the tunnel opens (backpressure, R15).
const EARLY_BYTES_LIMIT = 64 * 1024

/**
 * While an upstream attempt is pending, reads the client socket so that a
 * client that goes away with a FIN (the usual way) is noticed: Node leaves an
 * upgraded socket unread, and only a reset would show otherwise, so the
 * attempt would run to its timeout and hold its limit slot. What the client
 * sends meanwhile is kept for the tunnel (R9). A 'readable' listener is used
 * because removing it puts the socket back to its initial non-flowing state,
 * which the tunnel's 'data' listener then resumes.
 */
class ClientWatch {
  readonly early: Buffer[] = []
  private bytes = 0

  constructor (private readonly socket: Socket, private readonly onGone: () => void) {
    socket.on('readable', this.onReadable)
    socket.once('end', onGone)
    socket.once('close', onGone)
    // Gone already (while a slow onRequest/preHandler hook ran): its 'end'/'close' will not come again.
    if (this.gone) queueMicrotask(onGone)
  }

  private readonly onReadable = (): void => {
    let chunk: Buffer | null
    while (this.bytes < EARLY_BYTES_LIMIT && (chunk = this.socket.read() as Buffer | null) !== null) {
      this.early.push(chunk)
      this.bytes += chunk.length
    }
  }

  stop (): void {
    this.socket.removeListener('readable', this.onReadable)
    this.socket.removeListener('end', this.onGone)
    this.socket.removeListener('close', this.onGone)
  }

  /** True when the client half-closed or is gone: nothing can be tunnelled to it any more. */
  get gone (): boolean {
    return this.socket.destroyed || this.socket.readableEnded
  }
}

/**
 * Serves one claimed upgrade from inside its Fastify route handler, so the
 * route's onRequest/preHandler hooks have already run and could have refused
 * it with a real status. Refusals before the 101 go through `reply` (Fastify's
 * error handling and hooks apply); once an upstream answered, the reply is
 * hijacked and the answer or the tunnel owns the raw socket.
 */
export async function proxyUpgrade (
  runtime: ProxyRuntime, claim: UpgradeClaim, request: FastifyRequest, reply: FastifyReply
): Promise<void> {
  const req = request.raw
  const { socket, route } = claim
  const routeStats = runtime.counters.route(route.config.path)
  const rejection = validateUpgradeRequest(req)
  if (rejection !== null) {
    routeStats.failed++
    const err: HttpError = new BadHandshakeError(rejection.reason)
    err.statusCode = rejection.statusCode
    request.log.info({ reason: rejection.reason, statusCode: rejection.statusCode }, 'upgrade refused: invalid handshake')
    if (rejection.headers !== undefined) reply.headers(rejection.headers)
    return reply.code(rejection.statusCode).send(err)
  }

  const clientAddress = clientAddressOf(req.socket)
  const refusal = runtime.closing ? 'shutting down' : runtime.limits.tryAcquire(clientAddress)
  if (refusal !== null) {
    runtime.counters.refused++
    routeStats.failed++
    request.log.warn({ client: clientAddress, reason: refusal }, 'upgrade refused: connection limit')
    return reply.code(503).send(new ConnectionLimitError(refusal))
  }

  const group = route.group
  const webSocket = isWebSocketUpgrade(req)
  const ctx = { clientAddress, hashKey: hashKeyOf(group.config.hashKey, req, clientAddress) }
  const encrypted = (req.socket as TLSSocket).encrypted === true
  const tried = new Set<UpstreamServer>()
  const early: Buffer[] = []
  let lastError: HttpError | null = null
  let limitHeld = true
  const releaseLimit = (): void => {
    if (limitHeld) runtime.limits.release(clientAddress)
    limitHeld = false
  }
  runtime.counters.handshaking++
  try {
    for (;;) {
      const server = group.pick(ctx, tried)
      if (server === undefined) {
        // R25: a group whose servers are all busy is told apart from one whose servers are all dead.
        const err: HttpError = lastError ??
          (group.lastPickFailure === 'max-conns' ? new UpstreamsAtMaxConnsError(group.name) : new NoLiveUpstreamError(group.name))
        routeStats.failed++
        releaseLimit()
        request.log.error({ upstream: group.name, err }, 'upgrade failed: no upstream answered')
        return reply.code(err.statusCode ?? 502).send(err)
      }
      tried.add(server)
      group.acquire(server)
      const attempt = new UpstreamAttempt({
        server: server.config,
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: buildUpgradeRequestHeaders(req, { route: route.config, server: server.config, clientAddress, encrypted }),
        connectTimeout: route.config.connectTimeout,
        handshakeTimeout: route.config.handshakeTimeout
      })
      const watch = new ClientWatch(socket, () => attempt.abort())
      runtime.attempts.add(attempt)
      const result = await attempt.result
      runtime.attempts.delete(attempt)
      watch.stop()
      early.push(...watch.early)

      if (watch.gone) {
        // The client left while the upstream was being asked: nothing to answer.
        if (result.kind !== 'failed') result.socket.destroy()
        group.release(server)
        routeStats.failed++
        releaseLimit()
        reply.hijack()
        socket.destroy()
        return
      }
      if (result.kind === 'failed' && runtime.closing) {
        // Aborted by shutdown (or failed during it): no other server is tried now.
        group.release(server)
        routeStats.failed++
        releaseLimit()
        return reply.code(503).send(new ConnectionLimitError('shutting down'))
      }
      if (result.kind === 'failed') {
        group.recordFailure(server)
        group.release(server)
        lastError = result.error
        request.log.warn({ upstream: server.id, err: result.error }, 'upstream attempt failed')
        continue
      }
      if (result.kind === 'answered') {
        group.recordSuccess(server)
        routeStats.failed++
        reply.hijack()
        claim.res.detachSocket(socket)
        const statusCode = result.res.statusCode
        const startedAt = Date.now()
        relayAnswer(result.res, socket, route.config.handshakeTimeout, (bytes) => {
          group.release(server)
          releaseLimit()
          if (runtime.options.accessLog) {
            runtime.log.info({
              reqId: request.id,
              route: route.config.path,
              upstream: server.id,
              client: clientAddress,
              status: statusCode,
              durationMs: Date.now() - startedAt,
              bytesToClient: bytes
            }, 'upgrade answered without switching')
          }
        })
        return
      }
      const problem = checkUpgradeAnswer(req, result.res, webSocket)
      if (problem !== null) {
        result.socket.destroy()
        group.recordFailure(server)
        group.release(server)
        lastError = new UpstreamBadHandshakeError(server.id, problem)
        request.log.warn({ upstream: server.id, reason: problem }, 'upstream sent an invalid 101')
        continue
      }
      group.recordSuccess(server)
      reply.hijack()
      claim.res.detachSocket(socket)
      // The tunnel now owns the limit slot and the server's connection count.
      limitHeld = false
      const switchBytes = Buffer.concat([Buffer.from(clientSwitchHead(result.res), 'latin1'), result.head])
      const clientHead = early.length === 0 ? claim.head : Buffer.concat([claim.head, ...early])
      runtime.openTunnel(socket, result.socket, switchBytes, clientHead, { route, server, clientAddress, reqId: String(request.id) })
      return
    }
  } finally {
    runtime.counters.handshaking--
  }
}
