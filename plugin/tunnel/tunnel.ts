import type { Socket } from 'node:net'
import type { CloseCode } from './close-frames.js'
import { FrameBoundary } from './frame-boundary.js'
import { SendWatch } from './send-watch.js'
import { TunnelClosing, type ClosingTunnel } from './tunnel-closing.js'

/**
 * Who or what ended a tunnel, as written to the access log: a side whose TCP
 * connection ended first, a timeout, or a deliberate close by ws-cluster
 * (`shutdown` on stop, `drain` when a replaced worker's drain time is over,
 * `server-removed` / `server-down` when a reload took the upstream server out).
 */
export type CloseCause =
  | 'client' | 'upstream' | 'client-error' | 'upstream-error'
  | 'idle-timeout' | 'send-timeout' | 'shutdown' | 'drain' | 'server-removed' | 'server-down'

export interface TunnelTimeouts {
  idleTimeout: number
  sendTimeout: number
  finTimeout: number
}

/**
 * Bench only (bench/README.md): `WS_CLUSTER_BENCH_FRAME_TRACKING=off` runs
 * tunnels without frame tracking, to measure what the tracking costs. Such
 * tunnels end a deliberate close with a FIN instead of close frames.
 */
const TRACK_FRAMES = process.env.WS_CLUSTER_BENCH_FRAME_TRACKING !== 'off'

const NO_BYTES = Buffer.alloc(0)

/**
 * The raw byte tunnel joined after a 101. It relays bytes unchanged, so
 * subprotocols, extensions, pings and close codes stay end to end; for a
 * WebSocket it follows frame headers in each direction (FrameBoundary), so
 * that when ws-cluster ends the tunnel itself it can put a close frame in at
 * a frame boundary: unmasked to the client, masked to the upstream.
 *
 * The per-chunk path is a bound handler: follow the frame headers, `write`,
 * and on backpressure a pause until 'drain' (R15). Node resets the client
 * socket's timeout on every read and every write, and every byte in either
 * direction is read or written on the client socket, so one socket timeout
 * is the bidirectional idle timer (R18) at no per-chunk cost of ours.
 */
export class Tunnel<M = unknown> implements ClosingTunnel {
  readonly client: Socket
  readonly upstream: Socket
  readonly startedAt = Date.now()
  cause: CloseCause | null = null
  errorCode: string | null = null
  private readonly timeouts: TunnelTimeouts
  /** What the owner needs when the tunnel ends (route, upstream server...): kept here so no closure per tunnel is needed. */
  readonly meta: M
  private readonly onFinished: (tunnel: Tunnel<M>) => void
  private done = false
  /** Frame boundaries of the bytes from the client and from the upstream; null when not a WebSocket. */
  private readonly fromClient: FrameBoundary | null
  private readonly fromUpstream: FrameBoundary | null
  private toUpstreamWatch: SendWatch | null = null
  private toClientWatch: SendWatch | null = null
  private finTimer: NodeJS.Timeout | null = null
  /** A deliberate close in progress; null while relaying. */
  private closing: TunnelClosing | null = null

  constructor (client: Socket, upstream: Socket, timeouts: TunnelTimeouts, meta: M, onFinished: (tunnel: Tunnel<M>) => void, webSocket = true) {
    this.client = client
    this.upstream = upstream
    this.timeouts = timeouts
    this.meta = meta
    this.onFinished = onFinished
    const track = webSocket && TRACK_FRAMES
    this.fromClient = track ? new FrameBoundary() : null
    this.fromUpstream = track ? new FrameBoundary() : null
  }

  /**
   * Starts relaying. `clientHead` are client bytes read with the request
   * (R9), sent only now, after the upstream's 101; `upstreamHead` are bytes
   * the upstream sent right after its 101 (R10), once the 101 went out.
   */
  start (clientHead: Buffer, upstreamHead: Buffer = NO_BYTES): void {
    const { client, upstream } = this
    client.on('data', this.onClientData)
    upstream.on('data', this.onUpstreamData)
    client.on('drain', this.onClientDrain)
    upstream.on('drain', this.onUpstreamDrain)
    client.on('end', this.onClientEnd)
    upstream.on('end', this.onUpstreamEnd)
    client.on('error', this.onClientError)
    upstream.on('error', this.onUpstreamError)
    client.on('close', this.onSocketClose)
    upstream.on('close', this.onSocketClose)
    if (this.timeouts.idleTimeout > 0) {
      client.setTimeout(this.timeouts.idleTimeout)
      client.on('timeout', this.onIdle)
    }
    if (upstreamHead.length > 0) this.onUpstreamData(upstreamHead)
    if (clientHead.length > 0) this.onClientData(clientHead)
    // A FIN read while nothing was buffered emits 'end' at once, even on a
    // socket nobody reads: one that came with the request (or during the
    // upstream handshake) was emitted before these listeners existed.
    if (client.readableEnded) this.onClientEnd()
    if (upstream.readableEnded) this.onUpstreamEnd()
    // The HTTP server left the client socket paused-by-default (readableFlowing null); 'data' listeners resume it.
    if (client.destroyed) this.onSocketClose()
    if (upstream.destroyed) this.onSocketClose()
  }

