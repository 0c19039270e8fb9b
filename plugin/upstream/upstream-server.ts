import type { ResolvedServer } from '../options/options-types.js'

/** `up`: usable; `failed`: skipped after `maxFails` failures; `down`: configured `down`, never used. */
export type ServerState = 'up' | 'failed' | 'down'

/** A server's counters as shown by the admin status endpoint and metrics. */
export interface UpstreamServerStats {
  url: string
  state: ServerState
  /** Epoch ms until which a failed server is skipped; null unless `state` is `failed`. */
  failedUntil: number | null
  active: number
  total: number
  failures: number
  weight: number
  backup: boolean
  /** For a server found through DNS: the configured URL it was resolved from. */
  name?: string
  /** DNS no longer lists it: it takes no new connections while its open ones finish. */
  draining?: boolean
}

/**
 * One server of an upstream group with the live state nginx keeps per peer:
 * connection counts, the failure window and the smooth-weighted round-robin
 * weights. Balancers read and update it; {@link UpstreamGroup} owns it.
 *
 * Failure bookkeeping follows nginx's round-robin peer (`fails`, `accessed`,
 * `checked`): a failure stamps both times; a pick more than `failTimeout`
 * after the last check moves `checked`, and only a success after such a pick
 * clears the count. So failures count towards `maxFails` until a success
 * lands after a full `failTimeout` without failures being stamped.
 *
 * @example
 * const server = new UpstreamServer(resolvedServer)
 * server.isAvailable(Date.now(), false) // true
 */
export class UpstreamServer {
  /** Replaced by {@link reconfigure} when an update keeps the server with other settings. */
  config: ResolvedServer
  readonly id: string
  /** Set when an update took the server out of its group: its open connections are being closed. */
  removed = false
  /** Connections open or being set up; tunnels count for their whole life (least-conn reads it). */
  active = 0
  /** Connections ever started. */
  total = 0
  /** Failures ever recorded (for stats; `fails` is the windowed count). */
  failures = 0

  /** Failures counted towards `maxFails` (nginx `peer->fails`). */
  fails = 0
  /** Time of the last failure (nginx `peer->accessed`). */
  accessed = 0
  /** Start of the current failure window (nginx `peer->checked`). */
  checked = 0
  /** Smooth weighted round-robin running weight (nginx `current_weight`). */
  currentWeight = 0
  /** Weight lowered by failures and regained one step per pick (nginx `effective_weight`). */
  effectiveWeight: number

  constructor (config: ResolvedServer) {
    this.config = config
    this.id = config.url
    this.effectiveWeight = config.weight
  }

  /**
   * Why connections to this server must end, if they must: it left the
   * configuration, or it is now marked `down`. null while it serves.
   */
  get retired (): 'server-removed' | 'server-down' | null {
    if (this.removed) return 'server-removed'
    return this.config.down ? 'server-down' : null
  }

  /**
   * New settings for a server an update keeps (same URL): its connection
   * counts and failure window stay, so passive health survives a reload; a
   * new weight restarts its round-robin share at that weight.
   */
  reconfigure (config: ResolvedServer): void {
    if (config.weight !== this.config.weight) this.effectiveWeight = config.weight
    this.config = config
  }

  /** True while `maxFails` failures keep the server skipped. */
  isFailed (now: number = Date.now()): boolean {
    const { maxFails, failTimeout } = this.config
    return maxFails > 0 && this.fails >= maxFails && now - this.checked <= failTimeout
  }

  state (now: number = Date.now()): ServerState {
    if (this.config.down) return 'down'
    return this.isFailed(now) ? 'failed' : 'up'
  }

  failedUntil (now: number = Date.now()): number | null {
    return this.isFailed(now) ? this.checked + this.config.failTimeout : null
  }

  /** True when at `maxConns` (0 = unlimited). */
  isFull (): boolean {
    const { maxConns } = this.config
    return maxConns > 0 && this.active >= maxConns
  }

  /**
   * Whether a new connection may go here. A group's only server is never
   * skipped for failures (nginx `peers->single`): there is nothing else to try.
   */
  isAvailable (now: number, singleServerGroup: boolean): boolean {
    if (this.config.down) return false
    if (!singleServerGroup && this.isFailed(now)) return false
    return !this.isFull()
  }

  /** A pick opens a new failure window once the previous one has passed. */
  markPicked (now: number): void {
    if (now - this.checked > this.config.failTimeout) this.checked = now
  }

  recordFailure (now: number): void {
    this.failures++
    this.fails++
    this.accessed = now
    this.checked = now
    const { maxFails, weight } = this.config
    if (maxFails > 0) {
      // Lowers the round-robin share at once; picks restore it step by step.
      this.effectiveWeight = Math.max(0, this.effectiveWeight - Math.floor(weight / maxFails))
    }
  }

  recordSuccess (): void {
    if (this.accessed < this.checked) this.fails = 0
  }

  toJSON (now?: number): UpstreamServerStats {
    // JSON.stringify passes the property key here, never a time.
    if (typeof now !== 'number') now = Date.now()
    return {
      url: this.config.url,
      state: this.state(now),
      failedUntil: this.failedUntil(now),
      active: this.active,
      total: this.total,
      failures: this.failures,
      weight: this.config.weight,
      backup: this.config.backup
    }
  }
}
