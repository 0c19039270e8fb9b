import type { Worker } from 'node:cluster'
import { isClusterMessage, type StatsResponseMessage, type WorkerStats } from '../ipc-messages.js'
import type { AddressInfo } from 'node:net'
import type { ClusterConfig } from '../config/config-types.js'
import { mergeWorkerStats, type ProxyHeaderRefusals, type StatusReport, type WorkerStatus } from '../status-report.js'
import type { WorkerInfo } from './worker-process.js'
import type { WorkerSlots } from './worker-slots.js'

/** What the report reads from the primary: its state, config, counters and workers. */
export interface StatusSource {
  state: StatusReport['state']
  config: ClusterConfig
  startedAt: number
  accepted: number
  restarts: number
  unresponsive: number
  heartbeat: { silenceOf: (worker: Worker) => number | null }
  router: { gate: { pending: number, refused: ProxyHeaderRefusals } | null }
  address: AddressInfo | null
  workers: ReadonlyMap<unknown, WorkerInfo>
  slots: WorkerSlots
}

/** A worker that does not answer within this time is listed without figures. */
const STATS_TIMEOUT_MS = 2000

let nextRequestId = 1

/** Asks one worker for its live stats over IPC; null when it does not answer in time. */
function requestWorkerStats (worker: Worker, timeoutMs = STATS_TIMEOUT_MS): Promise<WorkerStats | null> {
  return new Promise((resolve) => {
    if (!worker.isConnected()) {
      resolve(null)
      return
    }
    const id = nextRequestId++
    const timer = setTimeout(() => finish(null), timeoutMs)
    function finish (stats: WorkerStats | null): void {
      clearTimeout(timer)
      worker.removeListener('message', onMessage)
      worker.removeListener('exit', onExit)
      resolve(stats)
    }
    function onMessage (message: unknown): void {
      if (!isClusterMessage(message) || message.type !== 'ws-cluster:stats-response') return
      const response = message as StatsResponseMessage
      if (response.id === id) finish(response.stats)
    }
    function onExit (): void { finish(null) }
    worker.on('message', onMessage)
    worker.on('exit', onExit)
    worker.send({ type: 'ws-cluster:stats-request', id }, (err) => { if (err !== null && err !== undefined) finish(null) })
  })
}

/**
 * The `/status` report: the primary's own counters plus every worker's live
 * stats, gathered over IPC when asked (never on the connection path).
 *
 * @example
 * const report = await collectStatus(primary)
 * report.connections.tunnelsOpen
 */
export async function collectStatus (primary: StatusSource): Promise<StatusReport> {
  const now = Date.now()
  const infos = [...primary.workers.values()].sort((a, b) => a.slot - b.slot || a.startedAt - b.startedAt)
  const answers = await Promise.all(infos.map(async (info) => info.state === 'starting' ? null : await requestWorkerStats(info.worker)))
  const workers: WorkerStatus[] = infos.map((info, i) => ({
    slot: info.slot,
    pid: info.pid,
    state: info.state,
    uptimeSeconds: Math.round((now - info.startedAt) / 100) / 10,
    connections: answers[i]?.connections ?? null,
    queue: primary.slots.workerOf(info.slot) === info.worker ? primary.slots.queueOf(info.slot) : null,
    heartbeatAgeMs: primary.heartbeat.silenceOf(info.worker)
  }))
  const merged = mergeWorkerStats(answers.filter((a): a is WorkerStats => a !== null))
  const draining = workers.filter((w) => w.state === 'draining')
  const { config } = primary
  return {
    pid: process.pid,
    state: primary.state,
    uptimeSeconds: Math.round((now - primary.startedAt) / 100) / 10,
    configFile: config.file,
    listen: { host: config.listen.host, port: primary.address?.port ?? config.listen.port, tls: config.listen.tls !== null, proxyProtocol: config.listen.proxyProtocol },
    primary: {
      accepted: primary.accepted,
      handedOff: primary.slots.handedOff,
      dropped: primary.slots.dropped,
      waiting: primary.slots.waitingCount,
      inFlight: primary.slots.inFlightCount,
      restarts: primary.restarts,
      unresponsive: primary.unresponsive,
      proxyHeaders: primary.router.gate === null ? null : { pending: primary.router.gate.pending, refused: { ...primary.router.gate.refused } }
    },
    ...merged,
    draining: { workers: draining.length, tunnelsOpen: draining.reduce((sum, w) => sum + (w.connections?.tunnelsOpen ?? 0), 0) },
    workers
  }
}
