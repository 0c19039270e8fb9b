import type { UpstreamServerStats } from '../plugin/internal.js'
import type { WorkerStats } from './ipc-messages.js'

/** One worker as `/status` and `ws-cluster status` show it. */
export interface WorkerStatus {
  slot: number
  pid: number
  /** `starting` (not yet serving), `serving` (owns its slot), `draining` (replaced or stopping). */
  state: 'starting' | 'serving' | 'draining'
  uptimeSeconds: number
  connections: WorkerStats['connections'] | null
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

/** The JSON of the admin `/status` endpoint (nginx stub_status, and more). */
/** Every Prometheus metric of the cluster starts with this, in the workers and in the primary alike. */
export const METRIC_PREFIX = 'ws_cluster_'

export interface StatusReport {
  pid: number
  state: 'starting' | 'ready' | 'reloading' | 'stopping'
  uptimeSeconds: number
  configFile: string | null
  listen: { host: string, port: number, tls: boolean, proxyProtocol: boolean }
  primary: { accepted: number, handedOff: number, dropped: number, waiting: number, restarts: number }
  /** Summed over the workers that answered, draining ones included. */
  connections: WorkerStats['connections']
  /** Workers that were replaced by a reload (or are stopping) and the tunnels they still carry. */
  draining: { workers: number, tunnelsOpen: number }
  workers: WorkerStatus[]
  routes: WorkerStats['routes']
  upstreams: Record<string, { balance: string, servers: UpstreamServerStatus[] }>
}

export function emptyConnections (): WorkerStats['connections'] {
  return { active: 0, accepted: 0, handled: 0, dropped: 0, reading: 0, requests: 0, refused: 0, tunnelsOpen: 0, handshaking: 0 }
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
export function mergeWorkerStats (all: WorkerStats[]): Pick<StatusReport, 'connections' | 'routes' | 'upstreams'> {
  const connections = emptyConnections()
  const routes: StatusReport['routes'] = {}
  const upstreams: StatusReport['upstreams'] = {}
  for (const stats of all) {
    addInto(connections, stats.connections)
    for (const [path, figures] of Object.entries(stats.routes)) {
      const merged = routes[path] ?? (routes[path] = { open: 0, total: 0, failed: 0, bytesFromClients: 0, bytesToClients: 0 })
      addInto(merged, figures)
    }
    for (const [name, group] of Object.entries(stats.upstreams)) {
      const mergedGroup = upstreams[name] ?? (upstreams[name] = { balance: group.balance, servers: [] })
      for (const server of group.servers) {
        let merged = mergedGroup.servers.find((s) => s.url === server.url)
        if (merged === undefined) {
          merged = { ...server, active: 0, total: 0, failures: 0, failedUntil: null, workers: { up: 0, failed: 0, down: 0 } }
          mergedGroup.servers.push(merged)
        }
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
