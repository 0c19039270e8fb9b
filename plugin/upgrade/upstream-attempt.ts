import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import {
  UpstreamBadHandshakeError, UpstreamConnectError, UpstreamConnectTimeoutError, UpstreamHandshakeTimeoutError, UpstreamTlsError
} from '../errors.js'
import type { ResolvedServer } from '../options/options-types.js'
import { requestUpstreamWebSocket, type UpstreamRelaySetup } from '../relay/upstream-websocket.js'
import type { WebSocket } from 'ws'
import type { UpstreamTls } from '../upstream/upstream-tls.js'

export type AttemptResult =
  /**
   * The upstream switched protocols: `head` holds bytes it sent right after the 101 (R10). On a
   * relay route `webSocket` has taken the socket over (and those bytes with it), `head` is empty.
   */
  | { kind: 'switched', res: IncomingMessage, socket: Socket, head: Buffer, webSocket?: WebSocket }
  /** Any other answer, to relay verbatim (R3); the socket still belongs to `res`. */
  | { kind: 'answered', res: IncomingMessage, socket: Socket }
  /** No usable answer. `retryable` when nothing reached the upstream's application that forbids another server. */
  | { kind: 'failed', error: Error & { statusCode?: number } }

export interface AttemptOptions {
  server: ResolvedServer
  method: string
  path: string
  headers: string[]
  connectTimeout: number
  handshakeTimeout: number
  /** Relay routes: `ws` makes the request and takes the switched socket over as a client WebSocket. */
  relay?: UpstreamRelaySetup
  /** The group's TLS settings, for `https:` servers. */
  tls: UpstreamTls
}

/**
 * One try of the upgrade against one upstream server: connect within
 * connectTimeout (R16), send the HTTP/1.1 upgrade request and wait for the
 * answer head within handshakeTimeout (R17). Node's HTTP client parses the
 * answer (1xx, chunked bodies, bytes after the 101) so no hand-written parser
 * sits on this path. `abort()` drops the attempt when the client leaves.
 */
export class UpstreamAttempt {
  readonly result: Promise<AttemptResult>
  private socket: Socket | null = null
  private clientRequest: ClientRequest | null = null
  private timer: NodeJS.Timeout | null = null
  private settled = false
  /** TCP is up but the TLS handshake is not done: an error now is a TLS failure (R84). */
  private inTlsHandshake = false
  private resolve!: (result: AttemptResult) => void

  constructor (private readonly opts: AttemptOptions) {
    this.result = new Promise(resolve => { this.resolve = resolve })
    this.connect()
  }

  abort (): void {
    if (this.settled) return
    this.settle({ kind: 'failed', error: new UpstreamConnectError(this.opts.server.url, 'client went away') })
    this.socket?.destroy()
  }

  private connect (): void {
    const { server } = this.opts
    const tcp = netConnect({ host: server.host, port: server.port, allowHalfOpen: true })
    // SNI and the certificate check name the host, never an address: for a server found through DNS, the name it was found under.
    const socket = server.protocol === 'https:' ? tlsConnect({ socket: tcp, ...this.opts.tls.connectOptions(server.dns?.hostname ?? server.host) }) : tcp
    if (socket !== tcp) tcp.once('connect', () => { this.inTlsHandshake = true })
    this.socket = socket
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    socket.on('error', this.onSocketError)
    socket.once(server.protocol === 'https:' ? 'secureConnect' : 'connect', this.onConnect)
    this.timer = setTimeout(this.onConnectTimeout, this.opts.connectTimeout)
  }

  private readonly onConnect = (): void => {
    this.inTlsHandshake = false
    if (this.settled) return
    this.clearTimer()
    this.timer = setTimeout(this.onHandshakeTimeout, this.opts.handshakeTimeout)
    const socket = this.socket as Socket
    if (this.opts.relay !== undefined) {
      this.requestWebSocket(socket, this.opts.relay)
      return
    }
    const req = httpRequest({
      createConnection: () => socket,
      method: this.opts.method,
      path: this.opts.path,
      headers: this.opts.headers,
      setHost: false
    })
    this.clientRequest = req
    req.on('upgrade', this.onUpgrade)
    req.on('response', this.onResponse)
    req.on('error', this.onSocketError)
    req.end()
  }

  private readonly onUpgrade = (res: IncomingMessage, socket: Socket, head: Buffer): void => {
    if (this.settled) {
      socket.destroy()
      return
    }
    this.settle({ kind: 'switched', res, socket, head })
  }

  private requestWebSocket (socket: Socket, relay: UpstreamRelaySetup): void {
    const { server } = this.opts
    try {
      requestUpstreamWebSocket(socket, { ...server, path: this.opts.path, headers: this.opts.headers }, relay, {
        onOpen: (res, webSocket) => {
          if (this.settled) webSocket.terminate()
          else this.settle({ kind: 'switched', res, socket, head: Buffer.alloc(0), webSocket })
        },
        onAnswer: this.onResponse,
        onError: (err, handshake) => {
          if (!handshake) return this.onSocketError(err)
          if (this.settled) return
          socket.destroy()
          this.settle({ kind: 'failed', error: new UpstreamBadHandshakeError(server.url, err.message) })
        }
      })
    } catch (err) {
      // ws refuses a subprotocol offer it could not send; the request checks keep such offers out.
      this.onSocketError(err as NodeJS.ErrnoException)
    }
  }

  private readonly onResponse = (res: IncomingMessage): void => {
    if (this.settled) {
      res.destroy()
      return
    }
    if (res.statusCode === 101) {
      // Node's parser only reports a 101 as an upgrade when it carries both
      // Upgrade and Connection: upgrade; any other 101 arrives here. Relaying
      // it would tell the client the protocol switched when nothing will be
      // tunneled (R2, R8).
      const reason = res.headers.upgrade === undefined ? '101 without an Upgrade header' : '101 without Connection: upgrade'
      this.socket?.destroy()
      this.settle({ kind: 'failed', error: new UpstreamBadHandshakeError(this.opts.server.url, reason) })
      return
    }
    this.settle({ kind: 'answered', res, socket: this.socket as Socket })
  }

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    if (this.settled) return
    this.socket?.destroy()
    const reason = err.code ?? err.message
    // A certificate the group does not trust, a name that does not match: the server's failure, named in the log.
    const error = this.inTlsHandshake
      ? new UpstreamTlsError(this.opts.server.url, err.code === undefined ? err.message : `${err.code}: ${err.message}`)
      : new UpstreamConnectError(this.opts.server.url, reason)
    this.settle({ kind: 'failed', error })
  }

  private readonly onConnectTimeout = (): void => {
    this.timer = null
    this.socket?.destroy()
    this.settle({ kind: 'failed', error: new UpstreamConnectTimeoutError(this.opts.server.url, this.opts.connectTimeout) })
  }

  private readonly onHandshakeTimeout = (): void => {
    this.timer = null
    this.socket?.destroy()
    this.settle({ kind: 'failed', error: new UpstreamHandshakeTimeoutError(this.opts.server.url, this.opts.handshakeTimeout) })
  }

  private clearTimer (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private settle (result: AttemptResult): void {
    if (this.settled) return
    this.settled = true
    this.clearTimer()
    const socket = this.socket
    if (socket !== null) {
      socket.removeListener('error', this.onSocketError)
      // Until the next owner attaches its own handler, a late error must not crash the process.
      socket.on('error', ignoreError)
    }
    if (this.clientRequest !== null) {
      this.clientRequest.removeListener('error', this.onSocketError)
      this.clientRequest.on('error', ignoreError)
    }
    this.resolve(result)
  }
}

function ignoreError (): void {}
