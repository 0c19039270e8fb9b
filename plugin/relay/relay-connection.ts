import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { WebSocket } from 'ws'
import type { MessageDirection, RelayConnectionInfo, ResolvedRelay } from '../options/relay-types.js'
import type { RouteStats } from '../proxy-stats.js'
import type { CloseCause, TunnelTimeouts } from '../tunnel/tunnel.js'
import { cutReason, forwardedCode, isSendableCode } from './close-codes.js'
import { Heartbeat, type RelaySide } from './heartbeat.js'
import type { HookRunner } from './message-hooks.js'
import { MessageRate } from './message-rate.js'
import { RelayDirection, type DirectionHost } from './relay-direction.js'

/** Why a relay ended, as written to the access log: the tunnel's causes and the relay's own. */
export type RelayCloseCause = CloseCause | 'message-too-big' | 'rate-limit' | 'hook' | 'hook-error' | 'heartbeat'

/** What one relay connection is made of. */
export interface RelayParts {
  clientWs: WebSocket
  upstreamWs: WebSocket
  /** The client's socket, for the bytes of the access log. */
  client: Socket
  info: RelayConnectionInfo
  options: ResolvedRelay
  hooks: HookRunner | null
  timeouts: TunnelTimeouts
  stats: RouteStats
  log: FastifyBaseLogger
}

// ws reports a message over maxPayload with this code and has closed that side with 1009.
const TOO_BIG = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'

/**
 * A relayed WebSocket: two `ws` WebSockets, client and upstream, and the
 * messages between them. A close from one side is passed to the other (code
 * and reason, never a reserved code, the reason cut to 123 bytes); pings and
 * pongs cross end to end; whatever the proxy ends itself (limits, hooks,
 * timeouts, heartbeats, shutdown) gets a close frame on both sides, except a
 * side that is dead or not reading, which is cut. The owner learns the end
 * through `onFinished` once both sockets are closed.
 */
export class RelayConnection<M = unknown> implements DirectionHost {
  readonly client: Socket
  readonly info: RelayConnectionInfo
  readonly hooks: HookRunner | null
  cause: RelayCloseCause | null = null
  errorCode: string | null = null
  /** The code that ended the connection: the closing side's, or the one the proxy sent. */
  closeCode: number | null = null
  closing = false
  readonly fromClient: RelayDirection
  readonly fromUpstream: RelayDirection
  private readonly parts: RelayParts
  private readonly heartbeat: Heartbeat | null
  private idleTimer: NodeJS.Timeout | null = null
  private lastActivity = Date.now()
  private open = { client: true, upstream: true }
  private done = false

  constructor (parts: RelayParts, readonly meta: M, private readonly onFinished: (relay: RelayConnection<M>) => void) {
    this.parts = parts
    this.client = parts.client
    this.info = parts.info
    this.hooks = parts.hooks
    const { clientWs, upstreamWs, options, timeouts } = parts
    const rate = options.rateLimit === null ? null : new MessageRate(options.rateLimit.messages, options.rateLimit.per)
    this.fromClient = new RelayDirection('fromClient', clientWs, upstreamWs, this, timeouts.sendTimeout, rate)
    this.fromUpstream = new RelayDirection('fromUpstream', upstreamWs, clientWs, this, timeouts.sendTimeout, null)
    const beat = options.heartbeat
    this.heartbeat = beat === null ? null : new Heartbeat(beat.interval, beat.timeout, { client: clientWs, upstream: upstreamWs }, this.onDead)
  }

  /** Starts relaying; both WebSockets were paused when they opened, so nothing arrived unheard. */
  start (): void {
    const { clientWs, upstreamWs, timeouts } = this.parts
    this.client.setKeepAlive(true, 60_000)
    this.listen(clientWs, 'client', this.fromClient)
    this.listen(upstreamWs, 'upstream', this.fromUpstream)
    if (timeouts.idleTimeout > 0) {
      this.idleTimer = setTimeout(this.onIdleTimer, timeouts.idleTimeout)
      this.idleTimer.unref()
    }
    this.heartbeat?.start()
    clientWs.resume()
    upstreamWs.resume()
    // A side that closed before the relay started will not emit 'close' again.
    if (clientWs.readyState === WebSocket.CLOSED) this.onSideClosed('client', 1006, Buffer.alloc(0))
    if (upstreamWs.readyState === WebSocket.CLOSED) this.onSideClosed('upstream', 1006, Buffer.alloc(0))
  }

  /** Ends the relay with a close frame to both sides (shutdown, reload, a hook's decision). */
  closeDeliberately (code: number, reason = '', cause: RelayCloseCause = 'shutdown'): void {
    if (this.done) return
    this.cause ??= cause
    this.closeCode ??= code
    this.closing = true
    closeSide(this.parts.clientWs, code, reason)
    closeSide(this.parts.upstreamWs, code, reason)
  }

  /** Cuts both sides at once (the shutdown grace is over). */
  destroy (cause: RelayCloseCause): void {
    this.cause ??= cause
    this.closing = true
    this.parts.clientWs.terminate()
    this.parts.upstreamWs.terminate()
  }

  get finished (): boolean {
    return this.done
  }

  readonly activity = (): void => {
    this.lastActivity = Date.now()
  }

