import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client'
import type { WorkerStats } from './ipc-messages.js'

/**
 * Prometheus metrics. Each worker exposes its own figures, read from the
 * plugin's live stats at scrape time (nothing is counted twice or on the hot
 * path); the primary asks every worker over IPC and sums them with
 * prom-client's AggregatorRegistry, then appends its own figures (restarts,
 * hand-offs). Upstream server state is a count of workers seeing it in that
 * state, because passive health is per worker.
 */

const PREFIX = 'ws_cluster_'

/**
 * Registers this worker's metrics in prom-client's global registry, which
 * answers the primary's aggregation requests.
 *
 * @example
 * registerWorkerMetrics(() => app.wsProxy.stats())
 */
export function registerWorkerMetrics (read: () => WorkerStats): void {
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
  gauge('tunnels_open', 'Open WebSocket tunnels.', [], (g) => {
    g.set(read().connections.tunnelsOpen)
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

export interface PrimaryFigures {
  workers: number
  restarts: number
  handedOff: number
  dropped: number
  waiting: number
}

/**
 * The primary's side: `/metrics` text = the workers' metrics summed + the
 * primary's own.
 *
 * @example
 * const metrics = new ClusterMetrics(() => ({ workers: 2, restarts: 0, handedOff, dropped, waiting }))
 * res.end(await metrics.text())
 */
export class ClusterMetrics {
  private readonly aggregator = new AggregatorRegistry()
  private readonly own = new Registry()
  readonly contentType = this.aggregator.contentType

  constructor (read: () => PrimaryFigures) {
    const own = this.own
    const g = (name: string, help: string, pick: (f: PrimaryFigures) => number): void => {
      // eslint-disable-next-line no-new -- registered in `own` by its constructor
      new Gauge({ name: PREFIX + name, help, registers: [own], collect () { this.set(pick(read())) } })
    }
    g('workers', 'Worker processes serving a slot.', (f) => f.workers)
    g('worker_restarts_total', 'Workers replaced after they died.', (f) => f.restarts)
    g('primary_handoffs_total', 'Connections the primary handed to a worker.', (f) => f.handedOff)
    g('primary_dropped_total', 'Connections closed because their slot had no worker in time.', (f) => f.dropped)
    g('primary_waiting', 'Connections waiting for a slot\'s worker.', (f) => f.waiting)
  }

  async text (): Promise<string> {
    const [workers, own] = await Promise.all([this.aggregator.clusterMetrics(), this.own.metrics()])
    return workers + (workers.endsWith('\n') || workers === '' ? '' : '\n') + own
  }
}
