import { randomBytes } from 'node:crypto'
import { WebSocket } from 'ws'

export type RelaySide = 'client' | 'upstream'

/**
 * The payload of the proxy's own pings. Peers' pings and pongs are passed
 * end to end; a pong carrying this payload answers the proxy and goes no
 * further. Random per process, so no peer's own ping is taken for ours.
 */
export const HEARTBEAT_PAYLOAD = randomBytes(8)

/**
 * `relay.heartbeat`: every `interval` the proxy pings both sides; a side that
 * has not answered within `timeout` is dead (a peer whose machine vanished
 * sends no FIN and no reset, and would otherwise be found only by the idle
 * timeout). One timer per connection, alternating between "ping" and
 * "check".
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null
  private checking = false
  private readonly awaiting = { client: false, upstream: false }

  constructor (
    private readonly interval: number,
    private readonly timeout: number,
    private readonly sides: Record<RelaySide, WebSocket>,
    private readonly onDead: (side: RelaySide) => void
  ) {}

  start (): void {
    this.timer = setTimeout(this.onTimer, this.interval)
    this.timer.unref()
  }

  /** True when `data` answers the proxy's ping (the pong is then not forwarded). */
  answered (side: RelaySide, data: Buffer): boolean {
    if (!data.equals(HEARTBEAT_PAYLOAD)) return false
    this.awaiting[side] = false
    return true
  }

  stop (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private readonly onTimer = (): void => {
    if (!this.checking) {
      for (const side of ['client', 'upstream'] as const) {
        // A side the relay is not reading (backpressure) could not be heard: it is not judged this round.
        if (this.sides[side].readyState !== WebSocket.OPEN || this.sides[side].isPaused) continue
        this.awaiting[side] = true
        this.sides[side].ping(HEARTBEAT_PAYLOAD)
      }
      this.checking = true
      this.timer = setTimeout(this.onTimer, this.timeout)
      this.timer.unref()
      return
    }
    const silent = (side: RelaySide): boolean => this.awaiting[side] && !this.sides[side].isPaused
    const dead = silent('client') ? 'client' : silent('upstream') ? 'upstream' : null
    if (dead !== null) {
      this.timer = null
      this.onDead(dead)
      return
    }
    this.checking = false
    this.timer = setTimeout(this.onTimer, Math.max(1, this.interval - this.timeout))
    this.timer.unref()
  }
}
