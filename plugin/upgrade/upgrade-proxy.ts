import type { TLSSocket } from 'node:tls'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { relayAnswer } from './answer-relay.js'
import { clientAddressOf } from '../client-identity.js'
import { ClientWatch } from './client-watch.js'
import {
  BadHandshakeError, ClientGoneError, ConnectionLimitError, NoLiveUpstreamError, ShuttingDownError, UpstreamBadHandshakeError, UpstreamsAtMaxConnsError
} from '../errors.js'
import { sendPublicError } from '../public-errors.js'
import { hashKeyOf } from '../upstream/hash-key.js'
import type { ProxyRuntime, UpgradeClaim } from '../proxy-runtime.js'
import { offeredProtocols, relayRequestRejection } from '../relay/route-relay.js'
import { UpstreamAttempt } from './upstream-attempt.js'
import { buildUpgradeRequestHeaders } from './upstream-request-headers.js'
import type { UpstreamServer } from '../upstream/upstream-server.js'
import { upstreamTarget } from '../upstream-path.js'
import { UpgradeSession } from './upgrade-session.js'
import { checkUpgradeAnswer, clientSwitchHead, isWebSocketUpgrade, validateUpgradeRequest } from './websocket-handshake.js'

type HttpError = Error & { statusCode?: number, code?: string }

/**
 * Serves one claimed upgrade from inside its Fastify route handler, so the
 * route's onRequest/preHandler hooks have already run and could have refused
 * it with a real status. Refusals before the 101 go through `reply` (Fastify's
 * error handling and hooks apply); once an upstream answered, the reply is
 * hijacked and the answer or the tunnel owns the raw socket. What the upgrade
 * holds (limit slot, server count, route figures) is owned by its
 * {@link UpgradeSession} from the first check to the end of the tunnel.
 */
