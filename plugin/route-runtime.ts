import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { ResolvedRoute } from './options/options-types.js'
import type { RouteRelay } from './relay/route-relay.js'
import type { TunnelTimeouts } from './tunnel/tunnel.js'
import type { UpstreamGroup } from './upstream/upstream-group.js'

/*
 * What one route is at run time, and how a claimed upgrade reaches its route
 * handler: shared by the runtime that builds them and the upgrade path that
 * uses them, without either importing the other.
 */

/** An upgrade the dispatcher claimed for a route of ours: what Node's 'upgrade' event handed over. */
export interface UpgradeClaim {
  socket: Socket
  head: Buffer
  route: RouteRuntime
  res: ServerResponse
}

/** A route with what it needs at connect time, computed once at registration. */
export interface RouteRuntime {
  config: ResolvedRoute
  group: UpstreamGroup
  timeouts: TunnelTimeouts
  /** Relay routes: what their connections share (client-side ws server, hook runner); null for tunnels. */
  relay: RouteRelay | null
}

/** Claims ride on the raw request from the 'upgrade' event to the Fastify route handler. */
export const kUpgradeClaim = Symbol('ws-cluster.upgrade-claim')
