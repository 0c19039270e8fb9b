import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import { ConnectionAdmission } from './connection-admission.js'
import { ConnectionLimits } from './connection-limits.js'
import { CloseSchedule } from './lifecycle/close-schedule.js'
import type { CloseCause, CloseCode, OpenConnection } from './open-connection.js'
import { InvalidOptionError } from './errors.js'
import { ConnectionRateLimiter } from './connection-rate.js'
import type { ResolvedOptions } from './options/options-types.js'
import type { RouteRuntime } from './route-runtime.js'
import { ProxyCounters } from './proxy-stats.js'
import { RelayConnection } from './relay/relay-connection.js'
import { RouteRelay } from './relay/route-relay.js'
import { Tunnel } from './tunnel/tunnel.js'
import { UpstreamDns } from './upstream/upstream-dns.js'
import { UpstreamGroup } from './upstream/upstream-group.js'
import type { UpgradeSession } from './upgrade/upgrade-session.js'
import { WarningThrottle } from './warning-throttle.js'

export { kUpgradeClaim, type RouteRuntime, type UpgradeClaim } from './route-runtime.js'

/** A tunnel carries its upgrade's session: the owner of its slot, server and figures. */
export type ProxiedTunnel = Tunnel<UpgradeSession>

/** A relayed WebSocket (relay mode) carries its session the same way. */
export type ProxiedRelay = RelayConnection<UpgradeSession>

/** What `openTunnel` joins: the two sockets and the bytes read around the 101. */
export interface TunnelSetup {
  client: Socket
  upstream: Socket
  /** The 101 head for the client. */
  switchHead: Buffer
  /** Upstream bytes that came with its 101 (R10). */
  upstreamHead: Buffer
  /** Client bytes read with its request (R9). */
  clientHead: Buffer
  /** A WebSocket upgrade: its frames are followed so it can be closed at a frame boundary. */
  webSocket: boolean
}

/**
 * Builds the route table of `options` over `groups`. A relay route keeps the
 * RouteRelay (client-side server, hook pool) of the route at its path in
 * `previous`: an update never changes a relay route's relay settings in
 * place (update-plan.ts), and its open connections use that pool.
 */
export function buildRoutes (options: ResolvedOptions, groups: ReadonlyMap<string, UpstreamGroup>, previous: readonly RouteRuntime[] = []): RouteRuntime[] {
  return options.routes.map(config => ({
    config,
    group: groups.get(config.upstream) as UpstreamGroup,
    timeouts: { idleTimeout: config.idleTimeout, sendTimeout: config.sendTimeout, finTimeout: config.finTimeout },
    relay: config.relay === null
      ? null
      : previous.find(route => route.config.path === config.path)?.relay ?? new RouteRelay({ ...config, relay: config.relay })
  }))
}

/**
 * Everything one plugin instance shares between its routes. Its route table,
 * groups and options are replaced in place by `wsProxy.update()`; open
 * connections keep the route and server they started with.
 */
export class ProxyRuntime {
  routes: RouteRuntime[]
  readonly groups = new Map<string, UpstreamGroup>()
  /** Per group with servers given by host name, its resolver: started on ready (or by an update), stopped on close. */
  readonly dns = new Map<string, UpstreamDns>()
  readonly counters: ProxyCounters
  readonly limits: ConnectionLimits
  readonly admission: ConnectionAdmission
  /** `limits.connectionRate` per client key, or null when off (R86); replaced when an update changes it. */
  rate: ConnectionRateLimiter | null
  /** Warnings and errors a client can cause at will are written through this, at most once per 10 s per kind. */
  readonly warnings: WarningThrottle
  readonly tunnels = new Set<ProxiedTunnel>()
  /** Open relay connections, beside the tunnels (see openConnections). */
  readonly relays = new Set<ProxiedRelay>()
  /** Upstream attempts in flight: shutdown waits for them like for tunnels, then aborts them. */
  readonly attempts = new Set<{ abort: () => void }>()
  /** Set by preClose: new upgrades are refused while open tunnels close. */
  closing = false
  /** Once a stop or a drain deadline began closing everything: tunnels that open later are closed at once. */
  closingAll: { code: CloseCode, cause: CloseCause } | null = null
  private readonly schedules = new Set<CloseSchedule>()