  readonly messageFrom = (direction: MessageDirection): void => {
    this.lastActivity = Date.now()
    if (direction === 'fromClient') this.parts.stats.messagesFromClients++
    else this.parts.stats.messagesFromUpstreams++
  }

  readonly rateLimited = (): void => {
    this.parts.stats.rateLimited++
    this.closeDeliberately(1008, 'message rate limit exceeded', 'rate-limit')
  }

  readonly hookFailed = (direction: MessageDirection, err: unknown): void => {
    if (this.closing) return
    this.parts.stats.hookErrors++
    this.parts.log.error({ reqId: this.info.id, route: this.info.route, direction, err }, 'relay message hook failed: closing the connection with 1011')
    this.closeDeliberately(1011, 'message hook failed', 'hook-error')
  }

  readonly hookClosed = (code: number, reason: string): void => {
    if (!isSendableCode(code)) {
      this.hookFailed('fromClient', new RangeError(`the hook asked to close with code ${code}; allowed: 1000-1003, 1007-1014, 3000-4999`))
      return
    }
    this.closeDeliberately(code, reason, 'hook')
  }

  readonly sendStalled = (direction: RelayDirection): void => {
    // The target took nothing for sendTimeout: a close frame would queue behind what it does not read.
    this.cause ??= 'send-timeout'
    this.closing = true
    direction.target.terminate()
    closeSide(direction.source, 1001, 'peer stopped reading')
  }

  private listen (ws: WebSocket, side: RelaySide, direction: RelayDirection): void {
    const other = side === 'client' ? this.parts.upstreamWs : this.parts.clientWs
    ws.on('message', direction.onMessage)
    ws.on('ping', (data: Buffer) => {
      this.activity()
      if (other.readyState === WebSocket.OPEN) other.ping(data)
    })
    ws.on('pong', (data: Buffer) => {
      if (this.heartbeat?.answered(side, data) === true) return
      this.activity()
      if (other.readyState === WebSocket.OPEN) other.pong(data)
    })
    ws.on('error', (err: NodeJS.ErrnoException) => { this.onSideError(side, err) })
    ws.on('close', (code: number, reason: Buffer) => { this.onSideClosed(side, code, reason) })
  }

  /**
   * ws reports a side's protocol errors here, after it has sent that side the
   * matching close code; the other side is told at once with the same code,
   * rather than after the offender's closing handshake times out.
   */
  private onSideError (side: RelaySide, err: NodeJS.ErrnoException): void {
    this.errorCode ??= err.code ?? err.message
    if (err.code === TOO_BIG) {
      this.parts.stats.messagesTooBig++
      this.closeDeliberately(1009, `${side} message too big`, 'message-too-big')
      return
    }
    this.cause ??= side === 'client' ? 'client-error' : 'upstream-error'
    if (this.closing || err.code?.startsWith('WS_ERR_') !== true) return
    this.closing = true
    const code = err.code === 'WS_ERR_INVALID_UTF8' ? 1007 : 1002
    this.closeCode ??= code
    closeSide(side === 'client' ? this.parts.upstreamWs : this.parts.clientWs, code, `${side} broke the WebSocket protocol`)
  }

  private onSideClosed (side: RelaySide, code: number, reason: Buffer): void {
    if (!this.open[side]) return
    this.open[side] = false
    if (!this.closing) {
      // The side closed first: the other gets its code and reason, a reserved code never.
      this.closing = true
      this.cause ??= side
      this.closeCode ??= code
      const other = side === 'client' ? this.parts.upstreamWs : this.parts.clientWs
      closeSide(other, forwardedCode(code), reason)
    }
    if (!this.open.client && !this.open.upstream) this.finish()
  }

  private readonly onDead = (side: RelaySide): void => {
    this.cause ??= 'heartbeat'
    this.closing = true
    // A dead peer reads no close frame; the live one is told why its peer is gone.
    const [dead, live] = side === 'client' ? [this.parts.clientWs, this.parts.upstreamWs] : [this.parts.upstreamWs, this.parts.clientWs]
    dead.terminate()
    closeSide(live, 1001, `${side} did not answer ping`)
  }

  private readonly onIdleTimer = (): void => {
    const idleFor = Date.now() - this.lastActivity
    const limit = this.parts.timeouts.idleTimeout
    if (idleFor < limit) {
      this.idleTimer = setTimeout(this.onIdleTimer, limit - idleFor)
      this.idleTimer.unref()
      return
    }
    this.idleTimer = null
    this.closeDeliberately(1001, 'idle timeout', 'idle-timeout')
  }

  private finish (): void {
    if (this.done) return
    this.done = true
    if (this.idleTimer !== null) clearTimeout(this.idleTimer)
    this.idleTimer = null
    this.heartbeat?.stop()
    this.fromClient.stop()
    this.fromUpstream.stop()
    this.onFinished(this)
  }
}

/**
 * Sends `ws` a close frame unless it is already closing; `code` undefined
 * sends none (the peer gave none). A side paused for backpressure is read
 * again, or its answering close frame would never be seen.
 */
function closeSide (ws: WebSocket, code: number | undefined, reason: string | Buffer): void {
  if (ws.readyState !== WebSocket.OPEN) return
  if (ws.isPaused) ws.resume()
  if (code === undefined) ws.close()
  else ws.close(code, cutReason(reason))
}
