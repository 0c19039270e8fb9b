import type { Socket } from 'node:net'
import { CLOSING_CUT_MS, CLOSING_HANDSHAKE_MS, clientCloseFrame, serverCloseFrame, type CloseCode } from './close-frames.js'
import type { FrameBoundary } from './frame-boundary.js'

/**
 * What a side may send after its peer's close frame went in before it is no
 * longer read: a peer that has not read the close frame yet and keeps
 * sending is then slowed by TCP, instead of having its bytes taken (and
 * dropped) as fast as it can send them while the close frame waits in its
 * receive queue. Its answer, if it comes, is then noticed by the FIN and the
 * cut of the closing timer.
 */
const DROP_BUDGET = 1024 * 1024

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
  /** Bytes dropped from each side since its peer's close frame went in (see DROP_BUDGET). */
  private droppedFromClient = 0
  private droppedFromUpstream = 0
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
      this.flow()
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
    const { client } = this.tunnel
    if (frames === null || this.closedToUpstream) {
      this.droppedFromClient += chunk.length
      const before = frames?.closeFrames ?? 0
      frames?.skip(chunk)
      if (frames !== null && frames.closeFrames > before && this.closedToClient) client.end()
      else if (this.droppedFromClient > DROP_BUDGET) client.pause()
      return
    }
    const at = frames.toBoundary(chunk)
    const relayed = at === -1 ? chunk : chunk.subarray(0, at)
    const { upstream } = this.tunnel
    if (relayed.length > 0 && !upstream.write(relayed)) this.tunnel.blocked(client, upstream)
    if (at === -1) return
    this.closeToUpstream()
    if (at < chunk.length) this.clientData(chunk.subarray(at))
  }

  /** Upstream bytes: relayed up to the frame boundary, then dropped until its FIN. */
  upstreamData (chunk: Buffer): void {
    const frames = this.fromUpstream
    if (frames === null || this.closedToClient) {
      this.droppedFromUpstream += chunk.length
      if (this.droppedFromUpstream > DROP_BUDGET) this.tunnel.upstream.pause()
      frames?.skip(chunk)
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

  /**
   * One side's socket closed during the close (the upstream, a server, often
   * closes right after its answer): nothing more goes to it, and a close
   * frame the other side still needs goes in now if its stream is at a
   * boundary; mid-frame there is no boundary left to wait for.
   */
  sideGone (side: 'client' | 'upstream'): void {
    if (side === 'upstream') {
      this.closedToUpstream = true
      if (!this.closedToClient && this.fromUpstream?.atBoundary === true) this.closeToClient()
      this.closedToClient = true
    } else {
      this.closedToClient = true
      if (!this.closedToUpstream && this.fromClient?.atBoundary === true) this.closeToUpstream()
      this.closedToUpstream = true
    }
    this.flow()
  }

  /** The tunnel finished: nothing left to time. */
  finish (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private closeToClient (): void {
    this.closedToClient = true
    const { client } = this.tunnel
    if ((this.fromUpstream as FrameBoundary).closeFrames === 0 && client.writable) client.write(serverCloseFrame(this.code))
    this.tunnel.unwatch(client)
    this.flow()
    if ((this.fromClient as FrameBoundary).closeFrames > 0) client.end()
  }

  private closeToUpstream (): void {
    this.closedToUpstream = true
    const { upstream } = this.tunnel
    if ((this.fromClient as FrameBoundary).closeFrames === 0 && upstream.writable) upstream.write(clientCloseFrame(this.code))
    this.tunnel.unwatch(upstream)
    this.flow()
  }

  /**
   * Reading a side whose bytes are dropped: only once that side has had our
   * close frame too, since only then can its answer (a close frame, a FIN)
   * come. Before that, not reading lets TCP slow a side that keeps sending,
   * instead of taking its bytes as fast as it can send them and leaving it
   * no time to read the close frame on its way to it.
   */
  private flow (): void {
    const { client, upstream } = this.tunnel
    if (this.closedToClient && this.closedToUpstream) {
      if (this.droppedFromClient <= DROP_BUDGET) client.resume()
      if (this.droppedFromUpstream <= DROP_BUDGET) upstream.resume()
      return
    }
    if (this.closedToUpstream) client.pause()
    if (this.closedToClient) upstream.pause()
  }

  /** The closing handshake took too long (or a frame never ended): a FIN both ways, then the cut. */
  private readonly onTimer = (): void => {
    const { client, upstream } = this.tunnel
    if (!this.closedToClient || !this.closedToUpstream || !client.writableEnded || !upstream.writableEnded) {
      this.closedToClient = true
      this.closedToUpstream = true
      this.flow()
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