  constructor (public options: ResolvedOptions, readonly log: FastifyBaseLogger) {
    for (const [name, upstream] of options.upstreams) this.addGroup(name, new UpstreamGroup(upstream))
    this.routes = buildRoutes(options, this.groups)
    this.counters = new ProxyCounters(options.routes)
    const { maxConnections, maxConnectionsPerIp, ipv6Prefix, connectionRate } = options.limits
    this.limits = new ConnectionLimits(maxConnections, maxConnectionsPerIp, ipv6Prefix)
    this.admission = new ConnectionAdmission(this.counters, maxConnections, maxConnectionsPerIp, log, ipv6Prefix)
    this.rate = connectionRate === null ? null : new ConnectionRateLimiter(connectionRate)
    this.counters.rateTracked = () => this.rate?.tracked ?? 0
    this.warnings = new WarningThrottle(log)
  }

  /**
   * Puts `group` in place under `name` with a resolver for its host-name
   * servers, replacing the resolver it had (an update changed its entries).
   * Returns the new resolver for the caller to start, or null.
   */
  addGroup (name: string, group: UpstreamGroup): UpstreamDns | null {
    this.dns.get(name)?.stop()
    this.dns.delete(name)
    group.dnsStatus = null
    group.onFailure = null
    group.noServersReason = null
    this.groups.set(name, group)
    const dns = new UpstreamDns(group, this.log)
    if (!dns.active) return null
    this.dns.set(name, dns)
    return dns
  }

  /** Takes the group `name` out (an update removed it), with its resolver. */
  removeGroup (name: string): void {
    this.dns.get(name)?.stop()
    this.dns.delete(name)
    this.groups.delete(name)
  }

  /** Joins a client and an upstream that switched protocols. */
  openTunnel (setup: TunnelSetup, session: UpgradeSession): void {
    const { client, upstream } = setup
    client.setNoDelay(true)
    client.setKeepAlive(true, 60_000)
    client.write(setup.switchHead)
    const tunnel = new Tunnel(client, upstream, session.route.timeouts, session, this.onTunnelFinished, setup.webSocket)
    this.tunnels.add(tunnel)
    session.tunnelOpened()
    tunnel.start(setup.clientHead, setup.upstreamHead)
    this.closeIfRetired(tunnel)
  }

  private readonly onTunnelFinished = (tunnel: ProxiedTunnel): void => {
    this.tunnels.delete(tunnel)
    tunnel.meta.tunnelClosed(tunnel)
  }

  /**
   * Relay mode: completes the client's handshake with what the upstream
   * chose (`upstream` is its WebSocket, already open and paused) and starts
   * relaying messages. `clientHead` are client bytes read with the request (R9).
   */
  openRelay (req: IncomingMessage, client: Socket, clientHead: Buffer, answer: IncomingMessage, upstream: WebSocket, session: UpgradeSession): void {
    const route = session.route
    const relay = route.relay as RouteRelay
    const clientWs = relay.clientSide.accept(req, client, clientHead, answer, upstream.protocol)
    if (clientWs === null) {
      // ws refused what it had to parse of the request (an extension offer) and answered 400 itself.
      upstream.close(1001, 'client handshake failed')
      session.fail()
      this.log.info({ reqId: session.reqId, route: route.config.path }, 'relay refused: the client handshake could not be completed')
      return
    }
    clientWs.pause()
    const info = {
      id: session.reqId,
      route: route.config.path,
      clientAddress: session.clientAddress,
      upstream: session.server?.config.url ?? '',
      protocol: upstream.protocol,
      url: req.url ?? '/',
      headers: req.headers
    }
    const parts = { clientWs, upstreamWs: upstream, client, info, options: relay.options, hooks: relay.hooks, timeouts: route.timeouts, stats: this.counters.route(route.config.path), log: this.log }
    const connection = new RelayConnection(parts, session, this.onRelayFinished)
    this.relays.add(connection)
    session.tunnelOpened()
    connection.start()
    this.closeIfRetired(relayAsOpenConnection(connection))
  }

