import type { FastifyBaseLogger } from 'fastify'
import type { ConnectionLimits } from '../connection-limits.js'
import type { ProxyCounters, RouteStats } from '../proxy-stats.js'
import type { RouteRuntime } from '../route-runtime.js'
import type { UpstreamServer } from '../upstream/upstream-server.js'

/** What the access log needs of a closed tunnel or relay: the client socket's byte counts and who ended it. */
export interface ClosedConnection {
  readonly client: { readonly bytesRead: number, readonly bytesWritten: number }
  readonly cause: string | null
  readonly errorCode: string | null
}

/** What a session needs of the plugin instance it belongs to (the ProxyRuntime). */
export interface SessionHost {
  readonly counters: ProxyCounters
  readonly limits: ConnectionLimits
  readonly closing: boolean
  readonly options: { readonly accessLog: boolean }
  readonly log: FastifyBaseLogger
}

/**
 * The one owner of what a proxied upgrade holds, from the first check to the
 * end of its tunnel: the client's connection-limit slot, the upstream
 * server's connection count and the route's figures. Every way out goes
 * through it (`fail`, `answered`, `tunnelClosed`), so nothing is released by
 * hand, twice, or never; and it writes the session's one access-log line.
 * A tunnel carries its session as its `meta`.
 *
 * @example
 * const session = new UpgradeSession(runtime, route, '203.0.113.7', 'req-1')
 * if (session.takeSlot() !== null) return refuse503()
 * session.connectTo(server)
 * // ... the upstream refused: session.answered(403, bytes); it switched: runtime.openTunnel(..., session)
 */
export class UpgradeSession {
  readonly startedAt = Date.now()
  /** The server the current attempt (or the tunnel) uses. */
  server: UpstreamServer | null = null
  private serverHeld = false
  private slotHeld = false
  private readonly stats: RouteStats

  constructor (
    private readonly runtime: SessionHost,
    readonly route: RouteRuntime,
    readonly clientAddress: string,
    readonly reqId: string
  ) {
    this.stats = runtime.counters.route(route.config.path)
  }

  /** Takes the client's connection-limit slot (R34, R35); returns why it cannot, or null. */
  takeSlot (): string | null {
    const refusal = this.runtime.closing ? 'shutting down' : this.runtime.limits.tryAcquire(this.clientAddress)
    if (refusal === null) this.slotHeld = true
    else this.runtime.counters.refused++
    return refusal
  }

  /** Counts a connection to `server` for balancing and maxConns (R24, R25) while an attempt or tunnel uses it. */
  connectTo (server: UpstreamServer): void {
    this.route.group.acquire(server)
    this.server = server
    this.serverHeld = true
  }

  /** The attempt on the current server is over without a tunnel; another server may be tried. */
  dropServer (): void {
    this.releaseServer()
    this.server = null
  }

  /** The upgrade ends without a tunnel and without an upstream answer to relay (refused, no upstream, client gone). */
  fail (): void {
    this.stats.failed++
    this.release()
  }

  /** The upstream answered without switching and that answer was relayed (R3). */
  answered (statusCode: number, bytesToClient: number): void {
    this.stats.failed++
    this.release()
    this.writeAccessLog(statusCode, 'upgrade answered without switching', { bytesToClient })
  }

  /** The upstream switched and the tunnel is open: the tunnel keeps the slot and the server until {@link tunnelClosed}. */
  tunnelOpened (): void {
    this.runtime.counters.tunnelsOpen++
    this.stats.open++
    this.stats.total++
  }

  /**
   * The tunnel (or relay) ended: its figures go to the route, its slot and
   * server are given back. A relay logs `relay closed` with its own `extra`
   * figures (close code, messages).
   */
  tunnelClosed (tunnel: ClosedConnection, message = 'tunnel closed', extra: Record<string, unknown> = {}): void {
    const { client } = tunnel
    this.runtime.counters.tunnelsOpen--
    this.stats.open--
    this.stats.bytesFromClients += client.bytesRead
    this.stats.bytesToClients += client.bytesWritten
    this.release()
    this.writeAccessLog(101, message, {
      bytesFromClient: client.bytesRead,
      bytesToClient: client.bytesWritten,
      closedBy: tunnel.cause ?? 'client',
      error: tunnel.errorCode ?? undefined,
      ...extra
    })
  }

  private releaseServer (): void {
    if (this.serverHeld && this.server !== null) this.route.group.release(this.server)
    this.serverHeld = false
  }

  /** Gives back the server and the slot; the server stays named for the access log. */
  private release (): void {
    this.releaseServer()
    if (this.slotHeld) this.runtime.limits.release(this.clientAddress)
    this.slotHeld = false
  }

  /** The access log: one line per proxied session, written when it ends. */
  private writeAccessLog (status: number, message: string, extra: Record<string, unknown>): void {
    if (!this.runtime.options.accessLog) return
    this.runtime.log.info({
      reqId: this.reqId,
      route: this.route.config.path,
      upstream: this.server?.id,
      upstreamName: this.server?.config.dns?.entry,
      client: this.clientAddress,
      status,
      durationMs: Date.now() - this.startedAt,
      ...extra
    }, message)
  }
}
