import { Agent as HttpAgent, type ClientRequest, type ClientRequestArgs, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, type RequestOptions as HttpsRequestOptions } from 'node:https'
import type { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import httpProxy from '@fastify/http-proxy'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { clientAddressOf, forwardedValues } from './client-identity.js'
import { NoLiveUpstreamError, UpstreamBadHandshakeError, UpstreamConnectError, UpstreamRequestFailedError, UpstreamResponseTimeoutError, UpstreamTlsError } from './errors.js'
import { sendPublicError } from './public-errors.js'
import { hashKeyOf } from './upstream/hash-key.js'
import type { RouteRuntime } from './proxy-runtime.js'
import type { UpstreamGroup } from './upstream/upstream-group.js'
import { isTlsFailure, type UpstreamTls } from './upstream/upstream-tls.js'
import { throttledLogger, type WarningThrottle } from './warning-throttle.js'
import { upstreamHostHeader } from './upgrade/upstream-request-headers.js'
import type { UpstreamServer } from './upstream/upstream-server.js'
import { upstreamTarget } from './upstream-path.js'
import { applyRouteHeaders } from './route-headers.js'

const kTarget = Symbol('ws-cluster.http-target')

/** Errors that mean no connection to the upstream was made (the others came after the request was sent). */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL'])

type TargetedRequest = FastifyRequest & { [kTarget]?: { server: UpstreamServer, group: UpstreamGroup, released: boolean, log: FastifyBaseLogger } }

/**
 * One keep-alive pool per upstream group: Node's agent keeps at most
 * `keepalive` idle sockets per server (nginx `keepalive N`) and never caps
 * busy ones, so long-polling clients are not queued behind each other.
 * Upgraded connections never come from or go back to it (R29).
 */
export function createGroupAgents (group: UpstreamGroup): { 'http:': HttpAgent, 'https:': HttpsAgent } {
  const keepalive = group.config.keepalive
  const options = { keepAlive: keepalive > 0, keepAliveMsecs: 60_000, maxFreeSockets: Math.max(keepalive, 1), maxSockets: Infinity }
  // R84: verified like the upgrade path, with the group's CAs and names.
  return { 'http:': new PassthroughHttpAgent(options), 'https:': new PassthroughHttpsAgent(group.tls, { ...options, ...group.tls.agentOptions() }) }
}

/**
 * R2: an upstream that answers 101 to a plain request must not leave the
 * client waiting. With no 'upgrade' listener Node's HTTP client destroys the
 * socket without telling the request, which then hangs until the client
 * gives up; this listener turns the switch into a request error (→ 502).
 */
function failUnaskedUpgrade (this: ClientRequest, res: IncomingMessage, socket: Socket): void {
  socket.destroy()
  const url = `${this.protocol}//${this.host}`
  // The socket is already detached from the request, so destroy(err) would not reach its 'error' listeners.
  this.destroy()
  this.emit('error', new UpstreamBadHandshakeError(url, `${res.statusCode ?? 101} switching protocols to a request that asked for none`))
}

// addRequest is where every request meets its agent, pooled socket or not.
type AgentWithAddRequest = { addRequest: (req: ClientRequest, options: unknown) => void }

/**
 * The upstream URL reaches the agent with an IPv6 address still in brackets
 * (`[::1]`, as URL.hostname keeps it), which the resolver cannot look up:
 * the socket wants it bare (R44: AAAA addresses are servers too).
 */
function bareHost<T extends { host?: string | null }> (options: T): T {
  const { host } = options
  return typeof host === 'string' && host.startsWith('[') && host.endsWith(']') ? { ...options, host: host.slice(1, -1) } : options
}

type ConnectCallback = (err: Error | null, stream: Duplex) => void

class PassthroughHttpAgent extends HttpAgent {
  addRequest (req: ClientRequest, options: unknown): void {
    req.on('upgrade', failUnaskedUpgrade);
    (HttpAgent.prototype as unknown as AgentWithAddRequest).addRequest.call(this, req, options)
  }

  override createConnection (options: ClientRequestArgs, callback?: ConnectCallback): Duplex | null | undefined {
    return super.createConnection(bareHost(options), callback)
  }
}

class PassthroughHttpsAgent extends HttpsAgent {
  constructor (private readonly tls: UpstreamTls, options: ConstructorParameters<typeof HttpsAgent>[0]) {
    super(options)
  }

  addRequest (req: ClientRequest, options: unknown): void {
    // Node would take SNI and the name to verify from the Host header, which is the client's (R31): the upstream's host is meant.
    const target = options as { host?: string, servername?: string }
    if (target.host !== undefined) target.servername = this.tls.servername(target.host) ?? ''
    req.on('upgrade', failUnaskedUpgrade);
    (HttpsAgent.prototype as unknown as AgentWithAddRequest).addRequest.call(this, req, options)
  }

  override createConnection (options: HttpsRequestOptions, callback?: ConnectCallback): Duplex | null | undefined {
    return super.createConnection(bareHost(options), callback)
  }
}

function release (request: TargetedRequest): void {
  const target = request[kTarget]
  if (target === undefined || target.released) return
  target.released = true
  target.group.release(target.server)
}

/**
 * Plain HTTP on a proxied route (`http: true`): non-upgrade requests go
 * through @fastify/http-proxy to the server the route's balancer picks, so
 * ip-hash and hash keep a client's polling requests and its WebSocket on the
 * same backend (Socket.IO's "Session ID unknown" otherwise). Runs in its own
 * encapsulated scope so its hooks and reply decorators stay there.
 * `current` gives the route as it is now (an update may have changed its
 * group or headers); its path and request timeout are those of registration.
 */
export async function registerHttpPassthrough (
  fastify: FastifyInstance, current: () => RouteRuntime, agents: ReturnType<typeof createGroupAgents>,
  shapeHook: onRequestAsyncHookHandler, warnings: WarningThrottle
): Promise<void> {
  const { config } = current()
  const prefix = config.prefix === null ? config.path : config.prefix.slice(0, -1)
  await fastify.register(async (scope) => {
    scope.addHook('onRequest', shapeHook)
    scope.addHook('preHandler', async (request: TargetedRequest, reply: FastifyReply) => {
      const { group } = current()
      const clientAddress = clientAddressOf(request.raw.socket)
      const server = group.pick({ clientAddress, hashKey: hashKeyOf(group.config.hashKey, request.raw, clientAddress) }, new Set())
      if (server === undefined) {
        const kind = `http-no-upstream:${group.name}`
        warnings.error(kind, { upstream: group.name, reason: group.noServersReason ?? undefined }, 'http passthrough: no live upstream', request.log)
        return sendPublicError(reply, new NoLiveUpstreamError(group.name), warnings, kind)
      }
      group.acquire(server)
      request[kTarget] = { server, group, released: false, log: request.log }
      // @fastify/reply-from warns once per failed request ("response errored"): a dead upstream under a flood (R88).
      request.log = throttledLogger(request.log, warnings, `http:${config.path}`)
    })
    scope.addHook('onResponse', async (request: TargetedRequest) => release(request))
    scope.addHook('onRequestAbort', async (request: TargetedRequest) => release(request))

    await scope.register(httpProxy, {
      prefix,
      rewritePrefix: prefix,
      upstream: '',
      routes: config.prefix === null ? ['/'] : ['/*'],
      websocket: false,
      // http-proxy hands over the path it matched (the query stays on the request); upstreamPath replaces
      // the matched part by plain concatenation (R55), which its rewritePrefix cannot express.
      handler: (request, reply, dest, options) => {
        const path = upstreamTarget(current().config, dest)
        if (path === null) {
          request.log.warn({ url: request.url, route: config.path }, 'http passthrough: the path does not begin with the route\'s own')
          return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `${request.url} is not below ${config.path}` })
        }
        return reply.from(path, options)
      },
      http: { agents, requestOptions: { timeout: config.idleTimeout } },
      replyOptions: {
        getUpstream: (request) => ((request as TargetedRequest)[kTarget] as { server: UpstreamServer }).server.id,
        // The upstream's Connection/Keep-Alive describe its connection to us: copied, they would keep a client's
        // connection open after it asked for Connection: close. Node frames the body itself.
        rewriteHeaders: (headers) => {
          const out = { ...headers }
          for (const name of ['connection', 'keep-alive', 'proxy-connection']) delete out[name]
          return out
        },
        rewriteRequestHeaders: (request, headers) => {
          const target = (request as TargetedRequest)[kTarget] as { server: UpstreamServer }
          const { config } = current()
          const out: Record<string, string | string[] | undefined> = { ...headers }
          // R6, R81: a plain request never asks the upstream to switch protocols (h2c included).
          delete out.upgrade
          delete out['http2-settings']
          // reply-from has already replaced Host with the upstream's; R31 wants the client's by default.
          const clientHost = request.headers.host
          out.host = config.preserveHost && clientHost !== undefined ? clientHost : upstreamHostHeader(target.server.config)
          const raw = request.raw as IncomingMessage
          const encrypted = (raw.socket as TLSSocket).encrypted === true
          if (config.forwardedHeaders) Object.assign(out, forwardedValues(raw, clientAddressOf(raw.socket), encrypted))
          if (config.headers !== null) applyRouteHeaders(out, config.headers, { req: raw, clientAddress: clientAddressOf(raw.socket), encrypted })
          return out
        },
        onError: (reply, { error: failure }) => {
          const error = failure as Error & { statusCode?: number, cause?: unknown }
          const request = reply.request as TargetedRequest
          const target = request[kTarget]
          const group = target?.group ?? current().group
          const url = target?.server.id ?? group.name
          const cause = error.cause as NodeJS.ErrnoException | undefined
          if (cause?.code === 'WS_CLUSTER_UPSTREAM_BAD_HANDSHAKE') {
            warnings.warn(`http-switched:${url}`, { upstream: url, err: cause }, 'http passthrough: upstream switched protocols', target?.log)
            return sendPublicError(reply, cause, warnings, `http-switched:${url}`)
          }
          const timedOut = error.statusCode === 504
          const tlsFailed = isTlsFailure(cause?.code)
          if (target !== undefined && (cause?.code === 'ECONNREFUSED' || timedOut || cause?.code === 'EHOSTUNREACH' || tlsFailed)) {
            group.recordFailure(target.server)
          }
          const reason = cause?.code ?? cause?.message ?? error.message
          const err = timedOut
            ? new UpstreamResponseTimeoutError(url, config.idleTimeout)
            : tlsFailed ? new UpstreamTlsError(url, `${reason}: ${cause?.message ?? ''}`) : CONNECT_ERRORS.has(cause?.code ?? '') ? new UpstreamConnectError(url, reason) : new UpstreamRequestFailedError(url, reason)
          const kind = `http-failed:${url}:${err.code}`
          warnings.warn(kind, { upstream: url, err, cause: error }, 'http passthrough failed', target?.log)
          // R80: the code and a fixed sentence for the client; the address and the reason stay in the log.
          sendPublicError(reply, err, warnings, kind)
        }
      }
    })
  })
}