  /** A connection whose handshake was under way when everything began closing, or whose server left the config meanwhile. */
  private closeIfRetired (connection: OpenConnection): void {
    const retired = connection.meta.server?.retired ?? null
    if (this.closingAll !== null) connection.closeDeliberately(this.closingAll.code, this.closingAll.cause)
    else if (retired !== null) connection.closeDeliberately(1012, retired)
  }

  private readonly onRelayFinished = (relay: ProxiedRelay): void => {
    this.relays.delete(relay)
    relay.meta.tunnelClosed(relay, 'relay closed', {
      mode: 'relay',
      closeCode: relay.closeCode ?? undefined,
      messagesFromClient: relay.fromClient.messages,
      messagesFromUpstream: relay.fromUpstream.messages
    })
  }

  /** Gets every relay route ready (their hook modules load) before the plugin serves. */
  async startRelays (): Promise<void> {
    for (const route of this.routes) {
      try {
        await route.relay?.ready()
      } catch (err) {
        throw new InvalidOptionError(`routes[${this.routes.indexOf(route)}].relay.onMessage`, (err as Error).message)
      }
    }
  }

  /** Stops what relay routes share (hook threads); connections are closed before this. */
  async closeRelays (): Promise<void> {
    await Promise.all(this.routes.map(async route => await route.relay?.close()))
  }

  /** Closes `connections` deliberately, spread evenly over `windowMs` (R39, R40). */
  closeSpread (connections: readonly OpenConnection[], code: CloseCode, cause: CloseCause, windowMs: number): void {
    if (connections.length === 0) return
    const schedule = new CloseSchedule(connections, code, cause, windowMs, (done) => { this.schedules.delete(done) })
    this.schedules.add(schedule)
    schedule.start()
  }

  /** Stops every close schedule (the plugin is closing for good). */
  cancelSchedules (): void {
    for (const schedule of this.schedules) schedule.cancel()
    this.schedules.clear()
  }

  /** Every open connection, tunnels and relays, as shutdown, drain and updates close them. */
  openConnections (): OpenConnection[] {
    const all: OpenConnection[] = [...this.tunnels]
    for (const relay of this.relays) all.push(relayAsOpenConnection(relay))
    return all
  }

  /** Tunnels, relays and upstream attempts still open. */
  get openCount (): number {
    return this.tunnels.size + this.relays.size + this.attempts.size
  }

  /** Resolves true once no tunnel, relay or upstream attempt is left, or false at `deadline`. */
  async settled (deadline: number, pollMs = 50): Promise<boolean> {
    while (this.openCount > 0) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise(resolve => setTimeout(resolve, Math.min(pollMs, left)))
    }
    return true
  }

  /** The route owning an upgrade to `url` (path and query), or undefined. */
  match (url: string): RouteRuntime | undefined {
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    for (const route of this.routes) {
      const { prefix } = route.config
      if (prefix === null ? path === route.config.path : path.startsWith(prefix)) return route
    }
    return undefined
  }
}

const RELAY_CLOSE_REASONS: Record<CloseCode, string> = { 1001: 'server shutting down', 1012: 'service restart' }

/** A relay as the lifecycle sees it: its close takes a reason, given here for the codes ws-cluster sends. */
function relayAsOpenConnection (relay: ProxiedRelay): OpenConnection {
  return {
    meta: relay.meta,
    get finished () { return relay.finished },
    closeDeliberately: (code, cause) => { relay.closeDeliberately(code, RELAY_CLOSE_REASONS[code], cause) },
    destroy: (cause) => { relay.destroy(cause) }
  }
}
