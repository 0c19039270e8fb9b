import assert from 'node:assert/strict'
import type { BalanceMethod, ResolvedServer, ResolvedUpstream } from '../../plugin/options/options-types.js'
import { UpstreamGroup, type PickContext } from '../../plugin/upstream/upstream-group.js'
import type { UpstreamServer } from '../../plugin/upstream/upstream-server.js'

/**
 * Resolved upstream configs for the pure balancer tests: servers are named by
 * port on 127.0.0.1 (never connected to; the group only keeps their state).
 */
export type ServerSpec = Partial<ResolvedServer> & { port: number }

export function server (spec: ServerSpec): ResolvedServer {
  return {
    url: `http://127.0.0.1:${spec.port}`,
    protocol: 'http:',
    host: '127.0.0.1',
    weight: 1,
    maxFails: 1,
    failTimeout: 10_000,
    maxConns: 0,
    backup: false,
    down: false,
    ...spec
  }
}

export function group (balance: BalanceMethod, specs: ServerSpec[], random?: () => number): UpstreamGroup {
  const config: ResolvedUpstream = {
    name: 'test',
    balance,
    hashKey: { source: 'remote-addr' },
    servers: specs.map(server),
    keepalive: 0,
    tls: { ca: null, servername: null, rejectUnauthorized: true }
  }
  return new UpstreamGroup(config, random === undefined ? {} : { random })
}

export const ctx: PickContext = { clientAddress: '127.0.0.1', hashKey: '' }
export const none: ReadonlySet<UpstreamServer> = new Set()
/** A fixed clock: tests pass times explicitly instead of waiting. */
export const T0 = 1_000_000

/** Port of each server picked in `count` picks at time `now`, without acquiring. */
export function sequence (g: UpstreamGroup, count: number, now = T0, context = ctx): number[] {
  const ports: number[] = []
  for (let i = 0; i < count; i++) ports.push(g.pick(context, none, now)?.config.port ?? 0)
  return ports
}

export function byPort (g: UpstreamGroup, port: number): UpstreamServer {
  const found = g.servers.find(s => s.config.port === port)
  assert.ok(found !== undefined, `server on port ${port}`)
  return found
}
