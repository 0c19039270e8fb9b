import type { ClientRequest, IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { WebSocket, type ClientOptions } from 'ws'

/*
 * The upstream half of a relay: the upgrade request is made by `ws`'s own
 * client on the socket the attempt connected, so that once the upstream
 * answers 101, `ws` checks the answer against its own key and offer and takes
 * the socket over as a client WebSocket (masking, its extension state), all
 * through its public options (`createConnection`, `finishRequest`). Connect,
 * timeouts, retries and health stay the attempt's.
 */

/** What a relay route asks of the upstream handshake. */
export interface UpstreamRelaySetup {
  /** The client's subprotocol offer, in its order: the upstream chooses among exactly these. */
  protocols: string[]
  /** Offer permessage-deflate to the upstream. */
  compression: boolean
  /** Largest message accepted from the upstream (1009 beyond it). */
  maxPayload: number
  /** How long a closing handshake may take before the socket is destroyed. */
  closeTimeout: number
}

export interface UpstreamWebSocketRequest {
  /** `http:` or `https:` (the socket is already TLS for the latter). */
  protocol: string
  host: string
  port: number
  /** The request target exactly as the client sent it. */
  path: string
  /** The upgrade request's header list (rawHeaders layout) built for tunnels. */
  headers: string[]
}

export interface UpstreamWebSocketEvents {
  /** The upstream switched and `ws` accepted its answer: the socket now belongs to `webSocket`. */
  onOpen: (res: IncomingMessage, webSocket: WebSocket) => void
  /** Any other answer (`res` still owns the socket). */
  onAnswer: (res: IncomingMessage) => void
  /** A failure before the socket was taken over; `handshake` when the 101 itself was unacceptable. */
  onError: (err: NodeJS.ErrnoException, handshake: boolean) => void
}

/** The headers `ws` writes itself for its key and offer; the client's versions of them must not be sent as well. */
const SET_BY_WS = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'upgrade', 'connection'])

/**
 * `ws` takes headers as an object of strings: same-named headers are joined
 * into one under their first spelling, the way Node itself joins them when
 * it reads a request (cookies with "; ", others with ", ").
 */
function headerObject (list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  const spelling = new Map<string, string>()
  for (let i = 0; i < list.length; i += 2) {
    const lower = list[i].toLowerCase()
    if (SET_BY_WS.has(lower)) continue
    const name = spelling.get(lower)
    if (name === undefined) {
      spelling.set(lower, list[i])
      out[list[i]] = list[i + 1]
    } else {
      out[name] += (lower === 'cookie' ? '; ' : ', ') + list[i + 1]
    }
  }
  return out
}

/** `ws` options this version has and its type definitions do not list yet. */
type RelayClientOptions = ClientOptions & { closeTimeout: number }

/**
 * Sends the upgrade request through `ws` on `socket` and reports the outcome
 * once. Errors after that are left to whoever owns the WebSocket then.
 */
export function requestUpstreamWebSocket (
  socket: Socket, request: UpstreamWebSocketRequest, setup: UpstreamRelaySetup, events: UpstreamWebSocketEvents
): WebSocket {
  let answer: IncomingMessage | null = null
  let reported = false
  const report = (fn: () => void): void => {
    if (reported) return
    reported = true
    fn()
  }
  const host = request.host.includes(':') ? `[${request.host}]` : request.host
  const options: RelayClientOptions = {
    createConnection: () => socket,
    finishRequest: (req: ClientRequest) => {
      // The URL given to ws is only for its bookkeeping: the target goes upstream exactly as the client sent it.
      req.path = request.path
      req.end()
    },
    headers: headerObject(request.headers),
    perMessageDeflate: setup.compression,
    maxPayload: setup.maxPayload,
    closeTimeout: setup.closeTimeout,
    // Pings are passed end to end (and answered by the far side), never answered by the proxy.
    autoPong: false,
    followRedirects: false
  }
  const webSocket = new WebSocket(`${request.protocol === 'https:' ? 'wss' : 'ws'}://${host}:${request.port}/`, setup.protocols, options)
  webSocket.once('upgrade', (res: IncomingMessage) => { answer = res })
  webSocket.once('open', () => {
    // Not read until the relay listens: bytes the upstream sent with its 101 (R10) must not be emitted to no one.
    webSocket.pause()
    report(() => events.onOpen(answer as IncomingMessage, webSocket))
  })
  webSocket.once('unexpected-response', (_req: ClientRequest, res: IncomingMessage) => { report(() => events.onAnswer(res)) })
  webSocket.on('error', (err: NodeJS.ErrnoException) => {
    // ws's own handshake checks fail with a plain Error; socket and HTTP failures carry a code.
    report(() => events.onError(err, err.code === undefined))
  })
  return webSocket
}
