import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import { ConnectionAdmission } from './connection-admission.js'
import { ConnectionLimits } from './connection-limits.js'
import { InvalidOptionError } from './errors.js'
import type { ResolvedOptions } from './options/options-types.js'
import type { RouteRuntime } from './route-runtime.js'
import { ProxyCounters } from './proxy-stats.js'
import { RelayConnection } from './relay/relay-connection.js'
import { RouteRelay } from './relay/route-relay.js'
import { Tunnel } from './tunnel/tunnel.js'
import { UpstreamDns } from './upstream/upstream-dns.js'
import { UpstreamGroup } from './upstream/upstream-group.js'
import type { UpgradeSession } from './upgrade/upgrade-session.js'

export { kUpgradeClaim, type RouteRuntime, type UpgradeClaim } from './route-runtime.js'

/** A tunnel carries its upgrade's session: the owner of its slot, server and figures. */
export type ProxiedTunnel = Tunnel<UpgradeSession>

/** A relayed WebSocket (relay mode) carries its session the same way. */
export type ProxiedRelay = RelayConnection<UpgradeSession>

/** Everything one plugin instance shares between its routes. */
export class ProxyRuntime {
  readonly routes: RouteRuntime[]
  readonly groups = new Map<string, UpstreamGroup>()
  /** One per group with servers given by host name: started on ready, stopped on close. */
  readonly dns: UpstreamDns[] = []
  readonly counters: ProxyCounters
  readonly limits: ConnectionLimits
  readonly admission: ConnectionAdmission
  readonly tunnels = new Set<ProxiedTunnel>()
  /** Open relay connections, beside the tunnels: shutdown closes them with 1001 (closeDeliberately) before it waits. */
  readonly relays = new Set<ProxiedRelay>()
  /** Upstream attempts in flight: shutdown waits for them like for tunnels, then aborts them. */
  readonly attempts = new Set<{ abort: () => void }>()
  /** Set by preClose: new upgrades are refused while open tunnels drain. */
  closing = false

  constructor (readonly options: ResolvedOptions, readonly log: FastifyBaseLogger) {
    for (const [name, upstream] of options.upstreams) {
      const group = new UpstreamGroup(upstream)
      this.groups.set(name, group)
      const dns = new UpstreamDns(group, log)
      if (dns.active) this.dns.push(dns)
    }
    this.routes = options.routes.map(config => ({
      config,
      group: this.groups.get(config.upstream) as UpstreamGroup,
      timeouts: { idleTimeout: config.idleTimeout, sendTimeout: config.sendTimeout, finTimeout: config.finTimeout },
      relay: config.relay === null ? null : new RouteRelay({ ...config, relay: config.relay })
    }))
    this.counters = new ProxyCounters(options.routes)
    this.limits = new ConnectionLimits(options.limits.maxConnections, options.limits.maxConnectionsPerIp)
    this.admission = new ConnectionAdmission(this.counters, options.limits.maxConnections, options.limits.maxConnectionsPerIp, log)
  }

  /**
   * Joins a client and an upstream that switched protocols. `switchBytes` is
   * the 101 for the client plus any upstream bytes that followed it (R10);
   * `clientHead` are client bytes read with its request (R9).
   */
  openTunnel (client: Socket, upstream: Socket, switchBytes: Buffer, clientHead: Buffer, session: UpgradeSession): void {
    client.setNoDelay(true)
    client.setKeepAlive(true, 60_000)
    client.write(switchBytes)
    const tunnel = new Tunnel(client, upstream, session.route.timeouts, session, this.onTunnelFinished)
    this.tunnels.add(tunnel)
    session.tunnelOpened()
    tunnel.start(clientHead)
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
