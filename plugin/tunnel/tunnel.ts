import type { Socket } from 'node:net'

/** Who or what ended a tunnel, as written to the access log. */
export type CloseCause =
  | 'client' | 'upstream' | 'client-error' | 'upstream-error'
  | 'idle-timeout' | 'send-timeout' | 'shutdown'

export interface TunnelTimeouts {
  idleTimeout: number
  sendTimeout: number
  finTimeout: number
}

/**
 * The raw byte tunnel joined after a 101. It never parses frames, so
 * subprotocols, extensions, pings and close codes stay end to end.
 *
 * The per-chunk path is two bound handlers: `write`, and on backpressure a
 * pause until 'drain' (R15). Node resets the client socket's timeout on every
 * read and every write, and every byte in either direction is read or written
 * on the client socket, so one socket timeout is the bidirectional idle timer
 * (R18) at no per-chunk cost of ours.
 */
export class Tunnel<M = unknown> {
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
  private sendTimer: NodeJS.Timeout | null = null
  private sendWatched: Socket | null = null
  private sendPending = 0
  private finTimer: NodeJS.Timeout | null = null

  constructor (client: Socket, upstream: Socket, timeouts: TunnelTimeouts, meta: M, onFinished: (tunnel: Tunnel<M>) => void) {
    this.client = client
    this.upstream = upstream
    this.timeouts = timeouts
    this.meta = meta
    this.onFinished = onFinished
  }

  /** Starts relaying. `clientHead` are client bytes read with the request (R9), sent only now, after the upstream's 101. */
  start (clientHead: Buffer): void {
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

  get finished (): boolean {
    return this.done
  }

  private readonly onClientData = (chunk: Buffer): void => {
    if (!this.upstream.write(chunk)) {
      this.client.pause()
      this.watchSend(this.upstream)
    }
  }

  private readonly onUpstreamData = (chunk: Buffer): void => {
    if (!this.client.write(chunk)) {
      this.upstream.pause()
      this.watchSend(this.client)
    }
  }

  private readonly onUpstreamDrain = (): void => {
    this.unwatchSend(this.upstream)
    this.client.resume()
  }

  private readonly onClientDrain = (): void => {
    this.unwatchSend(this.client)
    this.upstream.resume()
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
    survivor.removeListener('data', survivor === client ? this.onClientData : this.onUpstreamData)
    survivor.resume()
    survivor.end()
    this.armFinTimer()
  }

  private watchSend (socket: Socket): void {
    if (this.timeouts.sendTimeout === 0) return
    this.sendWatched = socket
    this.sendPending = socket.writableLength
    if (this.sendTimer === null) {
      this.sendTimer = setTimeout(this.onSendTimer, this.timeouts.sendTimeout)
      this.sendTimer.unref()
    } else {
      this.sendTimer.refresh()
    }
  }

  private unwatchSend (socket: Socket): void {
    if (this.sendTimer !== null && this.sendWatched === socket) {
      clearTimeout(this.sendTimer)
      this.sendTimer = null
      this.sendWatched = null
    }
  }

  /** R19: only a write that made no progress for sendTimeout closes the tunnel; a slow but moving peer is left alone. */
  private readonly onSendTimer = (): void => {
    const socket = this.sendWatched
    if (socket === null) return
    const pending = socket.writableLength
    if (pending > 0 && pending < this.sendPending) {
      this.sendPending = pending
      this.sendTimer?.refresh()
      return
    }
    this.sendTimer = null
    if (pending > 0 || socket.writableNeedDrain) this.destroy('send-timeout')
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
    if (this.sendTimer !== null) clearTimeout(this.sendTimer)
    if (this.finTimer !== null) clearTimeout(this.finTimer)
    this.sendTimer = null
    this.finTimer = null
    this.client.setTimeout(0)
    this.onFinished(this)
  }
}