  /** Cuts the tunnel at once (timeouts, shutdown grace over). */
  destroy (cause: CloseCause): void {
    this.cause ??= cause
    this.client.destroy()
    this.upstream.destroy()
  }

  /**
   * Ends the tunnel the way a WebSocket server would (see TunnelClosing): a
   * close frame with `code` to the client and a masked one to the upstream,
   * each at the next frame boundary of its direction, the closing handshake,
   * a FIN, and a cut if that takes too long. Only the first call counts.
   */
  closeDeliberately (code: CloseCode, cause: CloseCause): void {
    if (this.closing !== null || this.done) return
    this.cause ??= cause
    this.closing = new TunnelClosing(this, this.fromClient, this.fromUpstream, code)
    this.closing.begin()
  }

  get finished (): boolean {
    return this.done
  }

  private readonly onClientData = (chunk: Buffer): void => {
    if (this.closing !== null) {
      this.closing.clientData(chunk)
      return
    }
    this.fromClient?.skip(chunk)
    if (!this.upstream.write(chunk)) this.blocked(this.client, this.upstream)
  }

  private readonly onUpstreamData = (chunk: Buffer): void => {
    if (this.closing !== null) {
      this.closing.upstreamData(chunk)
      return
    }
    this.fromUpstream?.skip(chunk)
    if (!this.client.write(chunk)) this.blocked(this.upstream, this.client)
  }

  private readonly onUpstreamDrain = (): void => {
    this.toUpstreamWatch?.stop()
    this.client.resume()
  }

  private readonly onClientDrain = (): void => {
    this.toClientWatch?.stop()
    this.upstream.resume()
  }

  /** R15: a refused write pauses the source until the destination drains; R19 watches that it does. */
  blocked (source: Socket, destination: Socket): void {
    source.pause()
    if (this.timeouts.sendTimeout === 0) return
    if (destination === this.upstream) {
      this.toUpstreamWatch ??= new SendWatch(destination, this.timeouts.sendTimeout, this.onSendStalled)
      this.toUpstreamWatch.start()
    } else {
      this.toClientWatch ??= new SendWatch(destination, this.timeouts.sendTimeout, this.onSendStalled)
      this.toClientWatch.start()
    }
  }

  unwatch (destination: Socket): void {
    if (destination === this.upstream) this.toUpstreamWatch?.stop()
    else this.toClientWatch?.stop()
  }

  private readonly onSendStalled = (): void => {
    this.destroy('send-timeout')
  }

  /** R14: a FIN is passed on after the bytes still queued for that peer; the other direction keeps flowing until finTimeout. */
  private readonly onClientEnd = (): void => {
    this.cause ??= 'client'
    this.upstream.end()
    this.armFinTimer()
  }

  private readonly onUpstreamEnd = (): void => {
    this.cause ??= 'upstream'
    this.client.end()
    this.armFinTimer()
  }

  private readonly onClientError = (err: NodeJS.ErrnoException): void => {
    this.cause ??= 'client-error'
    this.errorCode ??= err.code ?? err.message
  }

  private readonly onUpstreamError = (err: NodeJS.ErrnoException): void => {
    this.cause ??= 'upstream-error'
    this.errorCode ??= err.code ?? err.message
  }

  private readonly onIdle = (): void => {
    this.destroy('idle-timeout')
  }

  private readonly onSocketClose = (): void => {
    const { client, upstream } = this
    if (client.destroyed && upstream.destroyed) {
      this.finish()
      return
    }
    // One side is gone without a clean FIN exchange: flush what the other side
    // still owes its peer, discard what it sends from now on, and let
    // finTimeout bound the wait.
    const survivor = client.destroyed ? upstream : client
    this.cause ??= client.destroyed ? 'client' : 'upstream'
    if (this.closing !== null) {
      // A deliberate close still owes the survivor its close frame, and bounds what it drops.
      this.closing.sideGone(survivor === client ? 'upstream' : 'client')
    } else {
      survivor.removeListener('data', survivor === client ? this.onClientData : this.onUpstreamData)
      survivor.resume()
    }
    survivor.end()
    this.armFinTimer()
  }

  private armFinTimer (): void {
    if (this.finTimer !== null || this.done) return
    this.finTimer = setTimeout(this.onFinTimer, this.timeouts.finTimeout)
    this.finTimer.unref()
  }

  private readonly onFinTimer = (): void => {
    this.finTimer = null
    this.client.destroy()
    this.upstream.destroy()
  }

  private finish (): void {
    if (this.done) return
    this.done = true
    this.toUpstreamWatch?.stop()
    this.toClientWatch?.stop()
    this.closing?.finish()
    if (this.finTimer !== null) clearTimeout(this.finTimer)
    this.finTimer = null
    this.client.setTimeout(0)
    this.onFinished(this)
  }
}
