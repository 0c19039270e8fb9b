import type { CloseCause, CloseCode, OpenConnection } from '../open-connection.js'

/**
 * Spreads deliberate closes over a window, so that thousands of clients told
 * to go away do not all reconnect in the same second (HAProxy's
 * `close-spread-time`; nginx has no such thing). The first connection is
 * closed at once and the last one at the end of the window, the others evenly
 * in between, in the order given. One timer serves the whole schedule.
 *
 * @example
 * const schedule = new CloseSchedule([...runtime.tunnels], 1001, 'shutdown', 10_000, () => {})
 * schedule.start()
 */
export class CloseSchedule {
  private timer: NodeJS.Timeout | null = null
  private next = 0
  private startedAt = 0

  constructor (
    private readonly connections: readonly OpenConnection[],
    private readonly code: CloseCode,
    private readonly cause: CloseCause,
    private readonly windowMs: number,
    private readonly onDone: (schedule: CloseSchedule) => void
  ) {}

  /** Closes the first connection now and the rest on schedule. */
  start (): void {
    this.startedAt = Date.now()
    this.tick()
  }

  /** Stops closing (the ones already told keep closing). */
  cancel (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.next = this.connections.length
  }

  /** When the connection at `index` is due, in epoch ms. */
  dueAt (index: number): number {
    const n = this.connections.length
    return n <= 1 ? this.startedAt : this.startedAt + Math.round(this.windowMs * index / (n - 1))
  }

  private readonly tick = (): void => {
    this.timer = null
    const now = Date.now()
    const n = this.connections.length
    while (this.next < n && this.dueAt(this.next) <= now) {
      const connection = this.connections[this.next++] as OpenConnection
      if (!connection.finished) connection.closeDeliberately(this.code, this.cause)
    }
    if (this.next >= n) {
      this.onDone(this)
      return
    }
    this.timer = setTimeout(this.tick, this.dueAt(this.next) - now)
  }
}
