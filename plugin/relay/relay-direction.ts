import { WebSocket, type RawData } from 'ws'
import type { MessageDirection, MessageVerdict, RelayConnectionInfo } from '../options/relay-types.js'
import type { HookRunner } from './message-hooks.js'
import type { MessageRate } from './message-rate.js'

/** What a direction asks of the connection it belongs to. */
export interface DirectionHost {
  readonly info: RelayConnectionInfo
  readonly hooks: HookRunner | null
  /** The connection is being closed: messages still arriving are dropped. */
  readonly closing: boolean
  /** A message arrived (the idle timer's clock, the route's message counts). */
  messageFrom: (direction: MessageDirection) => void
  rateLimited: () => void
  hookFailed: (direction: MessageDirection, err: unknown) => void
  hookClosed: (code: number, reason: string) => void
  sendStalled: (direction: RelayDirection) => void
}

// Past this many bytes queued for the target, the source is no longer read
// (R15 for messages); reading resumes once the target has taken most of it.
const HIGH_WATER = 64 * 1024
const LOW_WATER = 16 * 1024
/** Messages (or bytes, HIGH_WATER) waiting for a busy (async) hook before the source is paused. */
const MAX_QUEUED = 16

const BINARY = { binary: true }
const TEXT = { binary: false }

function isPromise (value: unknown): value is Promise<MessageVerdict> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/**
 * One direction of a relay: the messages `source` sends, through the hook
 * and the rate limit, to `target`, with backpressure (the source is paused
 * while the target has too much queued or the hook too many messages
 * waiting) and the send timeout of a target that takes nothing.
 */
export class RelayDirection {
  /** Messages received from the source. */
  messages = 0
  private readonly queue: Array<{ data: Buffer, isBinary: boolean }> = []
  private queuedBytes = 0
  private hookBusy = false
  private targetFull = false
  private queueFull = false
  private sendTimer: NodeJS.Timeout | null = null
  private sendPending = 0

  constructor (
    readonly direction: MessageDirection,
    readonly source: WebSocket,
    readonly target: WebSocket,
    private readonly host: DirectionHost,
    private readonly sendTimeout: number,
    private readonly rate: MessageRate | null
  ) {}

  /** The source's 'message' listener. */
  readonly onMessage = (data: RawData, isBinary: boolean): void => {
    if (this.host.closing) return
    this.messages++
    this.host.messageFrom(this.direction)
    if (this.rate !== null && !this.rate.take(Date.now())) {
      this.host.rateLimited()
      return
    }
    // binaryType is ws's default, 'nodebuffer': every message arrives as one Buffer.
    const buffer = data as Buffer
    if (this.host.hooks === null) {
      this.send(buffer, isBinary)
    } else if (this.hookBusy) {
      this.queue.push({ data: buffer, isBinary })
      this.queuedBytes += buffer.length
      if ((this.queue.length >= MAX_QUEUED || this.queuedBytes >= HIGH_WATER) && !this.queueFull) {
        this.queueFull = true
        this.source.pause()
      }
    } else {
      this.runHook(buffer, isBinary)
    }
  }

  stop (): void {
    if (this.sendTimer !== null) clearTimeout(this.sendTimer)
    this.sendTimer = null
    this.queue.length = 0
    this.queuedBytes = 0
  }

  /** A synchronous hook's verdict is applied at once; an async one holds the messages behind it, in order. */
  private runHook (data: Buffer, isBinary: boolean): void {
    const hooks = this.host.hooks as HookRunner
    let verdict: MessageVerdict | Promise<MessageVerdict>
    try {
      verdict = hooks.run({ direction: this.direction, data, isBinary, connection: this.host.info })
    } catch (err) {
      this.host.hookFailed(this.direction, err)
      return
    }
    if (!isPromise(verdict)) {
      this.apply(verdict, data, isBinary)
      return
    }
    this.hookBusy = true
    verdict.then((settled) => {
      this.hookBusy = false
      this.apply(settled, data, isBinary)
      this.next()
    }, (err: unknown) => {
      this.hookBusy = false
      this.host.hookFailed(this.direction, err)
    })
  }

  private next (): void {
    while (!this.hookBusy && this.queue.length > 0 && !this.host.closing) {
      const message = this.queue.shift() as { data: Buffer, isBinary: boolean }
      this.queuedBytes -= message.data.length
      this.runHook(message.data, message.isBinary)
    }
    if (this.queueFull && this.queue.length <= MAX_QUEUED / 2 && this.queuedBytes <= LOW_WATER) {
      this.queueFull = false
      this.resumeSource()
    }
  }

  private apply (verdict: MessageVerdict, data: Buffer, isBinary: boolean): void {
    if (this.host.closing) return
    // A hook that returns nothing (or null) passes the message on.
    if (verdict == null) return this.send(data, isBinary)
    switch (verdict.action) {
      case 'pass':
        return this.send(data, isBinary)
      case 'drop':
        return
      case 'replace': {
        const replacement = verdict.data
        if (typeof replacement === 'string') return this.send(replacement, verdict.isBinary ?? false)
        if (replacement instanceof Uint8Array) {
          const bytes = Buffer.isBuffer(replacement) ? replacement : Buffer.from(replacement.buffer, replacement.byteOffset, replacement.byteLength)
          return this.send(bytes, verdict.isBinary ?? true)
        }
        break
      }
      case 'close':
        return this.host.hookClosed(verdict.code, verdict.reason ?? '')
    }
    this.host.hookFailed(this.direction, new TypeError(`the hook returned ${JSON.stringify(verdict)}; allowed: undefined, { action: 'pass' | 'drop' }, { action: 'replace', data }, { action: 'close', code }`))
  }

  private send (data: Buffer | string, isBinary: boolean): void {
    const { target } = this
    if (target.readyState !== WebSocket.OPEN) return
    target.send(data, isBinary ? BINARY : TEXT, this.onSent)
    if (!this.targetFull && target.bufferedAmount >= HIGH_WATER) {
      this.targetFull = true
      this.source.pause()
      this.watchSend()
    }
  }

  /** Every send reports here once written: the last pending write finds the target drained. */
  private readonly onSent = (): void => {
    if (!this.targetFull || this.target.bufferedAmount > LOW_WATER) return
    this.targetFull = false
    if (this.sendTimer !== null) clearTimeout(this.sendTimer)
    this.sendTimer = null
    this.resumeSource()
  }

  private resumeSource (): void {
    if (this.targetFull || this.queueFull || this.host.closing) return
    this.source.resume()
  }

  private watchSend (): void {
    if (this.sendTimeout === 0) return
    this.sendPending = this.target.bufferedAmount
    this.sendTimer ??= setTimeout(this.onSendTimer, this.sendTimeout)
    this.sendTimer.refresh()
  }

  /** R19: only a target that took nothing for sendTimeout ends the connection; a slow but moving one is left alone. */
  private readonly onSendTimer = (): void => {
    const pending = this.target.bufferedAmount
    if (!this.targetFull) {
      this.sendTimer = null
      return
    }
    if (pending < this.sendPending) {
      this.sendPending = pending
      this.sendTimer?.refresh()
      return
    }
    this.sendTimer = null
    this.host.sendStalled(this)
  }
}
