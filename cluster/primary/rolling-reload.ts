import type { Worker } from 'node:cluster'
import type { Logger } from 'pino'
import type { ReloadOutcome } from './admin-server.js'
import type { ClusterConfig } from '../config/config-types.js'
import { drainWorker, type DrainTimes, type WorkerInfo } from './worker-process.js'
import type { WorkerSlots } from './worker-slots.js'

/**
 * The config a reload applies. What the workers do (upstreams, routes,
 * limits, TLS certificates, the user app, timeouts, logs) comes from the new
 * file; what the primary bound at start (client port and address, PROXY
 * protocol, trusted proxies, admin listener, number of slots) stays until a
 * restart, and is reported so the operator knows.
 *
 * @example
 * const { config, restartOnly } = mergeReloadedConfig(running, reread)
 */
export function mergeReloadedConfig (running: ClusterConfig, next: ClusterConfig): { config: ClusterConfig, restartOnly: string[] } {
  const restartOnly: string[] = []
  const bound = (c: ClusterConfig): unknown => ({ port: c.listen.port, host: c.listen.host, proxyProtocol: c.listen.proxyProtocol, trustedProxies: c.listen.trustedProxies, maxPendingProxyHeaders: c.listen.maxPendingProxyHeaders })
  if (JSON.stringify(bound(next)) !== JSON.stringify(bound(running))) restartOnly.push('listen')
  if (JSON.stringify(next.admin) !== JSON.stringify(running.admin)) restartOnly.push('admin')
  if (next.workers !== running.workers) restartOnly.push('workers')
  // The primary keys clients by it: changing it would move clients between workers.
  const ipv6Prefix = running.limits.ipv6Prefix
  if ((next.limits.ipv6Prefix ?? 128) !== (ipv6Prefix ?? 128)) restartOnly.push('limits.ipv6Prefix')
  const config: ClusterConfig = {
    ...next,
    limits: ipv6Prefix === undefined ? next.limits : { ...next.limits, ipv6Prefix },
    listen: { ...running.listen, tls: next.listen.tls },
    admin: running.admin,
    workers: running.workers
  }
  return { config, restartOnly }
}

export interface RollOptions {
  slots: WorkerSlots
  workers: ReadonlyMap<Worker, WorkerInfo>
  spawn: (slot: number) => Promise<WorkerInfo>
  /** The bounds of the old workers' drain. */
  times: DrainTimes
  /** False once a stop began: the roll ends where it is. */
  proceed: () => boolean
  log: Logger
}

/**
 * R40: replaces the workers slot by slot — start the new one, wait until it
 * is ready, switch the slot to it, let the old one drain (its tunnels run
 * until they end or drainTimeout) — so that every slot always has a worker
 * and no connection is refused. A new worker that cannot start ends the
 * roll; the slots not reached keep their old workers.
 *
 * @example
 * const outcome = await rollSlots({ slots, workers, spawn, times: config, proceed: () => true, log })
 */
export async function rollSlots (options: RollOptions): Promise<ReloadOutcome> {
  const { slots, workers, log } = options
  let replaced = 0
  for (const slot of slots.ids) {
    if (!options.proceed()) break
    let fresh: WorkerInfo
    try {
      fresh = await options.spawn(slot)
    } catch (err) {
      log.error({ slot, err: (err as Error).message, replaced }, 'reload stopped: a new worker failed to start; remaining slots keep their old workers')
      return { ok: false, error: (err as Error).message, replaced }
    }
    if (!options.proceed()) {
      // A stop began while this worker started: it has nothing to serve.
      drainWorker(fresh, 'stop', { ...options.times, shutdownTimeout: 0 }).catch(() => {})
      break
    }
    const old = slots.workerOf(slot)
    slots.assign(slot, fresh.worker)
    const oldInfo = old === null ? undefined : workers.get(old)
    if (oldInfo !== undefined) drainWorker(oldInfo, 'replaced', options.times).catch(() => {})
    replaced++
  }
  return { ok: true, replaced }
}
