import { emptyRouteStats, type DnsNameStatus, type UpstreamServerStats } from '../plugin/internal.js'
import type { WorkerStats } from './ipc-messages.js'

/** One worker as `/status` and `ws-cluster status` show it. */
export interface WorkerStatus {
  slot: number
  pid: number
  /** `starting` (not yet serving), `serving` (owns its slot), `draining` (replaced or stopping). */
  state: 'starting' | 'serving' | 'draining'
  uptimeSeconds: number
  connections: WorkerStats['connections'] | null
  /** Hand-offs sent to it and not yet taken, and connections waiting for its slot (R58); null unless it serves the slot. */
  queue: { inFlight: number, waiting: number } | null
  /** Milliseconds since it last answered a heartbeat; null when not watched. */
  heartbeatAgeMs: number | null
}

/**
 * A server's figures summed over the workers. `state` is `up` when every
 * worker sees it up, `down` when configured down, else `failed` (some worker
 * skips it).
 */
export interface UpstreamServerStatus extends UpstreamServerStats {
  /** How many workers see the server in each state: passive health is per worker. */
  workers: { up: number, failed: number, down: number }
}

/** Connections closed before their PROXY header was complete, by reason. */
export type ProxyHeaderRefusals = Record<'invalid' | 'timeout' | 'closed' | 'too-many-pending', number>

/** Every Prometheus metric of the cluster starts with this, in the workers and in the primary alike. */
export const METRIC_PREFIX = 'ws_cluster_'

/** The JSON of the admin `/status` endpoint (nginx stub_status, and more). */
export interface StatusReport {
  pid: number
  state: 'starting' | 'ready' | 'reloading' | 'stopping'
  uptimeSeconds: number
  configFile: string | null
  listen: { host: string, port: number, tls: boolean, proxyProtocol: boolean }
  primary: {
    accepted: number
    handedOff: number
    dropped: number
    waiting: number
    inFlight: number
    restarts: number
    /** Workers killed and replaced because they stopped answering heartbeats. */
    unresponsive: number
    /** With `listen.proxyProtocol`: connections whose header is being read, and those closed before it was complete, by reason. */
    proxyHeaders: { pending: number, refused: ProxyHeaderRefusals } | null
  }
  /** Summed over the workers that answered, draining ones included. */
  connections: WorkerStats['connections']
  /** Workers that were replaced by a reload (or are stopping) and the tunnels they still carry. */
  draining: { workers: number, tunnelsOpen: number }
  workers: WorkerStatus[]
  routes: WorkerStats['routes']
  upstreams: Record<string, { balance: string, servers: UpstreamServerStatus[], dns?: DnsNameStatus[] }>
}

export function emptyConnections (): WorkerStats['connections'] {
  return { active: 0, accepted: 0, handled: 0, dropped: 0, reading: 0, requests: 0, refused: 0, refusedByHooks: 0, rateLimited: 0, rateTracked: 0, tunnelsOpen: 0, handshaking: 0 }
}

function addInto<T extends object> (target: T, source: T): void {
  const into = target as Record<string, unknown>
  for (const [key, value] of Object.entries(source)) {
    if (typeof value === 'number') into[key] = (typeof into[key] === 'number' ? into[key] as number : 0) + value
  }
}

/**
 * Merges the stats of several workers: counters add up, and an upstream
 * server's state is `up` only if every worker agrees.
 *
 * @example
 * mergeWorkerStats([statsOfWorker1, statsOfWorker2]).connections.tunnelsOpen
 */
/** The time of the newest thing a worker's view of a name says (answer or failure). */
function dnsSeenAt (status: DnsNameStatus): number {
  return Math.max(status.resolvedAt ?? 0, status.lastError?.at ?? 0)
}

/**
 * Each worker resolves on its own schedule, so their views of a name can
 * differ for a moment: per name, the most recent view is shown.
 */
function mergeDnsStatus (merged: DnsNameStatus[], worker: readonly DnsNameStatus[]): DnsNameStatus[] {
  const out = [...merged]
  for (const status of worker) {
    const i = out.findIndex(known => known.name === status.name)
    if (i === -1) out.push(status)
    else if (dnsSeenAt(status) > dnsSeenAt(out[i])) out[i] = status
  }
  return out
}

export function mergeWorkerStats (all: WorkerStats[]): Pick<StatusReport, 'connections' | 'routes' | 'upstreams'> {
  const connections = emptyConnections()
  const routes: StatusReport['routes'] = {}
  const upstreams: StatusReport['upstreams'] = {}
  for (const stats of all) {
    addInto(connections, stats.connections)
    for (const [path, figures] of Object.entries(stats.routes)) {
      // Every worker runs the same config, so the first one's settings stand for all.
      const merged = routes[path] ?? (routes[path] = emptyRouteStats(figures.settings))
      addInto(merged, figures)
    }
    for (const [name, group] of Object.entries(stats.upstreams)) {
      const mergedGroup = upstreams[name] ?? (upstreams[name] = { balance: group.balance, servers: [] })
      if (group.dns !== undefined) mergedGroup.dns = mergeDnsStatus(mergedGroup.dns ?? [], group.dns)
      for (const server of group.servers) {
        let merged = mergedGroup.servers.find((s) => s.url === server.url)
        if (merged === undefined) {
          merged = { ...server, active: 0, total: 0, failures: 0, failedUntil: null, workers: { up: 0, failed: 0, down: 0 } }
          mergedGroup.servers.push(merged)
        }
        // Draining only where every worker has dropped it; a worker still using it wins.
        if (server.draining !== true) delete merged.draining
        merged.active += server.active
        merged.total += server.total
        merged.failures += server.failures
        merged.workers[server.state]++
        if (server.failedUntil !== null && (merged.failedUntil === null || server.failedUntil > merged.failedUntil)) {
          merged.failedUntil = server.failedUntil
        }
        merged.state = merged.workers.down > 0 && merged.workers.up === 0 && merged.workers.failed === 0
          ? 'down'
          : merged.workers.failed > 0 ? 'failed' : 'up'
      }
    }
  }
  return { connections, routes, upstreams }
}
