import { ServerResponse, type IncomingMessage, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { lingeringClose } from './lingering-close.js'
import { normalizeRequestUrl } from '../path-normalization.js'
import { kUpgradeClaim, type ProxyRuntime, type UpgradeClaim } from '../proxy-runtime.js'
import { answerRefusal, gateUpgrade } from './upgrade-gate.js'

type UpgradeListener = (req: IncomingMessage, socket: Socket, head: Buffer) => void

// Node drops its own socket error handler before emitting 'upgrade'; an
// unhandled reset there would crash the process.
function destroyOnError (this: Socket): void {
  this.destroy()
}

// A claimed or routed upgrade that got an ordinary HTTP answer must not go on
// as HTTP: the client may already have sent frames after its request. The
// close is bounded, so a client that never closes its half frees its socket.
function endSocketAfterResponse (this: ServerResponse): void {
  const socket = this.socket
  if (socket !== null) lingeringClose(socket)
}

type SocketWithResponse = Socket & { _httpMessage?: ServerResponse | null }

/**
 * Node emits 'upgrade' as soon as it parses the request head, even when
 * earlier requests pipelined on the same connection still have their
 * response in progress; that response owns the socket (Node's internal
 * `_httpMessage`, the field `assignSocket` checks). The upgrade is answered
 * only once the earlier answers are out, so every pipelined request is
 * answered in order instead of the second owner throwing.
 */
function whenResponsesDone (socket: SocketWithResponse, run: () => void): void {
  const pending = socket._httpMessage
  if (pending === null || pending === undefined) {
    run()
    return
  }
  const retry = (): void => {
    pending.removeListener('finish', retry)
    pending.removeListener('close', retry)
    socket.removeListener('close', retry)
    // Node hands the socket to the next queued response in its own 'finish' listener, after ours may run.
    setImmediate(() => {
      if (socket.destroyed) return
      // Node armed its keep-alive timer when that response finished; nobody listens for it on an upgraded socket.
      socket.setTimeout(0)
      whenResponsesDone(socket, run)
    })
  }
  pending.once('finish', retry)
  pending.once('close', retry)
  socket.once('close', retry)
}

/**
 * Makes the plugin the one 'upgrade' listener of the server, once every
 * plugin has registered (onReady). Upgrades to our routes are dispatched
 * through Fastify's router with a claim, so onRequest/preHandler hooks run
 * first; others go to whatever listened before (@fastify/websocket, say); with
 * no one else, they are routed as plain requests, which is what Node does
 * when nobody listens for 'upgrade'.
 */
export function installUpgradeDispatcher (fastify: FastifyInstance, runtime: ProxyRuntime): () => void {
  const server = fastify.server as Server
  const others = server.listeners('upgrade') as UpgradeListener[]
  server.removeAllListeners('upgrade')

  const dispatch = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    socket.on('error', destroyOnError)
    runtime.admission.requestStarted(req)
    whenResponsesDone(socket, () => { serve(req, socket, head) })
  }

  const owns = (path: string): boolean => runtime.match(path) !== undefined
  const serve = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    // R82: routes, hooks and the upstream all see the normalised path.
    normalizeRequestUrl(req, owns)
    const route = runtime.match(req.url ?? '/')
    if (route === undefined && others.length > 0) {
      for (const listener of others) listener.call(server, req, socket, head)
      return
    }
    const res = new ServerResponse(req)
    res.shouldKeepAlive = false
    res.assignSocket(socket)
    res.on('finish', endSocketAfterResponse)
    if (route !== undefined) {
      const verdict = gateUpgrade(runtime, route, req)
      if (verdict.kind === 'refuse') {
        answerRefusal(runtime, route, req, res, verdict)
        return
      }
      if (verdict.kind === 'claim') {
        const claim: UpgradeClaim = { socket, head, route, res };
        (req as IncomingMessage & { [kUpgradeClaim]?: UpgradeClaim })[kUpgradeClaim] = claim
      } else {
        // R81: a protocol this route does not tunnel; what the route does with a plain request decides (426, or passthrough).
        runtime.log.info({ route: route.config.path, upgrade: verdict.offered, allowed: route.config.upgradeProtocols }, 'upgrade to a protocol this route does not allow: handled as a plain request')
      }
    }
    try {
      fastify.routing(req, res)
    } catch (err) {
      fastify.log.error({ err }, 'routing an upgrade request failed')
      socket.destroy()
    }
  }
  server.on('upgrade', dispatch)
  return () => {
    server.removeListener('upgrade', dispatch)
  }
}
