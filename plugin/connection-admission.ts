import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { clientAddressOf, ipKey } from './client-identity.js'
import type { ProxyCounters } from './proxy-stats.js'
import { WarningThrottle } from './warning-throttle.js'

/** Set on a connection until its first request head is complete: the address it is counted under. */
const kReading = Symbol('ws-cluster.reading')

type Tracked = Socket & { [kReading]?: string }

/**
 * Counts every client connection of the server and bounds the ones that have
 * not sent a complete request head yet ("reading", as nginx's stub_status
 * calls them). Those cost a descriptor and serve nobody, so a client that
 * opens many and stays silent must not be able to hold them without limit:
 * at most `maxConnections` of them in all and `maxConnectionsPerIp` per
 * client address (when those limits are set), beyond which a new connection
 * is closed at once, the way nginx drops connections past
 * `worker_connections`. How long one may stay silent is the server's
 * `headersTimeout` (the cluster sets it; a listening Node server has it).
 */
export class ConnectionAdmission {
  private reading = 0
  private readonly readingPerIp = new Map<string, number>()
  private readonly warnings: WarningThrottle

  constructor (
    private readonly counters: ProxyCounters,
    private maxConnections: number,
    private maxPerIp: number,
    log: FastifyBaseLogger,
    private readonly ipv6Prefix = 128
  ) {
    this.warnings = new WarningThrottle(log)
  }

  /** New limits (an update), for connections accepted from now on. */
  setLimits (maxConnections: number, maxPerIp: number): void {
    this.maxConnections = maxConnections
    this.maxPerIp = maxPerIp
  }

  /** The server's 'connection' listener. */
  readonly onConnection = (socket: Socket): void => {
    const counters = this.counters
    counters.accepted++
    counters.active++
    socket.once('close', () => { this.closed(socket as Tracked) })
    // Counted per client key: an IPv6 /64 is one client when ipv6Prefix says so (R87).
    const address = ipKey(clientAddressOf(socket), this.ipv6Prefix)
    const refusal = this.admit(address)
    if (refusal !== null) {
      counters.dropped++
      this.warnings.warn(refusal.kind, { client: address, reason: refusal.reason, code: 'WS_CLUSTER_CONNECTION_LIMIT' }, 'connection closed at accept: too many connections that sent no request yet')
      socket.destroy()
      return
    }
    (socket as Tracked)[kReading] = address
  }

  /** A request head on `req`'s connection is complete: the connection no longer counts as reading. */
  requestStarted (req: IncomingMessage): void {
    let socket = req.socket as Tracked | null
    // Over TLS, Fastify's server counted the TCP socket its TLSSocket wraps.
    if (socket !== null && socket[kReading] === undefined) socket = (socket as Tracked & { _parent?: Tracked | null })._parent ?? null
    if (socket === null) return
    const address = socket[kReading]
    if (address === undefined) return
    socket[kReading] = undefined
    this.leave(address)
  }

  /** The server's 'request' listener, for plain requests (upgrades are reported and counted by the dispatcher). */
  readonly onRequest = (req: IncomingMessage): void => {
    this.counters.requests++
    this.requestStarted(req)
  }

  private closed (socket: Tracked): void {
    this.counters.active--
    const address = socket[kReading]
    if (address === undefined) return
    socket[kReading] = undefined
    this.leave(address)
  }

  private admit (address: string): { kind: string, reason: string } | null {
    if (this.maxConnections > 0 && this.reading >= this.maxConnections) {
      return { kind: 'reading-total', reason: `${this.reading} connections have sent no request yet (maxConnections ${this.maxConnections})` }
    }
    const current = this.readingPerIp.get(address) ?? 0
    if (this.maxPerIp > 0 && current >= this.maxPerIp) {
      return { kind: 'reading-per-ip', reason: `${current} connections from ${address} have sent no request yet (maxConnectionsPerIp ${this.maxPerIp})` }
    }
    this.reading++
    this.counters.reading++
    this.readingPerIp.set(address, current + 1)
    return null
  }

  private leave (address: string): void {
    this.reading--
    this.counters.reading--
    const current = this.readingPerIp.get(address) ?? 1
    if (current <= 1) this.readingPerIp.delete(address)
    else this.readingPerIp.set(address, current - 1)
  }
}
