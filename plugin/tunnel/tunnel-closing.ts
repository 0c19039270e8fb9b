import type { Socket } from 'node:net'
import { CLOSING_CUT_MS, CLOSING_HANDSHAKE_MS, clientCloseFrame, serverCloseFrame, type CloseCode } from './close-frames.js'
import type { FrameBoundary } from './frame-boundary.js'

/** What a closing tunnel lends its closing: the two sockets and its backpressure handling. */
export interface ClosingTunnel {
  readonly client: Socket
  readonly upstream: Socket
  /** A write to `destination` was refused while relaying up to a boundary: pause `source`, watch the send. */
  blocked: (source: Socket, destination: Socket) => void
  /** Bytes towards `destination` are dropped from now on: its send watch no longer matters. */
  unwatch: (destination: Socket) => void
}

/**
 * A tunnel's deliberate close, created only when ws-cluster ends a tunnel
 * itself (so an open tunnel carries none of this): a close frame with the
 * code goes to the client unmasked and to the upstream masked, each at the
 * next frame boundary of its direction, unless that side's peer already put
 * a close frame of its own there. Bytes a side sends after the close frame
 * towards its peer went in are dropped (a WebSocket endpoint sends no data
 * after a close frame). When the client answers, it gets the FIN (the server
 * side closes the TCP connection first, RFC 6455 §7.1.1); the upstream, a
 * server, sends its own. Whatever is still open CLOSING_HANDSHAKE_MS later
 * gets a FIN, and CLOSING_CUT_MS after that is destroyed.
 *
 * Without frame tracking (a tunnel that is not a WebSocket) a FIN both ways
 * is the cleanest end there is.
 *
 * @example
 * const closing = new TunnelClosing(tunnel, fromClient, fromUpstream, 1001)
 * closing.begin()
 * // then every chunk: closing.clientData(chunk) / closing.upstreamData(chunk)
 */
export class TunnelClosing {
  /** No more bytes go to that side: a close frame is in its stream, or it could not take one. */
  private closedToClient = false
  private closedToUpstream = false
  private timer: NodeJS.Timeout | null = null

  constructor (
    private readonly tunnel: ClosingTunnel,
    private readonly fromClient: FrameBoundary | null,
    private readonly fromUpstream: FrameBoundary | null,
    private readonly code: CloseCode
  ) {}

  begin (): void {
    this.timer = setTimeout(this.onTimer, CLOSING_HANDSHAKE_MS)
    const { fromClient, fromUpstream, tunnel } = this
    if (fromClient === null || fromUpstream === null) {
      this.closedToClient = true
      this.closedToUpstream = true
      tunnel.client.end()
      tunnel.upstream.end()
      return
    }
    if (fromUpstream.atBoundary) this.closeToClient()
    if (fromClient.atBoundary) this.closeToUpstream()
  }

  /** Client bytes: relayed up to the frame boundary, then dropped (watched for the client's close frame). */
  clientData (chunk: Buffer): void {
    const frames = this.fromClient
    if (frames === null) return
    if (this.closedToUpstream) {
      const before = frames.closeFrames
      frames.skip(chunk)
      if (frames.closeFrames > before && this.closedToClient) this.tunnel.client.end()
      return
    }
    const at = frames.toBoundary(chunk)
    const relayed = at === -1 ? chunk : chunk.subarray(0, at)
    const { client, upstream } = this.tunnel
    if (relayed.length > 0 && !upstream.write(relayed)) this.tunnel.blocked(client, upstream)
    if (at === -1) return
    this.closeToUpstream()
    if (at < chunk.length) this.clientData(chunk.subarray(at))
  }

  /** Upstream bytes: relayed up to the frame boundary, then dropped until its FIN. */
  upstreamData (chunk: Buffer): void {
    const frames = this.fromUpstream
    if (frames === null) return
    if (this.closedToClient) {
      frames.skip(chunk)
      return
    }
    const at = frames.toBoundary(chunk)
    const relayed = at === -1 ? chunk : chunk.subarray(0, at)
    const { client, upstream } = this.tunnel
    if (relayed.length > 0 && !client.write(relayed)) this.tunnel.blocked(upstream, client)
    if (at === -1) return
    this.closeToClient()
    if (at < chunk.length) this.upstreamData(chunk.subarray(at))
  }

  /** The tunnel finished: nothing left to time. */
  finish (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private closeToClient (): void {
    this.closedToClient = true
    const { client, upstream } = this.tunnel
    if ((this.fromUpstream as FrameBoundary).closeFrames === 0 && client.writable) client.write(serverCloseFrame(this.code))
    // The upstream's bytes are dropped from now on: let them flow, so its close frame and FIN arrive.
    this.tunnel.unwatch(client)
    upstream.resume()
    if ((this.fromClient as FrameBoundary).closeFrames > 0) client.end()
  }

  private closeToUpstream (): void {
    this.closedToUpstream = true
    const { client, upstream } = this.tunnel
    if ((this.fromClient as FrameBoundary).closeFrames === 0 && upstream.writable) upstream.write(clientCloseFrame(this.code))
    this.tunnel.unwatch(upstream)
    client.resume()
  }

  /** The closing handshake took too long (or a frame never ended): a FIN both ways, then the cut. */
  private readonly onTimer = (): void => {
    const { client, upstream } = this.tunnel
    if (!this.closedToClient || !this.closedToUpstream || !client.writableEnded || !upstream.writableEnded) {
      this.closedToClient = true
      this.closedToUpstream = true
      client.end()
      upstream.end()
      this.timer = setTimeout(this.onTimer, CLOSING_CUT_MS)
      return
    }
    this.timer = null
    client.destroy()
    upstream.destroy()
  }
}
