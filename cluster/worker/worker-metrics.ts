import { AggregatorRegistry, Counter, Gauge } from 'prom-client'
import type { WorkerStats } from '../ipc-messages.js'
import { METRIC_PREFIX as PREFIX } from '../status-report.js'

/*
 * A worker's Prometheus metrics: read from the plugin's live stats at scrape
 * time (nothing is counted twice or on the hot path). The primary sums the
 * workers' answers with prom-client's AggregatorRegistry (primary/cluster-metrics.ts).
 * Upstream server state is a count of workers seeing it in that state,
 * because passive health is per worker.
 */

/**
 * Registers this worker's metrics in prom-client's global registry, which
 * answers the primary's aggregation requests.
 *
 * @example
 * registerWorkerMetrics(() => app.wsProxy.stats(), () => false)
 */
export function registerWorkerMetrics (read: () => WorkerStats, draining: () => boolean): void {
  // prom-client installs the worker's answer to the primary's requests when an AggregatorRegistry is built.
  // eslint-disable-next-line no-new -- constructed for that side effect only
  new AggregatorRegistry()
  gauge('connections_active', 'Open client connections (HTTP and WebSocket).', [], (g) => {
    g.set(read().connections.active)
  })
  gauge('connections_reading', 'Client connections that have not sent a complete request head yet (nginx stub_status Reading).', [], (g) => {
    g.set(read().connections.reading)
  })
  counter('connections_dropped_total', 'Client connections closed at accept: too many had sent no request yet.', [], (c) => {
    c.reset()
    c.inc(read().connections.dropped)
  })
  counter('upgrades_rate_limited_total', 'Upgrades refused with 429 by limits.connectionRate.', [], (c) => {
    c.reset()
    c.inc(read().connections.rateLimited)
  })
  gauge('rate_limit_tracked_clients', 'Client keys limits.connectionRate tracks now (idle ones are forgotten).', [], (g) => {
    g.set(read().connections.rateTracked)
  })
  gauge('tunnels_open', 'Open WebSocket tunnels.', [], (g) => {
    g.set(read().connections.tunnelsOpen)
  })
  gauge('draining_tunnels_open', 'Open WebSocket tunnels of workers that are draining (replaced by a reload, or stopping).', [], (g) => {
    g.set(draining() ? read().connections.tunnelsOpen : 0)
  })
  counter('connections_accepted_total', 'Client connections accepted (nginx stub_status accepts).', [], (c) => {
    c.reset()
    c.inc(read().connections.accepted)
  })
  counter('connections_handled_total', 'Client connections handled (nginx stub_status handled).', [], (c) => {
    c.reset()
    c.inc(read().connections.handled)
  })
  counter('requests_total', 'Client requests, upgrades included (nginx stub_status requests).', [], (c) => {
    c.reset()
    c.inc(read().connections.requests)
  })
  gauge('route_tunnels_open', 'Open tunnels per route.', ['route'], (g) => {
    g.reset()
    for (const [route, figures] of Object.entries(read().routes)) g.set({ route }, figures.open)
  })
  counter('route_upgrades_total', 'Upgrades proxied per route.', ['route'], (c) => {
    c.reset()
    for (const [route, figures] of Object.entries(read().routes)) c.inc({ route }, figures.total)
  })
  counter('route_upgrades_failed_total', 'Upgrades that failed per route.', ['route'], (c) => {
    c.reset()
    for (const [route, figures] of Object.entries(read().routes)) c.inc({ route }, figures.failed)
  })
  counter('route_upgrades_refused_by_hooks_total', 'Upgrades per route answered by the application\'s hooks (auth, rate limits) instead of proxied; part of the failed ones.', ['route'], (c) => {
    c.reset()
    for (const [route, figures] of Object.entries(read().routes)) c.inc({ route }, figures.refusedByHooks)
  })
  counter('route_bytes_from_clients_total', 'Bytes read from clients by the route\'s tunnels, open ones included.', ['route'], (c) => {
    c.reset()
    for (const [route, figures] of Object.entries(read().routes)) c.inc({ route }, figures.bytesFromClients)
  })
  counter('route_bytes_to_clients_total', 'Bytes written to clients by the route\'s tunnels, open ones included.', ['route'], (c) => {
    c.reset()
    for (const [route, figures] of Object.entries(read().routes)) c.inc({ route }, figures.bytesToClients)
  })
  counter('route_messages_total', 'Relay routes: messages received, per route and direction (fromClient, fromUpstream).', ['route', 'direction'], (c) => {
    c.reset()
    for (const [route, figures] of Object.entries(read().routes)) {
      c.inc({ route, direction: 'fromClient' }, figures.messagesFromClients)
      c.inc({ route, direction: 'fromUpstream' }, figures.messagesFromUpstreams)
    }
  })
  counter('route_messages_too_big_total', 'Relay connections closed with 1009: a message over maxMessageSize.', ['route'], (c) => {
    c.reset()
    for (const [route, figures] of Object.entries(read().routes)) c.inc({ route }, figures.messagesTooBig)
  })
  counter('route_rate_limited_total', 'Relay connections closed with 1008 by the message rate limit.', ['route'], (c) => {
    c.reset()
    for (const [route, figures] of Object.entries(read().routes)) c.inc({ route }, figures.rateLimited)
  })
  counter('route_hook_errors_total', 'Relay connections closed with 1011 because the message hook failed.', ['route'], (c) => {
    c.reset()
    for (const [route, figures] of Object.entries(read().routes)) c.inc({ route }, figures.hookErrors)
  })
  gauge('upstream_server_connections_active', 'Open connections per upstream server.', ['upstream', 'server'], (g) => {
    g.reset()
    forEachServer(read(), (upstream, server) => g.set({ upstream, server: server.url }, server.active))
  })
  counter('upstream_server_connections_total', 'Connections made per upstream server.', ['upstream', 'server'], (c) => {
    c.reset()
    forEachServer(read(), (upstream, server) => c.inc({ upstream, server: server.url }, server.total))
  })
  counter('upstream_server_failures_total', 'Failed attempts per upstream server.', ['upstream', 'server'], (c) => {
    c.reset()
    forEachServer(read(), (upstream, server) => c.inc({ upstream, server: server.url }, server.failures))
  })
  gauge('upstream_server_state', 'Workers seeing an upstream server in each state (up, failed, down).', ['upstream', 'server', 'state'], (g) => {
    g.reset()
    forEachServer(read(), (upstream, server) => {
      for (const state of ['up', 'failed', 'down'] as const) {
        g.set({ upstream, server: server.url, state }, server.state === state ? 1 : 0)
      }
    })
  })
}

function forEachServer (stats: WorkerStats, fn: (upstream: string, server: WorkerStats['upstreams'][string]['servers'][number]) => void): void {
  for (const [upstream, group] of Object.entries(stats.upstreams)) {
    for (const server of group.servers) fn(upstream, server)
  }
}

function gauge (name: string, help: string, labelNames: string[], collect: (g: Gauge<string>) => void): void {
  // eslint-disable-next-line no-new -- prom-client registers the metric in its constructor
  new Gauge({ name: PREFIX + name, help, labelNames, aggregator: 'sum', collect () { collect(this) } })
}

function counter (name: string, help: string, labelNames: string[], collect: (c: Counter<string>) => void): void {
  // eslint-disable-next-line no-new -- prom-client registers the metric in its constructor
  new Counter({ name: PREFIX + name, help, labelNames, aggregator: 'sum', collect () { collect(this) } })
}