export async function proxyUpgrade (
  runtime: ProxyRuntime, claim: UpgradeClaim, request: FastifyRequest, reply: FastifyReply
): Promise<void> {
  const req = request.raw
  const { socket, route } = claim
  const session = new UpgradeSession(runtime, route, clientAddressOf(req.socket), String(request.id))
  const webSocket = isWebSocketUpgrade(req)
  const relay = route.relay
  const rejection = validateUpgradeRequest(req) ?? (relay === null ? null : relayRequestRejection(req, webSocket))
  if (rejection !== null) {
    session.fail()
    const err: HttpError = new BadHandshakeError(rejection.reason)
    err.statusCode = rejection.statusCode
    request.log.info({ reason: rejection.reason, statusCode: rejection.statusCode }, 'upgrade refused: invalid handshake')
    if (rejection.headers !== undefined) reply.headers(rejection.headers)
    return reply.code(rejection.statusCode).send(err)
  }

  const refusal = session.takeSlot()
  if (refusal !== null) {
    session.fail()
    // A client can ask again in a loop: one line per 10 s per route says it goes on (R88).
    const err = runtime.closing ? new ShuttingDownError() : new ConnectionLimitError(refusal)
    const kind = runtime.closing ? 'shutting-down' : `connection-limit:${route.config.path}`
    runtime.warnings.warn(kind, { client: session.clientAddress, reason: refusal, code: err.code }, `upgrade refused: ${runtime.closing ? 'shutting down' : 'connection limit'}`, request.log)
    return sendPublicError(reply, err, runtime.warnings, kind)
  }

  const group = route.group
  // Relay routes: the upstream chooses among the client's whole offer, which the proxy repeats (R67).
  const relaySetup = relay?.upstreamSetup(offeredProtocols(req) as string[])
  const ctx = { clientAddress: session.clientAddress, hashKey: hashKeyOf(group.config.hashKey, req, session.clientAddress) }
  const encrypted = (req.socket as TLSSocket).encrypted === true
  // The dispatcher matched this route on req.url itself, so it begins with the part upstreamPath replaces.
  const path = upstreamTarget(route.config, req.url ?? '/') as string
  const tried = new Set<UpstreamServer>()
  const watch = new ClientWatch(socket)
  let lastError: HttpError | null = null
  runtime.counters.handshaking++
  try {
    for (;;) {
      const server = group.pick(ctx, tried)
      if (server === undefined) {
        // R25: a group whose servers are all busy is told apart from one whose servers are all dead.
        const err: HttpError = lastError ??
          (group.lastPickFailure === 'max-conns' ? new UpstreamsAtMaxConnsError(group.name) : new NoLiveUpstreamError(group.name))
        session.fail()
        const kind = `no-upstream:${group.name}:${err.code ?? ''}`
        runtime.warnings.error(kind, { upstream: group.name, err, reason: group.noServersReason ?? undefined }, 'upgrade failed: no upstream answered', request.log)
        // R80: the client learns the code, never the addresses or the reasons behind it.
        return sendPublicError(reply, err, runtime.warnings, kind)
      }
      tried.add(server)
      session.connectTo(server)
      const attempt = new UpstreamAttempt({
        server: server.config,
        method: req.method ?? 'GET',
        path,
        headers: buildUpgradeRequestHeaders(req, { route: route.config, server: server.config, clientAddress: session.clientAddress, encrypted }),
        connectTimeout: route.config.connectTimeout,
        handshakeTimeout: route.config.handshakeTimeout,
        relay: relaySetup,
        tls: group.tls
      })
      watch.watch(() => attempt.abort())
      runtime.attempts.add(attempt)
      const result = await attempt.result
      runtime.attempts.delete(attempt)

      if (watch.gone) {
        // The client left while the upstream was being asked: nothing to answer, and
        // no failure of the server, whatever the aborted attempt reported (R83).
        if (result.kind !== 'failed') result.socket.destroy()
        session.fail()
        request.log.info({ upstream: server.id, err: new ClientGoneError(server.id) }, 'upgrade abandoned: the client went away')
        watch.stop()
        reply.hijack()
        socket.destroy()
        return
      }
      if (result.kind === 'failed' && runtime.closing) {
        // Aborted by shutdown (or failed during it): no other server is tried now.
        session.fail()
        return sendPublicError(reply, new ShuttingDownError(), runtime.warnings, 'shutting-down')
      }
      if (result.kind === 'failed') {
        group.recordFailure(server)
        session.dropServer()
        lastError = result.error
        const code = (result.error as HttpError).code ?? ''
        runtime.warnings.warn(`upstream-failed:${server.id}:${code}`, { upstream: server.id, err: result.error }, 'upstream attempt failed', request.log)
        continue
      }
      if (result.kind === 'answered') {
        group.recordSuccess(server)
        watch.stop()
        reply.hijack()
        claim.res.detachSocket(socket)
        const statusCode = result.res.statusCode ?? 502
        relayAnswer(result.res, socket, route.config.handshakeTimeout, (bytes) => {
          // Node may have detached the socket from a finished answer (res.socket null); it is never reused.
          result.socket.destroy()
          session.answered(statusCode, bytes)
        })
        return
      }
      // On a relay route ws has checked the 101 against its own key and the offer it sent.
      const problem = relay === null ? checkUpgradeAnswer(req, result.res, webSocket) : null
      if (problem !== null) {
        result.socket.destroy()
        group.recordFailure(server)
        session.dropServer()
        lastError = new UpstreamBadHandshakeError(server.id, problem)
        runtime.warnings.warn(`invalid-101:${server.id}`, { upstream: server.id, reason: problem }, 'upstream sent an invalid 101', request.log)
        continue
      }
      group.recordSuccess(server)
      watch.stop()
      reply.hijack()
      claim.res.detachSocket(socket)
      if (result.webSocket !== undefined) {
        runtime.openRelay(req, socket, Buffer.concat([claim.head, ...watch.early]), result.res, result.webSocket, session)
        return
      }
      const switchHead = Buffer.from(clientSwitchHead(result.res), 'latin1')
      const clientHead = watch.early.length === 0 ? claim.head : Buffer.concat([claim.head, ...watch.early])
      runtime.openTunnel({ client: socket, upstream: result.socket, switchHead, upstreamHead: result.head, clientHead, webSocket }, session)
      return
    }
  } finally {
    watch.stop()
    runtime.counters.handshaking--
  }
}
