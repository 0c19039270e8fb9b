import { AggregatorRegistry, Gauge, Registry } from 'prom-client'
import { METRIC_PREFIX as PREFIX, type ProxyHeaderRefusals } from '../status-report.js'

/**
 * Prometheus metrics of the primary: each worker exposes its own figures
 * (worker/worker-metrics.ts); the primary asks every worker over IPC and sums
 * them with prom-client's AggregatorRegistry, then appends its own figures
 * (restarts, hand-offs).
 */

export interface PrimaryFigures {
  workers: number
  draining: number
  restarts: number
  handedOff: number
  dropped: number
  waiting: number
  inFlight: number
  unresponsive: number
  /** Null when `listen.proxyProtocol` is off. */
  proxyHeaders: { pending: number, refused: ProxyHeaderRefusals } | null
}

/**
 * The primary's side: `/metrics` text = the workers' metrics summed + the
 * primary's own.
 *
 * @example
 * const metrics = new ClusterMetrics(() => ({ workers: 2, draining: 0, restarts: 0, handedOff, dropped, waiting }))
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
    g('workers_draining', 'Worker processes replaced by a reload (or stopping) that still carry tunnels; see ws_cluster_draining_tunnels_open.', (f) => f.draining)
    g('worker_restarts_total', 'Workers replaced after they died.', (f) => f.restarts)
    g('primary_handoffs_total', 'Connections the primary handed to a worker.', (f) => f.handedOff)
    g('primary_dropped_total', 'Connections closed because their slot had no worker in time.', (f) => f.dropped)
    g('primary_waiting', 'Connections waiting for a slot\'s worker.', (f) => f.waiting)
    g('primary_handoffs_in_flight', 'Connections sent to a worker and not yet taken by it.', (f) => f.inFlight)
    g('workers_unresponsive_total', 'Workers killed and replaced because they stopped answering heartbeats.', (f) => f.unresponsive)
    g('primary_proxy_headers_pending', 'Connections whose PROXY protocol header is being read.', (f) => f.proxyHeaders?.pending ?? 0)
    // eslint-disable-next-line no-new -- registered in `own` by its constructor
    new Gauge({
      name: PREFIX + 'primary_proxy_headers_refused_total',
      help: 'Connections closed before their PROXY protocol header was complete, by reason.',
      labelNames: ['reason'],
      registers: [own],
      collect () {
        const refused = read().proxyHeaders?.refused
        if (refused === undefined) return
        for (const [reason, count] of Object.entries(refused)) this.set({ reason }, count)
      }
    })
  }

  async text (): Promise<string> {
    const [workers, own] = await Promise.all([this.aggregator.clusterMetrics(), this.own.metrics()])
    return workers + (workers.endsWith('\n') || workers === '' ? '' : '\n') + own
  }
}
