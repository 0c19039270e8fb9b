import type { Socket } from 'node:net'

/**
 * R19 for one direction of a tunnel: armed when a write to `socket` was
 * refused (backpressure), disarmed on its 'drain'. Only a write that makes
 * no progress for the whole timeout counts as stalled; a slow peer that keeps
 * taking bytes is left alone. Each direction has its own watch, so when both
 * directions are blocked and one drains, the other keeps its timer.
 *
 * @example
 * const watch = new SendWatch(upstream, 60_000, () => tunnel.destroy('send-timeout'))
 * if (!upstream.write(chunk)) watch.start()
 * upstream.on('drain', () => watch.stop())
 */
export class SendWatch {
  private timer: NodeJS.Timeout | null = null
  private pending = 0

  constructor (
    private readonly socket: Socket,
    private readonly timeoutMs: number,
    private readonly onStalled: () => void
  ) {}

  /** A write was refused: from now on the socket must make progress within the timeout. */
  start (): void {
    this.pending = this.socket.writableLength
    if (this.timer === null) {
      this.timer = setTimeout(this.check, this.timeoutMs)
      this.timer.unref()
    } else {
      this.timer.refresh()
    }
  }

  /** The socket drained (or its direction no longer matters). */
  stop (): void {
    if (this.timer === null) return
    clearTimeout(this.timer)
    this.timer = null
  }

  private readonly check = (): void => {
    const pending = this.socket.writableLength
    if (pending > 0 && pending < this.pending) {
      this.pending = pending
      this.timer?.refresh()
      return
    }
    this.timer = null
    if (pending > 0 || this.socket.writableNeedDrain) this.onStalled()
  }
}
