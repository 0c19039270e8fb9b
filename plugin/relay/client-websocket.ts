import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws'
import { connectionTokens, isHopByHop } from '../hop-by-hop.js'

/*
 * The client half of a relay: `ws`'s server takes the client's upgraded
 * socket over (`handleUpgrade` with `noServer`), only once the upstream has
 * switched, and answers with what the upstream chose: its subprotocol (from
 * the client's full offer, which it was sent) and its end-to-end headers
 * (Set-Cookie and the like). Compression is negotiated per side, since the
 * proxy decompresses and compresses each message itself.
 */

/** Headers of the upstream's 101 the client's own 101 describes differently (ws writes these itself). */
const OWN_HEADERS = new Set(['upgrade', 'connection', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions', 'content-length'])

/** `ws` server options this version has and its type definitions do not list yet. */
type RelayServerOptions = ServerOptions & { closeTimeout: number }

export interface ClientSideOptions {
  compression: boolean
  /** Largest message accepted from the client (1009 beyond it). */
  maxPayload: number
  closeTimeout: number
}

/** One per relay route: completes client handshakes with the answers upstreams gave. */
export class ClientSideServer {
  private readonly wss: WebSocketServer
  /** The upstream answer of the handshake being completed: `handleUpgrade` runs its callbacks synchronously. */
  private answer: { res: IncomingMessage, protocol: string } | null = null

  constructor (options: ClientSideOptions) {
    const serverOptions: RelayServerOptions = {
      noServer: true,
      clientTracking: false,
      perMessageDeflate: options.compression,
      maxPayload: options.maxPayload,
      closeTimeout: options.closeTimeout,
      // Pings are passed end to end (and answered by the far side), never answered by the proxy.
      autoPong: false,
      handleProtocols: () => this.answer === null || this.answer.protocol === '' ? false : this.answer.protocol
    }
    this.wss = new WebSocketServer(serverOptions)
    this.wss.on('headers', this.onHeaders)
  }

  /**
   * Answers the client's upgrade with 101 and returns its WebSocket, or null
   * when `ws` refused the request (it then answered 400 and closed it).
   * `head` are bytes the client sent after its request (R9): `ws` reads them
   * first.
   */
  accept (req: IncomingMessage, socket: Socket, head: Buffer, res: IncomingMessage, protocol: string): WebSocket | null {
    let accepted: WebSocket | null = null
    this.answer = { res, protocol }
    try {
      this.wss.handleUpgrade(req, socket, head, (webSocket) => { accepted = webSocket })
    } finally {
      this.answer = null
    }
    return accepted
  }

  close (): void {
    this.wss.close()
  }

  private readonly onHeaders = (headers: string[]): void => {
    const raw = this.answer?.res.rawHeaders
    if (raw === undefined) return
    const tokens = connectionTokens(raw)
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase()
      if (OWN_HEADERS.has(name) || isHopByHop(name, tokens)) continue
      headers.push(`${raw[i]}: ${raw[i + 1]}`)
    }
  }
}
